"""Deterministic evaluation, on fresh random goals and on the env's fixed evaluation tasks.

Episodes run in parallel with the deterministic policy (tanh of the mean). An episode that
terminates early (e.g. the ant fell) is frozen at its last state for the rest of the time limit.

Random goals (``make_evaluator``, ``--eval_goals random``, the default): ``num_eval_envs``
episodes, each with a fresh start and goal from ``env.reset``. Metrics (each a scalar, averaged
over episodes):

- ``eval/success``         fraction of episodes that reach the goal at least once;
- ``eval/time_near_goal``  fraction of the episode's steps spent within the goal threshold;
- ``eval/final_dist``      distance to the goal at the end of the episode;
- ``eval/min_dist``        closest distance to the goal during the episode;
- ``eval/episode_success_any`` and ``eval/episode_success``: the same as ``eval/success`` and
  ``eval/time_near_goal`` × episode length, under JaxGCRL's keys so existing dashboards work.

Fixed tasks (``make_task_evaluator``, ``--eval_goals tasks``): every task of ``env.eval_tasks``
(five per env: named start/goal cells in the mazes, a fixed seeded set elsewhere; see
:mod:`goalax.envs.core` and ``docs/evaluation_tasks.md``) runs ``episodes_per_task`` episodes
from ``env.reset_to_task``: ``ceil(num_eval_envs / number of tasks)``, or 1 where the env's
episodes of a task are identical (``env.eval_task_noise`` False: a deterministic policy in a
deterministic simulator repeats itself). Metrics, the same four as above:

- ``eval_tasks/<task>/success``, ``eval_tasks/<task>/time_near_goal``,
  ``eval_tasks/<task>/final_dist``, ``eval_tasks/<task>/min_dist``: averaged over the task's
  episodes;
- ``eval_tasks/success``, ... : their average over the tasks (each task weighs the same), the
  number to compare across runs and papers.

``make_run_evaluator`` gives a run's evaluation for ``--eval_goals random | tasks | both``; with
``both``, the random-goal episodes use the evaluation key as ``random`` does and the tasks
``fold_in(key, 1)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from goalax.envs import GoalEnv
from goalax.envs.core import repeat_action_step


def _step_until_done(env: GoalEnv, state, alive, action, action_repeat: int):
  """One step of every episode; an episode that has terminated stays frozen at its last state.

  ``state``: env State batched over episodes; ``alive [E]``: 1 while an episode runs. Returns
  ``(next state, next alive)``."""
  nxt = jax.vmap(lambda s, a: repeat_action_step(env, s, a, action_repeat))(state, action)
  keep = lambda new, old: jnp.where(alive.reshape((-1,) + (1,) * (old.ndim - 1)) > 0, new, old)
  nxt = jax.tree.map(keep, nxt, state)
  return nxt, alive * (1.0 - nxt.done)


EVAL_GOALS = ("random", "tasks", "both")
TASK_METRICS = ("success", "time_near_goal", "final_dist", "min_dist")


def _run_episodes(env: GoalEnv, act: Callable, actor_params, states, key, episode_length, repeat):
  """Runs the deterministic policy from ``states`` (batched over E episodes) for
  ``episode_length`` steps, each action repeated ``repeat`` times. Returns ``(success [T, E],
  dist [T, E])`` after each step, success counted only while the episode runs."""
  alive = jnp.ones(states.done.shape)

  def step(carry, _):
    state, alive = carry
    action = act(actor_params, state.obs, key, True)
    nxt, next_alive = _step_until_done(env, state, alive, action, repeat)
    success = nxt.metrics["success"] * alive
    return (nxt, next_alive), (success, nxt.metrics["dist"])

  _, (success_te, dist_te) = jax.lax.scan(step, (states, alive), None, length=episode_length)
  return success_te, dist_te


def _episode_metrics(success_te, dist_te) -> dict[str, jax.Array]:
  """``TASK_METRICS`` of each episode, ``[E]`` each, from ``success, dist [T, E]``."""
  return {
    "success": success_te.max(axis=0),
    "time_near_goal": success_te.mean(axis=0),
    "final_dist": dist_te[-1],
    "min_dist": dist_te.min(axis=0),
  }


def make_evaluator(
  env: GoalEnv, act: Callable, num_eval_envs: int, episode_length: int, action_repeat: int = 1
) -> Callable[[object, jax.Array], dict]:
  """Returns ``evaluate(actor_params, key) -> metrics`` on fresh random goals (pure, jit- and
  vmap-able)."""

  def evaluate(actor_params, key):
    states = jax.vmap(env.reset)(jax.random.split(key, num_eval_envs))
    success_te, dist_te = _run_episodes(
      env, act, actor_params, states, key, episode_length, action_repeat
    )
    per_episode = _episode_metrics(success_te, dist_te)
    return {
      **{f"eval/{name}": value.mean() for name, value in per_episode.items()},
      "eval/episode_success_any": per_episode["success"].mean(),
      "eval/episode_success": success_te.sum(axis=0).mean(),
    }

  return evaluate


def episodes_per_task(env: GoalEnv, num_episodes: int) -> int:
  """Episodes of each fixed task for about ``num_episodes`` in all: ``ceil(num_episodes /
  tasks)``, or 1 where the episodes of a task are identical (``env.eval_task_noise`` False)."""
  return math.ceil(num_episodes / len(env.eval_tasks)) if env.eval_task_noise else 1


def make_task_evaluator(
  env: GoalEnv, act: Callable, episodes_per_task: int, episode_length: int, action_repeat: int = 1
) -> Callable[[object, jax.Array], dict]:
  """Returns ``evaluate(actor_params, key) -> metrics`` on the env's fixed evaluation tasks,
  ``episodes_per_task`` episodes each, ``key`` drawing the episodes' noise (pure, jit- and
  vmap-able)."""
  names = env.eval_tasks
  num_tasks = len(names)
  task_of_episode = jnp.repeat(jnp.arange(num_tasks), episodes_per_task)  # [T·E]

  def evaluate(actor_params, key):
    episode_keys = jax.random.split(key, num_tasks * episodes_per_task)
    states = jax.vmap(env.reset_to_task)(task_of_episode, episode_keys)
    success_te, dist_te = _run_episodes(
      env, act, actor_params, states, key, episode_length, action_repeat
    )
    per_task = {
      name: value.reshape(num_tasks, episodes_per_task).mean(axis=1)
      for name, value in _episode_metrics(success_te, dist_te).items()
    }
    metrics = {f"eval_tasks/{name}": value.mean() for name, value in per_task.items()}
    for k, task in enumerate(names):
      metrics.update({f"eval_tasks/{task}/{name}": value[k] for name, value in per_task.items()})
    return metrics

  return evaluate


def make_run_evaluator(
  env: GoalEnv,
  act: Callable,
  eval_goals: str,
  num_episodes: int,
  episode_length: int,
  action_repeat: int = 1,
) -> Callable[[object, jax.Array], dict]:
  """A run's evaluation for ``--eval_goals`` ``random`` (``make_evaluator``, itself: runs keep
  their metrics bit for bit), ``tasks`` (``make_task_evaluator``, ``episodes_per_task(env,
  num_episodes)`` each, key ``fold_in(key, 1)``) or ``both`` (their metrics side by side)."""
  if eval_goals not in EVAL_GOALS:
    raise ValueError(f"eval_goals must be one of {', '.join(EVAL_GOALS)}, got {eval_goals!r}.")
  random_goals = make_evaluator(env, act, num_episodes, episode_length, action_repeat)
  if eval_goals == "random":
    return random_goals
  per_task = episodes_per_task(env, num_episodes)
  tasks = make_task_evaluator(env, act, per_task, episode_length, action_repeat)

  def evaluate(actor_params, key):
    metrics = random_goals(actor_params, key) if eval_goals == "both" else {}
    return {**metrics, **tasks(actor_params, jax.random.fold_in(key, 1))}

  return evaluate


def num_eval_episodes(env: GoalEnv, eval_goals: str, num_episodes: int) -> int:
  """Episodes one evaluation runs in parallel (random goals, fixed tasks, or both)."""
  random_goals = num_episodes if eval_goals in ("random", "both") else 0
  tasks = (
    0 if eval_goals == "random" else len(env.eval_tasks) * episodes_per_task(env, num_episodes)
  )
  return random_goals + tasks


def headline(row: dict, min_dist: bool = False) -> str:
  """The evaluation part of a progress line: success, time near goal and final distance (and the
  minimum distance with ``min_dist``) on random goals, and the tasks' average success and each
  task's, where the row has them."""
  parts = []
  if "eval/success" in row:
    parts += [
      f"success {row['eval/success']:.3f}",
      f"near goal {row['eval/time_near_goal']:.3f}",
      f"final dist {row['eval/final_dist']:.3f}",
    ] + ([f"min dist {row['eval/min_dist']:.3f}"] if min_dist else [])
  tasks = [k[len("eval_tasks/") : -len("/success")] for k in row if _is_task_success(k)]
  if tasks:
    each = " ".join(f"{row[f'eval_tasks/{t}/success']:.2f}" for t in tasks)
    parts.append(f"tasks success {row['eval_tasks/success']:.3f} [{each}]")
  return " | ".join(parts)


