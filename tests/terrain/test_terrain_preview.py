"""terrain_preview draws the terrain: the picture shows the heightfield's relief, not a blank frame."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_preview_renders_the_terrain(tmp_path: Path) -> None:
    # A child process: MuJoCo fixes its OpenGL backend (MUJOCO_GL) at import, and this process imported it.
    out = tmp_path / "terrain.png"
    code = ("from pathlib import Path; from raisimGymTorch.terrain_preview import render, PREVIEW_TERRAIN; "
            f"render(PREVIEW_TERRAIN, 1, Path({str(out)!r}), width=320, height=200)")
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"), "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    if result.returncode != 0 and ("gl" in result.stderr.lower() or "display" in result.stderr.lower()):
        pytest.skip(f"no offscreen OpenGL here: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, result.stderr
    image = imageio.imread(out)
    assert image.shape == (200, 320, 3)
    # The lower half looks at the terrain: lit faces of slopes and steps differ in shade.
    ground = image[100:].astype(float).mean(axis=2)
    assert ground.std() > 5.0
