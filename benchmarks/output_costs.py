"""What a run's outputs cost at each evaluation: a checkpoint (save, size on disk, restore), a
training video (--video_every: record an episode, render it with MuJoCo, encode mp4) and
curves.png. Measured on an initialised, prefilled state of the given config (the sizes of a real
run; the values do not matter).

  python benchmarks/output_costs.py --env reacher --num_envs 64 --max_replay_size 2000 \\
      --h_dim 128 --repr_dim 32 --record benchmarks/results/output_costs.jsonl
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time

import jax

from goalax.agents.crl import CRLConfig
from goalax.config import TrainConfig
from goalax.evaluation import make_episode_recorder
from goalax.outputs import plotting, render
from goalax.run import checkpoint, memory
from goalax.run.plan import make_plan


def _timed(fn):
  t0 = time.perf_counter()
  out = fn()
  return out, time.perf_counter() - t0


def _du(path: str) -> int:
  return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True).stdout.split()[0])


def measure(config: TrainConfig, folder: str) -> dict:
  setup = make_plan(config)
  agent = setup.agent
  programs = setup.compile()
  state = jax.block_until_ready(programs.prefill(programs.init(setup.seed_keys)))
  policy = jax.vmap(agent.policy_params)(state.agent)

  saved, save_s = _timed(
    lambda: checkpoint.save(folder, 0, state, policy, {"env_steps": 0}, keep=2)
  )
  _, restore_s = _timed(lambda: checkpoint.restore_state(saved, setup.abstract_state))

  env, length = setup.eval_env, setup.eval_episode_length
  record = jax.jit(make_episode_recorder(env, agent.act, 1, length, config.action_repeat))
  one_seed = jax.tree.map(lambda x: x[0], policy)
  key = jax.random.PRNGKey(0)
  _, record_compile_s = _timed(lambda: jax.block_until_ready(record(one_seed, key)))
  (first, states), record_s = _timed(lambda: jax.block_until_ready(record(one_seed, key)))
  frames, frames_s = _timed(lambda: render.render_frames(env, first, states))
  path = os.path.join(folder, "video.mp4")
  _, encode_s = _timed(lambda: render.write_video(frames, path, render.video_fps(env)))

  rows = [
    dict(epoch=e, env_steps=e * 1000, seed=0, **dict.fromkeys(plotting.CURVE_METRICS, 0.5))
    for e in range(config.num_evals + 1)
  ]
  _, curves_s = _timed(lambda: plotting.plot_run(rows, os.path.join(folder, "c.png"), "x"))
  return dict(
    env=config.env,
    num_envs=config.num_envs,
    max_replay_size=config.agent.max_replay_size,
    h_dim=config.agent.h_dim,
    state_bytes=memory.tree_bytes(setup.abstract_state),
    checkpoint_bytes_on_disk=_du(saved.path),
    checkpoint_save_s=round(save_s, 3),
    checkpoint_restore_s=round(restore_s, 3),
    video_frames=len(frames),
    video_record_compile_s=round(record_compile_s, 2),
    video_record_s=round(record_s, 3),
    video_render_s=round(frames_s, 3),
    video_encode_s=round(encode_s, 3),
    video_per_evaluation_s=round(record_s + frames_s + encode_s, 3),
    video_bytes=os.path.getsize(path),
    curves_png_s=round(curves_s, 3),
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--env", default="reacher")
  parser.add_argument("--num_envs", type=int, default=128)
  parser.add_argument("--max_replay_size", type=int, default=10000)
  parser.add_argument("--h_dim", type=int, default=256)
  parser.add_argument("--repr_dim", type=int, default=64)
  parser.add_argument("--record", default=None, help="append the result to this JSON-lines file")
  args = parser.parse_args()
  agent = CRLConfig(max_replay_size=args.max_replay_size, h_dim=args.h_dim, repr_dim=args.repr_dim)
  config = TrainConfig(
    env=args.env, num_envs=args.num_envs, agent=agent, num_timesteps=10**9, progress=False
  )
  folder = tempfile.mkdtemp(prefix="goalax_output_costs_")
  try:
    result = measure(config, folder)
  finally:
    shutil.rmtree(folder, ignore_errors=True)
  from records import append_record, machine_info

  record = {**result, **machine_info(), "load_average_1min": os.getloadavg()[0]}
  print(record)
  append_record(args.record, record)


if __name__ == "__main__":
  main()
