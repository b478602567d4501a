"""Regenerates docs/environments.md and docs/images/<env>.png from the env registry.

    MUJOCO_GL=egl python docs/make_env_docs.py            # every env
    MUJOCO_GL=egl python docs/make_env_docs.py ant reacher

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

Sizes are state / goal / action. The backend is the default (`make_env(name, backend=...)` picks
another; "backends" lists those that work for the env). "steps/s" is the env throughput on the
default backend with 512 parallel envs and random actions, measured on this project's 2-core CPU
machine (`benchmarks/env_throughput.py`; every backend and size in
`benchmarks/results/README.md`).

Stills are rendered with MuJoCo's renderer (`goalax.render.render_still`) headless through EGL:
`MUJOCO_GL=egl` with Debian's `libegl1` and `libgl1-mesa-dri` (software rendering, no GPU
needed). OSMesa (`libosmesa6`, `MUJOCO_GL=osmesa`) did not work with the PyOpenGL this project
installs. goalax sets `MUJOCO_GL=egl` itself when it is unset and no display is present.

| env | goal | state / goal / action | threshold | episode | backend | backends | steps/s | still |
|---|---|---|---:|---:|---|---|---:|---|
"""


THROUGHPUT_FILE = os.path.join(HERE, "..", "benchmarks", "results", "env_throughput.jsonl")


def default_backend_throughput(num_envs: int = 512) -> dict[str, float]:
  """env name → steps/s on its default backend at ``num_envs`` (the last record of each)."""
  import json

  rates = {}
  if os.path.exists(THROUGHPUT_FILE):
    with open(THROUGHPUT_FILE) as f:
      for line in f:
        rec = json.loads(line)
        if rec.get("default") and rec.get("num_envs") == num_envs and "steps_per_s" in rec:
          rates[rec["env"]] = rec["steps_per_s"]
  return rates


def main(names: list[str]) -> None:
  with contextlib.redirect_stdout(io.StringIO()):
    import goalax.envs as envs
    from goalax.render import render_still
  os.makedirs(os.path.join(HERE, "images"), exist_ok=True)
  rows = []
  rates = default_backend_throughput()
  for name in names or envs.env_names():
    env = envs.make_env(name)
    image = os.path.join("images", f"{name}.png")
    render_still(env, os.path.join(HERE, image), height=240, width=320)
    rows.append(
      f"| `{name}` | {envs.describe(name)} | {env.state_size} / {env.goal_size} / "
      f"{env.action_size} | {env.goal_threshold:g} | {env.episode_length} | "
      f"{env.backend} | {', '.join(type(env).backends)} | "
      f"{f'{rates[name]:,.0f}' if name in rates else 'n/a'} | ![{name}]({image}) |"
    )
    print(name, "ok", flush=True)
  if not names:
    with open(os.path.join(HERE, "environments.md"), "w") as f:
      f.write(HEADER + "\n".join(rows) + "\n")


if __name__ == "__main__":
  main(sys.argv[1:])
