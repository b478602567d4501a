"""Records the reference's physics (JaxGCRL's envs) for goalax's physics test.

For every env name of the reference's list, on the backend the reference picks for it (and on
any other backend asked for with ``--backend``): one reset with a fixed key, then 30 steps under
fixed random actions in [-1, 1]. The joint positions and velocities after each step are written,
with the joint names and the actions, to ``tests/data/reference_physics/<env>__<backend>.npz``
(and ``<env>__<backend>__<start>.npz`` for the extra starts of :data:`EXTRA_STARTS`);
``tests/test_reference_physics.py`` starts goalax's env of the same name from the same joint
state, applies the same actions and compares.

The reference is the ``jaxgcrl`` package (0.2.8), never imported by goalax. Install it without its
dependencies somewhere and point at it (its env modules need only JAX, brax and mujoco, which
goalax has; the same versions on both sides is the point)::

  pip install --no-deps --target /tmp/jaxgcrl jaxgcrl==0.2.8
  .venv/bin/python scripts/record_reference_physics.py --reference /tmp/jaxgcrl

Only ``jaxgcrl.envs`` is loaded: the package's ``__init__`` imports its agents and wandb, so the
packages are registered as bare namespace modules over the installed folders.
"""

from __future__ import annotations

import argparse
import os
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np

from goalax.envs import assets

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "tests", "data", "reference_physics")
NUM_STEPS = 30
RESET_SEED = 0
ACTION_SEED = 1

# The reference's env names -> (module under jaxgcrl.envs, class, constructor kwargs, the backend
# its create_env picks). Facts read from jaxgcrl 0.2.8's utils/env.py.
REFERENCE_ENVS = {
  "reacher": ("reacher", "Reacher", {}, "generalized"),
  "ant": ("ant", "Ant", {}, "spring"),
  "ant_random_start": ("ant", "Ant", {"randomize_start": True}, "spring"),
  "ant_ball": ("ant_ball", "AntBall", {}, "spring"),
  "ant_push": ("ant_push", "AntPush", {}, "mjx"),
  "humanoid": ("humanoid", "Humanoid", {}, "spring"),
  "cheetah": ("half_cheetah", "Halfcheetah", {}, "mjx"),  # create_env passes no backend
  "pusher_easy": ("pusher", "Pusher", {"kind": "easy"}, "generalized"),
  "pusher_hard": ("pusher", "Pusher", {"kind": "hard"}, "generalized"),
  "pusher_reacher": ("pusher", "PusherReacher", {}, "generalized"),
  "pusher2": ("pusher2", "Pusher2", {}, "generalized"),
  "arm_reach": ("manipulation.arm_reach", "ArmReach", {}, "mjx"),
  "arm_grasp": ("manipulation.arm_grasp", "ArmGrasp", {}, "mjx"),
  "arm_push_easy": ("manipulation.arm_push_easy", "ArmPushEasy", {}, "mjx"),
  "arm_push_hard": ("manipulation.arm_push_hard", "ArmPushHard", {}, "mjx"),
  "arm_binpick_easy": ("manipulation.arm_binpick_easy", "ArmBinpickEasy", {}, "mjx"),
  "arm_binpick_hard": ("manipulation.arm_binpick_hard", "ArmBinpickHard", {}, "mjx"),
  **{
    f"ant_{m}": ("ant_maze", "AntMaze", {"maze_layout_name": m}, "spring")
    for m in ("u_maze", "big_maze", "hardest_maze")
  },
  **{
    f"humanoid_{m}": ("humanoid_maze", "HumanoidMaze", {"maze_layout_name": m}, "spring")
    for m in ("u_maze", "big_maze", "hardest_maze")
  },
  **{
    f"simple_{m}": ("simple_maze", "SimpleMaze", {"maze_layout_name": m}, "spring")
    for m in ("u_maze", "big_maze", "hardest_maze")
  },
}


