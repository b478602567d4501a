"""Where the time of one training step goes (CRL, TD InfoNCE or QRL), by timed parts of the program.

    python benchmarks/profile_step.py --configs reacher_issue ant_issue reacher_default ant_default \
        --out benchmarks/results/profile_step.jsonl
    python benchmarks/profile_step.py --algo qrl --configs reacher_readme \
        --out benchmarks/results/agent_pace.jsonl

Method: each part of a training step is compiled as its own program, exactly as training runs it
(over one seed as a training run runs it: ``jit(over_seeds(...))``, i.e. without a seed axis;
the trainer's own functions and shapes), with ``n`` calls of
the part inside one ``lax.scan`` so that dispatch does not count; every iteration gets different
inputs (a stack of batches, a carried state), so XLA cannot hoist work out of the loop. The parts
are timed round-robin, ``--rounds`` times each, and the minimum wall time per call is kept (load
from other processes only ever adds time). A part's share of a training step is its time per call
× its calls per training step (``unroll_length`` env steps and policy actions, one buffer insert,
``updates`` samples and updates), against the whole training step timed the same way.

Parts: env step with the auto-reset (as now, as the select it was before issue 13, and never
resetting, which bounds the reset's cost), the policy's action for every env, the buffer insert,
goal sampling (the goal sampler), the critic's loss and gradient (its metrics
included), the metrics alone, the actor's loss and gradient, the temperature's gradient and Adam
step, the Adam steps of critic and actor, the whole update, and the whole training step.
``--algo td_infonce`` or ``qrl`` times the same parts of that agent (its own critic loss: TD
InfoNCE's with the target critic's logits and the next action, QRL's Lagrangian with the
multipliers' gradient) plus parts of its own: TD InfoNCE's target-critic forward pass and Polyak
step; QRL's encoders and latent dynamics alone, its quasimetric head's distances alone and the
multipliers' (dual) Adam step. The CRL-only variants (env-step resets, LayerNorm and energy forms,
the vmapped update) are left out for the other agents. The
update's matmul FLOPs (every ``dot_general`` in the jaxpr of ``agent.update``: critic and actor,
forward and backward) over its time give its achieved FLOP/s, set against the FLOP/s of the same
matmuls alone (same shapes and order, one jitted scan) on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import math
import time
import warnings

warnings.filterwarnings("ignore")

import jax  # noqa: E402
import jax.extend.core  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from records import append_record, machine_info  # noqa: E402

from goalax.loops.settings import schedule_of  # noqa: E402
from goalax.parallel.seed_axis import over_seeds  # noqa: E402

CONFIGS = {
  # The equal-work configs (benchmarks/vs_jaxgcrl.py) and goalax's defaults.
  "reacher_issue": dict(env="reacher", batch_size=128, episode_length=101, updates=100, ln=False),
  "reacher_issue_ln": dict(env="reacher", batch_size=128, episode_length=101, updates=100, ln=True),
  "ant_issue": dict(env="ant", batch_size=256, episode_length=1001, updates=500, ln=False),
  "reacher_default": dict(
    env="reacher", batch_size=256, episode_length=None, updates=None, ln=True
  ),
  "ant_default": dict(env="ant", batch_size=256, episode_length=None, updates=None, ln=True),
  # README.md's first training command: 64 envs, unroll 50, 128x2 networks, repr 32 (where the
  # agent has one), the default update ratio (one update per 16 env steps) and batch.
  "reacher_readme": dict(
    env="reacher",
    batch_size=256,
    episode_length=None,
    updates=None,
    ln=True,
    num_envs=64,
    unroll=50,
    h_dim=128,
    repr_dim=32,
    min_replay_size=100,
    max_replay_size=2000,
  ),
}
ALGOS = ("crl", "td_infonce", "qrl")


def make_config(name: str, algo: str = "crl"):
  from goalax.agents import REGISTRY
  from goalax.config import TrainConfig

  spec = CONFIGS[name]
  unroll, num_envs = spec.get("unroll", 62), spec.get("num_envs", 128)
  per_update = 16.0 if spec["updates"] is None else num_envs * unroll / spec["updates"]
  config_class = REGISTRY[algo].config_class
  sizes = {k: spec[k] for k in ("h_dim", "repr_dim") if k in spec}
  sizes = {
    k: v for k, v in sizes.items() if k in {f.name for f in dataclasses.fields(config_class)}
  }
  return TrainConfig(
    env=spec["env"],
    num_envs=num_envs,
    episode_length=spec["episode_length"],
    num_timesteps=1,
    num_evals=1,
    agent=config_class(
      batch_size=spec["batch_size"],
      unroll_length=unroll,
      min_replay_size=spec.get("min_replay_size", 1054),
      max_replay_size=spec.get("max_replay_size", 10000),
      env_steps_per_update=per_update,
      use_layer_norm=spec["ln"],
      **sizes,
    ),
  )


def seeded(fn, vmapped: bool = False):
  """``fn`` over a leading seed axis of size 1 as training runs it (``over_seeds``: ``fn`` on
  the arguments without the axis), or ``jit(vmap(fn))`` as training ran one seed before
  (``vmapped``); compiled for ``args``."""
  over_one_seed = jax.vmap(fn) if vmapped else over_seeds(fn, 1)
  return lambda *args: jax.jit(over_one_seed).lower(*args).compile()


def add_seed_axis(tree):
  return jax.tree.map(lambda x: x[None], tree)


def matmul_flops(jaxpr) -> tuple[int, list]:
  """Matmul FLOPs (2·M·N·K per ``dot_general``) of a jaxpr, sub-jaxprs included, and the dots'
  ``(lhs shape, rhs shape, dimension_numbers)``."""
  flops, dots = 0, []
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "dot_general":
      lhs, rhs = (v.aval.shape for v in eqn.invars)
      (contract, _), _ = eqn.params["dimension_numbers"]
      k = math.prod(lhs[d] for d in contract)
      flops += 2 * math.prod(eqn.outvars[0].aval.shape) * k
      dots.append((lhs, rhs, eqn.params["dimension_numbers"]))
    for sub in jax.extend.core.jaxprs_in_params(eqn.params):
      sub_flops, sub_dots = matmul_flops(sub)
      flops, dots = flops + sub_flops, dots + sub_dots
  return flops, dots


def plain_matmuls(dots: list, n: int):
  """A compiled scan of ``n`` rounds of the given matmuls on random inputs, each round depending
  on the last (one scalar carried into the first operand)."""
  keys = jax.random.split(jax.random.PRNGKey(0), 2 * len(dots))
  operands = [
    (jax.random.normal(keys[2 * i], lhs), jax.random.normal(keys[2 * i + 1], rhs))
    for i, (lhs, rhs, _) in enumerate(dots)
  ]

  def body(carry, _):
    total = carry
    for (lhs, rhs), (_, _, dnums) in zip(operands, dots):
      out = jax.lax.dot_general(lhs + carry * 1e-9, rhs, dnums)
      total = total + out.reshape(-1)[0]
    return total * 1e-9, None

  fn = jax.jit(lambda c: jax.lax.scan(body, c, None, length=n)[0])
  return fn.lower(jnp.zeros(())).compile(), (jnp.zeros(()),)


def variant_agents(config, env) -> dict:
  """The same agent built with flax's LayerNorm and with the L2 energy as a ``[B, B, D]``
  difference tensor (both as before issue 13)."""
  import flax.linen as nn

  from goalax import networks
  from goalax.agents import contrastive
  from goalax.agents.crl import make_crl

  def build():
    return make_crl(config.agent, env.state_size, env.goal_size, env.action_size)

  variants = {}
  if config.agent.use_layer_norm:
    ours, networks.LayerNorm = networks.LayerNorm, nn.LayerNorm
    variants["flax.linen.LayerNorm (before issue 13)"] = build()
    networks.LayerNorm = ours
  if config.agent.energy_fn in ("l2", "norm"):
    pairwise = contrastive._all_pairs(contrastive._paired_l2)
    energy, contrastive.ENERGY_FNS["l2"] = contrastive.ENERGY_FNS["l2"], pairwise
    variants["l2 energy as a [B, B, D] difference tensor (before)"] = build()
    contrastive.ENERGY_FNS["l2"] = energy
  return variants


def env_step_variants(env_rollout, env_args, unroll: int, core) -> dict:
  """CRL's env-step variants: the auto-reset as a select (before issue 13) and never resetting."""
  parts = {}
  real_any = core.any_across_vmap
  core.any_across_vmap = lambda flags: jnp.any(flags)
  parts["env step (auto-reset as a select, before)"] = (
    seeded(env_rollout, vmapped=True)(*env_args),
    env_args,
    unroll,
  )
  real_cond = jax.lax.cond
  jax.lax.cond = lambda pred, true_fn, false_fn, operand: false_fn(operand)
  parts["env step (never resetting: bound)"] = (seeded(env_rollout)(*env_args), env_args, unroll)
  jax.lax.cond, core.any_across_vmap = real_cond, real_any
  return parts


