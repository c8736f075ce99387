"""HeightScan and TerrainCurriculum (env/terrain/*.hpp) through raisimGymTorch.env.bin._toolkit, and the level a
perfect walker reaches under the rough task's commands (benchmarks/curriculum_ceiling.py)."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from raisimGymTorch.env.bin import _toolkit
from raisimGymTorch.env.make import ENVS_DIR, load_cfg

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from curriculum_ceiling import ceilings  # noqa: E402


@pytest.fixture(scope="module")
def rough() -> _toolkit.Terrain:
    return _toolkit.Terrain({"levels": 2, "types": 2, "proportions": {"rough_slope": 1, "stairs_up": 1}}, 5)


def test_default_scan_is_legged_gyms_17_by_11_grid_x_major() -> None:
    scan = _toolkit.HeightScan()
    assert scan.size == 187 and scan.shape == (17, 11)
    points = scan.points
    assert points[0] == pytest.approx([-0.8, -0.5]) and points[1] == pytest.approx([-0.8, -0.4])
    assert points[11] == pytest.approx([-0.7, -0.5]) and points[-1] == pytest.approx([0.8, 0.5])


@pytest.mark.parametrize("yaw", [0.0, 0.7, -2.5])
def test_scan_reads_the_terrain_at_points_turned_with_the_base_yaw(rough: _toolkit.Terrain, yaw: float) -> None:
    scan = _toolkit.HeightScan({"offset": 0.5, "clip": 1.0})
    base = np.array([9.3, 4.1, 1.2])
    local = scan.points
    rotation = np.array([[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]])
    world = base[:2] + local @ rotation.T
    expected = np.clip(base[2] - 0.5 - rough.heights_at(world), -1.0, 1.0)
    assert scan.measure(rough, base, yaw) == pytest.approx(expected, abs=1e-5)


def test_scan_quarter_turn_maps_forward_points_to_world_y() -> None:
    # A single slope-up tile: height rises with the distance from the tile edge.
    terrain = _toolkit.Terrain({"levels": 2, "types": 1, "proportions": {"smooth_slope": 1}}, 0)
    scan = _toolkit.HeightScan({"x": [0.5, 0.5], "y": [0.0, 0.0], "offset": 0.0, "clip": 0.0})
    base = np.array([9.0, 1.0, 2.0])  # near the tile's low y edge, level 1
    ahead_in_y = scan.measure(terrain, base, math.pi / 2)[0]
    assert ahead_in_y == pytest.approx(2.0 - terrain.height_at(9.0, 1.5), abs=1e-6)
    assert scan.measure(terrain, base, 0.0)[0] == pytest.approx(2.0 - terrain.height_at(9.5, 1.0), abs=1e-6)


def test_yaw_of_a_tilted_base_is_its_heading() -> None:
    import mujoco

    quaternion = np.zeros(4)
    mujoco.mju_euler2Quat(quaternion, np.array([0.3, -0.2, 1.1]), "xyz")  # roll, pitch, then yaw 1.1
    heading = np.zeros(9)
    mujoco.mju_quat2Mat(heading, quaternion)
    expected = math.atan2(heading[3], heading[0])  # the body x axis projected on the ground
    assert _toolkit.HeightScan.yaw(quaternion) == pytest.approx(expected, abs=1e-9)
    assert _toolkit.HeightScan.yaw([math.cos(1.2), 0.0, 0.0, math.sin(1.2)]) == pytest.approx(2.4)


def test_scan_writes_into_the_given_array_and_clips() -> None:
    flat = _toolkit.Terrain({"levels": 1, "types": 1, "proportions": {"flat": 1}}, 0)
    scan = _toolkit.HeightScan()
    out = np.full(scan.size, np.nan, dtype=np.float32)
    result = scan.measure(flat, (0.0, 0.0, 0.55), 0.3, out)
    assert result is out or np.shares_memory(result, out)
    assert np.allclose(out, 0.05)
    assert np.allclose(scan.measure(flat, (1e6, -1e6, 5.0), 0.0), 1.0)  # off the terrain: edge height, clipped
    with pytest.raises(ValueError, match="float32 array of 187"):
        scan.measure(flat, (0.0, 0.0, 0.5), 0.0, np.zeros(10, dtype=np.float32))


@pytest.mark.parametrize("cfg,key", [({"spacing": 0.0}, "height_scan.spacing"), ({"x": [1.0, -1.0]}, "height_scan.x"),
                                     ({"clip": -1}, "height_scan.clip"), ({"ofset": 0.5}, "height_scan.ofset")])
def test_bad_scan_cfg_names_the_key(cfg: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        _toolkit.HeightScan(cfg)


def test_curriculum_starts_low_and_spreads_types(rough: _toolkit.Terrain) -> None:
    terrain = _toolkit.Terrain({"levels": 10, "types": 4}, 0)
    envs = [_toolkit.TerrainCurriculum({"max_init_level": 3}, terrain, i, 40, seed=1) for i in range(40)]
    assert {c.level for c in envs} <= {0, 1, 2, 3} and len({c.level for c in envs}) > 1
    assert [c.type for c in envs] == [i // 10 for i in range(40)]


def test_curriculum_can_hold_every_env_on_one_level() -> None:
    terrain = _toolkit.Terrain({"levels": 10, "types": 4}, 0)
    held = {"min_init_level": 7, "max_init_level": 7, "enabled": False}
    envs = [_toolkit.TerrainCurriculum(held, terrain, i, 40, seed=1) for i in range(40)]
    assert {c.level for c in envs} == {7}
    assert envs[0].update(100.0, 1.0) == _toolkit.CurriculumMove.STAY and envs[0].level == 7
    band = [_toolkit.TerrainCurriculum({"min_init_level": 4, "max_init_level": 6}, terrain, i, 40, seed=1)
            for i in range(40)]
    assert {c.level for c in band} == {4, 5, 6}


def test_curriculum_moves_by_legged_gyms_rule() -> None:
    terrain = _toolkit.Terrain({"levels": 4, "types": 1, "tile_size": 8.0}, 0)
    move = _toolkit.CurriculumMove
    c = _toolkit.TerrainCurriculum({"max_init_level": 0}, terrain, 0, 1)
    assert c.level == 0
    assert c.update(4.1, 8.0) == move.UP and c.level == 1  # farther than half a tile (4 m)
    assert c.update(3.9, 7.0) == move.STAY and c.level == 1  # 3.9 >= half of 7
    assert c.update(3.4, 7.0) == move.DOWN and c.level == 0  # less than half the commanded distance
    assert c.update(0.0, 7.0) == move.STAY and c.level == 0  # already at the bottom
    c.level = 3
    assert c.update(5.0, 8.0) == move.RANDOM and 0 <= c.level < 4  # past the top: a random level
    frozen = _toolkit.TerrainCurriculum({"enabled": False}, terrain, 0, 1)
    before = frozen.level
    assert frozen.update(100.0, 1.0) == move.STAY and frozen.level == before


def test_curriculum_is_deterministic_by_seed() -> None:
    terrain = _toolkit.Terrain({"levels": 10, "types": 1}, 0)
    levels = lambda seed: [_toolkit.TerrainCurriculum({}, terrain, i, 64, seed).level for i in range(64)]  # noqa: E731
    assert levels(2) == levels(2) and levels(2) != levels(3)


def test_bad_curriculum_cfg_names_the_key() -> None:
    terrain = _toolkit.Terrain({"levels": 2, "types": 1}, 0)
    with pytest.raises(ValueError, match=r"curriculum\.max_init_level"):
        _toolkit.TerrainCurriculum({"max_init_level": -1}, terrain, 0, 1)
    with pytest.raises(ValueError, match=r"curriculum\.min_init_level.*got 2"):
        _toolkit.TerrainCurriculum({"min_init_level": 2, "max_init_level": 1}, terrain, 0, 1)
    with pytest.raises(ValueError, match="env index 3"):
        _toolkit.TerrainCurriculum({}, terrain, 3, 2)


def test_only_heading_commands_let_a_perfect_walker_climb_to_the_rules_ceiling() -> None:
    # Drawn yaw rates walk circles that end near the spawn point: the curriculum demotes a robot that follows
    # them exactly in about 4 episodes of 10. Steered to a heading, it walks away and climbs close to the rule's own
    # ceiling, a mean level of 6.0 of 0-9 for robots promoted after every episode (the top ones go to a random level).
    cfg = load_cfg(ENVS_DIR / "rsg_anymal_velocity" / "cfg.yaml")
    yaw_rates, heading, always_up = ceilings(cfg, walk_count=300, robots=300, episodes=60).values()
    assert always_up.promoted == 1.0 and always_up.mean_level == pytest.approx(6.0, abs=0.25)
    assert heading.promoted > 0.8 and heading.mean_level > always_up.mean_level - 0.4
    assert yaw_rates.demoted > 0.3 and yaw_rates.mean_level < heading.mean_level - 1.0
