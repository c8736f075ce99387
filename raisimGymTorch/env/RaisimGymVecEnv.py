"""The Python face of a compiled environment module: owns the NumPy buffers C++ writes into."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Transition:
    """What one `RaisimGymVecEnv.transition` call produced, for every env.

    The arrays are views of the env's own buffers: the next call overwrites them (copy what you keep).
    """

    observation: np.ndarray
    """(num_envs, num_obs) float32: the next observation, after the reset of an ended episode; normalized if the
    env normalizes."""
    reward: np.ndarray
    """(num_envs,) float32."""
    done: np.ndarray
    """(num_envs,) bool: the episode ended, for any reason; the env has started a new one."""
    terminated: np.ndarray
    """(num_envs,) bool: ended by failure (or diverged physics): no future reward to bootstrap."""
    truncated: np.ndarray
    """(num_envs,) bool: ended by the time limit."""
    final_observation: np.ndarray
    """(num_envs, num_obs) float32: the last observation of each episode that ended (normalized like
    `observation`); rows of envs that did not end are stale."""
    critic_observation: np.ndarray
    """(num_envs, num_critic_obs) float32: what the critic sees, `observation` followed by the env's critic-only
    values (the same memory as `observation` when it declares none)."""
    final_critic_observation: np.ndarray
    """(num_envs, num_critic_obs) float32: `final_observation` followed by the critic-only values."""
    reward_terms: np.ndarray
    """(num_envs, len(reward_names)) float32: this step's weighted reward terms."""
    metrics: np.ndarray
    """(num_envs, len(metric_names)) float32: this step's metrics."""
    diverged: int
    """How many envs diverged in this step (and were reset)."""


