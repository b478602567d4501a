"""The training loops, by name: ``off_policy`` (replay buffer and goal sampler; CRL, SAC, TD3,
...), ``on_policy`` (whole rollouts; PPO) and ``offline`` (an off-policy agent on a fixed
dataset, ``--dataset``). An agent's config names its online loop (``LOOP``, inherited from the
loop's settings in :mod:`goalax.loops.settings`); the run's plan (:mod:`goalax.run.plan`) picks
the loop module (``offline`` with a dataset) and hands it the agent and the schedule. The host
side sees a loop only through :class:`~goalax.loops.base.Trainer`.

Every loop module has the same three functions: ``make_trainer(config, env, agent, schedule,
placement) -> Trainer`` (the offline one also takes the dataset), ``check_budget(config,
schedule) -> warning | None`` and the state class it trains.
"""

from __future__ import annotations

import importlib
from types import ModuleType

LOOPS = {
  "off_policy": "goalax.loops.off_policy",
  "on_policy": "goalax.loops.on_policy",
  "offline": "goalax.loops.offline",
}


def loop_module(name: str) -> ModuleType:
  """The module of the loop called ``name`` (a key of :data:`LOOPS`)."""
  return importlib.import_module(LOOPS[name])


__all__ = ["LOOPS", "loop_module"]
