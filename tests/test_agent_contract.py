"""The agent contract, checked for every registered agent (:data:`goalax.agents.REGISTRY`).

Per agent: its config offers :class:`goalax.agents.base.AgentConfig` and its loop's config
protocol, validates, and refuses impossible values in one sentence (exit code 2 from the command
line); the agent it makes offers its loop's :class:`~goalax.agents.base.Agent` protocol. One tiny
run of its loop, two seeds at once (``init``, ``act`` and ``update`` jitted and vmapped, as every
run is), then serves the rest: finite metrics of every seed, seeds apart, parameters that moved;
its newest checkpoint restores the whole state bit for bit; its ``params.msgpack`` holds the
agent's saved parameters; and ``load_policy`` on the run folder acts as the trained agent.

A new agent is tested by registering it: every test that takes ``name`` runs once per registry
entry (:func:`pytest_generate_tests`), and the tiny config comes from the fields every config
offers (:class:`~goalax.agents.base.AgentConfig`) plus whichever of :data:`SMALL`'s other size
fields it has. TINY's run shapes (reacher, 7 envs, 23-step episodes, batch 33), so the runs of
CRL, QRL and TD InfoNCE are those of test_training's two-seed run and of test_qrl's and
test_td_infonce's lifecycles: one compile serves both through JAX's persistent cache.
"""

import dataclasses
import os
import types

import jax
import numpy as np
import pytest
from flax import serialization
from lifecycle import assert_saved_policy_acts_like_the_trained_agent
from test_training import TINY

from goalax import agents, loops
from goalax.agents.base import (
  AgentConfig,
  GoalSampling,
  OffPolicyAgent,
  OffPolicyAgentConfig,
  OnPolicyAgent,
  OnPolicyAgentConfig,
)
from goalax.cli import main
from goalax.config import ConfigError, TrainConfig
from goalax.policy import load_agent
from goalax.run import checkpoint, runfiles
from goalax.run.host_loop import train

# What each loop asks of an agent's config and of the agent (goalax.loops.LOOPS).
FAMILIES = {
  "off_policy": (OffPolicyAgentConfig, OffPolicyAgent),
  "on_policy": (OnPolicyAgentConfig, OnPolicyAgent),
}
# Tiny sizes, each given to the configs that have the field.
SMALL = dict(
  h_dim=16,
  n_hidden=2,
  repr_dim=8,
  latent_dim=16,
  unroll_length=9,
  batch_size=33,
  min_replay_size=20,
  max_replay_size=200,
  num_minibatches=4,
)


def pytest_generate_tests(metafunc):
  """Every test that takes ``name`` runs once per registered agent (one module-scoped run each)."""
  if "name" in metafunc.fixturenames:
    metafunc.parametrize("name", agents.agent_names(), scope="module")


def tiny_config(name: str) -> TrainConfig:
  """TINY's run (reacher, 7 envs, 2 epochs) with two seeds and agent ``name`` at SMALL sizes."""
  config_class = agents.REGISTRY[name].config_class
  fields = {field.name for field in dataclasses.fields(config_class)}
  agent = config_class(**{k: v for k, v in SMALL.items() if k in fields})
  return dataclasses.replace(TINY, num_seeds=2, agent=agent)


def protocol_members(protocol: type) -> set[str]:
  """The names a protocol class and its protocol bases declare (attributes and methods)."""
  names = set()
  for cls in protocol.__mro__:
    if getattr(cls, "_is_protocol", False) and cls.__module__ != "typing":
      names |= set(getattr(cls, "__annotations__", {}))
      names |= {k for k, v in vars(cls).items() if callable(v) and not k.startswith("_")}
  return names


def test_the_tests_run_once_for_every_registered_agent(monkeypatch):
  """Registering an agent is what gets it tested: the parametrisation is the registry's names."""
  monkeypatch.setitem(agents.REGISTRY, "new_agent", agents.REGISTRY["crl"])
  calls = []
  metafunc = types.SimpleNamespace(
    fixturenames=["name", "tmp_path"], parametrize=lambda *args, **kw: calls.append((args, kw))
  )
  pytest_generate_tests(metafunc)
  assert calls == [(("name", list(agents.REGISTRY)), {"scope": "module"})]
  assert calls[0][0][1][-1] == "new_agent"


# ---- the config -----------------------------------------------------------------------------
def test_the_config_offers_the_contract_of_its_loop(name):
  spec = agents.REGISTRY[name]
  assert spec.loop in loops.LOOPS
  config_protocol, _ = FAMILIES[spec.loop]
  config = spec.config_class()
  assert dataclasses.is_dataclass(config) and type(config).__dataclass_params__.frozen
  assert isinstance(config, AgentConfig) and isinstance(config, config_protocol)
  assert agents.name_of(config) == name
  if spec.loop == "off_policy":
    fields = {field.name for field in dataclasses.fields(config)}
    assert set(config.SWEEPABLE) <= fields, set(config.SWEEPABLE) - fields
    assert isinstance(config.goal_sampling(), GoalSampling)


