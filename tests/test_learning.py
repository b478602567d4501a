"""CRL learns: evaluation success on reacher rises from its initial value to a high level.

Budget: 32 envs × 50-step unrolls, batch 256, 64×2 networks, 200k env steps (about 2–3 minutes of
training plus compilation on 2 CPU cores). Measured curve with this config (seed 0): see
benchmarks/results/learning.md.
"""

import pytest

from goalax.agents.crl import CRLConfig
from goalax.config import TrainConfig
from goalax.training import train

REACHER_BUDGET = TrainConfig(
    env="reacher", seed=0, num_envs=32, unroll_length=50, batch_size=256, min_replay_size=50,
    max_replay_size=2000, num_timesteps=200_000, num_evals=4, num_eval_envs=128,
    agent=CRLConfig(h_dim=64, repr_dim=32), progress=True)


@pytest.mark.slow
def test_crl_reacher_success_rises_to_a_high_level(tmp_path):
  import dataclasses

  result = train(dataclasses.replace(REACHER_BUDGET, run_dir=str(tmp_path)))
  success = [row["eval/success"] for row in result.history]
  print("eval/success by evaluation:", success)
  assert success[0] < 0.3, success        # a random-ish initial policy rarely reaches the goal
  assert success[-1] >= 0.8, success       # the trained one almost always does
  assert result.history[-1]["eval/final_dist"] < result.history[0]["eval/final_dist"] / 1.5
