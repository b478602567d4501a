"""goalax against the reference (JaxGCRL's CRL or PPO, PyPI ``jaxgcrl`` 0.2.8) at equal work, side
by side.

    python benchmarks/vs_jaxgcrl.py --config reacher --out benchmarks/results/vs_jaxgcrl.jsonl
    python benchmarks/vs_jaxgcrl.py --config ant --reference released current --repeats 2
    python benchmarks/vs_jaxgcrl.py --config ppo_reacher --out benchmarks/results/vs_jaxgcrl.jsonl

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

PPO (the ``ppo_*`` configs), equal work: the same env, ``num_envs``, unroll length, episode
length, evaluation and env steps; each training step collects one unroll of ``num_envs ×
unroll_length`` env steps (the reference: ``batch_size × num_minibatches / num_envs`` unrolls,
here 1, with ``batch_size = num_envs / num_minibatches``) and takes ``num_updates_per_batch ×
num_minibatches`` gradient steps on minibatches of ``num_envs × unroll_length / num_minibatches``
transitions; both networks are ``h_dim × n_hidden`` MLPs without LayerNorm on both sides (the
runner's shim gives the reference's Brax networks these sizes); the same learning rate, entropy
cost, discount, λ, ε, no gradient clipping and no observation normalisation (the reference's
defaults); sparse reward; deterministic evaluation on both sides. The reference runs ``num_evals
= epochs + 1`` (its first evaluation is before training), goalax ``epochs``. What is not equal:
the reference computes GAE inside every minibatch's loss from the current value network and
drops the truncated step's advantage, goalax computes GAE once per rollout and bootstraps the
truncated step from the true last observation; goalax's policy log-std is soft-clipped, Brax's
is ``softplus + 0.001``.

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


@dataclasses.dataclass(frozen=True)
class PPOBenchConfig:
  """PPO at equal work (see the module docstring); hyperparameters: the reference's defaults."""

  env: str
  num_envs: int
  episode_length: int
  train_steps: int  # training steps of num_envs × unroll_length env steps
  epochs: int  # goalax --num_evals; the reference's num_evals is epochs + 1
  backend: str = "spring"
  unroll_length: int = 10
  num_minibatches: int = 8
  num_updates_per_batch: int = 2
  h_dim: int = 256
  n_hidden: int = 2
  num_eval_envs: int = 128
  learning_rate: float = 1e-4
  entropy_cost: float = 1e-4
  discounting: float = 0.9
  gae_lambda: float = 0.95
  clipping_epsilon: float = 0.3

  @property
  def batch_size(self) -> int:
    """The reference's unrolls per minibatch: one unroll of every env per training step."""
    return self.num_envs // self.num_minibatches

  @property
  def total_env_steps(self) -> int:
    return self.train_steps * self.num_envs * self.unroll_length

  @property
  def updates_per_train_step(self) -> int:
    return self.num_updates_per_batch * self.num_minibatches

  def work(self) -> str:
    return (
      f"  {self.total_env_steps:,} env steps, {self.updates_per_train_step} gradient steps of "
      f"{self.num_envs * self.unroll_length // self.num_minibatches} transitions per "
      f"{self.num_envs * self.unroll_length:,} env steps, "
      f"{self.train_steps * self.updates_per_train_step:,} gradient steps in all"
    )


CONFIGS.update(
  {
    # 256 envs × 10 steps per training step, 8 minibatches of 320 transitions, 2 passes: 16
    # gradient steps per 2,560 env steps; 400 training steps (1.02M env steps), 4 evaluations.
    "ppo_reacher": PPOBenchConfig("reacher", 256, 101, train_steps=400, epochs=4),
    # The same shapes on ant (episode 1001): 40 training steps (102,400 env steps), 2 evaluations.
    "ppo_ant": PPOBenchConfig("ant", 256, 1001, train_steps=40, epochs=2),
    "ppo_smoke": PPOBenchConfig(
      "reacher", 32, 101, train_steps=20, epochs=2, h_dim=32, num_minibatches=4, num_eval_envs=16
    ),
  }
)


def check(config) -> None:
  if isinstance(config, PPOBenchConfig):
    if config.num_envs % config.num_minibatches:
      raise SystemExit("num_envs must be a multiple of num_minibatches (the reference)")
    if config.train_steps % config.epochs:
      raise SystemExit("train_steps must be a multiple of epochs (whole epochs on both sides)")
    return
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