def critic_gradient(agent, algo: str, agent_state):
  """``(grad, extra)``: ``grad(critic_params, extra, batch, key) -> ((loss, metrics), gradient)``
  of the agent's critic loss as its update takes it, ``extra`` (with the seed axis) what else it
  reads (QRL: the raw multipliers, whose gradient comes too; TD InfoNCE: the state, for the actor
  and the target; CRL: nothing)."""
  if algo == "qrl":
    grad = jax.value_and_grad(agent.critic_loss, argnums=(0, 1), has_aux=True)
    return (lambda p, extra, batch, key: grad(p, extra, batch)), agent_state.raw_lagrange
  grad = jax.value_and_grad(agent.critic_loss, has_aux=True)
  if algo == "td_infonce":
    return (lambda p, extra, batch, key: grad(p, extra, batch, key)), agent_state
  return (lambda p, extra, batch, key: grad(p, batch)), jnp.zeros((1,))


def first_logits(agent, algo: str, critic_params, batch):
  """``[B, B]``: the logits whose metrics the critic reports (TD InfoNCE: the first critic's)."""
  if algo == "td_infonce":
    args = (batch["state"], batch["action"], batch["actor_goal"], batch["goal"])
    return agent.critic_logits(critic_params, *args)[0]
  return agent.critic_logits(critic_params, batch["state"], batch["action"], batch["goal"])


