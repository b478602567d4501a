"""One training run of the reference (JaxGCRL's CRL or PPO, the ``jaxgcrl`` package) with the
measurements ``vs_jaxgcrl.py`` compares: wall time, compile time, env steps/s, peak memory, final
success.

Runs inside a virtual environment that holds ``jaxgcrl`` (``pip install --no-deps jaxgcrl==0.2.8``)
and never imports goalax. ``vs_jaxgcrl.py`` starts it as a subprocess and reads the last line of
its stdout, one JSON object. Only the standard library, the reference's own dependencies and
``compile_clock.py`` (beside this file) are used here.

Shims (no reference file is changed; the import ones live in :func:`install_import_shims`, the
PPO ones in :func:`make_ppo`):

- ``jaxgcrl/__init__.py``, ``jaxgcrl/agents/__init__.py`` and ``jaxgcrl/utils/__init__.py``
  import every agent (PPO needs ``orbax``; SAC imports ``brax.training.replay_buffers_test``) and
  the run helpers (``wandb``, ``wandb_osh``, ``matplotlib``). CRL needs none of these, so the three
  packages are registered as bare namespace modules over the installed folders and only the CRL
  modules (``agents/crl``, ``envs``, ``utils/evaluator``, ``utils/replay_buffer``) are imported;
  with ``--agent ppo``, ``agents/ppo`` (which imports ``orbax`` and ``etils``, both in the venv
  as Brax's dependencies) instead of CRL's.
- The reference's evaluator reads the metrics ``success_easy`` and ``distance_from_origin``,
  which its Reacher does not report (CRL on reacher raises ``KeyError`` at the first evaluation):
  a subclass adds them as zeros (:func:`make_env`).
- On newer JAX, arrays that a jitted function captures become traced arguments, so the env's
  ``goal_indices`` (a jax array that ``crl.py`` turns into a jit static argument) is given as a
  numpy array instead (same values).
- ``brax.v1`` was removed in brax 0.13; ``crl.py`` imports ``brax.v1.envs`` for type hints only,
  so an empty module with ``Env`` and ``Wrapper`` stands in where brax has no ``v1`` (``ppo.py``
  uses it only for envs that are not ``brax.envs.Env``, which the reference's envs are).
- ``jax.device_put_replicated`` (called once by ``ppo.py`` to put its training state on its
  devices) is gone from newer JAX: where it is missing, it stacks the state over the devices
  (one on a CPU), which is what it did.
- The reference's PPO ``Evaluator`` (a subclass of Brax's) calls Brax's compiled evaluation
  unroll with ``(params, key)``; newer Brax's takes ``(donated evaluation state, params, key)``
  and keeps the returned state for the next call, which a wrapper set up after Brax's
  ``__init__`` does (where Brax has that state).
- PPO (``--agent ppo``): the reference builds Brax's ``make_ppo_networks`` with its defaults (a
  4 × 32 policy, a 5 × 256 value network); for equal work both get ``--h_dim`` × ``--n_hidden``,
  through a ``functools.partial`` put in place of ``make_ppo_networks`` in Brax's module (which
  ``ppo.py`` reads when training starts). Its evaluation before training reports no
  ``training/sps``, which is read as missing.

The reference's ``RunConfig`` lives in ``jaxgcrl/utils/config.py``, which imports every agent, so
the run settings are passed as a plain namespace with the same field names.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import resource
import sys
import time
import types


def install_import_shims() -> list[str]:
  """Registers the modules described above; returns a description of each shim applied."""
  applied = []
  spec = importlib.util.find_spec("jaxgcrl")
  root = os.path.dirname(spec.origin)
  for name, sub in (("jaxgcrl", ""), ("jaxgcrl.agents", "agents"), ("jaxgcrl.utils", "utils")):
    module = types.ModuleType(name)
    module.__path__ = [os.path.join(root, sub)]
    sys.modules[name] = module
  applied.append(
    "jaxgcrl, jaxgcrl.agents, jaxgcrl.utils as bare packages (only the run agent's modules load)"
  )
  try:
    import brax.v1.envs  # noqa: F401
  except ImportError:
    v1 = types.ModuleType("brax.v1")
    v1_envs = types.ModuleType("brax.v1.envs")
    v1_envs.__getattr__ = lambda name: object  # Env, Wrapper, State: used in annotations only
    v1.envs = v1_envs
    sys.modules["brax.v1"], sys.modules["brax.v1.envs"] = v1, v1_envs
    applied.append("brax.v1.envs stub (type hints only; removed in brax 0.13)")
  return applied


def installed_versions() -> dict:
  """Versions of the reference and what it runs on, in this virtual environment."""
  from importlib.metadata import PackageNotFoundError, version

  names = ["jaxgcrl", "jax", "jaxlib", "brax", "flax", "optax", "mujoco", "mujoco-mjx", "numpy"]
  found = {}
  for name in names:
    try:
      found[name] = version(name)
    except PackageNotFoundError:
      found[name] = None
  return found


def make_env(name: str, backend: str):
  if name == "reacher":
    from jaxgcrl.envs.reacher import Reacher

    class ReacherWithEvalKeys(Reacher):
      """The reference's evaluator reads ``success_easy`` and ``distance_from_origin`` from every
      env, but its Reacher does not report them (its CRL evaluation on reacher raises KeyError);
      they are added as zeros, which ``step`` carries along unchanged."""

      def reset(self, rng):
        state = super().reset(rng)
        zero = state.metrics["success"] * 0.0
        state.metrics.update(success_easy=zero, distance_from_origin=zero)
        return state

    return ReacherWithEvalKeys(backend=backend)
  if name == "ant":
    from jaxgcrl.envs.ant import Ant

    return Ant(backend=backend)
  raise ValueError(f"no reference env mapped for {name!r}")


def make_ppo(args, shims: list[str]):
  """The reference's PPO with ``args``' settings and ``h_dim`` × ``n_hidden`` networks."""
  import functools

  from brax.training.agents.ppo import networks as ppo_networks

  layers = (args.h_dim,) * args.n_hidden
  ppo_networks.make_ppo_networks = functools.partial(
    ppo_networks.make_ppo_networks,
    policy_hidden_layer_sizes=layers,
    value_hidden_layer_sizes=layers,
  )
  shims.append(f"make_ppo_networks with {args.h_dim} x {args.n_hidden} policy and value networks")
  import jax

  if not hasattr(jax, "device_put_replicated"):  # removed in JAX 0.8; ppo.py calls it once
    import jax.numpy as jnp

    def device_put_replicated(tree, devices):
      stacked = jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * len(devices)), tree)
      return jax.device_put(stacked, devices[0]) if len(devices) == 1 else stacked

    jax.device_put_replicated = device_put_replicated
    shims.append("jax.device_put_replicated as a stack over the devices (removed from JAX)")
  from jaxgcrl.utils.evaluator import Evaluator

  brax_init = Evaluator.__init__

  def init_with_two_argument_unroll(self, *args, **kwargs):
    brax_init(self, *args, **kwargs)
    if hasattr(self, "_eval_state_to_donate"):  # newer Brax: unroll(donated state, params, key)
      unroll = self._generate_eval_unroll

      def two_argument_unroll(policy_params, key):
        self._eval_state_to_donate = unroll(self._eval_state_to_donate, policy_params, key)
        return self._eval_state_to_donate

      self._generate_eval_unroll = two_argument_unroll

  Evaluator.__init__ = init_with_two_argument_unroll
  shims.append("Evaluator's unroll called with Brax's donated evaluation state (newer Brax)")
  from jaxgcrl.agents.ppo.ppo import PPO

  return PPO(
    learning_rate=args.learning_rate,
    entropy_cost=args.entropy_cost,
    discounting=args.discounting,
    unroll_length=args.unroll_length,
    batch_size=args.batch_size,
    num_minibatches=args.num_minibatches,
    num_updates_per_batch=args.num_updates_per_batch,
    normalize_observations=args.normalize_observations,
    clipping_epsilon=args.clipping_epsilon,
    gae_lambda=args.gae_lambda,
    deterministic_eval=True,  # as goalax evaluates: tanh of the mean
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--env", required=True)
  parser.add_argument("--backend", default="spring")
  parser.add_argument("--num_envs", type=int, required=True)
  parser.add_argument("--batch_size", type=int, required=True)
  parser.add_argument("--episode_length", type=int, required=True)
  parser.add_argument("--total_env_steps", type=int, required=True)
  parser.add_argument("--num_evals", type=int, required=True)
  parser.add_argument("--num_eval_envs", type=int, required=True)
  parser.add_argument("--unroll_length", type=int, required=True)
  parser.add_argument("--min_replay_size", type=int)  # CRL only
  parser.add_argument("--max_replay_size", type=int)  # CRL only
  parser.add_argument("--h_dim", type=int, required=True)
  parser.add_argument("--n_hidden", type=int, required=True)
  parser.add_argument("--repr_dim", type=int)  # CRL only
  parser.add_argument("--use_ln", action="store_true")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--agent", choices=["crl", "ppo"], default="crl")
  # PPO only (--batch_size is its unrolls per minibatch; the replay and repr flags are unused)
  parser.add_argument("--num_minibatches", type=int, default=16)
  parser.add_argument("--num_updates_per_batch", type=int, default=2)
  parser.add_argument("--learning_rate", type=float, default=1e-4)
  parser.add_argument("--entropy_cost", type=float, default=1e-4)
  parser.add_argument("--discounting", type=float, default=0.9)
  parser.add_argument("--gae_lambda", type=float, default=0.95)
  parser.add_argument("--clipping_epsilon", type=float, default=0.3)
  parser.add_argument("--normalize_observations", action="store_true")
  args = parser.parse_args()

  shims = install_import_shims()
  import jax
  from compile_clock import CompileClock

  clock = CompileClock()
  if args.agent == "ppo":
    agent = make_ppo(args, shims)
  else:
    from jaxgcrl.agents.crl.crl import CRL

    agent = CRL(
      batch_size=args.batch_size,
      unroll_length=args.unroll_length,
      min_replay_size=args.min_replay_size,
      max_replay_size=args.max_replay_size,
      h_dim=args.h_dim,
      n_hidden=args.n_hidden,
      repr_dim=args.repr_dim,
      use_ln=args.use_ln,
    )
  run = types.SimpleNamespace(
    env=args.env,
    total_env_steps=args.total_env_steps,
    episode_length=args.episode_length,
    eval_env=None,
    num_envs=args.num_envs,
    num_eval_envs=args.num_eval_envs,
    action_repeat=1,
    num_evals=args.num_evals,
    seed=args.seed,
    backend=args.backend,
    visualization_interval=10**9,
    checkpoint_logdir=None,
    max_devices_per_host=None,
  )
  env = make_env(args.env, args.backend)
  if not jax.__version__.startswith("0.4."):
    # Newer JAX passes arrays captured by a jitted function in as traced arguments, so
    # crl.py's ``tuple(train_env.goal_indices)`` (a jit static argument) would hold tracers.
    import numpy as np

    env.goal_indices = np.asarray(env.goal_indices)
    shims.append("goal_indices as a numpy array (newer JAX traces captured jax arrays)")
  history = []

  def progress(step, metrics, *_, **__):
    history.append(
      dict(
        env_steps=int(step),
        time=time.perf_counter(),
        success_any=float(metrics["eval/episode_success_any"]),
        episode_success=float(metrics["eval/episode_success"]),
        training_sps=float(metrics.get("training/sps", "nan")),
      )
    )

  t0 = time.perf_counter()
  # train_fn returns ``params``, which it only assigns when it saves checkpoints: when that raises
  # UnboundLocalError the run is complete (every epoch and evaluation done).
  with contextlib.suppress(UnboundLocalError):
    agent.train_fn(config=run, train_env=env, eval_env=env, progress_fn=progress)
  wall_s = time.perf_counter() - t0
  env_steps = history[-1]["env_steps"]
  # The reference's own per-epoch rate (training only, no eval); the first epoch includes the
  # compilation of the training epoch, so it is left out (and PPO's evaluation before training).
  trained = [h for h in history if h["training_sps"] == h["training_sps"]]  # not NaN
  steady = trained[1:] or trained or history
  print(
    json.dumps(
      dict(
        impl="jaxgcrl",
        wall_s=wall_s,
        compile_s=clock.seconds,
        env_steps=env_steps,
        env_steps_per_s=env_steps / (wall_s - clock.seconds),
        train_epoch_env_steps_per_s=sum(h["training_sps"] for h in steady) / len(steady),
        peak_rss_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        final_success=history[-1]["success_any"],
        success_curve=[h["success_any"] for h in history],
        gradient_steps=None,
        shims=shims,
        jax=jax.__version__,
        versions=installed_versions(),
      )
    )
  )


if __name__ == "__main__":
  main()
