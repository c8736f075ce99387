"""Which way the terrain pushes: contact normals of ANYmal's collision geoms sunk into level terrain.

    python benchmarks/terrain_contact_normals.py            # 300 random poses per geom and depth range
    python benchmarks/terrain_contact_normals.py --quick    # 20 poses

Level ground can only push straight up. Each distinct collision geom of raisimGymTorch/rsc/anymal_c/anymal_c.xml
(foot sphere, shank capsule, thigh box, hip drive cylinder, base box) is placed at random orientations with its
lowest point sunk 0-5 mm (resting contact) and 0-30 mm (a hard landing) below a level heightfield, once on a
heightfield named like Terrain's (the contacts of terrain/HeightfieldContacts.hpp) and once on a plain one
(MuJoCo's own: GJK/EPA against each triangular prism). A contact whose normal is tilted from vertical pushes the
body sideways (or, beyond 90 degrees, into the ground). Writes benchmarks/results/terrain_contact_normals[_quick].md.
No timing: the figures do not depend on the machine.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import RESULTS_DIR, markdown_table, write_result  # noqa: E402
from raisimGymTorch.env.bin import _toolkit  # noqa: E402

MODEL = ROOT / "raisimGymTorch" / "rsc" / "anymal_c" / "anymal_c.xml"
TILTED = 5.0  # degrees from vertical
SAMPLES = 21  # heightfield samples per side, 0.1 m apart as on the terrain
FIELD_HALF = 1.0  # m
DEPTHS = {"0-5 mm (resting)": 0.005, "0-30 mm (hard landing)": 0.03}
NAMES = {int(mujoco.mjtGeom.mjGEOM_SPHERE): "sphere", int(mujoco.mjtGeom.mjGEOM_CAPSULE): "capsule",
         int(mujoco.mjtGeom.mjGEOM_BOX): "box", int(mujoco.mjtGeom.mjGEOM_CYLINDER): "cylinder"}
XML_SIZE = {"sphere": 1, "capsule": 2, "box": 3, "cylinder": 2}
# What each geom is, by the body carrying it (its leg prefix dropped) and its type.
ROLES = {("SHANK", "sphere"): "foot", ("SHANK", "capsule"): "shank", ("THIGH", "box"): "thigh",
         ("THIGH", "cylinder"): "knee drive", ("HIP", "cylinder"): "hip drive", ("base", "box"): "base"}


@dataclass
class Geom:
    role: str
    kind: str
    size: np.ndarray

    @property
    def label(self) -> str:
        return f"{self.role} ({self.kind} {' '.join(f'{s:g}' for s in self.size)})"

    def xml(self) -> str:
        return f'<geom type="{self.kind}" size="{" ".join(f"{s:g}" for s in self.size)}"/>'

    def half_height(self, rotation: np.ndarray) -> float:
        """Half the extent along world z of the geom turned by `rotation` (columns: its axes)."""
        axial = abs(rotation[2, 2])
        if self.kind == "sphere":
            return float(self.size[0])
        if self.kind == "capsule":
            return float(self.size[0] + axial * self.size[1])
        if self.kind == "cylinder":
            return float(np.sqrt(max(0.0, 1.0 - axial ** 2)) * self.size[0] + axial * self.size[1])
        return float(np.abs(rotation[2]) @ self.size)


@dataclass
class Normals:
    poses: int = 0
    touching: int = 0
    contacts: int = 0
    tilted: int = 0
    worst: float = 0.0

    def cells(self) -> list[str]:
        return [f"{self.touching}", f"{self.contacts / max(self.touching, 1):.2f}",
                f"{100 * self.tilted / max(self.contacts, 1):.0f}%", f"{self.worst:.1f}"]


def anymal_geoms() -> list[Geom]:
    """Each distinct collision geom of one leg and the base of the ANYmal model."""
    model = mujoco.MjModel.from_xml_path(str(MODEL))
    found: dict[tuple, Geom] = {}
    for g in range(model.ngeom):
        if model.geom_contype[g] == 0 or int(model.geom_type[g]) not in NAMES:
            continue
        kind = NAMES[int(model.geom_type[g])]
        size = np.round(model.geom_size[g][: XML_SIZE[kind]], 6)
        part = model.body(model.geom_bodyid[g]).name.split("_")[-1]
        found.setdefault((part, kind, *size), Geom(ROLES.get((part, kind), part), kind, size))
    return list(found.values())


def level_field(name: str, geom: Geom) -> mujoco.MjModel:
    """A level heightfield (its surface at z = 0) named `name`, and `geom` on a free body."""
    elevation = " ".join(["0"] * SAMPLES * SAMPLES)
    return mujoco.MjModel.from_xml_string(f"""
