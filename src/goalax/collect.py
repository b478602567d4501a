"""``goalax collect``: an offline dataset, in OGBench's format (:mod:`goalax.datasets`), collected
from any goalax env by a uniformly random policy or by a saved run's policy with Gaussian action
noise (OGBench's "noisy expert"), or a mix of the two, episode by episode.

The collection is one compiled program: a ``lax.scan`` over a chunk of steps of ``num_envs``
envs (jitted once, called chunk after chunk). The host cuts each env's steps into trajectories
where its episodes end: an episode's last state is the env's ``info["terminal_obs"]`` (the
auto-reset has already replaced ``obs`` with the next episode's first state, with a fresh goal).
Trajectories are kept in the order they end (step, then env slot), whole, until at least
``num_transitions`` transitions are in; the episodes still running then are dropped. The
observations are the env's states (``obs[:, :state_size]``); the goals the policy was given are
not in the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal, NamedTuple

import numpy as np
import tyro

from goalax import datasets
from goalax.errors import UsageError
from goalax.helptext import default_is

MAX_CHUNK_ROWS = 2**18  # env steps (over all envs) of one compiled chunk: bounds its memory


@dataclasses.dataclass
class CollectArgs:
  """Write an offline dataset in OGBench's format (an .npz of whole trajectories, see
  docs/offline.md) from an env's random policy, a saved run's noisy policy, or a mix."""

  out: Annotated[str | None, tyro.conf.arg(help_behavior_hint="(required)")] = None
  """The .npz to write (".npz" is added when missing); an existing file is kept unless
  --overwrite."""
  env: Annotated[str | None, default_is("the run's --env")] = None
  """Environment (see 'goalax envs'); default: the run's --env with --policy RUN_DIR (a random
  policy needs it)."""
  policy: str = "random"
  """'random': actions uniform in [-1, 1]; or RUN_DIR, a run's saved policy (newest checkpoint)
  with Gaussian noise of std --action_noise, clipped to [-1, 1]."""
  num_transitions: int = 1_000_000
  """Collect at least this many transitions, in whole trajectories (episodes still running at
  the end are dropped)."""
  episode_length: Annotated[int | None, default_is("the env's")] = None
  """Time limit per episode, so the length of a trajectory unless the env ends it earlier;
  default: the env's recommended length."""
  num_envs: int = 128
  """Environments stepped in parallel."""
  seed: int = 0
  """Seed of the starts, goals, random actions and noise."""
  action_noise: float = 0.2
  """With --policy RUN_DIR: std of the Gaussian noise added to the policy's actions (OGBench's
  noisy expert: 0.2); 0: the policy's own action."""
  random_fraction: float = 0.0
  """With --policy RUN_DIR: the probability that an episode is played with uniformly random
  actions instead of the policy's (drawn per episode)."""
  stochastic: bool = False
  """With --policy RUN_DIR: sample the policy's exploration action instead of its deterministic
  (evaluation) action, before adding the noise."""
  seed_index: int = 0
  """With --policy RUN_DIR: which agent of a --num_seeds run (0: the first seed)."""
  checkpoint: Annotated[int | None, default_is("the newest")] = None
  """With --policy RUN_DIR: epoch of the checkpoint; default: the newest."""
  backend: Annotated[
    Literal["spring", "positional", "generalized", "mjx", "reference"] | None,
    default_is("the run's, else the env's"),
  ] = None
  """Physics pipeline; default: the run's with --policy RUN_DIR, else the env's own default;
  'reference': the one the reference (JaxGCRL) runs this env on."""
  overwrite: bool = False
  """Replace --out if it exists."""
  fast_compile: bool = False
  """Compile with XLA's cheapest settings (on CPU): faster to start, slower to step; for small
  datasets."""


@dataclasses.dataclass(frozen=True)
class Behaviour:
  """What acts: ``act(params, obs [n, obs_size], key, deterministic) -> [n, action_size]`` of a
  policy (None: uniformly random actions in every episode), its noise std, the probability of a
  random episode, and whether the policy's action is its deterministic one."""

  act: Callable | None = None
  params: Any = ()
  action_noise: float = 0.0
  random_fraction: float = 0.0
  deterministic: bool = True


