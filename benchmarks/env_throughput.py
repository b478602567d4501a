"""Env throughput: steps/s (after compilation) and compile time per env × backend × num_envs.

    python benchmarks/env_throughput.py                       # the first five envs, all backends
    python benchmarks/env_throughput.py --envs ant reacher --backends spring mjx --num_envs 512
    python benchmarks/env_throughput.py --all_envs --default_backend_only

Each cell times ``jit(scan(VectorGoalEnv.step))`` with random actions: compile time is
``lower().compile()``; steps/s is ``num_envs × num_steps / run time`` of a second call (the first
call after compiling is a warm-up). Results go to stdout as a markdown table and, with --out, to a
JSON-lines file (one record per cell, with machine and versions).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
import warnings

warnings.filterwarnings("ignore")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from records import append_record, machine_info  # noqa: E402

FIRST_FIVE = ["reacher", "cheetah", "pusher_easy", "pusher_hard", "ant"]


def time_rollout(env, num_envs: int, num_steps: int) -> dict:
  """``steps_per_s``, ``compile_s`` and ``finite`` of ``jit(scan(VectorGoalEnv.step))`` of
  ``env`` with random actions (module docstring)."""
  from goalax.envs import VectorGoalEnv

  venv = VectorGoalEnv(env, num_envs)

  def rollout(key):
    def body(state, k):
      action = jax.random.uniform(k, (num_envs, env.action_size), minval=-1, maxval=1)
      return venv.step(state, action), ()

    state, _ = jax.lax.scan(body, venv.reset(key), jax.random.split(key, num_steps))
    return state.obs

  t0 = time.perf_counter()
  compiled = jax.jit(rollout).lower(jax.random.PRNGKey(0)).compile()
  compile_s = time.perf_counter() - t0
  jax.block_until_ready(compiled(jax.random.PRNGKey(1)))
  t0 = time.perf_counter()
  final_obs = jax.block_until_ready(compiled(jax.random.PRNGKey(2)))
  run_s = time.perf_counter() - t0
  steps_per_s = num_envs * num_steps / run_s
  return dict(
    steps_per_s=steps_per_s, compile_s=compile_s, finite=bool(jnp.isfinite(final_obs).all())
  )


def measure(name: str, backend: str, num_envs: int, num_steps: int) -> dict:
  from goalax.envs import make_env

  env = make_env(name, backend=backend)
  timed = time_rollout(env, num_envs, num_steps)
  return dict(
    env=name,
    backend=backend,
    num_envs=num_envs,
    num_steps=num_steps,
    steps_per_s=timed["steps_per_s"],
    compile_s=timed["compile_s"],
    default=backend == env.default_backend,
    finite=timed["finite"],
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--envs", nargs="*", default=None)
  parser.add_argument("--all_envs", action="store_true")
  parser.add_argument(
    "--backends", nargs="*", default=None, help="default: every backend the env supports"
  )
  parser.add_argument("--default_backend_only", action="store_true")
  parser.add_argument("--num_envs", nargs="*", type=int, default=[1, 128, 512])
  parser.add_argument(
    "--steps",
    type=int,
    default=0,
    help="steps per env (default: about 20k env steps per cell, 20..500)",
  )
  parser.add_argument("--out", default=None, help="append JSON lines here")
  args = parser.parse_args()

  with contextlib.redirect_stdout(io.StringIO()):
    import goalax.envs as envs
  names = envs.env_names() if args.all_envs else (args.envs or FIRST_FIVE)
  info = machine_info()
  print("machine:", json.dumps(info))
  print("| env | backend | num_envs | steps/s | compile s |")
  print("|---|---|---:|---:|---:|")
  for name in names:
    cls = envs.env_class(name)
    backends = (
      [cls.default_backend] if args.default_backend_only else (args.backends or list(cls.backends))
    )
    for backend in backends:
      if backend not in cls.backends:
        continue
      for n in args.num_envs:
        steps = args.steps or max(20, min(500, 20_000 // n))
        try:
          rec = measure(name, backend, n, steps)
        except Exception as e:  # a backend that cannot run this model: record why
          rec = dict(env=name, backend=backend, num_envs=n, error=f"{type(e).__name__}: {e}"[:200])
          print(f"| {name} | {backend} | {n} | error | {rec['error']} |", flush=True)
        else:
          mark = " (default)" if rec["default"] else ""
          print(
            f"| {name} | {backend}{mark} | {n} | {rec['steps_per_s']:,.0f} | "
            f"{rec['compile_s']:.1f} |{'' if rec['finite'] else ' NaN in the final obs'}",
            flush=True,
          )
        append_record(args.out, {**rec, **info})


if __name__ == "__main__":
  main()