def load_reference(path: str) -> None:
  """Registers ``jaxgcrl`` and ``jaxgcrl.envs`` as bare packages over ``path/jaxgcrl``."""
  root = os.path.join(path, "jaxgcrl")
  if not os.path.isdir(os.path.join(root, "envs")):
    raise SystemExit(f"no jaxgcrl package under {path} (see this script's docstring)")
  for name, folder in (("jaxgcrl", root), ("jaxgcrl.envs", os.path.join(root, "envs"))):
    module = types.ModuleType(name)
    module.__path__ = [folder]
    sys.modules[name] = module
  manipulation = os.path.join(root, "envs", "manipulation")
  module = types.ModuleType("jaxgcrl.envs.manipulation")
  module.__path__ = [manipulation]
  sys.modules["jaxgcrl.envs.manipulation"] = module


def make_reference_env(name: str, backend: str):
  import contextlib
  import importlib

  module_name, class_name, kwargs, _ = REFERENCE_ENVS[name]
  module = importlib.import_module(f"jaxgcrl.envs.{module_name}")
  # The arm envs open "envs/assets/<model>.xml" relative to the working directory.
  with contextlib.chdir(sys.modules["jaxgcrl"].__path__[0]):
    return getattr(module, class_name)(backend=backend, **kwargs)


def lying_down(q: jax.Array) -> jax.Array:
  """A free-jointed robot turned onto its back, its root 0.2 above the floor (torso, arms and
  head on the ground: contacts that a standing start never makes in 30 steps)."""
  quarter_turn_about_y = jnp.array([np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0])
  return q.at[2].set(0.2).at[3:7].set(quarter_turn_about_y)


# Extra recordings from other starts: (env, start name) -> edit of the reset's joint positions.
EXTRA_STARTS = {("humanoid", "lying"): lying_down}


def record(name: str, backend: str, start: str | None = None) -> dict[str, np.ndarray]:
  env = make_reference_env(name, backend)
  state = jax.jit(env.reset)(jax.random.PRNGKey(RESET_SEED))
  if start is not None:
    q = EXTRA_STARTS[name, start](state.pipeline_state.q)
    state = state.replace(pipeline_state=env.pipeline_init(q, state.pipeline_state.qd))
  actions = jax.random.uniform(
    jax.random.PRNGKey(ACTION_SEED), (NUM_STEPS, env.action_size), minval=-1.0, maxval=1.0
  )
  step = jax.jit(env.step)
  qs, qds = [state.pipeline_state.q], [state.pipeline_state.qd]
  for action in actions:
    state = step(state, action)
    qs.append(state.pipeline_state.q)
    qds.append(state.pipeline_state.qd)
  model = env.sys.mj_model
  return dict(
    q=np.asarray(jnp.stack(qs), np.float64),
    qd=np.asarray(jnp.stack(qds), np.float64),
    actions=np.asarray(actions, np.float64),
    joint_names=np.array(assets.joint_names(model)),
    jnt_qposadr=np.asarray(model.jnt_qposadr),
    jnt_dofadr=np.asarray(model.jnt_dofadr),
    jnt_type=np.asarray(model.jnt_type),
    dt=np.float64(env.dt),
    backend=np.array(backend),
    versions=np.array(
      f"jax {jax.__version__}, brax {_version('brax')}, mujoco {_version('mujoco')}"
    ),
  )


def _version(package: str) -> str:
  import importlib.metadata

  return importlib.metadata.version(package)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--reference", required=True, help="folder holding the jaxgcrl package")
  parser.add_argument("--envs", nargs="*", default=list(REFERENCE_ENVS))
  parser.add_argument(
    "--backend", default=None, help="a backend for every env (default: the reference's own)"
  )
  parser.add_argument("--out", default=OUT)
  args = parser.parse_args()
  load_reference(args.reference)
  os.makedirs(args.out, exist_ok=True)
  runs = [(name, None) for name in args.envs] + [
    (name, start) for name, start in EXTRA_STARTS if name in args.envs
  ]
  for name, start in runs:
    backend = args.backend or REFERENCE_ENVS[name][3]
    data = record(name, backend, start)
    stem = f"{name}__{backend}" + (f"__{start}" if start else "")
    path = os.path.join(args.out, f"{stem}.npz")
    np.savez_compressed(path, **data)
    print(f"{stem}: q {data['q'].shape}, dt {float(data['dt']):g} -> {path}", flush=True)


if __name__ == "__main__":
  main()
