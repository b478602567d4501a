"""Training videos (``--video_every N``): one evaluation episode of a run's first member, every
N evaluations and at the last, written to ``RUN_DIR/videos/epoch_NNNN.<format>`` (and to wandb
with ``--log_wandb``). The episode is recorded by a compiled program built on the first video;
MuJoCo draws its frames (:mod:`goalax.outputs.render`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import jax

from goalax.evaluation import make_episode_recorder
from goalax.parallel import distributed
from goalax.run import runfiles

if TYPE_CHECKING:
  from goalax.run.plan import RunPlan


class VideoRecorder:
  """Records the videos of one run."""

  def __init__(self, plan: RunPlan):
    self.plan = plan
    self.record_episode = None  # compiled on the first video

  def due(self, epoch: int) -> bool:
    """Whether evaluation ``epoch`` gets a video."""
    config = self.plan.config
    every = config.video_every
    return bool(every) and (epoch % every == 0 or epoch == config.num_evals)

  def record(self, epoch: int, policy_params, run_dir: str, outputs, env_steps: int) -> None:
    """Renders one episode of the first member's policy (``policy_params``: every member's,
    stacked) into the run's videos folder; ``outputs`` (a RunOutputs) logs it."""
    from goalax.outputs import render  # MuJoCo's renderer only when a video is made

    plan, config = self.plan, self.plan.config
    if self.record_episode is None:
      record = make_episode_recorder(
        plan.eval_env, plan.agent.act, 1, plan.eval_episode_length, config.action_repeat
      )
      self.record_episode = jax.jit(record)
    policy = jax.tree.map(lambda x: x[0], distributed.fetch(policy_params))
    if not distributed.is_main():
      return
    key = jax.random.fold_in(jax.random.PRNGKey(plan.seeds[0]), 2_000_003 + epoch)
    first, states = self.record_episode(policy, key)
    path = os.path.join(run_dir, "videos", f"epoch_{epoch:04d}.{config.video_format}")
    try:
      render.write_rollouts(
        plan.eval_env, first, states, path, config.action_repeat, config.video_size
      )
    except OSError as e:
      raise runfiles.output_error(e, path, run_dir) from None
    outputs.log_video(path, env_steps)