def _is_task_success(key: str) -> bool:
  return key.startswith("eval_tasks/") and key.endswith("/success") and key.count("/") == 2


def make_episode_recorder(
  env: GoalEnv,
  act: Callable,
  num_episodes: int,
  episode_length: int,
  action_repeat: int = 1,
  deterministic: bool = True,
) -> Callable[[object, jax.Array], tuple]:
  """Returns ``record(actor_params, key) -> (first, states)`` for watching a policy.

  ``first`` is the env State of the episodes' starts (batched over ``num_episodes``), ``states``
  the States after each step, ``[episode_length, num_episodes, ...]``; episodes run as in
  evaluation (fresh goals, frozen once terminated). Each step's action gets its own key, so a
  stochastic or random ``act`` explores.
  """

  def record(actor_params, key):
    k_reset, k_act = jax.random.split(key)
    first = jax.vmap(env.reset)(jax.random.split(k_reset, num_episodes))

    def step(carry, k):
      state, alive = carry
      action = act(actor_params, state.obs, k, deterministic)
      nxt, next_alive = _step_until_done(env, state, alive, action, action_repeat)
      return (nxt, next_alive), nxt

    carry = (first, jnp.ones((num_episodes,)))
    _, states = jax.lax.scan(step, carry, jax.random.split(k_act, episode_length))
    return first, states

  return record
