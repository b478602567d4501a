"""goalax against the reference (JaxGCRL's CRL, PyPI ``jaxgcrl`` 0.2.8) at equal work, side by side.

    python benchmarks/vs_jaxgcrl.py --config reacher --out benchmarks/results/vs_jaxgcrl.jsonl
    python benchmarks/vs_jaxgcrl.py --config ant --reference released current --repeats 2

The reference is installed from PyPI (``pip install --no-deps jaxgcrl==0.2.8``) into a virtual
environment of its own under ``.bench_venvs/`` (git-ignored), created on first use:

- ``current``: jax, jaxlib, brax, flax, optax, mujoco, numpy, ... pinned to the versions of the
  interpreter running this script (goalax's), so both sides run on the same JAX;
- ``released``: the versions the release pins (jax/jaxlib 0.4.25, brax 0.12.1, mujoco and
  mujoco-mjx 3.2.7, numpy < 2), with the CPU jaxlib of that version, since its Linux pin is a
  CUDA build that PyPI does not carry.

The import shims the reference needs are in ``jaxgcrl_runner.py`` (its docstring says which and
why); no reference file is changed.

Equal work: the same env and backend, ``num_envs``, batch size, episode length, unroll length,
network sizes (h_dim × n_hidden, repr_dim), replay sizes, LayerNorm setting, evaluation (envs,
count) and env steps; the reference takes ``num_envs·(episode_length−1)/batch_size`` gradient
steps per training step of ``num_envs·unroll_length`` env steps, so goalax runs with
``--env_steps_per_update unroll_length·batch_size/(episode_length−1)``, which gives it exactly as
many. The reference prefills ``ceil(min_replay_size/unroll_length)`` whole unrolls, so
``min_replay_size`` is a multiple of ``unroll_length`` here and both prefill the same rows, and
``total_env_steps`` is chosen so that both take the same whole number of training steps. What is
not equal: the algorithms' own defaults (goalax: backward InfoNCE, entropy target −|A|, critic
step before the actor step; the reference: forward InfoNCE, −|A|/2, actor first), the envs'
implementations (goalax keeps the goal out of the physics state) and, with LayerNorm on, the
reference normalises only its two encoders while goalax's flag covers the actor too.

Each run is a fresh process (compile time and peak RSS are its own); runs alternate reference,
goalax, reference, goalax, ... Reported per run: wall time of the whole training call (compile,
prefill, training, evaluations), compile time (tracing + lowering + XLA compile, from JAX's own
monitoring events, see ``compile_clock.py``), env steps/s after compilation
(``env_steps / (wall − compile)``, evaluations included for both), peak RSS, and the final
evaluation's success (fraction of evaluation episodes that reach the goal at least once: the
reference's ``eval/episode_success_any``, goalax's ``eval/success``). One JSON line per run with
``--out``. Both run without a persistent compilation cache; ``--goalax_warm_cache`` adds a goalax
re-run from its own cache (what ``goalax train`` does by default; the reference has no cache).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
VENVS = os.path.join(os.path.dirname(HERE), ".bench_venvs")
REFERENCE = "jaxgcrl==0.2.8"
RELEASED_PINS = [
  "jax==0.4.25",
  "jaxlib==0.4.25",
  "brax==0.12.1",
  "mujoco==3.2.7",
  "mujoco-mjx==3.2.7",
  "numpy<2",
  "flax>=0.8.3",
  "scipy>=1.12",
]
# What the reference's CRL imports, installed at goalax's own versions for ``current``.
CURRENT_PACKAGES = ["jax", "jaxlib", "brax", "flax", "optax", "mujoco", "mujoco-mjx", "numpy"]
CURRENT_PACKAGES += ["scipy", "etils"]


@dataclasses.dataclass(frozen=True)
class BenchConfig:
  env: str
  num_envs: int
  batch_size: int
  episode_length: int
  train_steps: int  # training steps of num_envs × unroll_length env steps, after the prefill
  num_evals: int
  backend: str = "spring"
  unroll_length: int = 62
  prefill_unrolls: int = 17  # JaxGCRL's default min_replay_size 1000 → ceil(1000 / 62) unrolls
  max_replay_size: int = 10000
  h_dim: int = 256
  n_hidden: int = 2
  repr_dim: int = 64
  num_eval_envs: int = 128

  @property
  def min_replay_size(self) -> int:
    return self.prefill_unrolls * self.unroll_length

  @property
  def total_env_steps(self) -> int:
    return self.num_envs * (self.min_replay_size + self.train_steps * self.unroll_length)

  @property
  def updates_per_train_step(self) -> int:
    return self.num_envs * (self.episode_length - 1) // self.batch_size

  @property
  def env_steps_per_update(self) -> float:
    return self.unroll_length * self.batch_size / (self.episode_length - 1)


CONFIGS = {
  # The reacher: 128 envs, batch 128, episode 101 → 100 gradient steps per 7,936 env
  # steps; 200 training steps (1.72M env steps with the prefill), evaluated 10 times.
  "reacher": BenchConfig("reacher", 128, 128, 101, train_steps=200, num_evals=10),
  # JaxGCRL's ant config: 128 envs, batch 256, episode 1001 → 500 gradient steps per 7,936 env
  # steps (≈ 1:16); 20 training steps after the prefill, evaluated 4 times.
  "ant": BenchConfig("ant", 128, 256, 1001, train_steps=20, num_evals=4),
  # A small config to check the script end to end in about a minute a run.
  "smoke": BenchConfig(
    "reacher", 16, 16, 101, train_steps=4, num_evals=2, h_dim=64, repr_dim=16, num_eval_envs=16
  ),
}


def check(config: BenchConfig) -> None:
  if config.num_envs * (config.episode_length - 1) % config.batch_size:
    raise SystemExit("num_envs·(episode_length−1) must be divisible by batch_size (the reference)")
  if config.train_steps % config.num_evals:
    raise SystemExit("train_steps must be a multiple of num_evals (whole epochs on both sides)")


# ---- the reference's virtual environments ------------------------------------------------------


def venv_python(kind: str) -> str:
  return os.path.join(VENVS, kind, "bin", "python")


def ensure_venv(kind: str) -> str:
  """Creates ``.bench_venvs/<kind>`` with the reference installed (once); returns its python."""
  python, done = venv_python(kind), os.path.join(VENVS, kind, ".installed")
  if os.path.exists(done):
    return python
  print(f"creating {os.path.join(VENVS, kind)} ...", flush=True)
  subprocess.run([sys.executable, "-m", "venv", "--clear", os.path.join(VENVS, kind)], check=True)
  pip = [python, "-m", "pip", "install", "-q"]
  if kind == "released":
    subprocess.run(pip + RELEASED_PINS, check=True)
  else:
    freeze = subprocess.run(
      [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
      check=True,
      capture_output=True,
      text=True,
    ).stdout
    constraints = os.path.join(VENVS, f"{kind}-constraints.txt")
    with open(constraints, "w") as f:
      f.write("\n".join(line for line in freeze.splitlines() if "goalax" not in line) + "\n")
    subprocess.run(pip + ["-c", constraints] + CURRENT_PACKAGES, check=True)
  subprocess.run(pip + ["--no-deps", REFERENCE], check=True)
  open(done, "w").close()
  return python


# ---- one run of each -----------------------------------------------------------------------


def reference_command(python: str, config: BenchConfig, layer_norm: bool, seed: int) -> list[str]:
  flags = dict(
    env=config.env,
    backend=config.backend,
    num_envs=config.num_envs,
    batch_size=config.batch_size,
    episode_length=config.episode_length,
    total_env_steps=config.total_env_steps,
    num_evals=config.num_evals,
    num_eval_envs=config.num_eval_envs,
    unroll_length=config.unroll_length,
    min_replay_size=config.min_replay_size,
    max_replay_size=config.max_replay_size,
    h_dim=config.h_dim,
    n_hidden=config.n_hidden,
    repr_dim=config.repr_dim,
    seed=seed,
  )
  argv = [python, os.path.join(HERE, "jaxgcrl_runner.py")]
  argv += [item for k, v in flags.items() for item in (f"--{k}", str(v))]
  return argv + (["--use_ln"] if layer_norm else [])


def run_goalax(config: BenchConfig, layer_norm: bool, seed: int) -> dict:
  """One goalax run in this process (called in a fresh subprocess by :func:`main`)."""
  import contextlib
  import io

  import jax
  from compile_clock import CompileClock

  clock = CompileClock()
  with contextlib.redirect_stdout(io.StringIO()):
    from goalax.agents.crl import CRLConfig
    from goalax.config import TrainConfig
    from goalax.host_loop import train
    from goalax.programs import enable_compilation_cache

  if os.environ.get("GOALAX_JAX_CACHE"):  # --goalax_warm_cache: goalax's own default
    enable_compilation_cache()

  train_config = TrainConfig(
    env=config.env,
    backend=config.backend,
    seed=seed,
    num_timesteps=config.total_env_steps,
    num_evals=config.num_evals,
    num_envs=config.num_envs,
    num_eval_envs=config.num_eval_envs,
    episode_length=config.episode_length,
    progress=False,
    agent=CRLConfig(
      h_dim=config.h_dim,
      n_hidden=config.n_hidden,
      repr_dim=config.repr_dim,
      use_layer_norm=layer_norm,
      batch_size=config.batch_size,
      unroll_length=config.unroll_length,
      min_replay_size=config.min_replay_size,
      max_replay_size=config.max_replay_size,
      env_steps_per_update=config.env_steps_per_update,
    ),
  )
  plan = train_config.schedule
  assert plan.total_env_steps == config.total_env_steps, "unequal env steps"
  assert plan.gradient_steps_per_train_step == config.updates_per_train_step, "unequal updates"
  t0 = time.perf_counter()
  result = train(train_config, write_outputs=False)
  wall_s = time.perf_counter() - t0
  success = [row["eval/success"] for row in result.history]
  return dict(
    impl="goalax",
    wall_s=wall_s,
    compile_s=clock.seconds,
    env_steps=result.total_env_steps,
    env_steps_per_s=result.total_env_steps / (wall_s - clock.seconds),
    train_epoch_env_steps_per_s=None,
    peak_rss_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    final_success=success[-1],
    success_curve=success[1:],  # the first row is before training; the reference has none
    shims=[],
    jax=jax.__version__,
  )


WARM = "goalax, warm cache"  # the impl name of a goalax re-run with its compilation cache


def run_in_subprocess(argv: list[str], cache_dir: str | None = None) -> dict:
  """Runs ``argv`` with JAX's persistent compilation cache off, or on in ``cache_dir``."""
  env = dict(os.environ, JAX_ENABLE_COMPILATION_CACHE="false", PYTHONPATH=HERE)
  env.pop("GOALAX_JAX_CACHE", None)
  if cache_dir is not None:
    env.update(JAX_ENABLE_COMPILATION_CACHE="true", GOALAX_JAX_CACHE=cache_dir)
  proc = subprocess.run(argv, capture_output=True, text=True, env=env)
  lines = proc.stdout.strip().splitlines()
  if proc.returncode != 0 or not lines:
    raise RuntimeError(f"{' '.join(argv[:3])} failed:\n{proc.stderr[-3000:]}")
  return json.loads(lines[-1])


