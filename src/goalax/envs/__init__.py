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
import re
from typing import Any

with contextlib.redirect_stdout(io.StringIO()):
  # mujoco.mjx prints "Failed to import warp" when its optional warp backend is absent.
  import brax.envs.base  # noqa: F401

from goalax.envs.core import BACKENDS, REFERENCE, GoalEnv, VectorGoalEnv, check_backend


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
register("cheetah", "goalax.envs.cheetah", "Cheetah", "half cheetah; goal = torso x, fixed at 5")
register(
  "cheetah_random_target",
  "goalax.envs.cheetah",
  "CheetahRandomTarget",
  "half cheetah; goal = torso x, 2-6 ahead or behind, fresh each episode",
)
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
register(
  "pusher2",
  "goalax.envs.pusher",
  "Pusher2",
  "the reference's two-puck pusher (pucks pass through each other); goal = both pucks' x, y",
)
register(
  "pusher2_bands",
  "goalax.envs.pusher",
  "Pusher2Bands",
  "goalax's two-puck pusher: pucks that collide, start/goal bands per puck, both within 0.1",
)
register(
  "pusher_reacher",
  "goalax.envs.pusher",
  "PusherReacher",
  "the pusher's arm reaches a point with its tip; goal = tip x, y, z",
)
register("ant", "goalax.envs.ant", "Ant", "quadruped; goal = torso x, y on a circle of radius 10")
register(
  "ant_random_start",
  "goalax.envs.ant",
  "AntRandomStart",
  "ant starting anywhere at the goal distance from its goal",
)
register(
  "ant_ball",
  "goalax.envs.ant_ball",
  "AntBall",
  "the reference's ant soccer; goal = ball x, y, 5 m from the origin",
)
register(
  "ant_soccer",
  "goalax.envs.ant_ball",
  "AntSoccer",
  "goalax's ant soccer: frictionless ball with drag, goal 2-4 m from the ball; goal = ball x, y",
)
register(
  "ant_push",
  "goalax.envs.ant_push",
  "AntPush",
  "the reference's ant push (8 m cells, mjx); goal = torso x, y beyond the block",
)
register(
  "ant_push_dead_end",
  "goalax.envs.ant_push",
  "AntPushDeadEnd",
  "goalax's ant push: 4 m cells, goal in a dead end behind the block",
)
# Mazes (layouts in goalax.envs.mazes). The *_eval variants keep only far goals, for --eval_env.
MAZES = ("u_maze", "big_maze", "hardest_maze")
for _maze in MAZES:
  register(
    f"ant_{_maze}",
    "goalax.envs.ant_maze",
    "AntMaze",
    f"JaxGCRL's ant in the {_maze} layout (its model, walls, frame, starts and goals)",
    layout=_maze,
  )