def scan_calls(fn, n_calls: int):
  """``(carried, xs) -> carried``: ``fn(carried, x) -> carried`` over the ``n_calls`` inputs."""
  body = lambda c, x: (fn(c, x), None)  # noqa: E731
  return lambda carried, xs: jax.lax.scan(body, carried, xs, length=n_calls)[0]


def grad_sum(loss, argnums):
  """``fn(carried, *args)``: ``carried`` plus the sum of every leaf of ``loss``'s gradient."""
  grad = jax.grad(loss, argnums=argnums)
  return lambda carried, *args: carried + sum(jnp.sum(g) for g in jax.tree.leaves(grad(*args)))


def td_infonce_parts(agent, agent_state, stacked, config, env, n_calls: int, updates: int) -> dict:
  """TD InfoNCE's own parts: the target critic's logits with the policy's next action, the two
  critics' logits alone (forward and gradient), and the target's Polyak step."""
  from goalax.agents.common import polyak

  keys = jax.random.split(jax.random.PRNGKey(10), 1)

  def target_many(actor_params, target_params, batches, key):
    def one(c, x):
      batch, k = x
      next_obs = jnp.concatenate([batch["next_state"], batch["actor_goal"]], axis=-1)
      next_action = agent.act(actor_params, next_obs, k)
      args = (batch["next_state"], next_action, batch["actor_goal"], batch["goal"])
      return c + jnp.sum(agent.critic_logits(target_params, *args).min(axis=0))

    return scan_calls(one, n_calls)(0.0, (batches, jax.random.split(key, n_calls)))

  target_args = (agent_state.actor_params, agent_state.target_critic_params, stacked, keys)

  def logits_many(critic_params, batches):
    def loss(p, batch):
      args = (batch["state"], batch["action"], batch["actor_goal"], batch["goal"])
      return jnp.mean(jax.nn.logsumexp(agent.critic_logits(p, *args), axis=-1))

    return scan_calls(lambda c, b: grad_sum(loss, 0)(c, critic_params, b), n_calls)(0.0, batches)

  logits_args = (agent_state.critic_params, stacked)

  def polyak_many(target, online):
    return scan_calls(lambda t, _: polyak(t, online, config.agent.tau), n_calls)(target, None)

  polyak_args = (agent_state.target_critic_params, agent_state.critic_params)
  return {
    "target critic logits + next action (forward)": (
      seeded(target_many)(*target_args),
      target_args,
      updates,
    ),
    "critic logits alone (both critics, forward + gradient)": (
      seeded(logits_many)(*logits_args),
      logits_args,
      updates,
    ),
    "target Polyak step": (seeded(polyak_many)(*polyak_args), polyak_args, updates),
  }


