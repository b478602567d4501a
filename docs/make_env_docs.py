"""Regenerates docs/environments.md and docs/images/<env>.png from the env registry.

    MUJOCO_GL=egl python docs/make_env_docs.py            # every env
    MUJOCO_GL=egl python docs/make_env_docs.py ant reacher
    python docs/make_env_docs.py --no-images             # the page only, with the stills there are

Images are MuJoCo renderer stills of a reset state with the goal drawn as a green sphere.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings

warnings.filterwarnings("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))

HEADER = """# Environments

Every env is a Brax `PipelineEnv` with observation `concat(state, goal)`; the commanded goal is
never part of the state (nor of the physics state `q`). `success` = 1 when
‖state[goal_indices] − goal‖ < threshold; `dist` is that distance. `VectorGoalEnv` applies the
episode length as a time limit and draws a new start and goal at every reset.

Sizes are state / goal / action. "backend" is goalax's default (`make_env(name, backend=...)` or
`--backend` picks another; "backends" lists those that work for the env); "reference" is the
backend the reference (JaxGCRL 0.2.8) builds the env of that name on, which `--backend reference`
picks ("-": goalax's own task, which the reference does not have; in parentheses: goalax's
variant of a reference env, same physics). Where the two differ, a default goalax run is not the
reference's run: name the backend with every result. "steps/s" is the env throughput on the
default backend with 512 parallel envs and random actions, measured on this project's 2-core CPU
machine (`benchmarks/env_throughput.py`; every backend and size in
`benchmarks/results/README.md`); "n/a" where the env's physics changed after the last
measurement.

Stills are rendered with MuJoCo's renderer (`goalax.outputs.render.render_still`) headless through EGL:
`MUJOCO_GL=egl` with Debian's `libegl1` and `libgl1-mesa-dri` (software rendering, no GPU
needed). OSMesa (`libosmesa6`, `MUJOCO_GL=osmesa`) did not work with the PyOpenGL this project
installs. goalax sets `MUJOCO_GL=egl` itself when it is unset and no display is present.

| env | goal | state / goal / action | threshold | episode | backend | reference | backends | steps/s | still |
|---|---|---|---:|---:|---|---|---|---:|---|
"""

FOOTER = """## Against the reference

Under every reference (JaxGCRL 0.2.8) name goalax runs the reference's physics: the same model
(bodies, joints, geoms and their collision bits, masses, solver options), control step, frame skip
and action scaling. `tests/test_reference_physics.py` holds each of them to the reference: from a
joint state recorded from the reference's own env, under the same random actions, goalax's env
reaches the same joint positions and velocities (recordings made once with
`scripts/record_reference_physics.py`, kept in `tests/data/reference_physics/`; differences are
float32 rounding, 1e-5 or less in the first steps). Run it on the reference's backend:
`--backend reference`.

What differs from the reference on purpose, in every env:

- **The goal lives outside the physics state.** The reference kept its goal as a body on slide
  joints inside the model (and in `q`); goalax removes that body and passes the goal beside the
  state (`obs = concat(state, goal)`). Removing it changes no physics (checked per env; two
  cases needed care: the cheetah's `settotalmass` counted the target's mass, so goalax sets the
  mass the reference's cheetah has; brax's generalized pipeline reads the model's last body in its
  world-contact weights, so the point maze keeps a parked, hidden target body on that backend).
- **A fresh goal at every reset**, drawn from the reference's start and goal distributions with
  the same key splits (a key gives the reference's start and goal where checked: pushers, point
  mazes, arms); the reference's Brax auto-reset kept each env slot's first goal for a whole run.
- **Success and reward from the state after the step**; reward sparse (`success`), or `-dist`
  with `dense_reward`. The state vector holds the reference's observation without its goal, in
  goalax's order (q, qd, then env-specific entries).
- **Five fixed evaluation tasks** per env (`--eval_goals tasks`, docs/evaluation_tasks.md).

Per env, besides those:

