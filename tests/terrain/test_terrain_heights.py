"""The C++ terrain generator (env/terrain/Terrain.hpp) through raisimGymTorch.env.bin._toolkit: each tile
type's heights match its definition, the same seed gives the same terrain, heightAt interpolates bilinearly."""
from __future__ import annotations

import math

import numpy as np
import pytest

from raisimGymTorch.env.bin import _toolkit
from raisimGymTorch.env.make import ENVS_DIR
from raisimGymTorch.terrain_preview import terrain_block

TILE = 8.0
H = 0.1


def one_type(name: str, levels: int = 3, **extra) -> _toolkit.Terrain:
    """A terrain whose every column is tile type `name` (smooth_slope: column 0 down, column 1 up)."""
    types = 2 if name == "smooth_slope" else 1
    return _toolkit.Terrain({"levels": levels, "types": types, "border": 1.0, "proportions": {name: 1.0}, **extra}, 7)


def centre_line(terrain: _toolkit.Terrain, level: int, type_: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample x positions and heights along the tile's centre line y = centre, x across the tile."""
    x = (level + np.arange(0, TILE / H) * H / TILE) * TILE
    y = np.full_like(x, (type_ + 0.5) * TILE)
    return x, terrain.heights_at(np.stack([x, y], axis=1))


def test_layout_follows_proportions_like_legged_gym() -> None:
    terrain = _toolkit.Terrain(None, 0)
    names = [terrain.tile_type(t) for t in range(terrain.types)]
    assert (terrain.levels, terrain.types) == (10, 20)
    # 0.1 smooth slope (half down, half up), 0.1 rough slope, 0.35 stairs up, 0.25 down, 0.2 obstacles.
    assert names == ["slope_down", "slope_up"] + ["rough_slope"] * 2 + ["stairs_up"] * 7 + ["stairs_down"] * 5 + [
        "discrete_obstacles"] * 4
    # the cfg key each column's share comes from: both slope columns are smooth_slope's
    assert [terrain.proportion_key(t) for t in range(terrain.types)] == ["smooth_slope"] * 2 + names[2:]
    with pytest.raises(IndexError, match="type"):
        terrain.proportion_key(terrain.types)
    assert [terrain.difficulty(level) for level in (0, 9)] == [0.0, 1.0]


@pytest.mark.parametrize("level", [1, 2])
def test_slope_faces_have_the_configured_angle(level: int) -> None:
    terrain = one_type("smooth_slope")
    angle = 0.4 * level / 2  # slope: [0, 0.4] rad
    for type_, sign in ((0, -1.0), (1, 1.0)):
        x, heights = centre_line(terrain, level, type_)
        local = x - level * TILE
        face = (local > 0.5) & (local < 2.0)  # on the rising face, away from edge and platform
        gradient = np.polyfit(local[face], heights[face], 1)[0]
        assert math.atan(sign * gradient) == pytest.approx(angle, abs=0.005)
        # The platform in the middle (3 m) is flat at tan(angle) * (8 - 3) / 2.
        platform = np.abs(local - TILE / 2) < 1.4
        assert np.allclose(heights[platform], sign * math.tan(angle) * 2.5, atol=0.005)
    assert terrain.height_at(-0.5, 4.0) == 0.0  # border


@pytest.mark.parametrize("kind,sign", [("stairs_up", 1.0), ("stairs_down", -1.0)])
def test_stairs_have_the_configured_step_height_and_width(kind: str, sign: float) -> None:
    terrain = one_type(kind, levels=2)  # level 1: difficulty 1, step height 0.05 + 0.18 = 0.23 m
    x, heights = centre_line(terrain, 1, 0)
    left = np.round(heights[: len(heights) // 2], 4)  # float32 samples, interpolated at float positions
    levels = np.unique(np.round(sign * left, 4))
    assert np.allclose(np.diff(levels), 0.23, atol=1e-4)
    # legged_gym: rings of 0.31 m until the centre is no larger than the 3 m platform -> 9 steps up.
    assert len(levels) == 10 and levels[-1] == pytest.approx(9 * 0.23, abs=1e-4)
    # Each tread spans 0.31 m, so 3 or 4 samples at 0.1 m.
    runs = np.diff(np.flatnonzero(np.diff(left) != 0))
    assert set(runs.tolist()) <= {3, 4}
    easy = one_type(kind, levels=2)
    _, first = centre_line(easy, 0, 0)
    assert np.allclose(np.diff(np.unique(np.round(sign * first, 4))), 0.05, atol=1e-4)


def test_discrete_obstacles_take_legged_gyms_heights_and_leave_the_platform_free() -> None:
    terrain = one_type("discrete_obstacles", levels=2)
    heights = terrain.heights
    h = 0.25  # obstacle_height [0.05, 0.25] at difficulty 1
    tile = heights[10:10 + 80, 10 + 80:10 + 160]  # level 1 (border 1 m = 10 samples)
    assert set(np.round(np.unique(tile).astype(float), 4)) <= {-h, -h / 2, 0.0, h / 2, h}
    assert len(np.unique(tile)) >= 4
    centre = tile[26:54, 26:54]  # within the 3 m platform
    assert np.all(centre == 0.0)


def test_stepping_stones_and_gaps_fall_to_the_pit_depth() -> None:
    stones = one_type("stepping_stones", levels=2, pit_depth=0.8)
    tile = stones.heights[10:90, 90:170]
    assert set(np.round(np.unique(tile).astype(float), 4)) == {-0.8, 0.0}
    gaps = one_type("gaps", levels=2, pit_depth=0.8)  # gap_size [0, 1] m: 1 m trench around the platform
    x, heights = centre_line(gaps, 1, 0)
    local = x - TILE
    trench = (np.abs(local - 4.0) > 1.55) & (np.abs(local - 4.0) < 2.45)
    assert np.all(heights[trench] == pytest.approx(-0.8))
    assert np.allclose(heights[np.abs(local - 4.0) < 1.45], 0.0, atol=1e-6)
    assert np.allclose(heights[np.abs(local - 4.0) > 2.55], 0.0, atol=1e-6)
    _, easy = centre_line(gaps, 0, 0)
    assert np.allclose(easy, 0.0, atol=1e-6)  # no gap at difficulty 0


def test_rough_noise_stays_within_its_amplitude_on_the_vertical_grid() -> None:
    terrain = one_type("rough", roughness=0.05)
    tile = terrain.heights[10:90, 10:90]
    assert tile.min() >= -0.05 - 1e-6 and tile.max() <= 0.05 + 1e-6
    assert tile.std() > 0.01
    steps = tile / 0.005
    assert np.allclose(steps, np.round(steps), atol=1e-3)  # vertical_scale quantisation


def test_same_seed_same_terrain_other_seed_differs() -> None:
    cfg = {"levels": 3, "types": 5, "proportions": {"rough": 1, "discrete_obstacles": 1, "stairs_up": 1}}
    a = _toolkit.Terrain(cfg, 3).heights
    b = _toolkit.Terrain(cfg, 3).heights
    c = _toolkit.Terrain(cfg, 4).heights
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_height_at_interpolates_bilinearly_and_clamps_outside() -> None:
    terrain = one_type("rough")
    heights = terrain.heights.astype(np.float64)
    x0, y0 = terrain.x_min, terrain.y_min
    # Sample (r, c) sits at (x0 + c h, y0 + r h).
    for r, c, tx, ty in [(20, 30, 0.25, 0.5), (41, 17, 0.9, 0.1), (55, 60, 0.0, 0.0)]:
        x, y = x0 + (c + tx) * H, y0 + (r + ty) * H
        expected = ((1 - ty) * ((1 - tx) * heights[r, c] + tx * heights[r, c + 1])
                    + ty * ((1 - tx) * heights[r + 1, c] + tx * heights[r + 1, c + 1]))
        assert terrain.height_at(x, y) == pytest.approx(expected, abs=1e-6)
    # Beyond the grid: the nearest edge sample, never an out-of-bounds read.
    assert terrain.height_at(-1e6, -1e6) == pytest.approx(heights[0, 0])
    assert terrain.height_at(1e9, 1e9) == pytest.approx(heights[-1, -1])
    assert math.isfinite(terrain.height_at(float("nan"), float("inf")))


def test_origins_sit_at_tile_centres_on_the_ground() -> None:
    terrain = one_type("stairs_up", levels=2)
    x, y, z = terrain.origin(1, 0)
    assert (x, y) == (12.0, 4.0)
    assert z == pytest.approx(9 * 0.23, abs=1e-4)
    with pytest.raises(IndexError, match="level 2"):
        terrain.origin(2, 0)


@pytest.mark.parametrize(
    "cfg,key",
    [
        ({"tile_size": -8.0}, "terrain.tile_size"),
        ({"horizontal_scale": 0.0}, "terrain.horizontal_scale"),
        ({"vertical_scale": -1}, "terrain.vertical_scale"),
        ({"levels": 0}, "terrain.levels"),
        ({"proportions": {"stairs_up": 0.0}}, "terrain.proportions"),
        ({"proportions": {"stairz": 1.0}}, "terrain.proportions.stairz"),
        ({"horizontal_scale": 0.001}, "terrain.horizontal_scale"),  # 10^9 samples: more than memory allows
        ({"slope": [0.0]}, "terrain.slope"),
        ({"tile_sise": 8.0}, "terrain.tile_sise"),
        ({"platform_size": 9.0}, "terrain.platform_size"),
    ],
)
def test_bad_cfg_names_the_key_and_file(cfg: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")) as error:
        _toolkit.Terrain(cfg, 0, source="my_cfg.yaml")
    assert "my_cfg.yaml" in str(error.value)


def test_an_envs_terrain_block_builds_its_terrain_from_the_blocks_seed_unless_one_is_given() -> None:
    # cfg.yaml's `terrain` block carries the seed the env builds its terrain from (as the env reads it).
    cfg = {"levels": 3, "types": 5, "proportions": {"rough": 1, "discrete_obstacles": 1, "stairs_up": 1}}
    from_block = _toolkit.Terrain({**cfg, "seed": 4}).heights
    assert np.array_equal(from_block, _toolkit.Terrain(cfg, 4).heights)
    assert np.array_equal(_toolkit.Terrain(cfg).heights, _toolkit.Terrain(cfg, 0).heights)  # the env's default
    assert np.array_equal(_toolkit.Terrain({**cfg, "seed": 4}, 3).heights, _toolkit.Terrain(cfg, 3).heights)
    with pytest.raises(ValueError, match="terrain.seed"):
        _toolkit.Terrain({**cfg, "seed": "four"})
    # What terrain_preview --cfg hands over: the shipped rough cfg's block as it is, seed included.
    shipped = terrain_block(ENVS_DIR / "rsg_anymal_velocity" / "cfg.yaml")
    assert "seed" in shipped and _toolkit.Terrain(shipped).levels == shipped["levels"]