def qrl_parts(agent, agent_state, stacked, config, env, n_calls: int, updates: int) -> dict:
  """QRL's own parts: the encoders and latent dynamics alone (forward and gradient: phi on s and
  s', psi on g', f on (z, a)), the quasimetric head's five distances of the critic loss alone
  (forward and gradient, on random latents), and the multipliers' (dual) Adam step."""
  from goalax import networks
  from goalax.agents import quasimetric
  from goalax.agents.common import optimizer_step

  run = config.agent
  trunk = run.trunk()
  encoder = networks.Encoder(repr_dim=run.latent_dim, **trunk)
  dynamics = networks.MLP(output_dim=run.latent_dim, **trunk)
  head = quasimetric.QuasimetricHead(run.quasimetric, run.dim_per_component)
  params = jax.tree.map(lambda x: x[:, 0], agent_state.critic_params)  # the first critic

  def encoders_loss(p, batch):
    z = encoder.apply(p["state_encoder"], batch["state"])
    z_next = encoder.apply(p["state_encoder"], batch["next_state"])
    w_next = encoder.apply(p["goal_encoder"], batch["goal"])
    f = dynamics.apply(p["dynamics"], jnp.concatenate([z, batch["action"]], axis=-1))
    return jnp.sum(z * z_next) + jnp.sum(w_next) + jnp.sum(f)

  def encoders_many(p, batches):
    return scan_calls(lambda c, b: grad_sum(encoders_loss, 0)(c, p, b), n_calls)(0.0, batches)

  encoders_args = (params, stacked)
  shape = (n_calls, 4, run.batch_size, run.latent_dim)
  latents = jax.random.normal(jax.random.PRNGKey(11), shape)[None]

  def head_loss(head_params, latents):
    z, z_next, w_next, z_model = latents
    d = lambda x, y: head.apply(head_params, x, y)  # noqa: E731
    dists = (d(z, jnp.roll(w_next, 1, 0)), d(z, z_next), d(z_next, w_next))
    dists += (d(z_model, z_next), d(z_next, z_model))
    return sum(jnp.sum(x) for x in dists)

  def head_many(head_params, latents):
    one = grad_sum(head_loss, (0, 1))
    return scan_calls(lambda c, x: one(c, head_params, x), n_calls)(0.0, latents)

  head_args = (params["head"], latents)
  dual_tx = optax.adam(run.lagrange_lr)

  def dual_many(raw, opt_state):
    step = lambda c, _: optimizer_step(dual_tx, *c, c[0])  # noqa: E731
    return scan_calls(step, n_calls)((raw, opt_state), None)

  dual_args = (agent_state.raw_lagrange, agent_state.lagrange_opt_state)
  return {
    "encoders + latent dynamics alone (forward + gradient)": (
      seeded(encoders_many)(*encoders_args),
      encoders_args,
      updates,
    ),
    f"quasimetric head ({run.quasimetric}): the critic's 5 distances (forward + gradient)": (
      seeded(head_many)(*head_args),
      head_args,
      updates,
    ),
    "dual (Lagrange) Adam step": (seeded(dual_many)(*dual_args), dual_args, updates),
  }


