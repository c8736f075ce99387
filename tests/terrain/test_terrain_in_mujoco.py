"""Terrain::addTo on a real mjSpec, simulated by MuJoCo: the compiled heightfield has the generated heights
at the right places, and things dropped on it come to rest on it (stairs included)."""
from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest

from raisimGymTorch.env.bin import _toolkit

ANYMAL_XML = Path(__file__).resolve().parents[2] / "raisimGymTorch" / "rsc" / "anymal_c" / "anymal_c.xml"
NOMINAL = [0, 0.4, -0.8, 0, 0.4, -0.8, 0, -0.4, 0.8, 0, -0.4, 0.8]

DROP_XML = """
<mujoco>
  <option timestep="0.002"/>
  <worldbody>
    <geom name="floor" type="plane" size="0 0 1" friction="0.9"/>
    <body name="ball" pos="0 0 5"><freejoint/><geom type="sphere" size="0.05" mass="1"/></body>
    <body name="box" pos="0 0 5"><freejoint/><geom type="box" size="0.2 0.2 0.1" mass="5"/></body>
  </worldbody>
</mujoco>
"""


@pytest.fixture(scope="module")
def stairs() -> _toolkit.Terrain:
    return _toolkit.Terrain({"levels": 2, "types": 2, "border": 1.0,
                             "proportions": {"stairs_up": 1, "rough_slope": 1}}, 11)


def load(mjb: bytes, tmp_path: Path) -> mujoco.MjModel:
    path = tmp_path / "model.mjb"
    path.write_bytes(mjb)
    return mujoco.MjModel.from_binary_path(str(path))


def test_compiled_heightfield_matches_the_generated_heights(stairs: _toolkit.Terrain, tmp_path: Path) -> None:
    model = load(stairs.compile(DROP_XML), tmp_path)
    assert model.ngeom == 3  # the floor plane was replaced by the terrain
    geom = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "terrain")
    assert model.geom_type[geom] == mujoco.mjtGeom.mjGEOM_HFIELD
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    heights = stairs.heights
    # Rays straight down at random samples (both tile types, the border) hit the generated height.
    rng = np.random.default_rng(0)
    geomid = np.zeros(1, dtype=np.int32)
    for r, c in zip(rng.integers(0, stairs.nrow, 300), rng.integers(0, stairs.ncol, 300)):
        x, y = stairs.x_min + c * stairs.horizontal_scale, stairs.y_min + r * stairs.horizontal_scale
        distance = mujoco.mj_ray(model, data, np.array([x, y, 10.0]), np.array([0.0, 0.0, -1.0]), None, 1, -1, geomid)
        assert geomid[0] == geom
        assert 10.0 - distance == pytest.approx(heights[r, c], abs=2e-4), (r, c)


def test_dropped_ball_and_box_rest_on_the_stairs(stairs: _toolkit.Terrain, tmp_path: Path) -> None:
    model = load(stairs.compile(DROP_XML), tmp_path)
    data = mujoco.MjData(model)
    # Level 1 (0.23 m steps): the ball on the fourth tread (x 1.0-1.2 m into the tile), the box on the platform.
    assert stairs.tile_type(1) == "stairs_up"
    ball_xy = (8.0 + 1.1, 12.0)
    box_xy = (8.0 + 4.0, 12.0)
    data.qpos[0:3] = (*ball_xy, stairs.height_at(*ball_xy) + 0.5)
    data.qpos[7:10] = (*box_xy, stairs.height_at(*box_xy) + 0.5)
    for _ in range(1000):
        mujoco.mj_step(model, data)
    assert stairs.height_at(*ball_xy) == pytest.approx(3 * 0.23, abs=1e-4)
    assert data.qpos[2] - 0.05 == pytest.approx(stairs.height_at(*data.qpos[0:2]), abs=0.005)
    assert data.qpos[9] - 0.1 == pytest.approx(stairs.height_at(*box_xy), abs=0.005)
    assert np.abs(data.qvel).max() < 0.05


def test_anymal_dropped_on_stairs_stands_on_the_steps(tmp_path: Path) -> None:
    # Level 1 of 3: 0.14 m steps, 0.31 m treads (a 24 degree flight).
    stairs = _toolkit.Terrain({"levels": 3, "types": 1, "border": 1.0, "proportions": {"stairs_up": 1}}, 11)
    model = load(stairs.compile(str(ANYMAL_XML), True), tmp_path)
    data = mujoco.MjData(model)
    feet = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, f"{leg}_FOOT") for leg in ("LF", "RF", "LH", "RH")]
    # Facing up the flight, level, on the upper steps. Held only by PD (no policy), the robot slides and
    # tips from many starting points; this one lands on all four feet.
    data.qpos[0:2] = (8.0 + 2.0, 4.0)
    data.qpos[7:19] = NOMINAL
    data.qpos[2] = stairs.height_at(*data.qpos[0:2])
    while True:  # lift until every foot is 3 cm clear of the step below it
        mujoco.mj_kinematics(model, data)
        if min(data.geom_xpos[f][2] - 0.03 - stairs.height_at(*data.geom_xpos[f][:2]) for f in feet) > 0.03:
            break
        data.qpos[2] += 0.01
    lowest = np.inf
    for _ in range(int(2.0 / model.opt.timestep)):
        # PD around the nominal pose, as rsg_anymal does, so that the robot stands rather than folds.
        data.ctrl[:] = 80.0 * (np.array(NOMINAL) - data.qpos[7:19]) - 2.0 * data.qvel[6:18]
        mujoco.mj_step(model, data)
        lowest = min(lowest, min(data.geom_xpos[f][2] - stairs.height_at(*data.geom_xpos[f][:2]) for f in feet))
    # No foot centre ever goes below the surface: a foot resting on a tread keeps its centre ~r = 3 cm above
    # it, one leaning on a step edge more (the heightfield makes a 0.1 m ramp of the edge), one that
    # tunnelled through a step far less. (MuJoCo's contact `dist` is no measure here: against the side of a
    # heightfield prism it reports a few cm.)
    assert lowest > 0.01
    assert data.qpos[2] - stairs.height_at(*data.qpos[0:2]) > 0.3
    touching = {int(g) for c in data.contact[: data.ncon] for g in (c.geom1, c.geom2)}
    assert set(feet) <= touching
    # Front and hind feet stand on different steps: the stairs, not a flat patch, carry the robot.
    foot_heights = sorted(stairs.height_at(*data.geom_xpos[f][:2]) for f in feet)
    assert foot_heights[-1] - foot_heights[0] > 0.1
    assert np.abs(data.qvel).max() < 1.0
