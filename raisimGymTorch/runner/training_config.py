"""cfg.yaml as the trainer reads it: top-level keys checked, PPO settings gathered into a PPOConfig."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raisimGymTorch.algo.ppo import PPOConfig
from raisimGymTorch.env.make import parse_cfg
from raisimGymTorch.messages import quoted

TOP_LEVEL_KEYS = ("seed", "record_video", "environment", "architecture", "algorithm", "resources")
DEFAULT_EVAL_EVERY_N = 200
NO_TIME_LIMIT = 2**40
"""An env's ``getMaxEpisodeSteps()`` at or above this means no time limit (C++ says so with the largest long long)."""
_BOOLEAN_WORDS = {"yes": True, "on": True, "true": True, "no": False, "off": False, "false": False}


@dataclass(frozen=True)
class TrainingConfig:
    """A cfg.yaml checked for training; `cfg` is the parsed file, untouched."""

    cfg: dict[str, Any]
    """The whole parsed file; its ``environment`` section goes to C++."""
    text: str
    """The file's text, stored in checkpoints so that a checkpoint alone can rebuild the env."""
    source: str
    """Where the cfg came from, quoted in error messages."""
    ppo: PPOConfig
    """The ``architecture`` and ``algorithm`` sections merged."""
    seed: int
    """Seed of the environments, the network initialization and PPO's generator."""
    record_video: bool
    """Render an mp4 of every evaluation episode."""
    eval_every_n: int
    """Checkpoint and evaluate every this many iterations (``environment.eval_every_n``)."""
    render: bool = False
    """Show evaluation episodes live in the browser (``environment.render``)."""


def load_training_config(path: str | Path) -> TrainingConfig:
    """Reads and checks a cfg.yaml.

    Args:
        path: The cfg.yaml.

    Returns:
        The checked config.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: Not UTF-8, invalid YAML, an unknown key or a bad value; the message names the key and the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cfg file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text: {error}") from error
    return parse_training_config(text, str(path))


def parse_training_config(text: str, source: str = "cfg.yaml") -> TrainingConfig:
    """Checks the text of a cfg.yaml, e.g. the copy stored in a checkpoint.

    Args:
        text: YAML text.
        source: Named in error messages.

    Returns:
        The checked config.

    Raises:
        ValueError: Invalid YAML, an unknown key or a bad value; the message names the key and `source`.
    """
    cfg = parse_cfg(text, source)
    for key in cfg:
        if key not in TOP_LEVEL_KEYS:
            raise ValueError(f"Unknown top-level key {quoted(key)} in {source}. "
                             f"Valid keys: {', '.join(TOP_LEVEL_KEYS)}")
    environment = cfg.get("environment")
    if not isinstance(environment, Mapping):
        raise ValueError(f"{source} needs an 'environment:' section (a mapping)")

    seed = cfg.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"cfg key 'seed' in {source} must be an integer, got {quoted(seed)}")
    eval_every_n = environment.get("eval_every_n", DEFAULT_EVAL_EVERY_N)
    if isinstance(eval_every_n, bool) or not isinstance(eval_every_n, int) or eval_every_n < 1:
        raise ValueError(f"cfg key 'environment.eval_every_n' in {source} must be a positive integer, "
                         f"got {quoted(eval_every_n)}")
    return TrainingConfig(
        cfg=cfg,
        text=text,
        source=source,
        ppo=_ppo_config(cfg, source),
        seed=seed,
        record_video=boolean_setting(cfg.get("record_video", False), "record_video", source),
        eval_every_n=eval_every_n,
        render=boolean_setting(environment.get("render", False), "environment.render", source),
    )


def _ppo_config(cfg: Mapping[str, Any], source: str) -> PPOConfig:
    """Merges ``architecture`` and ``algorithm`` into one PPOConfig; a key may appear in only one of them."""
    merged: dict[str, Any] = {}
    for section in ("architecture", "algorithm"):
        settings = cfg.get(section) or {}
        if not isinstance(settings, Mapping):
            raise ValueError(f"cfg section '{section}' in {source} must be a mapping, got {type(settings).__name__}")
        # Checked section by section so that an unknown key's message says where it is.
        PPOConfig.from_dict(settings, source=f"{source} (section '{section}')")
        for key, value in settings.items():
            if key in merged:
                raise ValueError(f"PPO setting {key!r} appears in both 'architecture' and 'algorithm' in {source}")
            merged[key] = value
    return PPOConfig.from_dict(merged, source=source)


def boolean_setting(value: Any, key: str, source: str) -> bool:
    """True/false, also spelled yes/no/on/off (any case) as YAML 1.1 and the original cfg files do.

    C++ (Config.hpp) reads its booleans by the same rule, so no key takes ``yes`` where another refuses it.

    Raises:
        ValueError: Anything else; the message names the key and the file.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _BOOLEAN_WORDS:
        return _BOOLEAN_WORDS[value.lower()]
    raise ValueError(f"cfg key {key!r} in {source} must be true or false (or yes/no, on/off), got {quoted(value)}")