def build_parts(config_name: str, n_calls: int, algo: str = "crl"):
  """``{part: (compiled, args, calls per call of compiled, calls per training step)}``."""
  with contextlib.redirect_stdout(io.StringIO()):
    import goalax.envs.core as core
    from goalax.agents.common import optimizer_step, temperature_loss
    from goalax.agents.contrastive import contrastive_metrics
    from goalax.envs import make_env
    from goalax.replay import buffer as replay
    from goalax.replay.sampler import transition
    from goalax.run.plan import make_trainer

  config = make_config(config_name, algo)
  env = make_env(config.env)
  trainer = make_trainer(config, env)
  agent, venv = trainer.agent, trainer.venv
  run = config.agent
  num_envs, unroll = config.num_envs, run.unroll_length
  updates = schedule_of(config).gradient_steps_per_train_step
  state = jax.jit(jax.vmap(trainer.init))(jax.random.split(jax.random.PRNGKey(0), 1))
  state = jax.block_until_ready(jax.jit(jax.vmap(trainer.prefill))(state))
  one = jax.tree.map(lambda x: x[0], state)
  from goalax.replay.sampler import make_sampler

  sample = make_sampler(env, agent.sampling, run.batch_size, venv.episode_length)
  batches = jax.vmap(lambda k: sample(one.buffer, k)[0])(
    jax.random.split(jax.random.PRNGKey(1), n_calls)
  )
  parts = {}

  # ---- env stepping and acting -------------------------------------------------------------
  def env_rollout(env_state, key):
    def body(s, k):
      a = jax.random.uniform(k, (num_envs, env.action_size), minval=-1.0, maxval=1.0)
      return venv.step(s, a), None

    return jax.lax.scan(body, env_state, jax.random.split(key, n_calls))[0].obs

  env_args = (state.env_state, jax.random.split(jax.random.PRNGKey(2), 1))
  parts["env step (auto-reset as a cond, now)"] = (seeded(env_rollout)(*env_args), env_args, unroll)
  if algo == "crl":
    parts.update(env_step_variants(env_rollout, env_args, unroll, core))

  obs = jax.random.normal(jax.random.PRNGKey(3), (1, n_calls, num_envs, env.observation_size))

  def act_many(params, obs, key):
    keys = jax.random.split(key, n_calls)
    return jax.lax.scan(
      lambda c, x: (c + agent.act(params, x[0], x[1]).sum(), None), 0.0, (obs, keys)
    )[0]

  act_args = (agent.policy_params(state.agent), obs, jax.random.split(jax.random.PRNGKey(4), 1))
  parts["policy action (all envs)"] = (seeded(act_many)(*act_args), act_args, unroll)

  block = jax.tree.map(
    lambda x: jnp.broadcast_to(x, (n_calls, unroll) + x.shape),
    transition(
      one.env_state,
      jnp.zeros((num_envs, env.action_size)),
      one.env_state,
      env.state_size,
      agent.sampling.td,
    ),
  )

  def insert_many(buffer, blocks):
    def insert_one(b, blk):  # no episode ends in the block: the table's scatter writes nothing
      ended = None if b.episode_ends is None else jnp.zeros(blk["traj_id"].shape, bool)
      return replay.insert(b, blk, ended), None

    return jax.lax.scan(insert_one, buffer, blocks)[0].size

  insert_args = (state.buffer, add_seed_axis(block))
  parts["buffer insert (one unroll)"] = (seeded(insert_many)(*insert_args), insert_args, 1)

  def sample_many(buffer, key):
    def body(c, k):
      b = sample(buffer, k)[0]
      return c + sum(jnp.sum(v) for v in b.values()), None

    return jax.lax.scan(body, 0.0, jax.random.split(key, n_calls))[0]

  sample_args = (state.buffer, jax.random.split(jax.random.PRNGKey(5), 1))
  parts["goal sampling (goalax.replay.sampler)"] = (
    seeded(sample_many)(*sample_args),
    sample_args,
    updates,
  )

  # ---- the update and its pieces -------------------------------------------------------------
  agent_state = state.agent
  stacked = add_seed_axis(batches)

  critic_grad, critic_extra = critic_gradient(agent, algo, agent_state)

  def critic_many(critic_params, extra, batches, key):
    grads_shape = jax.eval_shape(critic_grad, critic_params, extra, batches_one, key)[1]

    def body(acc, x):
      batch, k = x
      (loss, _), g = critic_grad(critic_params, extra, batch, k)
      return jax.tree.map(jnp.add, acc, g), loss

    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), grads_shape)
    keys = jax.random.split(key, n_calls)
    return jax.lax.scan(body, zeros, (batches, keys))

  batches_one = jax.tree.map(lambda x: x[0], batches)
  critic_key = jax.random.split(jax.random.PRNGKey(9), 1)
  critic_args = (agent_state.critic_params, critic_extra, stacked, critic_key)
  parts["critic loss + gradient (metrics included)"] = (
    seeded(critic_many)(*critic_args),
    critic_args,
    updates,
  )

  if algo in ("crl", "td_infonce"):
    logits = jax.vmap(lambda b: first_logits(agent, algo, one.agent.critic_params, b))(batches)

    def metrics_many(logits):
      return jax.lax.scan(
        lambda c, lg: (c + sum(contrastive_metrics(lg).values()), None), 0.0, logits
      )[0]

    metrics_args = (logits[None],)
    parts["metrics alone"] = (seeded(metrics_many)(*metrics_args), metrics_args, updates)

  def actor_many(actor_params, critic_params, log_alpha, batches, key):
    grad = jax.value_and_grad(agent.actor_loss, has_aux=True)

    def body(acc, x):
      batch, k = x
      (loss, _), g = grad(actor_params, critic_params, log_alpha, batch, k)
      return jax.tree.map(jnp.add, acc, g), loss

    keys = jax.random.split(key, n_calls)
    return jax.lax.scan(body, jax.tree.map(jnp.zeros_like, actor_params), (batches, keys))

  actor_args = (
    agent_state.actor_params,
    agent_state.critic_params,
    agent_state.log_alpha,
    stacked,
    jax.random.split(jax.random.PRNGKey(6), 1),
  )
  parts["actor loss + gradient"] = (seeded(actor_many)(*actor_args), actor_args, updates)

  alpha_tx = optax.adam(3e-4)
  log_probs = jax.random.normal(jax.random.PRNGKey(7), (1, n_calls, run.batch_size))

  def temperature_many(log_alpha, opt_state, log_probs):
    def body(carry, lp):
      la, st = carry
      g = jax.grad(temperature_loss)(la, lp, -2.0)
      return optimizer_step(alpha_tx, la, st, g), None

    return jax.lax.scan(body, (log_alpha, opt_state), log_probs)[0]

  temp_args = (agent_state.log_alpha, agent_state.alpha_opt_state, log_probs)
  parts["temperature gradient + Adam"] = (seeded(temperature_many)(*temp_args), temp_args, updates)

  adam = optax.adam(3e-4)

  def optimizer_many(actor_params, actor_opt, critic_params, critic_opt):
    def body(carry, _):
      ap, ao, cp, co = carry
      ap, ao = optimizer_step(adam, ap, ao, ap)
      cp, co = optimizer_step(adam, cp, co, cp)
      return (ap, ao, cp, co), None

    return jax.lax.scan(
      body, (actor_params, actor_opt, critic_params, critic_opt), None, length=n_calls
    )[0]

  opt_args = (
    agent_state.actor_params,
    agent_state.actor_opt_state,
    agent_state.critic_params,
    agent_state.critic_opt_state,
  )
  parts["Adam steps (critic + actor)"] = (seeded(optimizer_many)(*opt_args), opt_args, updates)

  def update_many(agent_state, batches, key):
    def body(s, x):
      batch, k = x
      s, m = agent.update(s, batch, k)
      return s, m["critic_loss"]

    return jax.lax.scan(body, agent_state, (batches, jax.random.split(key, n_calls)))

  update_args = (agent_state, stacked, jax.random.split(jax.random.PRNGKey(8), 1))
  parts["whole update"] = (seeded(update_many)(*update_args), update_args, updates)
  if algo == "crl":
    parts["whole update, vmapped over one seed (before)"] = (
      seeded(update_many, vmapped=True)(*update_args),
      update_args,
      updates,
    )
    for label, variant in variant_agents(config, env).items():
      agent_before = agent
      agent = variant
      parts[f"whole update, {label}"] = (seeded(update_many)(*update_args), update_args, updates)
      agent = agent_before
  else:
    own_parts = {"td_infonce": td_infonce_parts, "qrl": qrl_parts}[algo]
    parts.update(own_parts(agent, agent_state, stacked, config, env, n_calls, updates))

  one_step = dataclasses.replace(config, num_timesteps=schedule_of(config).prefill_env_steps + 1)
  step_trainer = make_trainer(one_step, env)
  assert schedule_of(one_step).train_steps_per_epoch == 1
  epoch = jax.jit(over_seeds(step_trainer.run_epoch, 1)).lower(state).compile()
  parts["whole training step"] = (epoch, (state,), 1)

  flops, dots = matmul_flops(
    jax.make_jaxpr(agent.update)(
      one.agent, jax.tree.map(lambda x: x[0], batches), jax.random.PRNGKey(0)
    ).jaxpr
  )
  parts["plain matmuls of the update"] = (*plain_matmuls(dots, n_calls), 1)
  info = dict(
    config=config_name,
    algo=algo,
    env=config.env,
    num_envs=num_envs,
    batch_size=run.batch_size,
    unroll_length=unroll,
    episode_length=venv.episode_length,
    updates_per_train_step=updates,
    layer_norm=run.use_layer_norm,
    h_dim=run.h_dim,
    n_hidden=run.n_hidden,
    update_matmul_flops=flops,
    update_dots=len(dots),
  )
  return parts, info


