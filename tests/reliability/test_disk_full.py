"""Issue 17, item 4: a disk that fills up while a checkpoint is written.

torch.save used to report it as a RuntimeError ("file write failed") and the runner showed a traceback that never
said "No space left on device". The runner must say it, name the folder, keep the previous checkpoint and exit
with an error line.

Two real ways to fill a disk: a 16 MB tmpfs filled to the last byte (ENOSPC; needs root and a mount that the
container allows, else the test is skipped), and RLIMIT_FSIZE in a child process (EFBIG; works anywhere, and is
the limit a shell's ``ulimit -f`` sets).
"""
from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import small_cfg_text
from reliability_helpers import RELIABILITY_DIR, child_environment, describe_exit, run_python

# 128 x 128 networks: a checkpoint of about 300 KB, far above the few KB of the run's logs and copied files.
NETWORKS = {"policy_net": [128, 128], "value_net": [128, 128]}


def write_cfg(folder: Path) -> Path:
    cfg = folder / "cfg.yaml"
    cfg.write_text(small_cfg_text({"num_envs": 2}, architecture=NETWORKS))
    return cfg


def drive(run_root: Path, cfg: Path, how: str) -> dict:
    result = run_python([str(RELIABILITY_DIR / "disk_full_driver.py"), str(run_root), str(cfg), how], timeout=300)
    assert result.returncode == 0, describe_exit(result)
    return json.loads(result.stdout.strip().splitlines()[-1])


def check(outcome: dict, strerror: str) -> None:
    assert outcome["error"] is not None, "the write on a full disk succeeded"
    assert outcome["type"] == "NoRoomError", outcome
    folder = re.escape(str(Path(outcome["run_dir"]).resolve()))
    assert re.search(rf"cannot write full_1\.pt in {folder}: {strerror}", outcome["error"]), outcome["error"]
    assert re.search(r"the last checkpoint, .*full_1\.pt, is intact", outcome["error"]), outcome["error"]
    assert outcome["last_loads"], "the previous checkpoint was damaged"
    assert not outcome["temporaries"], "the failed write's temporary file was left behind"


@pytest.fixture
def tmpfs(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; test_file_size_limit covers the same path with EFBIG")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not allowed here: {done.stderr.decode()[:200]}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_full_disk_is_named_and_the_last_checkpoint_kept(tmpfs, tmp_path):
    outcome = drive(tmpfs, write_cfg(tmp_path), "fill")
    check(outcome, r"No space left on device; free space there or write to another disk \(runner\.py --log-dir")


def test_file_size_limit_is_named_and_the_last_checkpoint_kept(tmp_path):
    outcome = drive(tmp_path / "runs", write_cfg(tmp_path), "fsize")
    check(outcome, r"File too large \(the file-size limit, ulimit -f, is \d+ bytes\); raise the file-size limit")


def test_runner_exits_with_the_reason_instead_of_a_traceback(tmp_path):
    cfg = write_cfg(tmp_path)
    limit = 64 * 1024

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    result = subprocess.run(
        [sys.executable, str(RELIABILITY_DIR / "train_driver.py"), str(tmp_path / "runs"), str(cfg), "--iterations",
         "1"], capture_output=True, text=True, timeout=300, env=child_environment(), preexec_fn=limited)
    assert result.returncode == 1, describe_exit(result)
    assert "Traceback" not in result.stderr, result.stderr
    assert re.search(rf"^error: cannot write full_0\.pt in .*rsg_anymal.*: File too large \(the file-size limit, "
                     rf"ulimit -f, is {limit} bytes\); .*no checkpoint of this run was written before$",
                     result.stderr.strip(), re.M), result.stderr
    left = list((tmp_path / "runs").rglob("*.pt")) + list((tmp_path / "runs").rglob(".*.tmp"))
    assert not left, f"a partial file was left behind: {left}"
