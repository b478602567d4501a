"""The goal-conditioned environment contract and the wrappers every env shares.

An environment is a Brax ``PipelineEnv`` whose observation is ``concat(state, goal)``:

- ``state_size``      length of the state part; the commanded goal never appears in it.
- ``goal_indices``    entries of the state that form the achieved goal (ant: torso x, y).
- ``goal_threshold``  success when ``‖state[goal_indices] − goal‖ < goal_threshold``.
- ``episode_length``  the recommended episode length (time limit applied by ``VectorGoalEnv``).
- ``default_backend`` the physics pipeline used when ``backend=None``.
- ``reference_backend`` the pipeline the reference (JaxGCRL) runs the env of the same name on,
                      picked by ``backend="reference"``; None for goalax's own envs.

Every step reports the metrics ``success`` and ``dist`` (same names in every env) plus the env's
own extras. The reward is sparse (``success``) unless the env is built with ``dense_reward=True``
(then ``-dist``).

Fixed evaluation tasks (besides fresh random goals): ``eval_tasks`` names the env's tasks and
``reset_to_task(task, rng)`` starts an episode of task number ``task`` (an int array, so it jits
and vmaps). The mazes define five named start/goal cells per layout (``goalax.envs.mazes``);
every other env has the SEEDED set: task ``k`` (named ``task<k+1>``, ``k < NUM_SEEDED_TASKS``) is
the env's own random start and goal drawn from the fixed key ``seeded_task_key(k)`` =
``fold_in(PRNGKey(EVAL_TASK_SEED), k)``, the same in every run. ``eval_task_noise`` says whether
the episodes of one task differ: a seeded task of an env whose start is drawn independently of
its goal (``eval_task_noise = True``: reacher, ant, humanoid, ...) keeps its goal and takes the
rest of the start from the episode's own key (the env's usual reset noise); elsewhere (objects
placed with the goal: pusher, ant soccer, ...) every episode of a task starts identically.

``VectorGoalEnv`` runs ``num_envs`` copies with a time limit and an auto-reset that draws a NEW
start and a NEW goal from a fresh key whenever an episode ends (Brax's stock ``AutoResetWrapper``
restores each slot's first state, so every slot would keep a single goal for the whole run). It
also carries, per slot, a trajectory id incremented at every reset and the time step inside the
episode, which the replay buffer uses to sample hindsight goals.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from typing import ClassVar

import jax
import jax.numpy as jnp
from brax.envs.base import PipelineEnv, State

from goalax.envs.mjx_depth import mjx_depth_barriers
from goalax.parallel.seed_axis import any_across_vmap

BACKENDS = ("generalized", "positional", "spring", "mjx")
# The backend value that stands for the reference's own backend of each env.
REFERENCE = "reference"
# The seeded evaluation tasks' key; never change it (results compare across runs). Chosen among
# seeds 0-2999 as the one whose five tasks spread most in the worst env (largest smallest distance
# between two tasks' goals, relative to the median distance between random goals: 0.27 or more
# in every env) with the cheetah's targets in both directions; seed 2408 had near-duplicate tasks.
EVAL_TASK_SEED = 2421
NUM_SEEDED_TASKS = 5


def seeded_task_key(task: jax.Array) -> jax.Array:
  """The fixed key of seeded evaluation task number ``task``: ``fold_in(PRNGKey(2421), task)``."""
  return jax.random.fold_in(jax.random.PRNGKey(EVAL_TASK_SEED), task)


class GoalEnv(PipelineEnv):
  """Base class of every goalax environment.

  Subclasses set the class attributes below and implement ``_sample_start_and_goal``,
  ``_state_vector`` and, where needed, ``_extra_metrics`` and ``_terminated``.
  """

  state_size: ClassVar[int]
  goal_indices: ClassVar[tuple[int, ...]]
  goal_threshold: float
  episode_length: int
  default_backend: ClassVar[str]
  reference_backend: ClassVar[str | None] = None
  """The backend the reference (JaxGCRL) builds the env of the same name on; None when the
  reference has no such env (goalax's own tasks)."""
  backends: ClassVar[tuple[str, ...]] = BACKENDS
  extra_metric_names: ClassVar[tuple[str, ...]] = ()
  eval_task_noise: ClassVar[bool] = False
  """True when the episodes of one evaluation task differ by a small noise (see the module
  docstring); for the seeded tasks, True means the start is drawn independently of the goal."""

  def __init__(
    self,
    sys,
    backend: str,
    n_frames: int,
    *,
    goal_threshold: float | None = None,
    episode_length: int | None = None,
    dense_reward: bool = False,
  ):
    super().__init__(sys=sys, backend=backend, n_frames=n_frames)
    if goal_threshold is not None:
      if not goal_threshold > 0:
        raise ValueError(f"goal_threshold must be > 0, got {goal_threshold}.")
      self.goal_threshold = float(goal_threshold)
    if episode_length is not None:
      if int(episode_length) < 1:
        raise ValueError(f"episode_length must be >= 1, got {episode_length}.")
      self.episode_length = int(episode_length)
    self.dense_reward = dense_reward
    self._goal_index_array = jnp.asarray(self.goal_indices, dtype=jnp.int32)

  # ---- what a subclass provides -------------------------------------------------------------
  def _sample_start_and_goal(self, rng: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Returns ``(q [q_size], qd [qd_size], goal [goal_size])`` for a new episode."""
    raise NotImplementedError

  def _state_vector(self, pipeline_state) -> jax.Array:
    """Returns the state part of the observation, shape ``[state_size]``."""
    raise NotImplementedError

  def _extra_metrics(self, pipeline_state0, pipeline_state, action) -> dict[str, jax.Array]:
    """Env-specific per-step metrics (names in ``extra_metric_names``)."""
    return {}

  def _terminated(self, pipeline_state) -> jax.Array:
    """1.0 where the episode must end (e.g. the ant fell), else 0.0."""
    return jnp.zeros(())

  def _sample_eval_task(self, task: jax.Array, rng: jax.Array):
    """``(q, qd, goal)`` of an episode of evaluation task ``task`` with noise key ``rng``.

    Default: the seeded set (module docstring); envs with named tasks override it."""
    q, qd, goal = self._sample_start_and_goal(seeded_task_key(task))
    if self.eval_task_noise:
      q, qd, _ = self._sample_start_and_goal(rng)
    return q, qd, goal

  # ---- the contract -------------------------------------------------------------------------
  @property
  def eval_tasks(self) -> tuple[str, ...]:
    """Names of the fixed evaluation tasks, in the order of their numbers (``reset_to_task``)."""
    return tuple(f"task{k + 1}" for k in range(NUM_SEEDED_TASKS))

  def reset_to_task(self, task: jax.Array, rng: jax.Array) -> State:
    """The first state of an episode of evaluation task number ``task`` (``0 <= task <
    len(eval_tasks)``); ``rng`` draws the episode's noise, if the env's tasks have any."""
    return self._first_state(*self._sample_eval_task(task, rng))

  @property
  def goal_size(self) -> int:
    return len(self.goal_indices)

  @property
  def observation_size(self) -> int:
    return self.state_size + self.goal_size

  def achieved_goal(self, state_vec: jax.Array) -> jax.Array:
    """``state_vec [..., state_size] -> achieved goal [..., goal_size]``."""
    return state_vec[..., self._goal_index_array]

  def goal_distance(self, state_vec: jax.Array, goal: jax.Array) -> jax.Array:
    return jnp.linalg.norm(self.achieved_goal(state_vec) - goal, axis=-1)

  def goal_markers(self, goal):
    """World positions ``[n, 3]`` where a renderer draws the goal (numpy in, numpy out).

    Default: a goal of size 1 is an x position at torso height, size 2 an x, y on the floor,
    size 3k are k points in space, size 2k are k points on the floor.
    """
    import numpy as np

    goal = np.asarray(goal, dtype=np.float64)
    if goal.size == 1:
      return np.array([[goal[0], 0.0, 0.5]])
    if goal.size % 3 == 0 and goal.size % 2 != 0 or goal.size == 3 or goal.size == 6:
      return goal.reshape(-1, 3)
    xy = goal.reshape(-1, 2)
    return np.concatenate([xy, np.full((len(xy), 1), 0.05)], axis=1)

  def goal_reward(self, state_vec: jax.Array, goal: jax.Array) -> jax.Array:
    """The env's reward for being in ``state_vec [..., state_size]`` with ``goal [..., goal_size]``:
    ``success`` (sparse), or ``-dist`` with ``dense_reward``. Used to relabel hindsight goals."""
    return self._goal_outputs(state_vec, goal)[2]

  def split_obs(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``obs [..., obs_size] -> (state [..., state_size], goal [..., goal_size])``."""
    return obs[..., : self.state_size], obs[..., self.state_size :]

  def _goal_outputs(self, state_vec, goal):
    dist = self.goal_distance(state_vec, goal)
    success = (dist < self.goal_threshold).astype(jnp.float32)
    reward = -dist if self.dense_reward else success
    return dist, success, reward

  def reset(self, rng: jax.Array) -> State:
    return self._first_state(*self._sample_start_and_goal(rng))

  #: Made once per env object and bound to it; copies make their own.
  _PER_OBJECT: ClassVar[tuple[str, ...]] = ("jit_reset", "jit_step")

  def __copy__(self):
    """A shallow copy that makes its own :attr:`jit_reset` / :attr:`jit_step`: the original's are
    bound to the original, so a copy with another setting (``dense_reward``) would step as it."""
    clone = object.__new__(type(self))
    clone.__dict__.update(self._copied_attributes())
    return clone

  def __deepcopy__(self, memo):
    """A deep copy that, as :meth:`__copy__`, makes its own jitted reset and step."""
    clone = object.__new__(type(self))
    memo[id(self)] = clone
    clone.__dict__.update(copy.deepcopy(self._copied_attributes(), memo))
    return clone

  def _copied_attributes(self) -> dict:
    return {k: v for k, v in self.__dict__.items() if k not in self._PER_OBJECT}

  @functools.cached_property
  def jit_reset(self) -> Callable[[jax.Array], State]:
    """``reset`` under ``jax.jit``, made once per env object. A run's programs call the env many
    times (init, the prefill, the epoch's steps and auto-resets, evaluation); through these the
    physics is traced once per env and input shape instead of at every call site (brax's
    ``pipeline_init`` alone takes seconds of Python to trace). XLA inlines the calls: the same
    computation, though XLA may fuse and so round it a little differently than the same code
    traced inline (the README's CRL curve is the same to its printed digits; a reacher step
    batched and alone agrees to the last bit, or to a few ulps under ``--fast_compile``)."""
    return _jit_method(self, "reset")

  @functools.cached_property
  def jit_step(self) -> Callable[[State, jax.Array], State]:
    """``step`` under ``jax.jit``, made once per env object (see :attr:`jit_reset`)."""
    return _jit_method(self, "step")

  def _first_state(self, q: jax.Array, qd: jax.Array, goal: jax.Array) -> State:
    with mjx_depth_barriers(self.backend == "mjx"):
      pipeline_state = self.pipeline_init(q, qd)
    state_vec = self._state_vector(pipeline_state)
    dist, success, _ = self._goal_outputs(state_vec, goal)
    metrics = {"success": success, "dist": dist}
    metrics.update({k: jnp.zeros(()) for k in self.extra_metric_names})
    obs = jnp.concatenate([state_vec, goal])
    return State(pipeline_state, obs, jnp.zeros(()), jnp.zeros(()), metrics)

  def step(self, state: State, action: jax.Array) -> State:
    pipeline_state0 = state.pipeline_state
    with mjx_depth_barriers(self.backend == "mjx"):
      pipeline_state = self.pipeline_step(pipeline_state0, action)
    goal = state.obs[self.state_size :]
    state_vec = self._state_vector(pipeline_state)
    dist, success, reward = self._goal_outputs(state_vec, goal)
    metrics = dict(state.metrics)
    metrics.update(success=success, dist=dist)
    metrics.update(self._extra_metrics(pipeline_state0, pipeline_state, action))
    obs = jnp.concatenate([state_vec, goal])
    done = self._terminated(pipeline_state).astype(jnp.float32)
    return state.replace(
      pipeline_state=pipeline_state, obs=obs, reward=reward, done=done, metrics=metrics
    )


def _jit_method(env: GoalEnv, name: str) -> Callable:
  """``getattr(env, name)`` under ``jax.jit``, with the env's JAX arrays (brax's ``System`` and
  the env's own tables) passed as arguments rather than closed over: over several processes
  those arrays can span devices of other processes (seen: ``sys.qpos0``), and JAX refuses to
  close a nested jit over them ("Closing over jax.Array that spans non-addressable devices"),
  while a top-level program takes them as arguments. The env's other attributes (settings,
  NumPy tables, Python numbers) stay as they are, so they may steer tracing."""

  def call(arrays: list, *args):
    clone = copy.copy(env)
    vars(clone).update(_with_arrays(env, arrays))
    return getattr(clone, name)(*args)

  jitted = jax.jit(call)
  return lambda *args: jitted(_arrays_of(env), *args)


def _arrays_of(env: GoalEnv) -> list[jax.Array]:
  """The JAX arrays among the leaves of ``env``'s attributes, in flattening order."""
  return [leaf for leaf in jax.tree.leaves(env._copied_attributes()) if isinstance(leaf, jax.Array)]


def _with_arrays(env: GoalEnv, arrays: list) -> dict:
  """``env``'s attributes with their JAX arrays replaced, in order, by ``arrays``."""
  leaves, treedef = jax.tree.flatten(env._copied_attributes())
  replacements = iter(arrays)
  leaves = [next(replacements) if isinstance(leaf, jax.Array) else leaf for leaf in leaves]
  return jax.tree.unflatten(treedef, leaves)


def repeat_action_step(env: GoalEnv, state: State, action: jax.Array, action_repeat: int) -> State:
  """Applies ``action`` for ``action_repeat`` env steps; reward is summed, ``done`` is sticky.

  Once an episode has terminated inside the repeat, the remaining sub-steps keep the terminal
  state instead of simulating past it.
  """
  if action_repeat == 1:
    return env.jit_step(state, action)

  def sub_step(carry, _):
    current, total_reward = carry
    nxt = env.jit_step(current, action)
    nxt = jax.tree.map(lambda a, b: jnp.where(current.done > 0, a, b), current, nxt)
    return (nxt, total_reward + jnp.where(current.done > 0, 0.0, nxt.reward)), None

  (final, total_reward), _ = jax.lax.scan(
    sub_step,
    (state.replace(done=jnp.zeros_like(state.done)), jnp.zeros(())),
    None,
    length=action_repeat,
  )
  return final.replace(reward=total_reward)


class VectorGoalEnv:
  """``num_envs`` copies of a ``GoalEnv`` with a time limit, action repeat and fresh-goal resets.

  ``reset(key)`` and ``step(state, action [num_envs, action_size])`` act on the whole batch. The
  returned ``State.info`` holds, per slot:

  - ``rng``           the slot's key, split at every reset;
  - ``traj_id``       int32, incremented every time the slot resets;
  - ``steps``         int32, time step inside the current episode of ``obs`` (0 right after reset);
  - ``truncation``    1.0 where the episode ended by the time limit (not by termination);
  - ``terminal_obs``  the observation the episode ended on (equals ``obs`` when not done), so
                      TD methods can bootstrap from the real last state after an auto-reset.

  On a step that ends an episode, ``done == 1`` and ``obs`` is already the first observation of
  the next episode, with a new start and a new goal.
  """

  def __init__(
    self, env: GoalEnv, num_envs: int, episode_length: int | None = None, action_repeat: int = 1
  ):
    if num_envs < 1:
      raise ValueError(f"num_envs must be >= 1, got {num_envs}.")
    if action_repeat < 1:
      raise ValueError(f"action_repeat must be >= 1, got {action_repeat}.")
    self.env = env
    self.num_envs = int(num_envs)
    self.episode_length = int(episode_length or env.episode_length)
    if self.episode_length < 1:
      raise ValueError(f"episode_length must be >= 1, got {episode_length}.")
    self.action_repeat = int(action_repeat)

  @property
  def observation_size(self) -> int:
    return self.env.observation_size

  @property
  def action_size(self) -> int:
    return self.env.action_size

  def _reset_slots(self, slot_keys: jax.Array) -> tuple[State, jax.Array]:
    next_keys, reset_keys = jnp.moveaxis(jax.vmap(jax.random.split)(slot_keys), 1, 0)
    return jax.vmap(self.env.jit_reset)(reset_keys), next_keys

  def reset(self, key: jax.Array) -> State:
    state, slot_keys = self._reset_slots(jax.random.split(key, self.num_envs))
    n = self.num_envs
    state.info.update(
      rng=slot_keys,
      traj_id=jnp.zeros((n,), jnp.int32),
      steps=jnp.zeros((n,), jnp.int32),
      truncation=jnp.zeros((n,)),
      terminal_obs=state.obs,
    )
    return state

  def step(self, state: State, action: jax.Array) -> State:
    info = state.info
    inner = state.replace(info={})
    stepped = jax.vmap(lambda s, a: repeat_action_step(self.env, s, a, self.action_repeat))(
      inner, action
    )
    steps = info["steps"] + 1
    truncation = jnp.where(
      stepped.done > 0, 0.0, (steps >= self.episode_length).astype(jnp.float32)
    )
    done = jnp.maximum(stepped.done, truncation)

    def reset_done_slots(_):
      fresh, next_keys = self._reset_slots(info["rng"])
      pick = lambda new, old: jnp.where(done.reshape((-1,) + (1,) * (old.ndim - 1)) > 0, new, old)
      # Metrics keep the values of the step just taken, so episode-end metrics are not lost.
      merged = jax.tree.map(
        pick,
        fresh.replace(metrics=stepped.metrics, reward=stepped.reward, done=stepped.done),
        stepped,
      )
      return merged, pick(next_keys, info["rng"])

    new_state, rng = jax.lax.cond(
      any_across_vmap(done > 0), reset_done_slots, lambda _: (stepped, info["rng"]), None
    )
    reset_now = done > 0
    new_info = dict(
      rng=rng,
      traj_id=info["traj_id"] + reset_now.astype(jnp.int32),
      steps=jnp.where(reset_now, 0, steps),
      truncation=truncation,
      terminal_obs=stepped.obs,
    )
    return new_state.replace(done=done, info=new_info)


def check_backend(env_name: str, backend: str, supported: Sequence[str]) -> None:
  if backend in BACKENDS and backend not in supported:
    raise ValueError(
      f"Backend '{backend}' does not work for env '{env_name}' (flag --backend). "
      f"Backends that do: {', '.join(supported)}."
    )
  if backend not in supported:
    import difflib

    close = difflib.get_close_matches(backend, supported, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ValueError(
      f"Unknown backend '{backend}' for env '{env_name}' (flag --backend).{hint} "
      f"Valid backends: {', '.join(supported)}."
    )