def time_parts(parts: dict, n_calls: int, rounds: int) -> dict:
  for fn, args, *_ in parts.values():
    jax.block_until_ready(fn(*args))
  best = dict.fromkeys(parts, math.inf)
  for _ in range(rounds):
    for name, (fn, args, *_) in parts.items():
      t0 = time.perf_counter()
      jax.block_until_ready(fn(*args))
      seconds = time.perf_counter() - t0
      per_call = seconds if name == "whole training step" else seconds / n_calls
      best[name] = min(best[name], per_call)
  return best


def report(parts: dict, best: dict, info: dict) -> dict:
  step_s = best["whole training step"]
  rows = {}
  print(f"\n{info['config']}: {info}")
  print("| part | ms per call | calls per training step | ms per training step | share |")
  print("|---|---:|---:|---:|---:|")
  for name, (*_, per_step) in parts.items():
    if name == "plain matmuls of the update":
      continue
    ms_step = best[name] * per_step * 1e3
    rows[name] = dict(ms_per_call=best[name] * 1e3, calls_per_step=per_step, ms_per_step=ms_step)
    print(
      f"| {name} | {best[name] * 1e3:.3f} | {per_step:g} | {ms_step:.1f} | "
      f"{ms_step / (step_s * 1e3):.1%} |"
    )
  update_s = best["whole update"]
  achieved = info["update_matmul_flops"] / update_s
  plain = info["update_matmul_flops"] / best["plain matmuls of the update"]
  print(
    f"update: {info['update_matmul_flops'] / 1e6:.0f} MFLOP of matmuls in {update_s * 1e3:.2f} ms "
    f"= {achieved / 1e9:.1f} GFLOP/s; the same matmuls alone: {plain / 1e9:.1f} GFLOP/s; "
    f"ratio {achieved / plain:.2f}"
  )
  return dict(
    **info,
    parts=rows,
    train_step_ms=step_s * 1e3,
    update_gflops=achieved / 1e9,
    plain_matmul_gflops=plain / 1e9,
    update_vs_plain_matmul=achieved / plain,
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
  parser.add_argument("--algo", default="crl", choices=ALGOS, help="the agent profiled")
  parser.add_argument("--calls", type=int, default=20, help="calls of a part per timed program")
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--conditions", default="idle", help="load on the machine, kept in records")
  parser.add_argument("--out", default=None)
  args = parser.parse_args()
  machine = machine_info()
  for name in args.configs:
    parts, info = build_parts(name, args.calls, args.algo)
    best = time_parts(parts, args.calls, args.rounds)
    record = report(parts, best, info)
    append_record(args.out, {**record, "conditions": args.conditions, **machine})


if __name__ == "__main__":
  main()
