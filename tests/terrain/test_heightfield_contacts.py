"""The terrain's own sphere contacts (terrain/HeightfieldContacts.hpp) against MuJoCo's: the same deepest contact
on the same surface, fewer duplicates, and a clear push out of the ground; other geoms as MuJoCo has them."""
from __future__ import annotations

import mujoco
import numpy as np
import pytest

from raisimGymTorch.env.bin import _toolkit

ROWS = 9


@pytest.fixture(scope="module", autouse=True)
def installed() -> None:
    # Terrain::addTo installs the contact functions (once per process).
    _toolkit.Terrain({"levels": 1, "types": 1}, 0).compile("<mujoco><worldbody/></mujoco>")


def heightfield_model(name: str, geom: str, heights: np.ndarray) -> mujoco.MjModel:
    """A 0.8 m heightfield of ROWS x ROWS `heights` (samples 0.1 m apart) and a free `geom`; `name` decides whose
    contacts it gets."""
    elevation = " ".join(f"{h:.4f}" for h in heights.ravel())
    return mujoco.MjModel.from_xml_string(f"""
<mujoco>
  <asset><hfield name="{name}" nrow="{ROWS}" ncol="{ROWS}" size="0.4 0.4 {heights.max()} 0.1"
                 elevation="{elevation}"/></asset>
  <worldbody>
    <geom type="hfield" hfield="{name}"/>
    <body name="thing"><freejoint/>{geom}</body>
  </worldbody>
</mujoco>""")


def field_model(name: str, geom: str, bumps: float = 0.12) -> mujoco.MjModel:
    """Bumps up to `bumps` and a 0.15 m step from x = 0.1 m on."""
    heights = np.random.default_rng(1).uniform(0.0, bumps, (ROWS, ROWS))
    heights[:, 5:] += 0.15
    return heightfield_model(name, geom, heights)


def surface_height(model: mujoco.MjModel, data: mujoco.MjData, x: float, y: float) -> float:
    mujoco.mj_forward(model, data)
    geomid = np.zeros(1, dtype=np.int32)
    return 5.0 - mujoco.mj_ray(model, data, np.array([x, y, 5.0]), np.array([0.0, 0.0, -1.0]), None, 1,
                               model.body("thing").id, geomid)


def contacts_at(model: mujoco.MjModel, data: mujoco.MjData, position: np.ndarray, quaternion=(1, 0, 0, 0)) -> list:
    data.qpos[:3], data.qpos[3:7] = position, quaternion
    mujoco.mj_forward(model, data)
    return [(c.dist, np.array(c.frame[:3]), np.array(c.frame[3:6])) for c in data.contact[: data.ncon]]


SPHERE = '<geom type="sphere" size="0.03"/>'


def random_quaternion(rng: np.random.Generator) -> np.ndarray:
    quaternion = rng.normal(size=4)
    return quaternion / np.linalg.norm(quaternion)


def test_a_sphere_above_the_ground_gets_mujocos_deepest_contact_and_fewer_duplicates() -> None:
    ours, theirs = field_model("terrain_bumps", SPHERE), field_model("bumps", SPHERE)
    our_data, their_data = mujoco.MjData(ours), mujoco.MjData(theirs)
    rng = np.random.default_rng(0)
    compared, our_count, their_count = 0, 0, 0
    for _ in range(1500):
        x, y = rng.uniform(-0.33, 0.33, 2)
        # From resting on the surface (centre 3 cm up) to touching it with the centre on it.
        position = np.array([x, y, surface_height(theirs, their_data, x, y) + rng.uniform(0.0, 0.05)])
        mine, mujocos = contacts_at(ours, our_data, position), contacts_at(theirs, their_data, position)
        assert bool(mine) == bool(mujocos), position
        if not mine:
            continue
        compared += 1
        our_count, their_count = our_count + len(mine), their_count + len(mujocos)
        deepest, their_deepest = min(mine, key=lambda c: c[0]), min(mujocos, key=lambda c: c[0])
        assert deepest[0] == pytest.approx(their_deepest[0], abs=1e-6)
        assert deepest[1] @ their_deepest[1] > 1 - 1e-6
        for _, normal, tangent in mine:  # a proper contact frame
            assert abs(np.linalg.norm(normal) - 1) < 1e-9 and abs(normal @ tangent) < 1e-9
    assert compared > 1000
    assert our_count < 0.85 * their_count, (our_count, their_count)


