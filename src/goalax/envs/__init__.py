"""Environment registry: ``make_env(name, backend=None, **overrides)``.

Each entry names the module and class that build the env and the constructor arguments that make
the named variant. Modules are imported lazily, so listing envs stays fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib
import io
from typing import Any

with contextlib.redirect_stdout(io.StringIO()):
  # mujoco.mjx prints "Failed to import warp" when its optional warp backend is absent.
  import brax.envs.base  # noqa: F401

from goalax.envs.core import BACKENDS, GoalEnv, VectorGoalEnv, check_backend


@dataclasses.dataclass(frozen=True)
class EnvEntry:
  module: str
  class_name: str
  kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
  description: str = ""


_REGISTRY: dict[str, EnvEntry] = {}


def register(name: str, module: str, class_name: str, description: str = "", **kwargs) -> None:
  """Adds an env name; ``kwargs`` are passed to the class's constructor."""
  _REGISTRY[name] = EnvEntry(module, class_name, kwargs, description)


register("reacher", "goalax.envs.reacher", "Reacher", "2-link arm; goal = fingertip x, y")
register("cheetah", "goalax.envs.cheetah", "Cheetah", "half cheetah; goal = torso x")
register(
  "pusher_easy",
  "goalax.envs.pusher",
  "Pusher",
  "arm pushes a puck; goal = puck x, y",
  difficulty="easy",
)
register(
  "pusher_hard",
  "goalax.envs.pusher",
  "Pusher",
  "arm pushes a puck; goals over a wider region",
  difficulty="hard",
)
register("pusher2", "goalax.envs.pusher", "Pusher2", "pusher with two pucks, a goal for each")
register("ant", "goalax.envs.ant", "Ant", "quadruped; goal = torso x, y on a circle of radius 10")
register(
  "ant_random_start",
  "goalax.envs.ant",
  "AntRandomStart",
  "ant starting anywhere at the goal distance from its goal",
)
register("ant_ball", "goalax.envs.ant_ball", "AntBall", "ant soccer; goal = ball x, y")
register(
  "ant_push",
  "goalax.envs.ant_push",
  "AntPush",
  "ant pushes a block out of the way to reach a goal behind it",
)
# Mazes (layouts in goalax.envs.mazes). The *_eval variants keep only far goals, for --eval_env.
MAZES = ("u_maze", "big_maze", "hardest_maze")
for _maze in MAZES:
  register(
    f"ant_{_maze}", "goalax.envs.ant_maze", "AntMaze", f"ant in the {_maze} layout", layout=_maze
  )
for _maze in ("u_maze", "big_maze"):
  register(
    f"ant_{_maze}_eval",
    "goalax.envs.ant_maze",
    "AntMaze",
    f"ant in the {_maze} layout, far goals only (evaluation)",
    layout=_maze,
    far_goals_only=True,
  )
for _maze in ("u_maze", "big_maze"):
  register(
    f"ant_ball_{_maze}",
    "goalax.envs.ant_ball",
    "AntBallMaze",
    f"ant soccer in the {_maze} layout; goal = ball x, y",
    layout=_maze,
  )
register("humanoid", "goalax.envs.humanoid", "Humanoid", "humanoid; goal = torso x, y")
for _maze in MAZES:
  register(
    f"humanoid_{_maze}",
    "goalax.envs.humanoid",
    "HumanoidMaze",
    f"humanoid in the {_maze} layout (scaled)",
    layout=_maze,
  )
for _maze in MAZES:
  register(
    f"simple_{_maze}",
    "goalax.envs.point_maze",
    "PointMaze",
    f"point mass in the {_maze} layout",
    layout=_maze,
  )
ARM_TASKS = {  # name -> (class, kwargs, description)
  "arm_reach": ("ArmReach", {}, "7-DoF arm with gripper; goal = end-effector x, y, z"),
  "arm_push_easy": ("ArmPush", {"difficulty": "easy"}, "arm pushes a cube; goal = cube x, y, z"),
  "arm_push_hard": (
    "ArmPush",
    {"difficulty": "hard"},
    "arm pushes a cube, wider spread; goal = cube x, y, z",
  ),
  "arm_binpick_easy": (
    "ArmBinpick",
    {"difficulty": "easy"},
    "arm picks a cube into a bin; goal = cube x, y, z",
  ),
  "arm_binpick_hard": (
    "ArmBinpick",
    {"difficulty": "hard"},
    "arm picks a cube into a bin, wider spread; goal = cube x, y, z",
  ),
  "arm_grasp": ("ArmGrasp", {}, "arm grasps a cube; goal = both fingertip positions"),
}
for _name, (_cls, _kwargs, _description) in ARM_TASKS.items():
  register(_name, "goalax.envs.arm", _cls, _description, **_kwargs)


def env_names() -> list[str]:
  return list(_REGISTRY)


def unknown_env_message(name: str) -> str:
  close = difflib.get_close_matches(name, env_names(), n=1, cutoff=0.5)
  hint = f" Did you mean '{close[0]}'?" if close else ""
  return f"Unknown environment '{name}'.{hint} Valid names: {', '.join(env_names())}."


def env_class(name: str) -> type[GoalEnv]:
  if name not in _REGISTRY:
    raise ValueError(unknown_env_message(name))
  entry = _REGISTRY[name]
  return getattr(importlib.import_module(entry.module), entry.class_name)


def make_env(name: str, backend: str | None = None, **overrides) -> GoalEnv:
  """Builds the goal-conditioned env called ``name``.

  Args:
    name: a registered name (see ``env_names()`` or ``goalax envs``).
    backend: physics pipeline: 'spring', 'positional', 'generalized' or 'mjx'; None picks the
      env's ``default_backend``.
    **overrides: constructor arguments, e.g. ``episode_length``, ``goal_threshold``,
      ``dense_reward``, ``n_frames``.
  """
  cls = env_class(name)
  backend = backend or cls.default_backend
  check_backend(name, backend, cls.backends)
  kwargs = {**_REGISTRY[name].kwargs, **overrides}
  env = cls(backend=backend, **kwargs)
  env.name = name
  return env


def describe(name: str) -> str:
  return _REGISTRY[name].description if name in _REGISTRY else ""


__all__ = [
  "BACKENDS",
  "GoalEnv",
  "VectorGoalEnv",
  "env_names",
  "make_env",
  "register",
  "describe",
  "env_class",
]
