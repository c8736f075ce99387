"""From an env name and its cfg.yaml to a ready RaisimGymVecEnv."""
from __future__ import annotations

import copy
import importlib
import importlib.machinery
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv

PACKAGE_DIR = Path(__file__).resolve().parents[1]
ENVS_DIR = PACKAGE_DIR / "env" / "envs"
BIN_DIR = PACKAGE_DIR / "env" / "bin"
RESOURCE_DIR = PACKAGE_DIR / "rsc"


def load_cfg(path: str | Path) -> dict[str, Any]:
    """Reads a cfg.yaml with the safe loader.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not UTF-8, not valid YAML, nested too deeply for the parser, or not a mapping
            (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cfg file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text: {error}") from error
    return parse_cfg(text, str(path))


def parse_cfg(text: str, source: str) -> dict[str, Any]:
    """The mapping in cfg.yaml text, read with the safe loader; a ValueError names `source`."""
    try:
        cfg = YAML(typ="safe", pure=True).load(text)
    except YAMLError as error:
        raise ValueError(f"{source} is not valid YAML: {error}") from error
    except RecursionError as error:
        raise ValueError(f"{source} is nested too deeply to parse") from error
    if not isinstance(cfg, dict):
        raise ValueError(f"{source} must hold a mapping with an 'environment:' section, got {type(cfg).__name__}")
    return cfg


def available_envs() -> list[str]:
    """Env folders under env/envs (folders or symlinks to folders holding an Environment.hpp)."""
    return sorted(p.name for p in ENVS_DIR.iterdir() if p.is_dir() and (p / "Environment.hpp").is_file())


def import_env_module(name: str) -> ModuleType:
    """The compiled module of env `name`.

    Raises:
        ValueError: there is no such env folder (lists the available ones).
        ImportError: the folder exists but its module was not built.
    """
    if name not in available_envs():
        raise ValueError(f"Env '{name}' not found. Available envs: {', '.join(available_envs())}")
    if importlib.util.find_spec(f"raisimGymTorch.env.bin.{name}") is None:
        raise ImportError(f"env '{name}' has not been compiled; build it with: pip install -e . (or RSG_ENVS={name} "
                          "python setup.py build_ext --inplace)")
    return importlib.import_module(f"raisimGymTorch.env.bin.{name}")


def resource_dir(cfg: Mapping[str, Any]) -> Path:
    """Where the env's model files are: raisimGymTorch/rsc, or a folder inside an installed package.

    cfg.yaml may name a package that ships the model (``resources: {package: gymnasium.envs.mujoco,
    folder: assets}``); arbitrary paths are not accepted, so a cfg cannot point the env at any file. The
    package is looked up without importing it, so a cfg cannot make any package's code run either.

    Raises:
        ValueError: ``resources`` is malformed, names no installed package, or its folder leaves the package.
    """
    spec = cfg.get("resources")
    if spec is None:
        return RESOURCE_DIR
    if not isinstance(spec, Mapping) or set(spec) - {"package", "folder"} or "package" not in spec:
        raise ValueError("cfg key 'resources' must be a mapping {package: <python package>, folder: <subfolder>}")
    if not isinstance(spec["package"], str) or not isinstance(spec.get("folder", ""), str):
        raise ValueError("cfg keys 'resources.package' and 'resources.folder' must be strings")
    root = _package_folder(spec["package"])
    if root is None:
        raise ValueError(f"cfg key 'resources.package': no installed package {spec['package']!r}")
    folder = (root / spec.get("folder", "")).resolve()
    if root != folder and root not in folder.parents:
        raise ValueError(f"cfg key 'resources.folder' must stay inside the package '{spec['package']}'")
    return folder


def _package_folder(name: str) -> Path | None:
    """The folder of the installed package `name` (dotted), found without importing any of it.

    ``importlib.util.find_spec('a.b')`` imports ``a``, running its ``__init__``; here only the top-level
    package is looked up through the import system (which does not import it), and each subpackage is
    searched for in its parent's folder.
    """
    parts = name.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    spec = importlib.util.find_spec(parts[0])
    for part in parts[1:]:
        if spec is None or not spec.submodule_search_locations:
            return None
        spec = importlib.machinery.PathFinder.find_spec(part, list(spec.submodule_search_locations))
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def make_vec_env(
    name: str,
    cfg: Mapping[str, Any],
    cfg_source: str = "cfg.yaml",
    *,
    num_envs: int | None = None,
    num_threads: int | str | None = None,
    seed: int | None = None,
    normalize_ob: bool = True,
    clip_obs: float = 10.0,
    evaluation: bool = False,
) -> RaisimGymVecEnv:
    """Builds the vectorized env `name` from a whole cfg (its ``environment`` section goes to C++).

    Args:
        name: Env folder name, e.g. ``rsg_anymal``.
        cfg: The parsed cfg.yaml; it is not modified.
        cfg_source: Shown in error messages about cfg keys.
        num_envs: Overrides ``environment.num_envs``.
        num_threads: Overrides ``environment.num_threads``.
        seed: Overrides the top-level ``seed`` (default 0).
        normalize_ob: Normalize observations with running statistics.
        clip_obs: Clip normalized observations to this magnitude.
        evaluation: Build envs that evaluate a policy (cfg key ``evaluation``): components that only make training
            harder, such as observation noise, turn off.

    Raises:
        TypeError: cfg is not a mapping.
        ValueError: No ``environment`` section, an unknown env name, or a bad cfg key or value (named).
        FileNotFoundError: The env's model file does not exist.
    """
    if not isinstance(cfg, Mapping):
        raise TypeError(f"cfg must be a mapping (the parsed cfg.yaml), got {type(cfg).__name__}")
    if "environment" not in cfg or not isinstance(cfg["environment"], Mapping):
        raise ValueError(f"{cfg_source} needs an 'environment:' section")
    try:
        environment = copy.deepcopy(dict(cfg["environment"]))
    except RecursionError as error:
        raise ValueError(f"{cfg_source}: the 'environment:' section is nested too deeply") from error
    # NumPy integers (np.int64 from an array of env counts) are integers too; C++ sees only Python's int.
    if num_envs is not None:
        environment["num_envs"] = int(num_envs) if isinstance(num_envs, np.integer) else num_envs
    if num_threads is not None:
        environment["num_threads"] = int(num_threads) if isinstance(num_threads, np.integer) else num_threads
    if evaluation:
        environment["evaluation"] = True
    module = import_env_module(name)
    impl = module.RaisimGymEnv(str(resource_dir(cfg)), environment, cfg_source)
    return RaisimGymVecEnv(impl, normalize_ob=normalize_ob, seed=cfg.get("seed", 0) if seed is None else seed,
                           clip_obs=clip_obs)