def test_a_sphere_inside_the_ground_is_pushed_out_through_the_surface_above_it() -> None:
    model = field_model("terrain_bumps", SPHERE)
    data = mujoco.MjData(model)
    rng = np.random.default_rng(2)
    for _ in range(300):
        x, y = rng.uniform(-0.33, 0.33, 2)
        depth = rng.uniform(0.001, 0.05)
        contacts = contacts_at(model, data, np.array([x, y, surface_height(model, data, x, y) - depth]))
        assert len(contacts) == 1
        dist, normal, _ = contacts[0]
        assert normal[2] > 0  # out of the ground, never further into it
        assert dist < -0.03 and -dist - 0.03 <= depth + 1e-9  # deeper than the radius, at most by the depth


def test_a_sphere_sunk_into_flat_ground_gets_one_contact_straight_up() -> None:
    # A landing foot sinks a few cm. The next cells' edges are then within its radius too, but no contact pushes
    # sideways on flat ground: such kicks drove ANYmal's joints past 60 rad/s on the terrain, never on the plane.
    model = field_model("terrain_flat", SPHERE, bumps=0.0)
    data = mujoco.MjData(model)
    rng = np.random.default_rng(4)
    for _ in range(500):
        x, y = rng.uniform(-0.33, -0.05), rng.uniform(-0.33, 0.33)
        height = rng.uniform(0.0, 0.029)
        contacts = contacts_at(model, data, np.array([x, y, height]))
        assert len(contacts) == 1, (x, y, height, [tuple(np.round(normal, 3)) for _, normal, _ in contacts])
        dist, normal, _ = contacts[0]
        np.testing.assert_allclose(normal, [0, 0, 1], atol=1e-9)
        assert dist == pytest.approx(height - 0.03, abs=1e-9)


def test_an_ellipsoid_gets_mujocos_contacts() -> None:
    geom = '<geom type="ellipsoid" size="0.05 0.04 0.03"/>'
    ours, theirs = field_model("terrain_bumps", geom), field_model("bumps", geom)
    our_data, their_data = mujoco.MjData(ours), mujoco.MjData(theirs)
    rng = np.random.default_rng(3)
    touching = 0
    for _ in range(300):
        x, y = rng.uniform(-0.3, 0.3, 2)
        quaternion = random_quaternion(rng)
        position = np.array([x, y, surface_height(theirs, their_data, x, y) + rng.uniform(-0.02, 0.3)])
        mine = contacts_at(ours, our_data, position, quaternion)
        mujocos = contacts_at(theirs, their_data, position, quaternion)
        assert len(mine) == len(mujocos)
        for a, b in zip(mine, mujocos):
            assert a[0] == b[0] and np.array_equal(a[1], b[1])
        touching += bool(mine)
    assert 30 < touching < 270  # both kinds of case were compared


