"""Offline datasets: how fast ``goalax collect`` collects (random policy) and how long
``datasets.load`` takes on a file of OGBench's antmaze-medium size.

    nice python benchmarks/collect_speed.py --out benchmarks/results/collect_speed.jsonl
    nice python benchmarks/collect_speed.py --envs reacher --num_envs 128 --num_transitions 500000

Collection (per env): ``goalax.collect.collect`` with a random policy, as ``goalax collect``
runs it: compile seconds (the chunk program; later repeats load it from JAX's cache), collect
seconds (every chunk, the host's cutting into episodes and assembling the dataset), and
transitions/s = transitions kept / the fastest repeat's collect seconds (the steps of episodes
dropped at the end count as time, not as transitions); beside it, the best env steps/s of the
same envs stepped alone in one compiled scan (random actions, nothing copied to the host), each
measured right before a collection; and the seconds to write the file. Loading: a synthetic
file of 1000 trajectories of 1001 states (1M transitions) with 29-float observations and
8-float actions, written with ``datasets.write`` (float32, uncompressed, as OGBench's files),
then ``datasets.file_shapes`` and ``datasets.load`` timed (best of 3, the file in the page cache
after the first read), beside ``np.load`` of the same arrays.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
from records import report  # noqa: E402


def env_alone(venv, num_steps: int):
  """``run() -> env steps/s`` of ``jit(scan(venv.step))`` with random actions alone (nothing
  leaves the device), compiled here: what the collection would reach without its outputs."""
  import jax

  def rollout(key):
    def body(state, k):
      action = jax.random.uniform(k, (venv.num_envs, venv.action_size), minval=-1, maxval=1)
      return venv.step(state, action), ()

    return jax.lax.scan(body, venv.reset(key), jax.random.split(key, num_steps))[0].obs

  compiled = jax.jit(rollout).lower(jax.random.PRNGKey(0)).compile()
  jax.block_until_ready(compiled(jax.random.PRNGKey(1)))
  seconds = lambda: _best_of(1, lambda: jax.block_until_ready(compiled(jax.random.PRNGKey(2))))
  return lambda: venv.num_envs * num_steps / seconds()


def measure_collect(
  env_name: str, num_envs: int, num_transitions: int, repeats: int, folder: str
) -> dict:
  """The collection ``repeats`` times, each right after the env stepped alone for as many steps
  (the machine is shared: the pair sees the same load); the fastest of each is the figure."""
  from goalax import collect, datasets
  from goalax.envs import VectorGoalEnv, make_env

  env = make_env(env_name)
  venv = VectorGoalEnv(env, num_envs)
  alone = env_alone(venv, num_transitions // num_envs)
  alone_rates, runs = [], []
  for _ in range(repeats):
    alone_rates.append(alone())
    runs.append(collect.collect(venv, collect.Behaviour(), num_transitions, seed=len(runs)))
  data = runs[0].trajectories
  begin = time.perf_counter()
  path = datasets.write(os.path.join(folder, f"{env_name}.npz"), data)
  write_s = time.perf_counter() - begin
  collect_s = [r.collect_s for r in runs]
  return dict(
    benchmark="collect",
    env=env_name,
    backend=env.backend,
    policy="random",
    num_envs=num_envs,
    episode_length=venv.episode_length,
    chunk_steps=collect.chunk_steps(num_transitions, num_envs, venv.episode_length),
    transitions=data.num_transitions,
    trajectories=data.num_trajectories,
    compile_s=[round(r.compile_s, 2) for r in runs],
    collect_s=[round(s, 2) for s in collect_s],
    transitions_per_s=round(data.num_transitions / min(collect_s)),
    env_alone_steps_per_s=round(max(alone_rates)),
    write_s=round(write_s, 2),
    file_bytes=path.stat().st_size,
  )


def _best_of(repeats: int, fn) -> float:
  times = []
  for _ in range(repeats):
    begin = time.perf_counter()
    fn()
    times.append(time.perf_counter() - begin)
  return min(times)


def measure_load(folder: str, trajectories: int, states: int, state_size: int, action_size: int):
  from goalax import datasets

  rng = np.random.default_rng(0)
  n = trajectories * states
  terminals = np.zeros(n, np.float32)
  terminals[states - 1 :: states] = 1.0
  synthetic = datasets.Trajectories(
    rng.normal(size=(n, state_size)).astype(np.float32),
    rng.uniform(-1, 1, size=(n, action_size)).astype(np.float32),
    terminals,
  )
  path = datasets.write(os.path.join(folder, "synthetic.npz"), synthetic)
  del synthetic

  def raw():
    with np.load(path) as file:
      return [file[k] for k in datasets.REQUIRED_KEYS]

  loaded = datasets.load(str(path), state_size, action_size)
  return dict(
    benchmark="load",
    transitions=loaded.num_transitions,
    trajectories=loaded.num_trajectories,
    state_size=state_size,
    action_size=action_size,
    file_bytes=path.stat().st_size,
    file_shapes_s=round(_best_of(3, lambda: datasets.file_shapes(path)), 4),
    load_s=round(_best_of(3, lambda: datasets.load(str(path), state_size, action_size)), 3),
    np_load_s=round(_best_of(3, raw), 3),
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--envs", nargs="+", default=["point_u_maze", "reacher"])
  parser.add_argument("--num_envs", type=int, default=128)
  parser.add_argument("--num_transitions", type=int, default=1_000_000)
  parser.add_argument("--repeats", type=int, default=3, help="collections per env (fastest kept)")
  parser.add_argument("--skip_load", action="store_true", help="only the collection")
  parser.add_argument("--out", default=None, help="JSON-lines file to append the records to")
  args = parser.parse_args()

  from goalax.run.programs import enable_compilation_cache

  enable_compilation_cache()
  with tempfile.TemporaryDirectory() as folder:
    for env_name in args.envs:
      record = measure_collect(env_name, args.num_envs, args.num_transitions, args.repeats, folder)
      report(args.out, record)
    if not args.skip_load:  # OGBench's antmaze-medium-navigate: 1000 × 1001 states, 29 and 8
      report(args.out, measure_load(folder, 1000, 1001, 29, 8))


if __name__ == "__main__":
  main()