<mujoco>
  <asset><hfield name="{name}" nrow="{SAMPLES}" ncol="{SAMPLES}" size="{FIELD_HALF} {FIELD_HALF} 0.1 0.1"
                 elevation="{elevation}"/></asset>
  <worldbody>
    <geom type="hfield" hfield="{name}"/>
    <body><freejoint/>{geom.xml()}</body>
  </worldbody>
</mujoco>""")


def random_rotation(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    quaternion = rng.normal(size=4)
    quaternion /= np.linalg.norm(quaternion)
    rotation = np.zeros(9)
    mujoco.mju_quat2Mat(rotation, quaternion)
    return quaternion, rotation.reshape(3, 3)


def measure(name: str, geom: Geom, poses: int, depth: float, seed: int) -> Normals:
    model = level_field(name, geom)
    data = mujoco.MjData(model)
    rng = np.random.default_rng(seed)
    normals = Normals()
    for _ in range(poses):
        quaternion, rotation = random_rotation(rng)
        sunk = rng.uniform(0.0, depth)
        # Anywhere over a cell, far enough from the field's edge that the geom stays over it.
        data.qpos[:2] = rng.uniform(-0.05, 0.05, 2)
        data.qpos[2] = geom.half_height(rotation) - sunk
        data.qpos[3:7] = quaternion
        mujoco.mj_forward(model, data)
        normals.poses += 1
        normals.touching += data.ncon > 0
        for contact in data.contact[: data.ncon]:
            tilt = float(np.degrees(np.arccos(np.clip(contact.frame[2], -1.0, 1.0))))
            normals.contacts += 1
            normals.tilted += tilt > TILTED
            normals.worst = max(normals.worst, tilt)
    return normals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 poses per geom and depth range")
    parser.add_argument("--poses", type=int, default=300, help="random poses per geom and depth range")
    args = parser.parse_args(argv)
    poses = 20 if args.quick else args.poses
    # Terrain::addTo installs the terrain's contact functions (once per process).
    _toolkit.Terrain({"levels": 1, "types": 1}, 0).compile("<mujoco><worldbody/></mujoco>")

    header = ["geom", "depth", *(f"{whose}: {column}" for whose in ("ours", "MuJoCo's") for column in
                                 ("poses touching", "contacts per pose", f"tilted > {TILTED:g}°", "worst tilt (°)"))]
    rows = []
    for index, geom in enumerate(anymal_geoms()):
        for depth_label, depth in DEPTHS.items():
            # The same poses for both: the same seed.
            ours = measure("terrain_level", geom, poses, depth, seed=index)
            theirs = measure("level", geom, poses, depth, seed=index)
            rows.append([geom.label, depth_label, *ours.cells(), *theirs.cells()])
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)

    text = "\n".join([
        "# Contact normals on level terrain: ours (terrain/HeightfieldContacts.hpp) and MuJoCo's", "",
        f"`python benchmarks/terrain_contact_normals.py{' --quick' if args.quick else ''}`: {poses} random "
        f"orientations per geom and depth, the geom's lowest point sunk uniformly within the depth below a level "
        f"heightfield ({SAMPLES} x {SAMPLES} samples, {2 * FIELD_HALF / (SAMPLES - 1):g} m apart). Contacts per pose "
        "are over the poses that touch; a level surface can only push straight up, so every tilted normal is a "
        "sideways (or, beyond 90°, downward) push that the ground does not give. Geom sizes from "
        "raisimGymTorch/rsc/anymal_c/anymal_c.xml (MuJoCo's half sizes, m).", "",
        f"MuJoCo {mujoco.__version__}; no timing, so the machine does not matter.", "",
        markdown_table(header, rows), ""])
    write_result(text, RESULTS_DIR / f"terrain_contact_normals{'_quick' if args.quick else ''}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
