"""OGBench's evaluation protocol on goalax's ports of its mazes vs the ``ogbench`` package's envs.

    python benchmarks/ogbench_eval_speed.py --part eval --robots point ant
    python benchmarks/ogbench_eval_speed.py --part throughput --num_envs 512

``--part eval``: OGBench's protocol, five tasks × ``--episodes`` episodes (50) of up to 1000 steps,
of one fixed policy (an MLP 2×64, tanh, with random weights: the same weights on both sides, fed
``concat(observation, goal x, y)``). The port runs every episode at once through goalax's task
evaluator (``goalax.evaluation.make_task_evaluator``: one jitted program, compile timed apart);
the ``ogbench`` package runs its env one episode at a time, as OGBench's ``evaluate`` does (reset
with ``task_id``, step until the goal is reached or 1000 steps). ``--ogbench_episodes`` runs fewer
episodes per task there, ``--episodes`` on the port, and each side's wall time is scaled to the
full protocol (``--full_episodes``, 50; a batch of episodes on a CPU costs in proportion to its
size; each ogbench episode runs its 1000 steps or ends at the goal: the record keeps the steps it
ran).

``--part throughput``: env steps per second of ``jit(scan(VectorGoalEnv.step))`` with random
actions at ``--num_envs``, the ports (both solver settings) beside goalax's own point and ant
mazes on MJX, one after the other in the same sitting.

Records go to ``benchmarks/results/ogbench_eval_speed.jsonl`` (machine and versions included).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
import warnings

warnings.filterwarnings("ignore")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from records import append_record, machine_info  # noqa: E402

OUT = "benchmarks/results/ogbench_eval_speed.jsonl"
HIDDEN = 64
# (env, make_env overrides, label) measured by --part throughput.
THROUGHPUT_CELLS = (
  ("point_big_maze", {}, "goalax point maze"),
  ("ogbench_pointmaze_medium", {}, "port, fast solver (default)"),
  ("ogbench_pointmaze_medium", {"fast_solver": False}, "port, MuJoCo's solver settings"),
  ("ogbench_pointmaze_giant", {}, "port, fast solver (default)"),
  ("ant_big_maze", {"backend": "mjx"}, "goalax ant maze (JaxGCRL's), mjx"),
  ("ogbench_antmaze_medium", {}, "port, fast solver (default)"),
  ("ogbench_antmaze_medium", {"fast_solver": False}, "port, MuJoCo's solver settings"),
  ("ogbench_antmaze_giant", {}, "port, fast solver (default)"),
)


def policy_weights(obs_size: int, action_size: int, seed: int = 0) -> list[np.ndarray]:
  """An MLP ``obs_size -> 64 -> 64 -> action_size`` with random (Glorot-scaled) weights."""
  rng = np.random.default_rng(seed)
  sizes = (obs_size, HIDDEN, HIDDEN, action_size)
  return [rng.normal(size=(a, b)) / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:])]


def policy(weights, obs, xp=np):
  """``obs [..., obs_size] -> action [..., action_size]`` in [-1, 1] (numpy or jax.numpy)."""
  h = obs
  for w in weights[:-1]:
    h = xp.tanh(h @ w)
  return xp.tanh(h @ weights[-1])


def port_eval(name: str, episodes: int, full_episodes: int) -> dict:
  from goalax.envs import make_env
  from goalax.evaluation import make_task_evaluator

  env = make_env(name)
  weights = [jnp.asarray(w, jnp.float32) for w in policy_weights(env.observation_size, 8)]
  weights[-1] = weights[-1][:, : env.action_size]
  act = lambda params, obs, key, deterministic: policy(params, obs, jnp)
  evaluate = make_task_evaluator(env, act, episodes, env.episode_length)
  t0 = time.perf_counter()
  compiled = jax.jit(evaluate).lower(weights, jax.random.PRNGKey(0)).compile()
  compile_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  metrics = jax.block_until_ready(compiled(weights, jax.random.PRNGKey(1)))
  run_s = time.perf_counter() - t0
  return dict(
    side="port",
    env=name,
    episodes_per_task=episodes,
    wall_s=run_s,
    wall_s_full_protocol=run_s * full_episodes / episodes,
    compile_s=compile_s,
    success=float(metrics["eval_tasks/success"]),
    env_steps=episodes * len(env.eval_tasks) * env.episode_length,
  )


def ogbench_eval(robot: str, maze: str, episodes: int, full_episodes: int) -> dict:
  import gymnasium
  import ogbench  # noqa: F401  (registers the envs)

  from goalax.envs.ogbench_maze import ogbench_env_id

  env = gymnasium.make(ogbench_env_id(robot, maze))
  obs_size = env.observation_space.shape[0] + 2
  weights = policy_weights(obs_size, 8)
  weights[-1] = weights[-1][:, : env.action_space.shape[0]]
  successes, steps = [], 0
  t0 = time.perf_counter()
  for task_id in range(1, 6):
    for episode in range(episodes):
      ob, _ = env.reset(seed=episode, options=dict(task_id=task_id))
      done = False
      while not done:
        action = policy(weights, np.concatenate([ob, env.unwrapped.cur_goal_xy]))
        ob, _, terminated, truncated, info = env.step(action)
        steps += 1
        done = terminated or truncated
      successes.append(info["success"])
  run_s = time.perf_counter() - t0
  return dict(
    side="ogbench",
    env=ogbench_env_id(robot, maze),
    episodes_per_task=episodes,
    wall_s=run_s,
    wall_s_full_protocol=run_s * full_episodes / episodes,
    success=float(np.mean(successes)),
    env_steps=steps,
  )


def throughput(name: str, overrides: dict, num_envs: int, num_steps: int) -> dict:
  from env_throughput import time_rollout

  from goalax.envs import make_env

  env = make_env(name, **overrides)
  timed = time_rollout(env, num_envs, num_steps)
  return dict(
    env=name,
    overrides=dict(overrides),
    num_envs=num_envs,
    num_steps=num_steps,
    steps_per_s=timed["steps_per_s"],
    control_step_s=float(env.dt),
    compile_s=timed["compile_s"],
    finite=timed["finite"],
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--part", choices=("eval", "throughput"), required=True)
  parser.add_argument("--robots", nargs="*", default=["point", "ant"])
  parser.add_argument("--maze", default="medium")
  parser.add_argument("--full_episodes", type=int, default=50, help="per task (OGBench's 50)")
  parser.add_argument("--episodes", type=int, default=50, help="per task run, port side")
  parser.add_argument("--ogbench_episodes", type=int, default=50, help="per task run, ogbench side")
  parser.add_argument("--num_envs", type=int, default=512)
  parser.add_argument("--num_steps", type=int, default=20)
  parser.add_argument("--out", default=OUT)
  args = parser.parse_args()
  info = machine_info()
  if args.part == "eval":
    for robot in args.robots:
      with contextlib.redirect_stdout(io.StringIO()):
        port = port_eval(f"ogbench_{robot}maze_{args.maze}", args.episodes, args.full_episodes)
      reference = ogbench_eval(robot, args.maze, args.ogbench_episodes, args.full_episodes)
      ratio = reference["wall_s_full_protocol"] / port["wall_s_full_protocol"]
      for record in (port, reference):
        append_record(args.out, {"part": "eval", **record, "ogbench_over_port": ratio, **info})
        print(record)
      print(f"{robot}: ogbench / port wall time = {ratio:.1f}")
  else:
    for name, overrides, label in THROUGHPUT_CELLS:
      with contextlib.redirect_stdout(io.StringIO()):
        record = throughput(name, overrides, args.num_envs, args.num_steps)
      append_record(args.out, {"part": "throughput", "label": label, **record, **info})
      print(f"{name} {overrides} ({label}): {record['steps_per_s']:,.0f} steps/s")


if __name__ == "__main__":
  main()
