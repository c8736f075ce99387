"""A Gymnasium 1.x vector environment over any compiled raisimGymTorch environment.

The C++ core resets an environment inside the step that ends its episode, which is Gymnasium's
``AutoresetMode.SAME_STEP``: the observation returned for an environment whose episode ended is
the first observation of its next episode, and the last observation of the ended episode is in
``info["final_obs"]`` (rows of other environments hold ``None``; ``info["_final_obs"]`` is the mask).

Gymnasium 1.4 refuses SAME_STEP environments in every ``VectorObservationWrapper``, its
``NormalizeObservation`` included, because they cannot reach ``final_obs``. Use this module's
``NormalizeObservation`` instead, or ``normalize_ob=True`` for the C++ running statistics.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.spaces import Box
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space
from gymnasium.wrappers.utils import RunningMeanStd

from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env
from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv

# The C++ core seeds environment i with seed + i in a C int.
MAX_SEED = 2**31 - 1


def resolve_vec_env(
    env: str | RaisimGymVecEnv,
    cfg: Mapping[str, Any] | str | Path | None = None,
    *,
    num_envs: int | None = None,
    num_threads: int | str | None = None,
    seed: int | None = None,
    normalize_ob: bool | None = None,
    clip_obs: float | None = None,
) -> RaisimGymVecEnv:
    """An existing RaisimGymVecEnv as is, or a new one built from an env name and its cfg.

    Args:
        env: An env folder name such as ``rsg_ant``, or a RaisimGymVecEnv.
        cfg: A parsed cfg.yaml or a path to one; defaults to the env folder's cfg.yaml.
        num_envs, num_threads, seed: Override the cfg (see make_vec_env).
        normalize_ob: Normalize observations with C++ running statistics (default False: raw
            observations, for Gymnasium's or SB3's own normalization).
        clip_obs: Clip normalized observations to this magnitude (default 10).

    Raises:
        ValueError: cfg or options were given together with an existing RaisimGymVecEnv.
        TypeError: env is neither a name nor a RaisimGymVecEnv.
    """
    options = {"num_envs": num_envs, "num_threads": num_threads, "seed": seed, "normalize_ob": normalize_ob,
               "clip_obs": clip_obs}
    if isinstance(env, RaisimGymVecEnv):
        given = sorted(key for key, value in options.items() if value is not None)
        if cfg is not None or given:
            raise ValueError(f"an existing RaisimGymVecEnv is used as built; do not pass cfg or {given or 'options'}")
        return env
    if not isinstance(env, str):
        raise TypeError(f"env must be an env name or a RaisimGymVecEnv, got {type(env).__name__}")
    if cfg is None:
        cfg = ENVS_DIR / env / "cfg.yaml"
    if isinstance(cfg, (str, Path)):
        source, cfg = str(cfg), load_cfg(cfg)
    else:
        source = f"the cfg given for {env}"
    return make_vec_env(env, cfg, source, num_envs=num_envs, num_threads=num_threads, seed=seed,
                        normalize_ob=bool(normalize_ob), clip_obs=10.0 if clip_obs is None else clip_obs)


def observation_space_of(vec_env: RaisimGymVecEnv) -> Box:
    """One environment's observation space: float32, unbounded, or +-clip_obs when normalized."""
    bound = vec_env.clip_obs if vec_env.normalize_ob else np.inf
    return Box(-bound, bound, shape=(vec_env.num_obs,), dtype=np.float32)


def action_space_of(vec_env: RaisimGymVecEnv, bounds: tuple[Any, Any] | None = None) -> Box:
    """One environment's action space: float32 with `bounds` (scalars or per-dimension arrays).

    Without `bounds` the space is the range the environment declares (rsg_ant: its actuators'
    ctrlrange [-1, 1]), unbounded where it declares none (rsg_anymal scales actions into joint targets).
    """
    low, high = vec_env.wrapper.getActionBounds() if bounds is None else bounds
    shape = (vec_env.num_acts,)
    low = np.broadcast_to(np.asarray(low, dtype=np.float32), shape)
    high = np.broadcast_to(np.asarray(high, dtype=np.float32), shape)
    if not np.all(low < high):
        raise ValueError(f"action bounds need low < high in every dimension, got low={low}, high={high}")
    return Box(low, high, shape=shape, dtype=np.float32)


