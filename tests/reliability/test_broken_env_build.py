"""Issue 17, item 8: one broken env folder does not block the others, and the build says which one it is.

Builds run in a copy of the repository (conftest.copy_repository), so the checkout is never touched, with hard
time limits so that a hung compiler fails the test.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_repository

pytestmark = pytest.mark.slow

BUILD_TIMEOUT = 900  # seconds: one env module compiles in a minute or two on a loaded 2-core machine


def build(repo: Path, envs: str | None) -> subprocess.CompletedProcess:
    environment = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL="1")
    environment.pop("RSG_ENVS", None)
    if envs is not None:
        environment["RSG_ENVS"] = envs
    try:
        return subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=repo,
                              env=environment, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the build of {envs} did not finish within {BUILD_TIMEOUT} s")


def add_env(repo: Path, name: str, broken: bool) -> None:
    envs = repo / "raisimGymTorch" / "env" / "envs"
    shutil.copytree(envs / "rsg_ant", envs / name)
    if broken:
        header = envs / name / "Environment.hpp"
        header.write_text(header.read_text() + "\nthis_is_not_cpp;\n")


def test_a_broken_env_is_named_and_the_others_are_built(tmp_path):
    repo = copy_repository(tmp_path / "repo")
    # Named to come first, so that a build that stops at the first failure never reaches rsg_ant.
    add_env(repo, "rsg_aaa_broken", broken=True)
    result = build(repo, "rsg_aaa_broken,rsg_ant")
    assert result.returncode != 0
    bin_dir = repo / "raisimGymTorch" / "env" / "bin"
    assert list(bin_dir.glob("rsg_ant.*.so")), f"the good env was not built:\n{result.stderr[-3000:]}"
    assert not list(bin_dir.glob("rsg_aaa_broken.*.so"))
    summary = result.stderr[result.stderr.rfind("raisimGymTorch build:"):]
    assert "1 of 2 modules failed to compile (built: rsg_ant)" in summary, result.stderr[-3000:]
    broken_line = next(line for line in summary.splitlines() if line.strip().startswith("rsg_aaa_broken:"))
    assert "Environment.hpp" in broken_line and "error" in broken_line, broken_line


@pytest.mark.parametrize("selected", [None, "my-env"])
def test_an_env_folder_that_is_no_c_identifier_is_refused_by_name_before_compiling(tmp_path, selected):
    repo = copy_repository(tmp_path / "repo")
    add_env(repo, "my-env", broken=False)
    result = build(repo, selected)
    assert result.returncode != 0
    assert "env folder names must be C identifiers" in result.stderr and "'my-env'" in result.stderr, result.stderr
    assert "'my_env'" in result.stderr, "suggests a valid name"
    assert "Building CXX" not in result.stdout and not (repo / "build").exists(), "nothing was compiled"
