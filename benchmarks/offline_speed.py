"""Speed and memory of the offline loop (``goalax train ALGO --dataset``).

    nice python benchmarks/offline_speed.py --out benchmarks/results/offline_speed.jsonl

1. A synthetic dataset the size of OGBench's medium ant mazes (``--episodes`` 1,000 trajectories
   of 1,000 transitions: 1,001,000 states of ``--env``'s state, 29 floats for ant, in OGBench's
   file format): the time to read it (``datasets.load``) and to put it on the device in the
   replay buffer's layout, and its bytes in the memory estimate against the file's.
2. Gradient steps per second of the run's compiled offline epoch (``plan.compile()``: the
   program training runs, goal sampling included) against the same agent's ``update`` alone,
   ``jit`` of a ``lax.scan`` of updates on one fixed batch, at the same batch and networks
   (CRL at the README's sizes: ``--h_dim 128 --repr_dim 32``, batch 256). Both programs are
   compiled once and timed alternately (``--rounds`` rounds, one call each of ``--steps``
   gradient steps; the minimum per program kept: load from other processes only adds time; short
   calls and many rounds, so that some fall in quiet moments of a shared machine).

Appends one JSON line to ``--out`` when given.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import jax
import numpy as np
from records import append_record, machine_info

from goalax import datasets
from goalax.agents.crl import CRLConfig
from goalax.config import TrainConfig
from goalax.loops.offline_data import dataset_buffer
from goalax.replay.sampler import make_sampler
from goalax.run import memory
from goalax.run.plan import _shared_env, make_plan


def synthetic_dataset(env, episodes: int, length: int, seed: int = 0) -> datasets.Trajectories:
  """Random-walk states of ``env``'s state size (the values do not change the time)."""
  rng = np.random.default_rng(seed)
  states = episodes * (length + 1)
  observations = rng.standard_normal((states, env.state_size), dtype=np.float32)
  actions = rng.uniform(-1, 1, (states, env.action_size)).astype(np.float32)
  terminals = np.zeros(states, np.float32)
  terminals[length :: length + 1] = 1
  return datasets.Trajectories(observations, actions, terminals)


def load_seconds(path: str, env, td: bool) -> tuple[float, float]:
  """``(read seconds, on-device seconds)`` of the dataset at ``path``."""
  start = time.perf_counter()
  trajectories = datasets.load(path, env.state_size, env.action_size)
  read = time.perf_counter() - start
  start = time.perf_counter()
  jax.block_until_ready(jax.device_put(dataset_buffer(trajectories, env, td)))
  return read, time.perf_counter() - start


def update_alone(plan, steps: int):
  """``steps`` updates of the plan's agent on one fixed batch drawn from the dataset (an argument
  of the compiled program, not a constant), and the agent's first state."""
  agent, config = plan.agent, plan.config
  sample = make_sampler(plan.env, agent.sampling, config.agent.batch_size, plan.eval_episode_length)
  batch, _ = jax.jit(sample)(plan.trainer.data, jax.random.PRNGKey(1))

  def updates(agent_state, batch, key):
    step = lambda state, k: agent.update(state, batch, k)
    state, metrics = jax.lax.scan(step, agent_state, jax.random.split(key, steps))
    return state, jax.tree.map(lambda x: x.mean(), metrics)

  agent_state = agent.init(jax.random.PRNGKey(0))
  compiled = jax.jit(updates).lower(agent_state, batch, jax.random.PRNGKey(2)).compile()
  return (lambda state, key: compiled(state, batch, key)), agent_state


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--env", default="ant_u_maze")
  parser.add_argument("--episodes", type=int, default=1000)
  parser.add_argument("--length", type=int, default=1000)
  parser.add_argument("--steps", type=int, default=50, help="gradient steps per timed call")
  parser.add_argument("--rounds", type=int, default=30)
  parser.add_argument("--out", default=None)
  args = parser.parse_args()

  env = _shared_env(args.env, None)
  folder = tempfile.mkdtemp(prefix="offline_speed_")
  path = str(
    datasets.write(
      os.path.join(folder, "synthetic.npz"), synthetic_dataset(env, args.episodes, args.length)
    )
  )
  file_bytes = os.path.getsize(path)
  read_s, put_s = load_seconds(path, env, td=False)

  config = TrainConfig(
    env=args.env,
    dataset=path,
    num_gradient_steps=args.steps,
    num_evals=1,
    num_envs=64,
    num_eval_envs=64,
    agent=CRLConfig(h_dim=128, repr_dim=32, min_replay_size=100, max_replay_size=2000),
    progress=False,
  )
  plan = make_plan(config)
  programs = plan.compile()
  state = programs.init(*plan.init_args)
  data = plan.trainer.data
  alone, agent_state = update_alone(plan, args.steps)
  epoch_times, update_times = [], []
  for _ in range(args.rounds):
    start = time.perf_counter()
    state, metrics = programs.epoch(state, data)
    jax.block_until_ready(metrics)
    epoch_times.append(time.perf_counter() - start)
    start = time.perf_counter()
    agent_state, metrics = alone(agent_state, jax.random.PRNGKey(len(update_times)))
    jax.block_until_ready(metrics)
    update_times.append(time.perf_counter() - start)
  epoch_rate = args.steps / min(epoch_times)
  update_rate = args.steps / min(update_times)
  record = dict(
    benchmark="offline_speed",
    env=args.env,
    agent=(
      f"crl h_dim {config.agent.h_dim} repr_dim {config.agent.repr_dim} n_hidden "
      f"{config.agent.n_hidden} batch {config.agent.batch_size}"
    ),
    transitions=args.episodes * args.length,
    states=args.episodes * (args.length + 1),
    file_mib=round(file_bytes / 2**20, 1),
    dataset_bytes_in_estimate=plan.estimate.parts["dataset"],
    dataset_bytes_on_device=memory.tree_bytes(data),
    read_seconds=round(read_s, 2),
    to_device_seconds=round(put_s, 2),
    steps_per_call=args.steps,
    rounds=args.rounds,
    offline_epoch_steps_per_s=round(epoch_rate, 1),
    update_alone_steps_per_s=round(update_rate, 1),
    ratio=round(epoch_rate / update_rate, 3),
    ratio_of_medians=round(float(np.median(update_times) / np.median(epoch_times)), 3),
    epoch_seconds=[round(t, 3) for t in epoch_times],
    update_seconds=[round(t, 3) for t in update_times],
    **machine_info(),
  )
  print(record)
  append_record(args.out, record)
  os.remove(path)


if __name__ == "__main__":
  main()
