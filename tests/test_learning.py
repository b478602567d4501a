"""CRL learns: evaluation success rises from its initial value on reacher and in the point U-maze.

Reacher budget: 32 envs × 50-step unrolls, batch 256, 64×2 networks, 200k env steps (about 2–3
minutes of training plus compilation on 2 CPU cores). Maze budget: 64 envs × 50-step unrolls,
batch 256, 64×2 networks, ~100k env steps (about 1 minute plus compilation). Measured curves for
both configs: benchmarks/results/learning.md.

Both runs start together in two threads when the first of these tests asks for its run: XLA
compiles on one core and a small run does not fill both, so together they take less time than
one after the other.
"""

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest

from goalax.agents.crl import CRLConfig
from goalax.config import TrainConfig
from goalax.training import train

BUDGETS = {
  "reacher": TrainConfig(
    env="reacher",
    seed=0,
    num_envs=32,
    num_timesteps=200_000,
    num_evals=4,
    num_eval_envs=128,
    agent=CRLConfig(
      h_dim=64,
      repr_dim=32,
      unroll_length=50,
      batch_size=256,
      min_replay_size=50,
      max_replay_size=2000,
    ),
    progress=False,
  ),
  "simple_u_maze": TrainConfig(
    env="simple_u_maze",
    seed=0,
    num_envs=64,
    num_timesteps=100_000,
    num_evals=2,
    num_eval_envs=128,
    agent=CRLConfig(
      h_dim=64,
      repr_dim=32,
      unroll_length=50,
      batch_size=256,
      min_replay_size=300,
      max_replay_size=3000,
    ),
    progress=False,
  ),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """``runs[env]``: a future of the ``RunResult`` of ``BUDGETS[env]``."""
  with ThreadPoolExecutor(max_workers=len(BUDGETS), thread_name_prefix="learn") as pool:
    yield {
      env: pool.submit(
        train, dataclasses.replace(budget, run_dir=str(tmp_path_factory.mktemp(env)))
      )
      for env, budget in BUDGETS.items()
    }


def success_curve(result):
  success = [row["eval/success"] for row in result.history]
  print("eval/success by evaluation:", success)
  return success


@pytest.mark.slow
def test_crl_reacher_success_rises_to_a_high_level(runs):
  result = runs["reacher"].result()
  success = success_curve(result)
  assert success[0] < 0.3, success  # a random-ish initial policy rarely reaches the goal
  assert success[-1] >= 0.8, success  # the trained one almost always does
  assert result.history[-1]["eval/final_dist"] < result.history[0]["eval/final_dist"] / 1.5


@pytest.mark.slow
def test_crl_point_u_maze_success_rises(runs):
  """Goals are 1–6 cells (4–24 units) from the start behind walls; threshold 0.5. A fresh policy
  never reaches one (measured 0.00 for seeds 0 and 1); after ~100k env steps 0.37–0.48 do."""
  result = runs["simple_u_maze"].result()
  success = success_curve(result)
  assert success[0] <= 0.05, success
  assert success[-1] >= 0.25, success
  assert result.history[-1]["eval/final_dist"] < result.history[0]["eval/final_dist"] / 2
