"""Where a first run's compile time goes: each program of a run (init, prefill, epoch, evaluate)
and the parts they inline (one env step, the goal sampler, the agent's update), each traced,
lowered and compiled by XLA on its own, one after the other in one thread, with no compilation
cache.

    python benchmarks/compile_by_part.py --out benchmarks/results/compile_by_part.jsonl
    python benchmarks/compile_by_part.py --fast_compile --out benchmarks/results/compile_by_part.jsonl
    python benchmarks/compile_by_part.py --run_costs ant 128 1000 --out benchmarks/results/compile_by_part.jsonl

The config is the README's training command (CRL on reacher, 64 envs, 128x2 networks). What it
is for: the physics is inlined into four programs (init holds a reset, prefill, epoch and
evaluate a step), so a part compiled alone says how much of each program's compile is the env's.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
from records import README_COMMAND


def clock(fn, *args, options=None) -> dict:
  """Seconds to trace and lower ``jit(fn)`` for ``args``, seconds of XLA's compile, and the
  number of StableHLO ops."""
  start = time.perf_counter()
  lowered = jax.jit(fn, compiler_options=options).lower(*args)
  lowered_at = time.perf_counter()
  lowered.compile()
  done = time.perf_counter()
  ops = sum(" = " in line for line in lowered.as_text().splitlines())
  return dict(
    trace_lower_s=round(lowered_at - start, 2), xla_s=round(done - lowered_at, 2), ops=ops
  )


def measure(fast_compile: bool) -> dict:
  from goalax.replay.sampler import make_sampler
  from goalax.run.plan import make_plan
  from goalax.run.programs import compiler_options
  from goalax.train_args import parse_train_args

  algo, *flags = README_COMMAND.split()
  flags += ["--no_progress"] + (["--fast_compile"] if fast_compile else [])
  config = parse_train_args(algo, flags)
  plan = make_plan(config)
  trainer, agent, env = plan.trainer, plan.agent, plan.env
  options = compiler_options(fast_compile)
  key = jax.ShapeDtypeStruct((2,), jnp.uint32)
  state = jax.eval_shape(trainer.init, key)
  action = jax.ShapeDtypeStruct((config.num_envs, env.action_size), jnp.float32)
  sample = make_sampler(env, agent.sampling, config.agent.batch_size, trainer.venv.episode_length)
  batch = jax.eval_shape(sample, state.buffer, key)[0]
  policy = jax.eval_shape(agent.policy_params, state.agent)
  parts = {
    "program: init": (trainer.init, key),
    "program: prefill": (trainer.prefill, state),
    "program: epoch": (trainer.run_epoch, state),
    "program: evaluate": (plan.evaluate, policy, key),
    "part: env reset": (trainer.venv.reset, key),
    "part: one env step": (trainer.venv.step, state.env_state, action),
    "part: goal sampler": (sample, state.buffer, key),
    "part: agent update": (agent.update, state.agent, batch, key),
  }
  return {name: clock(fn, *args, options=options) for name, (fn, *args) in parts.items()}


def run_once_costs(env: str, num_envs: int, min_replay_size: int) -> dict:
  """init, prefill and evaluate compiled with the default options and with
  ``FAST_COMPILE_OPTIONS``: compile seconds and run seconds (best of 3) of each, which is what
  ``programs.FAST_PREFILL_ENV_STEPS`` weighs."""
  from goalax.run.plan import make_plan
  from goalax.run.programs import FAST_COMPILE_OPTIONS
  from goalax.train_args import parse_train_args

  flags = f"--env {env} --num_envs {num_envs} --min_replay_size {min_replay_size} "
  flags += f"--max_replay_size {max(2 * min_replay_size, 1000)} --unroll_length 50 "
  flags += f"--num_eval_envs {num_envs} --no_progress"
  plan = make_plan(parse_train_args("crl", flags.split()))
  key, out = jax.random.PRNGKey(0), {}
  for label, options in (("default", None), ("fast", FAST_COMPILE_OPTIONS)):
    state = jax.jit(plan.trainer.init, compiler_options=options)(key)
    policy = plan.agent.policy_params(state.agent)
    for name, fn, args in (
      ("prefill", plan.trainer.prefill, (state,)),
      ("evaluate", plan.evaluate, (policy, key)),
    ):
      start = time.perf_counter()
      compiled = jax.jit(fn, compiler_options=options).lower(*args).compile()
      compile_s = time.perf_counter() - start
      runs = []
      for _ in range(3):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - start)
      out[f"{name} {label}"] = dict(compile_s=round(compile_s, 2), run_s=round(min(runs), 3))
  out["env_steps_per_run"] = num_envs * min_replay_size
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--fast_compile", action="store_true", help="XLA's cheapest CPU compile")
  parser.add_argument("--out", default=None, help="append the result to this JSON-lines file")
  parser.add_argument(
    "--run_costs",
    nargs=3,
    metavar=("ENV", "NUM_ENVS", "MIN_REPLAY_SIZE"),
    help="instead: compile and run seconds of prefill and evaluate, default against fast options",
  )
  args = parser.parse_args()
  from records import append_record, machine_info

  if args.run_costs:
    env, num_envs, min_replay = args.run_costs
    costs = run_once_costs(env, int(num_envs), int(min_replay))
    print(costs, flush=True)
    record = dict(run_costs=args.run_costs, **costs, **machine_info())
    append_record(args.out, {**record, "load_average_1min": os.getloadavg()[0]})
    return
  parts = measure(args.fast_compile)
  for name, row in parts.items():
    print(f"{name:<22} {row}", flush=True)
  record = dict(
    command="goalax train " + README_COMMAND,
    fast_compile=args.fast_compile,
    parts=parts,
    **machine_info(),
    load_average_1min=os.getloadavg()[0],
  )
  append_record(args.out, record)


if __name__ == "__main__":
  main()