| env | reference backend | what else differs, and goalax's own variant |
|---|---|---|
| `reacher` | generalized | nothing |
| `cheetah` | mjx | nothing: target x = 5, the reference's 13.37 kg body (its `settotalmass` of 14 counted its 1 kg target). goalax's own task with targets 2-6 ahead or behind on brax's 14 kg cheetah: `cheetah_random_target` |
| `pusher_easy`, `pusher_hard` | generalized | the threshold is 0.0877 in x, y: the reference's 0.1 measured in 3-D to a goal body 0.048 below the puck's centre |
| `pusher_reacher` | generalized | nothing (threshold 0.1 to a 3-D point) |
| `pusher2` | generalized | threshold 0.0877 for each puck (both needed); goalax's earlier two-puck task (colliding pucks, bands per puck): `pusher2_bands` |
| `ant`, `ant_random_start` | spring | nothing |
| `ant_ball` | spring | nothing: the reference's ball (two spheres, 0.576 kg, sliding with friction), collision bits, goal on the circle of radius 5 and ball placement (its quirk included: ball y = 0.4 goal y). goalax's earlier soccer task (frictionless ball with drag, goal 2-4 m from the ball): `ant_soccer` |
| `ant_push` | mjx | nothing: the reference's own model (its ant, 8 m cells, a 0.2 g block on x/y/z slides; NaN on spring and generalized here, so mjx only, goalax's default too). goalax's earlier task (4 m cells, goal in a dead end): `ant_push_dead_end` |
| `ant_u_maze`, `ant_big_maze`, `ant_hardest_maze` | spring | nothing: the reference's model (torso, hips and feet collide with the walls), one wall box per cell, in the reference's frame (cell (row, col) at (4 row, 4 col); the start at (4, 4)); start at the start cell's centre, goal at a goal cell's centre. The walls near the torso are collided through a moving window of the same boxes (the same contacts; `wall_contacts="static"` collides every box, as the reference does, 12× slower). `ant_*_eval`: the reference's far-goal layouts |
| `humanoid`, `humanoid_*_maze` | spring | nothing: the reference's model (every body geom collides with the floor and the walls) and action scaling, no reset noise; mazes of 2 m cells in the reference's frame (start at (2, 2)), goals at cell centres, the same window of wall boxes (exact while the torso moves under 10 m/s) |
| `simple_u_maze`, `simple_big_maze`, `simple_hardest_maze` | spring | episode length 1000 (the reference's README runs); goalax's earlier, cheaper point maze (damped, control step 0.1 s, mjx): `point_u_maze`, `point_big_maze`, `point_hardest_maze` |
| `arm_reach`, `arm_push_*`, `arm_binpick_*` | mjx | nothing (the reference's Panda models with their meshes left out: visual only) |
| `arm_grasp` | mjx | the fingertip targets stay at the cube's resting place for the episode (the reference moved them with the cube every step) |

goalax's earlier, cheaper arm (primitives, 5 physics steps per env step, joint-target deltas):
`arm_lite_reach`, `arm_lite_push_easy`, ... The reference's list also names `ant_ball_maze`,
which its own code cannot build (the layout it derives from the name does not exist); goalax's
`ant_ball_u_maze` and `ant_ball_big_maze` are its own.
"""
# Envs whose physics changed on this date (the reference's models under its names): throughput
# records from before it measured other physics and are not shown for them.
PHYSICS_CHANGED = "2026-12-07"
CHANGED = (
  "cheetah",
  "pusher2",
  "pusher_reacher",
  "ant_ball",
  "ant_push",
  "humanoid",
  "humanoid_u_maze",
  "humanoid_big_maze",
  "humanoid_hardest_maze",
  "ant_u_maze",
  "ant_big_maze",
  "ant_hardest_maze",
  "ant_u_maze_eval",
  "ant_big_maze_eval",
  "simple_u_maze",
  "simple_big_maze",
  "simple_hardest_maze",
  "arm_reach",
  "arm_push_easy",
  "arm_push_hard",
  "arm_binpick_easy",
  "arm_binpick_hard",
  "arm_grasp",
)


THROUGHPUT_FILE = os.path.join(HERE, "..", "benchmarks", "results", "env_throughput.jsonl")


def default_backend_throughput(num_envs: int = 512) -> dict[str, float]:
  """env name → steps/s on its default backend at ``num_envs`` (the last record of each)."""
  import json

  rates = {}
  if os.path.exists(THROUGHPUT_FILE):
    with open(THROUGHPUT_FILE) as f:
      for line in f:
        rec = json.loads(line)
        stale = rec["env"] in CHANGED and rec.get("date", "") < PHYSICS_CHANGED
        wanted = rec.get("default") and rec.get("num_envs") == num_envs and "steps_per_s" in rec
        if wanted and not stale:
          rates[rec["env"]] = rec["steps_per_s"]
  return rates


def reference_column(envs, name: str, env) -> str:
  backend = type(env).reference_backend
  if backend is None:
    return "-"
  return backend if name in envs.REFERENCE_ENV_NAMES else f"({backend})"


def main(names: list[str], images: bool = True) -> None:
  with contextlib.redirect_stdout(io.StringIO()):
    import goalax.envs as envs
    from goalax.outputs.render import render_still
  os.makedirs(os.path.join(HERE, "images"), exist_ok=True)
  rows = []
  rates = default_backend_throughput()
  for name in names or envs.env_names():
    env = envs.make_env(name)
    image = os.path.join("images", f"{name}.png")
    if images:
      render_still(env, os.path.join(HERE, image), height=240, width=320)
    still = f"![{name}]({image})" if os.path.exists(os.path.join(HERE, image)) else "-"
    rows.append(
      f"| `{name}` | {envs.describe(name)} | {env.state_size} / {env.goal_size} / "
      f"{env.action_size} | {env.goal_threshold:g} | {env.episode_length} | "
      f"{env.backend} | {reference_column(envs, name, env)} | {', '.join(type(env).backends)} | "
      f"{f'{rates[name]:,.0f}' if name in rates else 'n/a'} | {still} |"
    )
    print(name, "ok", flush=True)
  if not names:
    with open(os.path.join(HERE, "environments.md"), "w") as f:
      f.write(HEADER + "\n".join(rows) + "\n\n" + FOOTER)


if __name__ == "__main__":
  args = sys.argv[1:]
  main([a for a in args if a != "--no-images"], images="--no-images" not in args)
