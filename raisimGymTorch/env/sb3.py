"""A Stable-Baselines3 VecEnv over any compiled raisimGymTorch environment.

    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize
    from raisimGymTorch.env.sb3 import RaisimSb3VecEnv

    env = VecNormalize(VecMonitor(RaisimSb3VecEnv("rsg_ant", num_envs=8, action_bounds=(-1, 1))))
    PPO("MlpPolicy", env).learn(100_000)

Observations are raw by default, so that VecNormalize can normalize them. Like SB3's own vector
environments, an environment whose episode ends is reset in the same step: its info holds
``terminal_observation`` and every info holds ``TimeLimit.truncated``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from raisimGymTorch.env.gymnasium import action_space_of, check_seed, observation_space_of, resolve_vec_env
from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv


class RaisimSb3VecEnv(VecEnv):
    """All environments of one compiled module, stepped in C++ in one call per step.

    The environments live in one C++ batch, not in per-environment Python objects, so ``get_attr``
    and ``env_method`` reach the RaisimGymVecEnv underneath (called once, the result repeated for
    each index) and ``set_attr`` sets one of its attributes; ``env_method`` and ``set_attr`` on a
    subset of the environments raise ValueError. ``env_is_wrapped`` is always False.

    Args:
        env: An env folder name such as ``rsg_ant``, or an existing RaisimGymVecEnv.
        cfg: With a name: a parsed cfg.yaml or a path; defaults to the env folder's cfg.yaml.
        num_envs, num_threads, seed, normalize_ob, clip_obs: With a name: see
            raisimGymTorch.env.gymnasium.resolve_vec_env (observations are raw by default).
        action_bounds: (low, high) of the action space; unbounded by default, but SB3's algorithms
            need finite bounds and clip their actions to them. For rsg_ant pass (-1, 1), its
            actuators' ctrlrange.

    Attributes:
        vec_env: The RaisimGymVecEnv underneath.
    """

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
        self.render_mode = None
        super().__init__(self.vec_env.num_envs, observation_space_of(self.vec_env),
                         action_space_of(self.vec_env, action_bounds))
        self._actions: np.ndarray | None = None

    def reset(self) -> VecEnvObs:
        """Starts a new episode everywhere, first applying a seed given to seed() (env i: seed + i)."""
        if any(options for options in self._options):
            raise ValueError(f"reset options are not supported, got {self._options[0]}")
        if self._seeds[0] is not None:
            self.vec_env.seed(self._seeds[0])
        self.vec_env.reset()
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return self.vec_env.observe(update_statistics=self.vec_env.normalize_ob).copy()

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seeds used at the next reset(): env i gets seed + i; a random seed when None."""
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - self.num_envs))
        seed = check_seed(seed, self.num_envs)
        self._seeds = [seed + i for i in range(self.num_envs)]
        return self._seeds

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.ascontiguousarray(actions, dtype=np.float32)

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() needs a step_async(actions) first")
        step = self.vec_env.transition(self._actions, update_statistics=self.vec_env.normalize_ob)
        self._actions = None
        infos: list[dict[str, Any]] = [{"TimeLimit.truncated": bool(t)} for t in step.truncated]
        for i in np.flatnonzero(step.done):
            infos[i]["terminal_observation"] = step.final_observation[i].copy()
        return step.observation.copy(), step.reward.copy(), step.done.copy(), infos

    def close(self) -> None:
        self.vec_env.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """``attr_name`` of the RaisimGymVecEnv (``render_mode`` is None), once per index."""
        value = self.render_mode if attr_name == "render_mode" else getattr(self.vec_env, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Sets ``attr_name`` of the RaisimGymVecEnv, which every environment shares."""
        self._require_all(indices, "set_attr")
        setattr(self.vec_env, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        """Calls ``method_name`` of the RaisimGymVecEnv once; its result is repeated per environment."""
        self._require_all(indices, "env_method")
        result = getattr(self.vec_env, method_name)(*method_args, **method_kwargs)
        return [result for _ in range(self.num_envs)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def _require_all(self, indices: VecEnvIndices, what: str) -> None:
        if sorted(self._get_indices(indices)) != list(range(self.num_envs)):
            raise ValueError(f"{what} acts on all {self.num_envs} environments at once (one C++ batch); "
                             f"indices={indices} selects a subset")