def describe(rec: dict) -> str:
  return (
    f"| {rec['impl']} ({rec['reference_jax']}) | {rec['layer_norm']} | {rec['wall_s']:.1f} | "
    f"{rec['compile_s']:.1f} | {rec['env_steps_per_s']:,.0f} | {rec['peak_rss_gib']:.2f} | "
    f"{rec['final_success']:.3f} |"
  )


def main() -> None:
  warnings.filterwarnings("ignore")
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", choices=list(CONFIGS), default="reacher")
  parser.add_argument(
    "--reference",
    nargs="*",
    choices=["current", "released"],
    default=["current"],
    help="which reference install(s): on goalax's JAX (current) and/or as released",
  )
  parser.add_argument("--layer_norm", nargs="*", choices=["off", "on"], default=["off", "on"])
  parser.add_argument("--repeats", type=int, default=1, help="reference/goalax pairs per cell")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default=None, help="append one JSON line per run here")
  parser.add_argument(
    "--conditions", default="idle", help="load on the machine, kept in each record (e.g. shared)"
  )
  parser.add_argument(
    "--goalax_warm_cache",
    action="store_true",
    help="after each pair, run goalax twice more with its persistent compilation cache (on by "
    "default for `goalax train`; the reference has none) in a fresh folder and report the "
    "second run: what a re-run of the same program (e.g. another seed) costs",
  )
  parser.add_argument("--goalax_run", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  config = CONFIGS[args.config]
  if args.goalax_run is not None:
    print(json.dumps(run_goalax(config, args.goalax_run == "on", args.seed)))
    return
  check(config)
  from records import append_record, machine_info

  info = machine_info()
  print(f"config {args.config}: {json.dumps(dataclasses.asdict(config))}")
  print(
    f"  {config.total_env_steps:,} env steps, {config.updates_per_train_step} gradient steps per "
    f"{config.num_envs * config.unroll_length:,} env steps (goalax --env_steps_per_update "
    f"{config.env_steps_per_update:g}), {config.train_steps * config.updates_per_train_step:,} "
    f"gradient steps in all"
  )
  print(
    "| run (reference's JAX) | LayerNorm | wall s | compile s | env steps/s | peak RSS GiB |"
    " final success |"
  )
  print("|---|---|---:|---:|---:|---:|---:|")
  for kind in args.reference:
    python = ensure_venv(kind)
    for layer_norm in args.layer_norm:
      walls: dict[str, list[float]] = {}

      def record(rec: dict, repeat: int, impl: str | None = None) -> None:
        """Names the run in ``rec``, prints it and appends it to ``--out``."""
        rec.update(
          impl=impl or rec["impl"],
          config_name=args.config,
          config=dataclasses.asdict(config),
          layer_norm=layer_norm,
          reference=kind,
          reference_jax=rec["jax"] if rec["impl"] == "jaxgcrl" else info["jax"],
          repeat=repeat,
          gradient_steps=config.train_steps * config.updates_per_train_step,
          conditions=args.conditions,
          **{f"machine_{k}": v for k, v in info.items()},
        )
        walls.setdefault(rec["impl"], []).append(rec["wall_s"])
        print(describe(rec), flush=True)
        append_record(args.out, rec)

      goalax_argv = [sys.executable, os.path.abspath(__file__), "--config", args.config]
      goalax_argv += ["--seed", str(args.seed), "--goalax_run", layer_norm]
      for repeat in range(args.repeats):
        record(
          run_in_subprocess(reference_command(python, config, layer_norm == "on", args.seed)),
          repeat,
        )
        record(run_in_subprocess(goalax_argv), repeat)
        if args.goalax_warm_cache:
          with tempfile.TemporaryDirectory() as cache_dir:
            run_in_subprocess(goalax_argv, cache_dir)  # fills the cache
            record(run_in_subprocess(goalax_argv, cache_dir), repeat, impl=WARM)
      reference_wall = statistics.median(walls["jaxgcrl"])
      ratio = reference_wall / statistics.median(walls["goalax"])
      print(f"|  reference / goalax wall time ({kind}, LayerNorm {layer_norm}) | {ratio:.2f}× |")
      if WARM in walls:
        ratio = reference_wall / statistics.median(walls[WARM])
        print(f"|  reference / goalax re-run with its compilation cache | {ratio:.2f}× |")


if __name__ == "__main__":
  main()
