"""Shared by the helper tests: a small copy of rsg_anymal's cfg.yaml and envs built from it (import the fixtures)."""
import copy
import io
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env

SHIPPED_CFG = ENVS_DIR / "rsg_anymal" / "cfg.yaml"


def small_cfg_text(environment=None, **top_level):
    """The shipped rsg_anymal cfg with small networks, a few envs and no video, plus overrides."""
    cfg = copy.deepcopy(load_cfg(SHIPPED_CFG))
    cfg["record_video"] = False
    cfg["environment"].update({"num_envs": 4, "num_threads": 1, "max_time": 0.5, "eval_every_n": 1})
    cfg["environment"].update(environment or {})
    cfg["architecture"] = {"policy_net": [16, 16], "value_net": [16, 16]}
    cfg.update(top_level)
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(cfg, stream)
    return stream.getvalue()


@pytest.fixture
def write_cfg(tmp_path):
    """write_cfg(environment=None, **top_level) -> path of a small cfg.yaml in tmp_path."""
    def write(environment=None, name="cfg.yaml", **top_level):
        path = Path(tmp_path) / name
        path.write_text(small_cfg_text(environment, **top_level))
        return path
    return write


@pytest.fixture
def small_env():
    """small_env(normalize_ob=True, num_envs=4) -> an rsg_anymal VecEnv from the small cfg; closed afterwards."""
    envs = []

    def make(normalize_ob=True, num_envs=4, seed=0):
        cfg = YAML(typ="safe", pure=True).load(small_cfg_text())
        env = make_vec_env("rsg_anymal", cfg, "small test cfg", num_envs=num_envs, seed=seed, normalize_ob=normalize_ob)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()