class Steps(NamedTuple):
  """A chunk of ``T`` steps of ``n`` envs, as the host receives it (each ``[T, n, ...]``):
  the state each step starts from, its action, the state it ends in (the episode's last state
  where ``done``), the goal the policy was given, whether the episode's actions are random."""

  states: Any  # [T, n, S]
  actions: Any  # [T, n, A]
  next_states: Any  # [T, n, S]
  goals: Any  # [T, n, G]
  random: Any  # [T, n] bool
  done: Any  # [T, n] bool


@dataclasses.dataclass(frozen=True)
class Episode:
  """One finished episode of ``L`` steps: ``states [L + 1, S]``, ``actions [L, A]``, its goal
  ``[G]``, whether its actions were random, and ``end = (step, env slot)`` of its last step."""

  states: np.ndarray
  actions: np.ndarray
  goal: np.ndarray
  random: bool
  end: tuple[int, int]


@dataclasses.dataclass(frozen=True)
class Collected:
  """A collection: the dataset, and per trajectory (in the dataset's order) the goal the policy
  was given ``[K, G]`` and whether its actions were random ``[K]``; compile and run seconds."""

  trajectories: datasets.Trajectories
  goals: np.ndarray
  random: np.ndarray
  compile_s: float
  collect_s: float


def collection_keys(seed: int):
  """``(reset key, step key)`` of a collection: the envs are reset with the first
  (``VectorGoalEnv.reset``); step ``t`` draws its actions from ``fold_in(step key, t)``."""
  import jax

  return tuple(jax.random.split(jax.random.PRNGKey(seed)))