def test_a_sphere_in_a_steps_inner_corner_is_held_by_the_tread_and_the_riser() -> None:
    # Without bumps the step is a 0.15 m rise over the 0.1 m cell from x = 0 to 0.1: a 56 degree ramp.
    # (MuJoCo scales the elevation to [0, 1] times size[2], the highest sample here.)
    model = field_model("terrain_step", SPHERE, bumps=0.0)
    data = mujoco.MjData(model)
    contacts = contacts_at(model, data, np.array([-0.02, 0.0, 0.02]))
    normals = sorted((tuple(np.round(normal, 3)) for _, normal, _ in contacts), key=lambda n: n[0])
    assert len(normals) == 2, normals
    riser, tread = np.array(normals[0]), np.array(normals[1])
    np.testing.assert_allclose(tread, [0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(riser, [-0.15, 0, 0.1] / np.hypot(0.15, 0.1), atol=1e-3)


CAPSULE = '<geom type="capsule" size="0.0175 0.06"/>'


def test_a_capsule_sunk_into_flat_ground_is_pushed_straight_up_lying_on_both_ends() -> None:
    model = field_model("terrain_flat", CAPSULE, bumps=0.0)
    data = mujoco.MjData(model)
    rng = np.random.default_rng(5)
    for _ in range(300):
        x, y = rng.uniform(-0.25, -0.1), rng.uniform(-0.25, 0.25)
        contacts = contacts_at(model, data, np.array([x, y, rng.uniform(0.0, 0.07)]), random_quaternion(rng))
        for _, normal, _ in contacts:  # MuJoCo's own function tilts these up to 90 degrees
            np.testing.assert_allclose(normal, [0, 0, 1], atol=1e-9)
    # Lying flat, sunk 5 mm: one contact under each end (0.06 m from the centre), none between.
    contacts = contacts_at(model, data, np.array([-0.2, 0.0, 0.0125]), (np.sqrt(0.5), 0, np.sqrt(0.5), 0))
    assert len(contacts) == 2
    assert [dist for dist, _, _ in contacts] == pytest.approx([-0.005, -0.005], abs=1e-9)
    assert sorted(data.contact[k].pos[0] for k in range(data.ncon)) == pytest.approx([-0.26, -0.14], abs=1e-9)


def test_a_capsule_across_a_ridge_rests_on_the_ridge() -> None:
    # A roof along y: 0.1 m high at x = 0, falling 0.5 m per m to both sides.
    heights = np.tile(0.1 - 0.5 * np.abs(np.linspace(-0.4, 0.4, ROWS)), (ROWS, 1)) + 0.2
    model = heightfield_model("terrain_roof", CAPSULE, heights)
    data = mujoco.MjData(model)
    # Along x, 5 mm into the ridge; its ends are 2.5 cm above the slopes.
    contacts = contacts_at(model, data, np.array([0.0, 0.05, 0.3 + 0.0175 - 0.005]), (np.sqrt(0.5), 0, np.sqrt(0.5), 0))
    assert len(contacts) == 1
    dist, normal, _ = contacts[0]
    assert dist == pytest.approx(-0.005, abs=1e-9)
    np.testing.assert_allclose(normal, [0, 0, 1], atol=1e-9)


def test_a_capsules_deepest_contact_is_the_deepest_of_the_spheres_along_its_axis() -> None:
    capsule = field_model("terrain_bumps", CAPSULE)
    sphere = field_model("terrain_bumps", '<geom type="sphere" size="0.0175"/>')
    capsule_data, sphere_data = mujoco.MjData(capsule), mujoco.MjData(sphere)
    rng = np.random.default_rng(6)
    compared = 0
    for _ in range(250):
        x, y = rng.uniform(-0.25, 0.25, 2)
        quaternion = random_quaternion(rng)
        centre = np.array([x, y, surface_height(capsule, capsule_data, x, y) + rng.uniform(0.02, 0.07)])
        axis = np.zeros(9)
        mujoco.mju_quat2Mat(axis, quaternion)
        spheres = [contacts_at(sphere, sphere_data, centre + s * axis[2::3]) for s in np.linspace(-0.06, 0.06, 121)]
        depths = [min(dist for dist, _, _ in found) for found in spheres if found]
        if not depths or min(depths) < -0.0175:  # no contact, or the axis under the surface: nothing to sample
            continue
        ours = contacts_at(capsule, capsule_data, centre, quaternion)
        compared += 1
        deepest = min(dist for dist, _, _ in ours)
        # Exact where the samples are not: between two samples the axis can only come closer.
        assert min(depths) - 2e-3 <= deepest <= min(depths) + 1e-9
    assert compared > 60, compared


def test_the_terrain_model_skips_mujocos_midphase(tmp_path) -> None:
    # Every body's boxes overlap the field's one box, so the midphase only costs time (terrain_cost.md).
    path = tmp_path / "model.mjb"
    path.write_bytes(_toolkit.Terrain({"levels": 1, "types": 1}, 0).compile("<mujoco><worldbody/></mujoco>"))
    assert mujoco.MjModel.from_binary_path(str(path)).opt.disableflags & mujoco.mjtDisableBit.mjDSBL_MIDPHASE


BOX = '<geom type="box" size="0.05 0.04 0.03"/>'
CYLINDER = '<geom type="cylinder" size="0.05 0.07"/>'
LYING_ALONG_X = (np.sqrt(0.5), 0, np.sqrt(0.5), 0)  # the geom's z axis turned onto the world's x axis


def lowest_offset(model: mujoco.MjModel, data: mujoco.MjData, quaternion) -> float:
    """How far the geom's lowest point is below its centre, turned by `quaternion`."""
    rotation = np.zeros(9)
    mujoco.mju_quat2Mat(rotation, np.asarray(quaternion, dtype=float))
    rotation = rotation.reshape(3, 3)
    size = model.geom_size[1]
    if model.geom_type[1] == mujoco.mjtGeom.mjGEOM_BOX:
        return float(np.abs(rotation[2]) @ size)
    axial = abs(rotation[2, 2])
    return float(np.sqrt(max(0.0, 1.0 - axial ** 2)) * size[0] + axial * size[1])


@pytest.mark.parametrize("geom", [BOX, CYLINDER])
def test_boxes_and_cylinders_sunk_into_flat_ground_are_pushed_straight_up(geom: str) -> None:
    # MuJoCo's own function tilted 30-40% of their resting contacts, up to 90 degrees and more (a thigh on level
    # ground pushed sideways, or into it): benchmarks/results/terrain_contact_normals.md.
    model = field_model("terrain_flat", geom, bumps=0.0)
    data = mujoco.MjData(model)
    rng = np.random.default_rng(7)
    for _ in range(300):
        quaternion = random_quaternion(rng)
        depth = rng.uniform(0.0005, 0.03)
        centre = np.array([rng.uniform(-0.25, -0.15), rng.uniform(-0.2, 0.2), lowest_offset(model, data, quaternion)
                           - depth])
        contacts = contacts_at(model, data, centre, quaternion)
        assert contacts, (centre, quaternion)
        for _, normal, _ in contacts:
            np.testing.assert_allclose(normal, [0, 0, 1], atol=1e-9)
        # The lowest point is the deepest contact, and it is exact.
        assert min(dist for dist, _, _ in contacts) == pytest.approx(-depth, abs=1e-9)


def test_a_box_lying_flat_rests_on_its_four_bottom_corners() -> None:
    model = field_model("terrain_flat", BOX, bumps=0.0)
    data = mujoco.MjData(model)
    contacts = contacts_at(model, data, np.array([-0.2, 0.0, 0.025]))
    assert [dist for dist, _, _ in contacts] == pytest.approx([-0.005] * 4, abs=1e-9)
    corners = sorted((round(data.contact[k].pos[0], 9), round(data.contact[k].pos[1], 9)) for k in range(data.ncon))
    assert corners == pytest.approx([(-0.25, -0.04), (-0.25, 0.04), (-0.15, -0.04), (-0.15, 0.04)], abs=1e-9)


def test_a_cylinder_rests_on_both_rims_lying_and_on_four_rim_points_standing() -> None:
    model = field_model("terrain_flat", CYLINDER, bumps=0.0)
    data = mujoco.MjData(model)
    lying = contacts_at(model, data, np.array([-0.2, 0.0, 0.045]), LYING_ALONG_X)
    assert [dist for dist, _, _ in lying] == pytest.approx([-0.005] * 2, abs=1e-9)
    assert sorted(data.contact[k].pos[0] for k in range(data.ncon)) == pytest.approx([-0.27, -0.13], abs=1e-9)
    standing = contacts_at(model, data, np.array([-0.2, 0.0, 0.065]))
    assert [dist for dist, _, _ in standing] == pytest.approx([-0.005] * 4, abs=1e-9)
    radii = [np.hypot(data.contact[k].pos[0] + 0.2, data.contact[k].pos[1]) for k in range(data.ncon)]
    assert radii == pytest.approx([0.05] * 4, abs=1e-9)


def test_a_box_across_a_ridge_rests_on_the_ridge() -> None:
    # The roof of the capsule's test: along y, 0.1 m high at x = 0, falling 0.5 m per m to both sides.
    heights = np.tile(0.1 - 0.5 * np.abs(np.linspace(-0.4, 0.4, ROWS)), (ROWS, 1)) + 0.2
    model = heightfield_model("terrain_roof", BOX, heights)
    data = mujoco.MjData(model)
    # Lying flat across it, 5 mm into the ridge; its corners are 2 cm above the slopes.
    contacts = contacts_at(model, data, np.array([0.0, 0.05, 0.3 + 0.03 - 0.005]))
    assert len(contacts) == 1
    dist, normal, _ = contacts[0]
    assert dist == pytest.approx(-0.005, abs=1e-9)
    np.testing.assert_allclose(normal, [0, 0, 1], atol=1e-9)  # the slope's triangle would push it down the roof


def depth_below_surface(model: mujoco.MjModel, point: np.ndarray) -> float:
    """How far `point` is below the plane of the surface triangle above or below it (negative: above)."""
    heights = model.hfield_data.reshape(ROWS, ROWS) * model.hfield_size[0][2]
    u, v = (point[0] + 0.4) / 0.1, (point[1] + 0.4) / 0.1
    c, r = min(int(u), ROWS - 2), min(int(v), ROWS - 2)

    def vertex(row: int, column: int) -> np.ndarray:
        return np.array([column * 0.1 - 0.4, row * 0.1 - 0.4, heights[row, column]])

    a, b, c_ = ((vertex(r, c), vertex(r + 1, c + 1), vertex(r + 1, c)) if v - r >= u - c
                else (vertex(r, c), vertex(r, c + 1), vertex(r + 1, c + 1)))
    normal = np.cross(b - a, c_ - a)
    return float(-(point - a) @ normal / np.linalg.norm(normal))


def test_a_boxs_deepest_contact_is_the_deepest_point_of_its_edges() -> None:
    # In a bowl (no ridges), sampled along the 12 edges: within each triangle the depth along a straight edge is
    # linear, so the corners and the places where an edge crosses a triangle's edge are where it is deepest.
    x, y = np.meshgrid(np.linspace(-0.4, 0.4, ROWS), np.linspace(-0.4, 0.4, ROWS))
    model = heightfield_model("terrain_bowl", BOX, 0.5 * (x ** 2 + y ** 2) + 0.01)
    data = mujoco.MjData(model)
    rng = np.random.default_rng(8)
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * model.geom_size[1]
    edges = [(i, j) for i in range(8) for j in range(i + 1, 8) if np.sum(corners[i] != corners[j]) == 1]
    compared = 0
    for _ in range(100):
        centre_x, centre_y = rng.uniform(-0.25, 0.25, 2)
        quaternion = random_quaternion(rng)
        height = surface_height(model, data, centre_x, centre_y) + rng.uniform(0.0, 0.06)
        centre = np.array([centre_x, centre_y, height])
        rotation = np.zeros(9)
        mujoco.mju_quat2Mat(rotation, quaternion)
        world = centre + corners @ rotation.reshape(3, 3).T
        sampled = max(depth_below_surface(model, point) for i, j in edges
                      for point in world[i] + np.linspace(0.0, 1.0, 201)[:, None] * (world[j] - world[i]))
        ours = contacts_at(model, data, centre, quaternion)
        assert bool(ours) == (sampled > 0.0)
        if not ours:
            continue
        compared += 1
        deepest = -min(dist for dist, _, _ in ours)
        # Exact where the samples are not: between two samples an edge can only reach deeper.
        assert sampled - 1e-9 <= deepest <= sampled + 1e-3, (sampled, deepest)
    assert compared > 40, compared


@pytest.mark.parametrize("geom", [BOX, CYLINDER])
def test_boxes_and_cylinders_on_bumps_and_steps_are_never_pushed_into_the_ground(geom: str) -> None:
    model = field_model("terrain_bumps", geom)
    data = mujoco.MjData(model)
    rng = np.random.default_rng(9)
    touching = 0
    for _ in range(300):
        x, y = rng.uniform(-0.25, 0.25, 2)
        quaternion = random_quaternion(rng)
        position = np.array([x, y, surface_height(model, data, x, y) + rng.uniform(0.0, 0.1)])
        contacts = contacts_at(model, data, position, quaternion)
        touching += bool(contacts)
        for _, normal, tangent in contacts:  # MuJoCo's own function gave normals up to 160 degrees from vertical
            assert normal[2] > 0.0
            assert abs(np.linalg.norm(normal) - 1) < 1e-9 and abs(normal @ tangent) < 1e-9
    assert touching > 150, touching


def spike_model(geom: str, height: float) -> mujoco.MjModel:
    """Level ground with one sample `height` high at the field's centre (0, 0): a peak whose four slopes fall to the
    ground within 0.1 m."""
    heights = np.zeros((ROWS, ROWS))
    heights[ROWS // 2, ROWS // 2] = height
    return heightfield_model("terrain_spike", geom, heights)


@pytest.mark.parametrize("geom, quaternion, half_height, alone", [(BOX, (1, 0, 0, 0), 0.03, True),
                                                                  (CYLINDER, (1, 0, 0, 0), 0.07, True),
                                                                  (CYLINDER, LYING_ALONG_X, 0.05, False)])
def test_a_peak_reaching_into_a_face_pushes_the_geom_up(geom: str, quaternion, half_height: float, alone: bool) -> None:
    # 1 cm into the bottom face (or the lying cylinder's side). The peak's slopes are below the box's and the
    # standing cylinder's edges where those cross them, and their corners are above the ground: only the peak
    # touches. The lying cylinder's lowest line passes right over it and also rests on the slopes' ridges.
    model = spike_model(geom, 0.05)
    data = mujoco.MjData(model)
    contacts = contacts_at(model, data, np.array([0.0, 0.0, 0.04 + half_height]), quaternion)
    assert len(contacts) == 1 or not alone
    deepest = int(np.argmin([dist for dist, _, _ in contacts]))
    assert contacts[deepest][0] == pytest.approx(-0.01, abs=1e-9)
    np.testing.assert_allclose(contacts[deepest][1], [0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(data.contact[deepest].pos, [0, 0, 0.045], atol=1e-9)


def test_a_peak_pushes_a_tilted_box_out_along_the_face_it_reaches_into() -> None:
    model = spike_model(BOX, 0.1)
    data = mujoco.MjData(model)
    rng = np.random.default_rng(10)
    size = model.geom_size[1]
    for _ in range(100):
        # Tilted up to 20 degrees about a random horizontal axis; the peak 1-10 mm into the bottom face, off its middle.
        angle, direction = np.radians(rng.uniform(0.0, 20.0)), rng.uniform(0.0, 2 * np.pi)
        quaternion = np.array([np.cos(angle / 2), np.sin(angle / 2) * np.cos(direction),
                               np.sin(angle / 2) * np.sin(direction), 0.0])
        rotation = np.zeros(9)
        mujoco.mju_quat2Mat(rotation, quaternion)
        rotation = rotation.reshape(3, 3)
        depth = rng.uniform(0.001, 0.01)
        peak_in_box = np.array([rng.uniform(-0.5, 0.5) * size[0], rng.uniform(-0.5, 0.5) * size[1], depth - size[2]])
        centre = np.array([0.0, 0.0, 0.1]) - rotation @ peak_in_box
        contacts = contacts_at(model, data, centre, quaternion)
        deepest = min(contacts, key=lambda contact: contact[0])
        assert deepest[0] == pytest.approx(-depth, abs=1e-9)
        np.testing.assert_allclose(deepest[1], rotation[:, 2], atol=1e-9)  # the bottom face's normal, into the box
