"""The run directory: raisimGymTorch/data/<task>/<timestamp>/ with the files that define the run copied in."""
from __future__ import annotations

import datetime
import shutil
from collections.abc import Iterable
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
TIMESTAMP_FORMAT = "%Y-%m-%d-%H-%M-%S"


def make_run_directory(
    task: str,
    files: Iterable[str | Path] = (),
    root: str | Path | None = None,
    now: datetime.datetime | None = None,
) -> Path:
    """Creates ``<root>/<task>/<%Y-%m-%d-%H-%M-%S>/`` and copies `files` into it by base name.

    Two runs started in the same second get ``<timestamp>-1``, ``<timestamp>-2``, … instead of sharing a folder.

    Args:
        task: Name of the task folder, e.g. the env name ``rsg_anymal``.
        files: Files to copy in, such as cfg.yaml and Environment.hpp.
        root: Parent of the task folders; defaults to ``raisimGymTorch/data``.
        now: Time for the folder name; defaults to the current local time.

    Returns:
        The new, empty-but-for-`files` directory.

    Raises:
        FileNotFoundError: A file to copy does not exist (the message names it).
    """
    sources = [Path(f) for f in files]
    for source in sources:
        if not source.is_file():
            raise FileNotFoundError(f"cannot copy {source} into the run directory: no such file")
    parent = Path(DATA_DIR if root is None else root) / task
    parent.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.datetime.now()).strftime(TIMESTAMP_FORMAT)
    run_dir, suffix = parent / stamp, 0
    while True:
        try:
            run_dir.mkdir()
            break
        except FileExistsError:
            suffix += 1
            run_dir = parent / f"{stamp}-{suffix}"
    for source in sources:
        shutil.copy2(source, run_dir / source.name)
    return run_dir