class RaisimGymVecEnv:
    """A batch of environments stepped in C++.

    Observations, rewards and done flags live in preallocated float32/bool arrays that the compiled
    module fills in place; one call steps every environment.

    An env may give its critic more than its policy (``privilegedObDim_`` in C++): each observation row is then
    the policy's ``num_obs`` values followed by the critic-only ones, ``num_critic_obs`` in all. Observations
    (``observe``, ``Transition.observation``) are the policy's part; the ``critic_`` fields are whole rows.

    Args:
        impl: A compiled environment, e.g. ``rsg_anymal.RaisimGymEnv(resource_dir, cfg)``.
        normalize_ob: Normalize observations with running statistics (updated only when asked).
        seed: Environment i is seeded with ``seed + i``.
        clip_obs: Normalized observations are clipped to ``[-clip_obs, clip_obs]``.
    """

    def __init__(self, impl: Any, normalize_ob: bool = True, seed: int = 0, clip_obs: float = 10.0) -> None:
        if not all(callable(getattr(impl, name, None)) for name in ("setNormalization", "getNumOfEnvs", "step")):
            raise TypeError("impl must be a compiled environment such as rsg_anymal.RaisimGymEnv(resource_dir, cfg), "
                            f"got {type(impl).__name__}")
        self.wrapper = impl
        self.normalize_ob = bool(normalize_ob)
        self.clip_obs = float(clip_obs)
        impl.setNormalization(self.normalize_ob, self.clip_obs)
        n, num_obs, width = impl.getNumOfEnvs(), impl.getObDim(), impl.getCriticObDim()
        self._critic_observation = np.zeros((n, width), dtype=np.float32)
        self._final_critic_observation = np.zeros((n, width), dtype=np.float32)
        # The policy's part of each row: views, so one C++ write fills both.
        self._observation = self._critic_observation[:, :num_obs]
        self._final_observation = self._final_critic_observation[:, :num_obs]
        self._reward = np.zeros(n, dtype=np.float32)
        self._done = np.zeros(n, dtype=bool)
        self._terminated = np.zeros(n, dtype=bool)
        self._truncated = np.zeros(n, dtype=bool)
        self._reward_names: list[str] = list(impl.getRewardNames())
        self._reward_terms = np.zeros((n, len(self._reward_names)), dtype=np.float32)
        self._metric_names: list[str] = list(impl.getMetricNames())
        self._metrics = np.zeros((n, len(self._metric_names)), dtype=np.float32)
        impl.setStepBuffers(self._critic_observation, self._reward, self._done, self._terminated, self._truncated,
                            self._final_critic_observation, self._reward_terms, self._metrics)
        self.seed(seed)
        # The module's constructor already started episodes from seed 0; start them again from `seed`.
        self.reset()

    @property
    def num_envs(self) -> int:
        return self._observation.shape[0]

    @property
    def num_obs(self) -> int:
        """The policy's observation size."""
        return self._observation.shape[1]

    @property
    def num_critic_obs(self) -> int:
        """The critic's: `num_obs` plus the env's critic-only values."""
        return self._critic_observation.shape[1]

    @property
    def num_acts(self) -> int:
        return self.wrapper.getActionDim()

    def seed(self, seed: int) -> None:
        """Seeds environment i with ``seed + i``; call reset() to start episodes from the new seed."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
        self.wrapper.setSeed(int(seed))

    def reset(self) -> None:
        """Starts a new episode in every environment."""
        self.wrapper.reset()

    def randomize_episode_progress(self, seed: int) -> None:
        """Makes env i's current episode count as already k steps old, k uniform in [0, time limit) from ``seed + i``.

        The trainer calls it once on its training envs (cfg ``random_episode_start``, on unless false), so that
        envs do not all reset on the same step; evaluations keep whole episodes.
        """
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
        self.wrapper.randomizeEpisodeProgress(int(seed))

    def observe(self, update_statistics: bool = True) -> np.ndarray:
        """Observations of all environments, normalized if enabled.

        Returns the internal buffer (no copy): it is overwritten by the next observe(). `critic_observation()`
        holds the same observations with the critic-only values after them.

        Args:
            update_statistics: Fold these observations into the normalization statistics first.
        """
        self.wrapper.observe(self._critic_observation, update_statistics)
        return self._observation

    def critic_observation(self) -> np.ndarray:
        """The last observations (of observe() or a step) followed by the critic-only values, (num_envs,
        num_critic_obs); the internal buffer."""
        return self._open(self._critic_observation)

    def transition(self, action: np.ndarray, update_statistics: bool = True) -> Transition:
        """Steps every environment, resets those whose episode ends, and observes: one call into C++.

        Args:
            action: float32 array of shape (num_envs, num_acts), C-contiguous and finite.
            update_statistics: Fold the new observations into the normalization statistics first (training);
                False keeps them frozen (evaluation).

        Returns:
            Views of this env's buffers, valid until the next step (see `Transition`).

        Raises:
            TypeError, ValueError: the action has the wrong dtype, shape or layout, or is not finite.
        """
        diverged = self.wrapper.step(action, True, update_statistics)
        self._warn_if_diverged(diverged)
        return Transition(self._observation, self._reward, self._done, self._terminated, self._truncated,
                          self._final_observation, self._critic_observation, self._final_critic_observation,
                          self._reward_terms, self._metrics, diverged)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The original API: steps every environment; those whose episode ends are reset at once. Observe with
        observe() afterwards (`transition` does both in one call).

        Args:
            action: float32 array of shape (num_envs, num_acts), C-contiguous and finite.

        Returns:
            (reward, done) copies. ``truncated`` tells time-outs among the done envs, and
            ``final_observation()`` holds the last observation of each episode that ended.

        Raises:
            TypeError, ValueError: the action has the wrong dtype, shape or layout, or is not finite.
        """
        self._warn_if_diverged(self.wrapper.step(action, False, False))
        return self._reward.copy(), self._done.copy()

    def _warn_if_diverged(self, diverged: int) -> None:
        if diverged == 0:
            return
        warnings.warn(
            f"{diverged} environment(s) diverged (non-finite state or a speed beyond divergence_speed) and were "
            f"reset; {self.diverged_resets} so far",
            RuntimeWarning,
            stacklevel=3,
        )

    def _open(self, buffer: np.ndarray) -> np.ndarray:
        """`buffer`, unless the env was closed: what a closed env's buffers hold is no step's result."""
        if self.wrapper.closed:
            raise RuntimeError("this environment was closed; create a new one")
        return buffer

    @property
    def truncated(self) -> np.ndarray:
        """Which envs of the last step ended by the time limit (a copy); done & ~truncated = failed."""
        return self._truncated.copy()

    def final_observation(self) -> np.ndarray:
        """Final observations (normalized like observe()) of the episodes that ended in the last step.

        Rows of environments that did not finish are stale. Returns the internal buffer.
        """
        return self._open(self._final_observation)

    @property
    def diverged_resets(self) -> int:
        """How many times an environment's physics diverged (non-finite, or faster than divergence_speed) and it
        was reset."""
        return int(self.wrapper.getDivergedResets())

    @property
    def reward_names(self) -> list[str]:
        return list(self._reward_names)

    def reward_terms(self) -> np.ndarray:
        """Weighted reward terms of every env's last step, shape (num_envs, len(reward_names)); the internal
        buffer."""
        return self._open(self._reward_terms)

    @property
    def metric_names(self) -> list[str]:
        """What the env measures beside its reward (tracking errors, terrain level); empty for most envs."""
        return list(self._metric_names)

    def metrics(self) -> np.ndarray:
        """Every env's metrics of its last step, shape (num_envs, len(metric_names)); the internal buffer."""
        return self._open(self._metrics)

    def get_reward_info(self) -> list[dict[str, float]]:
        """The original API: one dict of weighted reward terms per environment."""
        return self.wrapper.getRewardInfo()

    def get_statistics(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Observation normalization statistics: (mean, population variance, count).

        Returns:
            float64 copies of mean and var [num_critic_obs] (the policy's observation first), exactly as C++ keeps
            them, and the sample count.
        """
        mean = np.zeros(self.num_critic_obs, dtype=np.float64)
        var = np.zeros(self.num_critic_obs, dtype=np.float64)
        count = self.wrapper.getObStatistics(mean, var)
        return mean, var, float(count)

    def set_statistics(self, mean: np.ndarray, var: np.ndarray, count: float) -> None:
        """Replaces the observation normalization statistics.

        Args:
            mean: [num_critic_obs] means; any real dtype, kept as float64 (float32 from old checkpoints works too).
            var: [num_critic_obs] population variances, non-negative.
            count: Samples the statistics describe, finite and non-negative.

        Raises:
            ValueError: A wrong length, a non-finite value, a negative variance or count.
        """
        self.wrapper.setObStatistics(
            np.ascontiguousarray(mean, dtype=np.float64), np.ascontiguousarray(var, dtype=np.float64), float(count)
        )

    def save_scaling(self, dir_name: str | Path, iteration: int | str) -> None:
        """The original csv format: writes mean<iteration>.csv, var<iteration>.csv and count<iteration>.csv."""
        mean, var, count = self.get_statistics()
        directory = Path(dir_name)
        np.savetxt(directory / f"mean{iteration}.csv", mean)
        np.savetxt(directory / f"var{iteration}.csv", var)
        np.savetxt(directory / f"count{iteration}.csv", [count])

    def load_scaling(self, dir_name: str | Path, iteration: int | str, count: float | None = None) -> None:
        """Reads statistics written by save_scaling; ``count`` overrides the saved count.

        Raises:
            FileNotFoundError: mean<iteration>.csv or var<iteration>.csv is missing.
            ValueError: A file is not numbers, the count file does not hold exactly one, or the statistics are
                unusable (non-finite, negative or beyond what float32 observations can produce); the message names
                the folder.
        """
        directory = Path(dir_name)
        mean = np.loadtxt(directory / f"mean{iteration}.csv", dtype=np.float64, ndmin=1)
        var = np.loadtxt(directory / f"var{iteration}.csv", dtype=np.float64, ndmin=1)
        if count is None:
            count_file = directory / f"count{iteration}.csv"
            if count_file.exists():
                counts = np.loadtxt(count_file, dtype=np.float64, ndmin=1)
                if counts.size != 1:
                    raise ValueError(f"{count_file} must hold one number (the sample count), got {counts.size}; "
                                     "write it with save_scaling or pass count= to load_scaling")
                count = float(counts[0])
            else:
                count = 1e5
        try:
            self.set_statistics(mean, var, count)
        except ValueError as error:
            raise ValueError(f"the scaling files {iteration} in {directory}: {error}") from None

    def curriculum_callback(self, iteration: int = -1) -> None:
        """Lets every env adapt its task before a training iteration; `iteration` is its number (from 0, continuing
        after a resume), -1 for a caller that does not count (the original API's call)."""
        self.wrapper.curriculumUpdate(int(iteration))

    @property
    def terrain_levels(self) -> np.ndarray:
        """Each env's terrain-curriculum level, int32 [num_envs]; -1 where the env has no terrain curriculum."""
        return np.asarray(self.wrapper.getTerrainLevels(), dtype=np.int32)

    def set_terrain_levels(self, levels: np.ndarray) -> None:
        """Puts env i on `levels[i]` (clamped to the terrain's levels) from its next reset on.

        Raises:
            ValueError: `levels` does not hold one level per env.
        """
        levels = np.asarray(levels)
        if levels.shape != (self.num_envs,):
            raise ValueError(f"terrain levels must have shape ({self.num_envs},), got {levels.shape}")
        self.wrapper.setTerrainLevels(levels.astype(np.int64).tolist())

    def close(self) -> None:
        self.wrapper.close()