def chunk_steps(num_transitions: int, num_envs: int, episode_length: int) -> int:
  """Steps per compiled chunk: about a tenth of the steps the collection should take (every
  episode at full length), at most ``MAX_CHUNK_ROWS`` env steps."""
  expected = episode_length * math.ceil(num_transitions / (num_envs * episode_length))
  return max(1, min(math.ceil(expected / 10), MAX_CHUNK_ROWS // num_envs))


def _actions(behaviour: Behaviour, action_size: int, params, obs, random_episode, keys, noise_std):
  """``[n, A]`` actions of one step: uniform where ``random_episode [n]``, else the policy's plus
  Gaussian noise of std ``noise_std``, clipped to [-1, 1]; ``keys``: the step's uniform, policy
  and noise keys."""
  import jax
  import jax.numpy as jnp

  k_uniform, k_policy, k_noise = keys
  uniform = jax.random.uniform(k_uniform, (len(obs), action_size), minval=-1.0, maxval=1.0)
  if behaviour.act is None:
    return uniform
  policy = behaviour.act(params, obs, k_policy, behaviour.deterministic)
  noisy = jnp.clip(policy + noise_std * jax.random.normal(k_noise, policy.shape), -1.0, 1.0)
  return jnp.where(random_episode[:, None], uniform, noisy)


def make_programs(venv, behaviour: Behaviour, num_steps: int, compiler_options=None):
  """``(start(reset_key, random_fraction) -> carry, chunk(params, carry, first_step, step_key,
  noise_std, random_fraction) -> (carry, Steps))``, both jitted: ``chunk`` runs ``num_steps``
  steps of ``venv`` under ``behaviour`` in one ``lax.scan``; step ``t``'s keys are
  ``split(fold_in(step_key, t), 4)``, whatever the chunk."""
  import functools

  import jax
  import jax.numpy as jnp

  state_size, action_size, n = venv.env.state_size, venv.action_size, venv.num_envs
  jit = functools.partial(jax.jit, compiler_options=compiler_options)

  def draw_random(key, fraction):
    if behaviour.act is None:  # every episode random
      return jnp.ones((n,), bool)
    return jax.random.bernoulli(key, fraction, (n,))

  def start(reset_key, random_fraction):
    state = venv.reset(reset_key)
    return state, draw_random(jax.random.fold_in(reset_key, 1), random_fraction)

  def chunk(params, carry, first_step, step_key, noise_std, random_fraction):
    def step(carry, keys):
      state, random_episode = carry
      obs = state.obs
      action = _actions(behaviour, action_size, params, obs, random_episode, keys[:3], noise_std)
      nxt = venv.step(state, action)
      done = nxt.done > 0
      fresh = jnp.where(done, draw_random(keys[3], random_fraction), random_episode)
      last = nxt.info["terminal_obs"][:, :state_size]  # the episode's last state where done
      out = Steps(obs[:, :state_size], action, last, obs[:, state_size:], random_episode, done)
      return (nxt, fresh), out

    step_keys = lambda t: jax.random.split(jax.random.fold_in(step_key, t), 4)
    keys = jax.vmap(step_keys)(first_step + jnp.arange(num_steps))  # [T, 4, key]
    return jax.lax.scan(step, carry, keys)

  return jit(start), jit(chunk)


def cut_episodes(steps: Steps, first_step: int, open_parts: list[list[Steps]]):
  """``(finished episodes sorted by end, open parts)``: each env's steps of the chunk ``steps``
  (numpy, ``[T, n, ...]``) appended to its open episode ``open_parts[env]`` (chunk pieces,
  each ``[t, ...]``), cut after each ``done`` step. ``first_step``: the chunk's first step."""
  num_steps, n = steps.done.shape
  finished, still_open = [], []
  for env in range(n):
    parts, start = list(open_parts[env]), 0
    for t in np.flatnonzero(steps.done[:, env]):
      parts.append(Steps(*(a[start : t + 1, env] for a in steps)))
      last_state = steps.next_states[t, env][None]
      finished.append(
        Episode(
          states=np.concatenate([p.states for p in parts] + [last_state]),
          actions=np.concatenate([p.actions for p in parts]),
          goal=steps.goals[t, env],
          random=bool(steps.random[t, env]),
          end=(first_step + int(t), env),
        )
      )
      parts, start = [], int(t) + 1
    if start < num_steps:
      parts.append(Steps(*(a[start:, env] for a in steps)))
    still_open.append(parts)
  return sorted(finished, key=lambda e: e.end), still_open


def to_trajectories(episodes: list[Episode]) -> datasets.Trajectories:
  """The episodes, one after the other, in OGBench's layout: each trajectory's states, its
  actions and a zero action beside its last state, terminals 1 at its last state."""
  action_size = episodes[0].actions.shape[1]
  actions = [a for e in episodes for a in (e.actions, np.zeros((1, action_size), np.float32))]
  terminals = [np.eye(1, len(e.states), len(e.states) - 1, dtype=np.float32)[0] for e in episodes]
  return datasets.Trajectories(
    np.concatenate([e.states for e in episodes]).astype(np.float32),
    np.concatenate(actions).astype(np.float32),
    np.concatenate(terminals),
  )


def collect(
  venv,
  behaviour: Behaviour,
  num_transitions: int,
  seed: int = 0,
  progress: bool = False,
  compiler_options=None,
) -> Collected:
  """Steps ``venv`` (a :class:`goalax.envs.VectorGoalEnv`) under ``behaviour`` until its
  finished episodes hold at least ``num_transitions`` transitions; the fewest first-finished
  episodes that do (module docstring)."""
  import jax

  num_steps = chunk_steps(num_transitions, venv.num_envs, venv.episode_length)
  start, chunk = make_programs(venv, behaviour, num_steps, compiler_options)
  reset_key, step_key = collection_keys(seed)
  settings = (np.float32(behaviour.action_noise), np.float32(behaviour.random_fraction))
  begin = time.perf_counter()
  carry = start(reset_key, settings[1])
  chunk = chunk.lower(behaviour.params, carry, 0, step_key, *settings).compile()
  compile_s, begin = time.perf_counter() - begin, time.perf_counter()
  episodes, open_parts, have, first = [], [[] for _ in range(venv.num_envs)], 0, 0
  with _progress_bar(progress, num_transitions) as advance:
    while have < num_transitions:
      carry, steps = chunk(behaviour.params, carry, first, step_key, *settings)
      finished, open_parts = cut_episodes(Steps(*jax.device_get(steps)), first, open_parts)
      for episode in finished:
        if have < num_transitions:
          episodes.append(episode)
          have += len(episode.actions)
      first += num_steps
      advance(min(have, num_transitions))
  return Collected(
    to_trajectories(episodes),
    np.stack([e.goal for e in episodes]),
    np.array([e.random for e in episodes]),
    compile_s,
    time.perf_counter() - begin,
  )


@contextlib.contextmanager
def _progress_bar(show: bool, total: int):
  """``with _progress_bar(show, total) as advance: advance(done)``: a rich progress bar on
  stderr, gone when it ends (nothing when ``show`` is False)."""
  if not show:
    yield lambda done: None
    return
  from rich.console import Console
  from rich.progress import Progress

  with Progress(console=Console(stderr=True), transient=True) as bar:
    task = bar.add_task("collecting transitions", total=total)
    yield lambda done: bar.update(task, completed=done)


# ---- the command -------------------------------------------------------------------------------
def check_args(args: CollectArgs) -> None:
  """UsageError, one sentence naming the flag, for a value that cannot work."""
  if args.out is None:
    raise UsageError("goalax collect needs --out, the .npz file to write.")
  for flag in ("num_transitions", "num_envs"):
    if getattr(args, flag) < 1:
      raise UsageError(f"--{flag} must be a positive integer, got {getattr(args, flag)}.")
  if args.episode_length is not None and args.episode_length < 1:
    raise UsageError(f"--episode_length must be a positive integer, got {args.episode_length}.")
  if not args.action_noise >= 0:
    raise UsageError(f"--action_noise must be 0 or more, got {args.action_noise}.")
  if not 0 <= args.random_fraction <= 1:
    raise UsageError(f"--random_fraction must be in [0, 1], got {args.random_fraction}.")
  if args.policy == "random" and args.env is None:
    raise UsageError("--policy random needs --env (see 'goalax envs' for the names).")


def _run_behaviour(args: CollectArgs):
  """``(behaviour, run config, run's Derived)`` of ``--policy RUN_DIR``."""
  import jax

  from goalax.config import load_run_config
  from goalax.policy import load_policy_params
  from goalax.run.runfiles import find_checkpoint

  run_dir = args.policy
  if not os.path.isdir(run_dir):
    raise UsageError(f"--policy {run_dir} is neither 'random' nor a run directory.")
  config, derived = load_run_config(run_dir, "--policy")
  if find_checkpoint(run_dir, args.checkpoint) is None:
    raise UsageError(
      f"--policy {run_dir} has no checkpoint yet, so no saved policy; train it further or pass "
      "--policy random."
    )
  if not 0 <= args.seed_index < len(derived.seeds):
    raise UsageError(
      f"--seed_index must be in [0, {len(derived.seeds)}) for {run_dir}, got {args.seed_index}."
    )
  agent, params, _, _, _ = load_policy_params(run_dir, args.checkpoint)
  params = jax.tree.map(lambda x: x[args.seed_index], params)
  noise, fraction = args.action_noise, args.random_fraction
  behaviour = Behaviour(agent.act, params, noise, fraction, deterministic=not args.stochastic)
  return behaviour, config, derived


def _env(name: str, backend: str | None, derived=None):
  """The env ``name``; with a run's ``derived``, refused unless its sizes are the policy's."""
  from goalax.envs import make_env

  try:
    env = make_env(name, backend=backend)
  except ValueError as e:
    raise UsageError(f"{e} (flag --env)") from None
  sizes = (env.state_size, env.goal_size, env.action_size)
  if derived is not None and sizes != (derived.state_size, derived.goal_size, derived.action_size):
    raise UsageError(
      f"--env {name} has state/goal/action sizes {'/'.join(map(str, sizes))}, but the --policy "
      f"run's policy takes {derived.state_size}/{derived.goal_size}/{derived.action_size}; pick "
      "an env of the run's family."
    )
  return env


def cmd_collect(args: CollectArgs) -> None:
  """Collects the dataset ``args`` describe, writes it whole and prints one line."""
  from goalax.envs import VectorGoalEnv
  from goalax.run.programs import compiler_options, enable_compilation_cache

  check_args(args)
  path = datasets.output_path(args.out)
  if path.exists() and not args.overwrite:
    raise UsageError(f"--out {path} exists; pass --overwrite to replace it, or another --out.")
  if args.policy == "random":
    behaviour, env = Behaviour(), _env(args.env, args.backend)
    action_repeat = 1
  else:
    behaviour, config, derived = _run_behaviour(args)
    env = _env(args.env or config.env, args.backend or config.backend, derived)
    action_repeat = config.action_repeat
  venv = VectorGoalEnv(env, args.num_envs, args.episode_length, action_repeat)
  enable_compilation_cache()
  begin = time.perf_counter()
  collected = collect(
    venv, behaviour, args.num_transitions, args.seed, True, compiler_options(args.fast_compile)
  )
  trajectories = collected.trajectories
  try:
    path = datasets.write(path, trajectories)
  except OSError as e:
    raise UsageError(f"cannot write --out {path}: {e.strerror}.") from None
  print(
    f"goalax collect | {path} | {trajectories.num_transitions:,} transitions | "
    f"{trajectories.num_trajectories:,} trajectories | {path.stat().st_size:,} bytes | "
    f"{time.perf_counter() - begin:.1f} s"
  )
