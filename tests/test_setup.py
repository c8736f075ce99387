"""setup.py's own errors: what a fresh virtual environment runs into before anything compiles."""

import os
import subprocess
import sys

from conftest import REPO_ROOT


def test_an_old_setuptools_is_named_with_the_fix(tmp_path):
    # A new venv of Python 3.11 brings setuptools 65.5, which cannot read pyproject.toml's license = "MIT".
    fake = tmp_path / "setuptools"
    fake.mkdir()
    (fake / "__init__.py").write_text('__version__ = "65.5.0"\n')
    done = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=REPO_ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)}, timeout=60)
    assert done.returncode == 1
    assert "setuptools 65.5.0 is too old; pip install 'setuptools>=77'" in done.stderr


def test_a_missing_pybind11_is_named_with_the_fix(tmp_path):
    # A venv without the test extra has no pybind11; an empty module of that name stands in for its absence.
    (tmp_path / "pybind11.py").write_text("")
    done = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=REPO_ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(tmp_path), "RSG_ENVS": "_toolkit"},
                          timeout=120)
    assert done.returncode == 1
    assert "the Python package 'pybind11' is missing; pip install pybind11" in done.stderr