for _maze in ("u_maze", "big_maze"):
  register(
    f"ant_{_maze}_eval",
    "goalax.envs.ant_maze",
    "AntMaze",
    f"JaxGCRL's ant in the {_maze} layout, far goals only (its {_maze}_eval goals)",
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
register(
  "humanoid",
  "goalax.envs.humanoid",
  "Humanoid",
  "JaxGCRL's humanoid; goal = torso x, y, 1-5 m away",
)
for _maze in MAZES:
  register(
    f"humanoid_{_maze}",
    "goalax.envs.humanoid",
    "HumanoidMaze",
    f"JaxGCRL's humanoid in the {_maze} layout (cells of 2 m; its walls, frame, starts, goals)",
    layout=_maze,
  )
for _maze in MAZES:
  register(
    f"simple_{_maze}",
    "goalax.envs.simple_maze",
    "SimpleMaze",
    f"JaxGCRL's point mass in the {_maze} layout (its physics, starts and goals)",
    layout=_maze,
  )
for _maze in MAZES:
  register(
    f"point_{_maze}",
    "goalax.envs.point_maze",
    "PointMaze",
    f"goalax's point mass in the {_maze} layout (cheaper, damped; control step 0.1 s)",
    layout=_maze,
  )
# Ports of OGBench's locomotion mazes (goalax.envs.ogbench_maze, docs/ogbench.md):
# ogbench_<robot>maze_<maze> is OGBench's <robot>maze-<maze>-v0.
OGBENCH_MAZES = ("medium", "large", "giant")
OGBENCH_ROBOTS = {"point": "OGBenchPointMaze", "ant": "OGBenchAntMaze"}
for _robot, _cls in OGBENCH_ROBOTS.items():
  for _maze in OGBENCH_MAZES:
    register(
      f"ogbench_{_robot}maze_{_maze}",
      "goalax.envs.ogbench_maze",
      _cls,
      f"OGBench's {_robot}maze-{_maze}-v0 on MJX (its model, maze, observation, 5 tasks)",
      maze=_maze,
    )
ARM_TASKS = {  # the reference's Panda tasks: name -> (class, kwargs, description)
  "arm_reach": (
    "ArmReach",
    {},
    "JaxGCRL's Panda reaches a point with its hand; goal = hand x, y, z",
  ),
  "arm_push_easy": (
    "ArmPush",
    {"difficulty": "easy"},
    "JaxGCRL's Panda pushes a cube into the adjacent region; goal = cube x, y, z",
  ),
  "arm_push_hard": (
    "ArmPush",
    {"difficulty": "hard"},
    "JaxGCRL's Panda pushes a cube, wider regions; goal = cube x, y, z",
  ),
  "arm_binpick_easy": (
    "ArmBinpick",
    {"difficulty": "easy"},
    "JaxGCRL's Panda carries a cube to the centre of the other bin; goal = cube x, y, z",
  ),
  "arm_binpick_hard": (
    "ArmBinpick",
    {"difficulty": "hard"},
    "JaxGCRL's Panda carries a cube anywhere into the other bin; goal = cube x, y, z",
  ),
  "arm_grasp": (
    "ArmGrasp",
    {},
    "JaxGCRL's Panda closes its fingers around a cube; goal = fingertip targets and distance",
  ),
}
for _name, (_cls, _kwargs, _description) in ARM_TASKS.items():
  register(_name, "goalax.envs.arm", _cls, _description, **_kwargs)
LITE_ARM_TASKS = {  # goalax's own, cheaper arm: name -> (class, kwargs, description)
  "arm_lite_reach": ("LiteArmReach", {}, "goal = end-effector x, y, z"),
  "arm_lite_push_easy": (
    "LiteArmPush",
    {"difficulty": "easy"},
    "pushes a cube; goal = cube x, y, z",
  ),
  "arm_lite_push_hard": (
    "LiteArmPush",
    {"difficulty": "hard"},
    "pushes a cube, wider spread; goal = cube x, y, z",
  ),
  "arm_lite_binpick_easy": (
    "LiteArmBinpick",
    {"difficulty": "easy"},
    "picks a cube into a bin; goal = cube x, y, z",
  ),
  "arm_lite_binpick_hard": (
    "LiteArmBinpick",
    {"difficulty": "hard"},
    "picks a cube into a bin, wider spread; goal = cube x, y, z",
  ),
  "arm_lite_grasp": ("LiteArmGrasp", {}, "grasps a cube; goal = both fingertip positions"),
}
for _name, (_cls, _kwargs, _description) in LITE_ARM_TASKS.items():
  register(_name, "goalax.envs.arm_lite", _cls, f"goalax's cheaper arm {_description}", **_kwargs)


# The reference's (JaxGCRL 0.2.8's) env names: under these goalax runs the reference's physics
# (tests/test_reference_physics.py). Its list also names ant_ball_maze, which its create_env
# cannot build (the layout it derives from the name, "maze", does not exist).
REFERENCE_ENV_NAMES = (
  "ant",
  "ant_random_start",
  "ant_ball",
  "ant_push",
  "humanoid",
  "reacher",
  "cheetah",
  "pusher_easy",
  "pusher_hard",
  "pusher_reacher",
  "pusher2",
  *ARM_TASKS,
  "ant_u_maze",
  "ant_big_maze",
  "ant_hardest_maze",
  "humanoid_u_maze",
  "humanoid_big_maze",
  "humanoid_hardest_maze",
  "simple_u_maze",
  "simple_big_maze",
  "simple_hardest_maze",
)


def env_names() -> list[str]:
  return list(_REGISTRY)


#: OGBench's gymnasium ids of its locomotion mazes (``pointmaze-medium-v0``, and its datasets'
#: ``pointmaze-medium-navigate-v0``): the port's name is ``ogbench_<robot>maze_<maze>``.
_OGBENCH_ID = re.compile(r"(\w+)maze-(\w+?)(?:-\w+)?-v\d+")


def unknown_env_message(name: str) -> str:
  ogbench = _OGBENCH_ID.fullmatch(name)
  port = ogbench and f"ogbench_{ogbench[1]}maze_{ogbench[2]}"
  if port in _REGISTRY:
    return f"Unknown environment '{name}': OGBench's {name} is goalax's '{port}' (--env {port})."
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
      env's ``default_backend``, 'reference' the one the reference (JaxGCRL) uses for this env.
    **overrides: constructor arguments, e.g. ``episode_length``, ``goal_threshold``,
      ``dense_reward``, ``n_frames``.
  """
  cls = env_class(name)
  backend = resolve_backend(name, backend)
  check_backend(name, backend, cls.backends)
  kwargs = {**_REGISTRY[name].kwargs, **overrides}
  env = cls(backend=backend, **kwargs)
  env.name = name
  return env


def resolve_backend(name: str, backend: str | None) -> str:
  """The physics pipeline that ``backend`` means for env ``name``: None -> the env's default,
  'reference' -> the reference's (JaxGCRL's) backend for it; refused for goalax's own envs."""
  cls = env_class(name)
  if backend is None:
    return cls.default_backend
  if backend == REFERENCE:
    if cls.reference_backend is None:
      raise ValueError(
        f"Env '{name}' is goalax's own task, so it has no reference backend (flag --backend); "
        f"pick one of: {', '.join(cls.backends)}."
      )
    return cls.reference_backend
  return backend


def describe(name: str) -> str:
  return _REGISTRY[name].description if name in _REGISTRY else ""


__all__ = [
  "BACKENDS",
  "REFERENCE",
  "REFERENCE_ENV_NAMES",
  "GoalEnv",
  "VectorGoalEnv",
  "env_names",
  "make_env",
  "register",
  "describe",
  "env_class",
  "resolve_backend",
]