def check_seed(seed: Any, num_envs: int) -> int:
    """`seed` as an int that the core can give to every environment (env i gets seed + i)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    if not 0 <= seed <= MAX_SEED - num_envs:
        raise ValueError(f"seed must be between 0 and {MAX_SEED - num_envs} (env i gets seed + i), got {seed}")
    return int(seed)


class RaisimGymVectorEnv(VectorEnv):
    """A ``gymnasium.vector.VectorEnv`` whose environments are stepped in C++ in one call.

    Observations are float32 copies (the next step does not overwrite what you hold), rewards
    float64 as in Gymnasium's own vector environments, terminations and truncations bool. An
    environment whose physics diverged ends its episode as terminated, with an all-zero final
    observation (RaisimGymVecEnv warns about it).

    Args:
        env: An env folder name such as ``rsg_ant``, or an existing RaisimGymVecEnv.
        cfg: With a name: a parsed cfg.yaml or a path; defaults to the env folder's cfg.yaml.
        num_envs, num_threads, seed, normalize_ob, clip_obs: With a name: see resolve_vec_env.
        action_bounds: (low, high) of the action space; unbounded by default (see action_space_of).
            For rsg_ant pass (-1, 1), its actuators' ctrlrange.

    Attributes:
        vec_env: The RaisimGymVecEnv underneath (statistics, reward terms, state).
        update_statistics: Whether observations update the C++ statistics (only with normalize_ob).
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(
        self,
        env: str | RaisimGymVecEnv,
        cfg: Mapping[str, Any] | str | Path | None = None,
        *,
        num_envs: int | None = None,
        num_threads: int | str | None = None,
        seed: int | None = None,
        normalize_ob: bool | None = None,
        clip_obs: float | None = None,
        action_bounds: tuple[Any, Any] | None = None,
    ) -> None:
        self.vec_env = resolve_vec_env(env, cfg, num_envs=num_envs, num_threads=num_threads, seed=seed,
                                       normalize_ob=normalize_ob, clip_obs=clip_obs)
        self.num_envs = self.vec_env.num_envs
        self.single_observation_space = observation_space_of(self.vec_env)
        self.single_action_space = action_space_of(self.vec_env, action_bounds)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.update_statistics = self.vec_env.normalize_ob
        self.render_mode = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts a new episode in every environment; with `seed`, environment i is seeded seed + i.

        Args:
            seed: Reseeds the environments (and ``np_random``) before the reset.
            options: Only ``{"reset_mask": <all True>}`` is accepted: every reset is a full one.

        Returns:
            (observations, {}).

        Raises:
            ValueError: an unsupported option, a partial reset_mask, or a seed out of range.
        """
        if options:
            unknown = sorted(set(options) - {"reset_mask"})
            if unknown:
                raise ValueError(f"unsupported reset options {unknown}; supported: ['reset_mask']")
            if not np.all(options["reset_mask"]):
                raise ValueError("partial resets are not supported: environments reset themselves when their "
                                 "episode ends (AutoresetMode.SAME_STEP); reset_mask must be all True")
        if seed is not None:
            self.vec_env.seed(check_seed(seed, self.num_envs))
        super().reset(seed=seed)
        self.vec_env.reset()
        return self._observe(), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Steps every environment; an environment whose episode ends starts the next one at once.

        Args:
            actions: Array-like of shape (num_envs, action dim); converted to float32, not clipped.

        Returns:
            (observations, rewards, terminations, truncations, infos). When an episode ended,
            infos holds ``final_obs`` (object array, the ended episode's last observation or None),
            ``final_info`` ({}) and their masks ``_final_obs``, ``_final_info``.

        Raises:
            ValueError: actions of the wrong shape or not finite.
        """
        step = self.vec_env.transition(np.ascontiguousarray(actions, dtype=np.float32),
                                       update_statistics=self._update_statistics)
        infos: dict[str, Any] = {}
        if step.done.any():
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(step.done):
                final_obs[i] = step.final_observation[i].copy()
            infos = {"final_obs": final_obs, "_final_obs": step.done.copy(), "final_info": {},
                     "_final_info": step.done.copy()}
        return (step.observation.copy(), step.reward.astype(np.float64), step.terminated.copy(), step.truncated.copy(),
                infos)

    def close_extras(self, **kwargs: Any) -> None:
        self.vec_env.close()

    @property
    def _update_statistics(self) -> bool:
        return self.update_statistics and self.vec_env.normalize_ob

    def _observe(self) -> np.ndarray:
        return self.vec_env.observe(update_statistics=self._update_statistics).copy()


class NormalizeObservation(VectorWrapper):
    """Gymnasium's vector ``NormalizeObservation`` for SAME_STEP environments.

    Normalizes observations with a running mean and variance, as Gymnasium's wrapper does, and also
    normalizes ``info["final_obs"]`` (which does not update the statistics). Gymnasium 1.4's own
    wrapper raises ValueError for SAME_STEP environments.

    Args:
        env: A vector environment with ``AutoresetMode.SAME_STEP``.
        epsilon: Added to the variance under the square root.
    """

    def __init__(self, env: VectorEnv, epsilon: float = 1e-8) -> None:
        super().__init__(env)
        if env.metadata.get("autoreset_mode") != AutoresetMode.SAME_STEP:
            raise ValueError("use gymnasium.wrappers.vector.NormalizeObservation for environments without "
                             f"AutoresetMode.SAME_STEP, got {env.metadata.get('autoreset_mode')}")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be positive, got {epsilon}")
        shape = env.single_observation_space.shape
        self.single_observation_space = Box(-np.inf, np.inf, shape=shape, dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.obs_rms = RunningMeanStd(shape=shape, dtype=np.float32)
        self.epsilon = epsilon
        self.update_running_mean = True

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        observations, infos = self.env.reset(seed=seed, options=options)
        return self._normalize(observations, self.update_running_mean), infos

    def step(self, actions: Any) -> tuple[np.ndarray, Any, Any, Any, dict[str, Any]]:
        observations, rewards, terminations, truncations, infos = self.env.step(actions)
        observations = self._normalize(observations, self.update_running_mean)
        if "final_obs" in infos:
            final_obs = infos["final_obs"].copy()
            for i in np.flatnonzero(infos["_final_obs"]):
                final_obs[i] = self._normalize(final_obs[i], update=False)
            infos = {**infos, "final_obs": final_obs}
        return observations, rewards, terminations, truncations, infos

    def _normalize(self, observations: np.ndarray, update: bool) -> np.ndarray:
        if update:
            self.obs_rms.update(observations)
        return ((observations - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + self.epsilon)).astype(np.float32)


__all__ = ["RaisimGymVectorEnv", "NormalizeObservation", "resolve_vec_env", "observation_space_of",
           "action_space_of", "check_seed"]
