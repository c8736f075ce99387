"""Renders a generated terrain (optionally with ANYmal standing on it) to a PNG.

    python -m raisimGymTorch.terrain_preview --out docs/terrain.png [--cfg cfg.yaml] [--seed S]

The terrain comes from the C++ generator (raisimGymTorch.env.bin._toolkit), added to the model with
Terrain::addTo, so the picture shows exactly what an environment simulates. With --cfg, the
`environment.terrain` block of that file is used, with its seed unless --seed is given; without it, a small grid
with every tile type (seed 1).
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

# One column per tile type, four difficulty levels: small enough to see every step in one picture.
PREVIEW_TERRAIN: dict[str, Any] = {
    "levels": 4,
    "types": 9,
    "border": 2.0,
    "proportions": {"flat": 1, "rough": 1, "smooth_slope": 2, "rough_slope": 1, "stairs_up": 1,
                    "stairs_down": 1, "discrete_obstacles": 1, "stepping_stones": 1},
    "seed": 1,
}
ANYMAL_XML = Path(__file__).resolve().parent / "rsc" / "anymal_c" / "anymal_c.xml"
ANYMAL_NOMINAL = [0, 0.4, -0.8, 0, 0.4, -0.8, 0, -0.4, 0.8, 0, -0.4, 0.8]

SCENE_XML = """
<mujoco model="terrain_preview">
  <visual><global offwidth="1600" offheight="1000"/><quality shadowsize="4096"/></visual>
  <worldbody>
    <light pos="0 0 40" dir="0.3 0.4 -1" directional="true" diffuse="0.8 0.8 0.8" castshadow="true"/>
    <geom name="floor" type="plane" size="0 0 1" contype="0" conaffinity="1"/>
  </worldbody>
</mujoco>
"""


def terrain_block(cfg_path: Path | None) -> dict[str, Any]:
    """The `environment.terrain` block of a cfg file, or the preview grid when no file is given.

    Raises:
        ValueError: the file has no environment.terrain block.
    """
    if cfg_path is None:
        return dict(PREVIEW_TERRAIN)
    from ruamel.yaml import YAML

    cfg = YAML(typ="safe", pure=True).load(cfg_path.read_text())
    try:
        return dict(cfg["environment"]["terrain"])
    except (KeyError, TypeError) as error:
        raise ValueError(f"{cfg_path} has no environment.terrain block") from error


def render(terrain_cfg: dict[str, Any], seed: int | None, out: Path, robot: bool = True, closeup: bool = False,
           width: int = 1600, height: int = 1000) -> np.ndarray:
    """Renders the terrain from above at an angle and writes `out` (PNG).

    Args:
        terrain_cfg: the terrain cfg block.
        seed: terrain seed; None: the block's own `seed` (default 0), as the env uses it.
        out: PNG path.
        robot: stand ANYmal on the stairs-up tile of the top level, for scale.
        closeup: look at the robot from a few metres instead of at the whole grid.
        width, height: image size in pixels.

    Returns:
        The image, (height, width, 3) uint8.
    """
    os.environ.setdefault("MUJOCO_GL", "egl")
    from raisimGymTorch.env.bin import _toolkit

    import imageio.v2 as imageio
    import mujoco

    terrain = _toolkit.Terrain(terrain_cfg, seed, source="terrain_preview")
    xml, is_path = (str(ANYMAL_XML), True) if robot else (SCENE_XML, False)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.mjb"
        path.write_bytes(terrain.compile(xml, is_path))
        model = mujoco.MjModel.from_binary_path(str(path))
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, height)
    data = mujoco.MjData(model)
    size_x = terrain.levels * terrain.tile_size
    size_y = terrain.types * terrain.tile_size
    stairs = [t for t in range(terrain.types) if terrain.tile_type(t) == "stairs_up"]
    x, y, z = terrain.origin(terrain.levels - 1, stairs[0] if stairs else 0)
    if robot:
        data.qpos[:3] = (x, y, z + 0.55)
        data.qpos[7:19] = ANYMAL_NOMINAL
    mujoco.mj_forward(model, data)
    camera = mujoco.MjvCamera()
    camera.lookat[:] = (0.5 * size_x, 0.5 * size_y, 0.0)
    camera.distance = 0.9 * max(size_x, size_y)
    camera.azimuth = 200.0
    camera.elevation = -35.0
    if closeup:
        camera.lookat[:] = (x - 1.5, y, z - 0.6)
        camera.distance = 6.0
        camera.azimuth = 210.0
        camera.elevation = -25.0
    with mujoco.Renderer(model, height=height, width=width) as renderer:
        renderer.update_scene(data, camera)
        image = renderer.render()
    out.parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(out, image)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/terrain.png"))
    parser.add_argument("--cfg", type=Path, default=None, help="cfg.yaml with an environment.terrain block")
    parser.add_argument("--seed", type=int, default=None, help="terrain seed (default: the cfg's, as trained)")
    parser.add_argument("--no-robot", action="store_true", help="terrain only")
    parser.add_argument("--closeup", action="store_true", help="the robot on the stairs from a few metres")
    args = parser.parse_args()
    render(terrain_block(args.cfg), args.seed, args.out, robot=not args.no_robot, closeup=args.closeup)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
