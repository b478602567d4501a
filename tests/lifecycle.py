"""A run's life, checked the same way for every agent: stopped after epoch 1 (as Ctrl-C would)
and resumed, it ends bit for bit like the uninterrupted run; its saved policy acts like the
trained agent. The agent contract (test_agent_contract) and the agents' test modules, each with
its tiny config, call these."""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np

from goalax import load_policy
from goalax.policy import load_agent
from goalax.run.host_loop import train
from goalax.run.stopping import RunInterrupted, StopRequest


def stopped_after_epoch_1(config):
  """Trains ``config`` and stops it (as Ctrl-C would) once epoch 1 is recorded; returns the
  ``RunInterrupted`` it ended with."""
  stop = StopRequest()
  request_at_epoch_1 = lambda row: stop.request() if row["epoch"] == 1 else None
  try:
    train(config, progress_fn=request_at_epoch_1, stop=stop)
  except RunInterrupted as e:
    return e
  raise AssertionError("the run was not interrupted")


def run_lifecycle(config, root, **full_outputs) -> dict:
  """``{"full", "stopped", "resumed"}``: ``config`` run uninterrupted (with ``full_outputs``,
  output flags that must not change what is computed) beside a copy stopped after epoch 1, then
  that copy resumed. The two first runs share the compile through JAX's cache."""
  full = dataclasses.replace(config, run_dir=str(root), exp_name="full", **full_outputs)
  part = dataclasses.replace(config, run_dir=str(root), exp_name="part")
  with ThreadPoolExecutor(max_workers=2) as pool:
    full_future = pool.submit(train, full)
    stopped_future = pool.submit(stopped_after_epoch_1, part)
  full_result, stopped = full_future.result(), stopped_future.result()
  resumed = train(dataclasses.replace(config, resume=os.path.join(str(root), "part")))
  return dict(full=full_result, stopped=stopped, resumed=resumed)


def _read(path):
  with open(path, "rb") as f:
    return f.read()


def assert_resumed_run_ends_like_the_uninterrupted_one(lifecycle: dict, num_evals: int) -> None:
  """Files, the whole final state and the rows of the resumed run equal the uninterrupted one's."""
  full, resumed = lifecycle["full"], lifecycle["resumed"]
  assert f"after epoch 1 of {num_evals}" in str(lifecycle["stopped"])
  for name in ("metrics.csv", "metrics.jsonl", "params.msgpack"):
    assert _read(os.path.join(full.run_dir, name)) == _read(os.path.join(resumed.run_dir, name))
  flat_full = jax.tree.leaves_with_path(full.final_state)
  flat_resumed = jax.tree.leaves(resumed.final_state)
  assert len(flat_full) == len(flat_resumed)
  for (path, a), b in zip(flat_full, flat_resumed):
    assert np.array_equal(np.asarray(a), np.asarray(b)), jax.tree_util.keystr(path)
  assert resumed.history == full.history and resumed.per_seed == full.per_seed


def assert_saved_policy_acts_like_the_trained_agent(config, result, seed_index: int = 1) -> None:
  """``goalax.load_policy`` on the run directory (config.yaml and the newest checkpoint) of seed
  ``seed_index`` gives the deterministic action of that seed's trained agent (the final state's
  policy parameters, ``act`` vmapped over the seeds; the same whatever the key) on the run's own
  last observations. (That loading imports no training code is checked once, in a child
  process, by test_run_lifecycle.)"""
  _, agent, _ = load_agent(result.run_dir)
  obs = np.asarray(result.final_state.env_state.obs)  # [seeds, num_envs, obs_size]
  policy_params = agent.policy_params(result.final_state.agent)
  act = jax.jit(jax.vmap(lambda p, o, key: agent.act(p, o, key, True), in_axes=(0, 0, None)))
  actions = np.asarray(act(policy_params, obs, jax.random.PRNGKey(0)))
  np.testing.assert_array_equal(actions, act(policy_params, obs, jax.random.PRNGKey(1)))
  policy = load_policy(result.run_dir, seed_index=seed_index)
  assert policy.epoch == config.num_evals
  assert actions.shape == (*obs.shape[:2], policy.action_size) and np.all(np.abs(actions) <= 1)
  np.testing.assert_allclose(np.asarray(policy(obs[seed_index])), actions[seed_index], atol=1e-6)
