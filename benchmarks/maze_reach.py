"""Which maze goals an agent learns to reach, and where its replay data went, by path length.

    python benchmarks/maze_reach.py --runs crl "sac+her" --out benchmarks/results/maze_reach.jsonl

A run is ``ALGO[+her][:EXTRA FLAGS]`` as in ``compare_agents.py`` and uses its budget for the
env (point U-maze by default: 64 envs, replay 300-3,000 rows, 200k env steps, 3 seeds trained
at once). After training, each seed's final deterministic policy plays ``--episodes`` fresh
episodes; success is reported per *path length*: the number of cells on the shortest path from
the start cell to the goal's cell (u-maze: one goal cell at each length 1..6). The replay buffer
(the last ``max_replay_size`` steps of every env, nearly all of a 200k-step run) is summarised
the same way: the fraction of stored states in cells at each path length, and the fraction of
stored episodes that ever entered a cell at that length (a goal the data never reached is a
goal no hindsight relabelling can teach).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
import warnings

from records import append_record, machine_info

warnings.filterwarnings("ignore")


def _length_table(layout):
  """``int [rows, cols]``: shortest-path length in cells from the start, -1 for walls."""
  import numpy as np

  table = np.full(layout.shape, -1)
  for (r, c), n in layout.path_length_cells().items():
    table[r, c] = n
  return table


def success_by_path_length(setup, final_state, key, num_episodes: int) -> dict[str, list]:
  """Final deterministic-policy success of each seed per path length (cells) from the start to
  the goal's cell: ``{"1": [seed 0, seed 1, ...], ...}``. ``final_state`` is batched over seeds
  (a run with ``num_seeds >= 2``)."""
  import jax
  import numpy as np

  from goalax.envs.core import repeat_action_step

  env, agent = setup.eval_env, setup.agent
  episode_length = setup.eval_episode_length

  def one_seed(agent_state, key):
    params = agent.policy_params(agent_state)
    states = jax.vmap(env.reset)(jax.random.split(key, num_episodes))

    def step(state, _):
      action = agent.act(params, state.obs, key, True)
      nxt = jax.vmap(lambda s, a: repeat_action_step(env, s, a, setup.config.action_repeat))(
        state, action
      )
      return nxt, nxt.metrics["success"]

    _, success = jax.lax.scan(step, states, None, length=episode_length)
    goal_xy = states.obs[:, env.state_size :][:, :2]
    return success.max(axis=0), env.layout.cell_of(goal_xy)

  keys = jax.random.split(key, setup.config.num_seeds)
  reached, cells = map(np.asarray, jax.jit(jax.vmap(one_seed))(final_state.agent, keys))
  path = _length_table(env.layout)[cells[..., 0], cells[..., 1]]  # [seeds, episodes]
  return {
    str(n): [float(reached[k][path[k] == n].mean()) for k in range(reached.shape[0])]
    for n in sorted(set(path.ravel().tolist()))
  }


def replay_by_path_length(setup, final_state) -> dict[str, dict[str, list]]:
  """Where the replay data of each seed went: ``{"states": {n: [per seed]}, "episodes": {n:
  [per seed]}}``, the fraction of stored states in cells at path length ``n`` and the fraction
  of stored episodes (whole or cut by the ring) that entered such a cell."""
  import numpy as np

  env, buffer = setup.env, final_state.buffer
  obs = np.asarray(buffer.data["obs"])  # [seeds, capacity, num_envs, obs]
  traj = np.asarray(buffer.data["traj_id"])  # [seeds, capacity, num_envs]
  size = np.asarray(buffer.size).reshape(-1)
  table = _length_table(env.layout)
  out = {"states": {}, "episodes": {}}
  for k in range(obs.shape[0]):
    xy = obs[k, : size[k], :, :2]  # the ring is full or filled from row 0: rows < size are valid
    cells = np.asarray(env.layout.cell_of(xy))
    path = table[cells[..., 0], cells[..., 1]]  # [rows, envs]
    episode = traj[k, : size[k]] + (np.arange(path.shape[1]) * 1_000_000)[None, :]
    for n in sorted(set(path.ravel().tolist()) - {-1}):
      out["states"].setdefault(str(n), []).append(float(np.mean(path == n)))
      visited = np.unique(episode[path == n])
      out["episodes"].setdefault(str(n), []).append(len(visited) / len(np.unique(episode)))
  return out


def run_one(run: str, env: str, args) -> dict:
  with contextlib.redirect_stdout(io.StringIO()):
    import jax
    from compare_agents import command_line

    from goalax.cli import parse_train_args
    from goalax.run.host_loop import train
    from goalax.run.plan import make_plan

  algo, flags = command_line(run, env, args)
  config = parse_train_args(algo, flags + ["--run_dir", tempfile.mkdtemp(prefix="goalax_reach_")])
  t0 = time.perf_counter()
  result = train(config)
  wall_s = time.perf_counter() - t0
  setup = make_plan(config)
  success = [row["eval/success"] for row in result.history]
  return dict(
    run=run,
    env=env,
    command=f"goalax train {algo} " + " ".join(flags),
    num_seeds=args.num_seeds,
    seed=args.seed,
    env_steps=result.total_env_steps,
    success_curve=success,
    final_success=success[-1],
    per_seed_final_success=[rows[-1]["eval/success"] for rows in result.per_seed],
    success_by_path_length=success_by_path_length(
      setup, result.final_state, jax.random.PRNGKey(12345), args.episodes
    ),
    replay_by_path_length=replay_by_path_length(setup, result.final_state),
    wall_s=wall_s,
    **machine_info(),
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--env", default="point_u_maze")
  parser.add_argument("--runs", nargs="*", default=["crl", "sac+her"])
  parser.add_argument("--num_seeds", type=int, default=3)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--h_dim", type=int, default=64)
  parser.add_argument("--episodes", type=int, default=512, help="evaluation episodes per seed")
  parser.add_argument("--out", default=None, help="append one JSON line per run here")
  parser.add_argument("--cell", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.cell:  # one run, in its own process
    print(json.dumps(run_one(args.cell, args.env, args)))
    return
  print("| run | final success (seeds) | success by path length 1..6 (mean of seeds) |")
  print("|---|---|---|")
  for run in args.runs:
    cell = [sys.executable, __file__, "--cell", run, "--env", args.env, "--num_seeds"]
    cell += [str(args.num_seeds), "--seed", str(args.seed), "--h_dim", str(args.h_dim)]
    cell += ["--episodes", str(args.episodes)]
    proc = subprocess.run(cell, capture_output=True, text=True)
    if proc.returncode != 0:
      print(f"| {run} | failed: {proc.stderr.strip().splitlines()[-1][:150]} |")
      continue
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    seeds = " ".join(f"{s:.2f}" for s in rec["per_seed_final_success"])
    by_length = " · ".join(
      f"{sum(v) / len(v):.2f}" for _, v in sorted(rec["success_by_path_length"].items())
    )
    print(f"| {run} | {rec['final_success']:.2f} ({seeds}) | {by_length} |", flush=True)
    append_record(args.out, rec)


if __name__ == "__main__":
  main()