def reference_command(python: str, config, layer_norm: bool, seed: int) -> list[str]:
  if isinstance(config, PPOBenchConfig):
    return reference_ppo_command(python, config, seed)
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


def reference_ppo_command(python: str, config: PPOBenchConfig, seed: int) -> list[str]:
  names = ("env", "backend", "num_envs", "batch_size", "episode_length", "total_env_steps")
  names += ("num_eval_envs", "unroll_length", "h_dim", "n_hidden", "num_minibatches")
  names += ("num_updates_per_batch", "learning_rate", "entropy_cost", "discounting")
  names += ("gae_lambda", "clipping_epsilon")
  flags = {name: getattr(config, name) for name in names}
  flags.update(num_evals=config.epochs + 1, seed=seed, agent="ppo")
  argv = [python, os.path.join(HERE, "jaxgcrl_runner.py")]
  return argv + [item for k, v in flags.items() for item in (f"--{k}", str(v))]


def goalax_ppo_config(config: PPOBenchConfig, seed: int):
  from goalax.agents.ppo import PPOConfig
  from goalax.config import TrainConfig

  return TrainConfig(
    env=config.env,
    backend=config.backend,
    seed=seed,
    num_timesteps=config.total_env_steps,
    num_evals=config.epochs,
    num_envs=config.num_envs,
    num_eval_envs=config.num_eval_envs,
    episode_length=config.episode_length,
    progress=False,
    agent=PPOConfig(
      h_dim=config.h_dim,
      n_hidden=config.n_hidden,
      use_layer_norm=False,
      unroll_length=config.unroll_length,
      num_minibatches=config.num_minibatches,
      num_updates_per_batch=config.num_updates_per_batch,
      learning_rate=config.learning_rate,
      entropy_cost=config.entropy_cost,
      discounting=config.discounting,
      gae_lambda=config.gae_lambda,
      clipping_epsilon=config.clipping_epsilon,
      max_grad_norm=None,
      normalize_observations=False,
    ),
  )


def run_goalax(config, layer_norm: bool, seed: int) -> dict:
  """One goalax run in this process (called in a fresh subprocess by :func:`main`)."""
  import contextlib
  import io

  import jax
  from compile_clock import CompileClock

  clock = CompileClock()
  with contextlib.redirect_stdout(io.StringIO()):
    from goalax.loops.settings import schedule_of
    from goalax.run.host_loop import train
    from goalax.run.programs import enable_compilation_cache

  if os.environ.get("GOALAX_JAX_CACHE"):  # --goalax_warm_cache: goalax's own default
    enable_compilation_cache()

  if isinstance(config, PPOBenchConfig):
    train_config = goalax_ppo_config(config, seed)
  else:
    train_config = goalax_crl_config(config, layer_norm, seed)
  schedule = schedule_of(train_config)
  assert schedule.total_env_steps == config.total_env_steps, "unequal env steps"
  assert schedule.gradient_steps_per_train_step == config.updates_per_train_step, "unequal updates"
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


def goalax_crl_config(config: BenchConfig, layer_norm: bool, seed: int):
  from goalax.agents.crl import CRLConfig
  from goalax.config import TrainConfig

  return TrainConfig(
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


WARM = "goalax, warm cache"  # the impl name of a goalax re-run with its compilation cache


def run_in_subprocess(argv: list[str], cache_dir: str | None = None) -> dict:
  """Runs ``argv`` with JAX's persistent compilation cache off, or on in ``cache_dir``."""
  # this checkout's goalax (src/ beside benchmarks/) before any installed one
  path = os.pathsep.join([HERE, os.path.join(os.path.dirname(HERE), "src")])
  env = dict(os.environ, JAX_ENABLE_COMPILATION_CACHE="false", PYTHONPATH=path)
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
  if isinstance(config, PPOBenchConfig):
    print(config.work())
    args.layer_norm = ["off"]  # the reference's PPO networks have no LayerNorm
  else:
    print(
      f"  {config.total_env_steps:,} env steps, {config.updates_per_train_step} gradient steps "
      f"per {config.num_envs * config.unroll_length:,} env steps (goalax --env_steps_per_update "
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