def test_the_config_validates_and_refuses_impossible_values_in_one_sentence(name, capsys):
  default, tiny = agents.REGISTRY[name].config_class(), tiny_config(name)
  assert default.validate(TrainConfig(agent=default).num_envs) is None
  assert tiny.agent.validate(tiny.num_envs) is None
  for field in ("h_dim", "n_hidden", "unroll_length"):
    with pytest.raises(ConfigError, match=f"^--{field} must be positive, got 0.$"):
      dataclasses.replace(tiny.agent, **{field: 0}).validate(tiny.num_envs)
  with pytest.raises(SystemExit) as exit_info:
    main(["train", name, "--h_dim", "0"])
  err = capsys.readouterr().err
  assert exit_info.value.code == 2 and "--h_dim must be positive" in err and "Traceback" not in err


def test_the_agent_offers_the_agent_contract_of_its_loop(name):
  config = tiny_config(name).agent
  agent = agents.make_agent(config, 3, 2, 2)
  _, agent_protocol = FAMILIES[agents.REGISTRY[name].loop]
  missing = {m for m in protocol_members(agent_protocol) if not hasattr(agent, m)}
  assert not missing, missing
  assert agent.config == config and agent.headline_metrics
  if isinstance(config, OffPolicyAgentConfig):
    assert agent.sampling == config.goal_sampling()


# ---- one tiny run -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(name, tmp_path_factory):
  """``(config, agent, result)`` of agent ``name``'s tiny run; the agent is rebuilt from the run
  folder's config.yaml, which must give back the run's config."""
  folder = str(tmp_path_factory.mktemp(f"contract_{name}"))
  config = dataclasses.replace(tiny_config(name), run_dir=folder, exp_name="run")
  result = train(config)
  saved, agent, _ = load_agent(result.run_dir)
  assert saved.agent == config.agent
  return config, agent, result


def _leaves(tree) -> list[np.ndarray]:
  return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_a_tiny_run_trains_every_seed_apart_with_finite_metrics(run):
  """``init``, ``act`` and ``update`` ran jitted and vmapped over two seeds: each seed has its
  own finite metrics, parameters of its own, and updates moved them."""
  config, agent, result = run
  assert [[row["epoch"] for row in rows] for rows in result.per_seed] == [[0, 1, 2]] * 2
  for row in [*result.history, *result.per_seed[0], *result.per_seed[1]]:
    values = {k: v for k, v in row.items() if isinstance(v, float)}
    assert all(np.isfinite(v) for v in values.values()), values
  headline = {f"train/{m}" for m in agent.headline_metrics}
  assert headline <= set(result.history[-1]), headline - set(result.history[-1])
  policy = agent.policy_params(result.final_state.agent)
  assert all(x.shape[0] == 2 for x in _leaves(result.final_state.agent))
  assert any(not np.array_equal(x[0], x[1]) for x in _leaves(policy))
  saved = runfiles.list_checkpoints(result.run_dir)
  assert [c.epoch for c in saved] == [1, 2]
  abstract = jax.eval_shape(lambda p: p, policy)
  before = checkpoint.restore_policy(saved[0], abstract)  # epoch 1
  for seed in (0, 1):
    moved = [not np.array_equal(a[seed], b[seed]) for a, b in zip(_leaves(before), _leaves(policy))]
    assert any(moved), f"seed {seed}'s policy did not change in epoch 2"


def test_the_newest_checkpoint_restores_the_run_state_bit_for_bit(run):
  config, agent, result = run
  newest = runfiles.latest_checkpoint(result.run_dir)
  assert newest.epoch == config.num_evals and newest.env_steps == result.total_env_steps
  state = result.final_state
  restored = checkpoint.restore_state(newest, jax.eval_shape(lambda s: s, state))
  flat, flat_restored = jax.tree.leaves_with_path(state), jax.tree.leaves(restored)
  assert len(flat) == len(flat_restored)
  for (path, a), b in zip(flat, flat_restored):
    assert np.array_equal(np.asarray(a), np.asarray(b)), jax.tree_util.keystr(path)
  with open(os.path.join(result.run_dir, "params.msgpack"), "rb") as f:
    saved_params = f.read()
  assert saved_params == serialization.to_bytes(jax.device_get(agent.saved_params(state.agent)))


def test_the_saved_policy_acts_like_the_trained_agent(run):
  config, _, result = run
  assert_saved_policy_acts_like_the_trained_agent(config, result)
