"""Live viewer in the browser, in place of raisimUnity: env 0's MuJoCo geometry drawn by viser.

The page (and its JavaScript) is served by this Python process, so it works offline and on a headless
server: open the printed URL, or forward the port (``ssh -L 8080:127.0.0.1:8080 host``). The server binds
127.0.0.1 unless another host is asked for.

Usage::

    viewer = LiveViewer(simulated_model(env), port=8080)
    viewer.update(qpos)                # after each step (EpisodeView does this for the runner and player)
    viewer.pace(control_dt)            # honours the page's Pause box and Speed slider
    viewer.close()
"""
from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mujoco
import numpy as np
import trimesh
import viser
from . import video
from .model_source import as_model

if TYPE_CHECKING:
    from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv

# MuJoCo's viewer shows geom groups 0, 1 and 2 by default; collision-only geoms conventionally sit in 3+.
VISIBLE_GEOM_GROUPS = (0, 1, 2)
# Infinite planes are drawn as a square this wide, re-centred under the followed body in whole grid sections.
GROUND_WIDTH = 40.0
GROUND_SECTION = 1.0
_DEFAULT_RGBA = np.array([0.5, 0.5, 0.5, 1.0], dtype=np.float32)


def _ensure_port_free(host: str, port: int) -> None:
    """Raises OSError naming the port if something already listens on host:port.

    viser would silently move to the next free port, which would leave the user looking at the wrong page.
    """
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise ValueError(f"cannot start the live viewer: unknown host {host!r} ({error.strerror})") from error
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's server does
            try:
                probe.bind(address)
            except OSError as error:
                raise OSError(error.errno, f"cannot start the live viewer: port {port} on {host} is already in use "
                                           f"({error.strerror}); choose another one with --port") from error


class _OneLineHandshakeErrors(logging.Filter):
    """Shortens websockets' "opening handshake failed" record (a 27-line traceback) to one line.

    Anything can connect to the port (a port scanner, a browser on the wrong URL), and a traceback per connection
    would bury the training log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() == "opening handshake failed" and record.exc_info:
            error = record.exc_info[1]
            connection = getattr(record, "websocket", None)
            peer = getattr(connection, "remote_address", None)
            source = f" from {peer[0]}:{peer[1]}" if peer else ""
            record.msg = f"[viewer] refused a malformed connection{source}: {type(error).__name__}: {error}"
            record.args, record.exc_info, record.exc_text = (), None, None
        return True


def _quiet_handshake_errors() -> None:
    """Installs `_OneLineHandshakeErrors` on websockets' server logger, once per process."""
    logger = logging.getLogger("websockets.server")
    if not any(isinstance(f, _OneLineHandshakeErrors) for f in logger.filters):
        logger.addFilter(_OneLineHandshakeErrors())


def _rgb(rgba: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(round(255 * float(np.clip(c, 0.0, 1.0)))) for c in rgba[:3])


def _geom_rgba(model: mujoco.MjModel, geom: int) -> np.ndarray:
    """MuJoCo's rule: a geom's rgba overrides its material's unless it is left at the default grey."""
    rgba = model.geom_rgba[geom]
    material = model.geom_matid[geom]
    if material >= 0 and np.allclose(rgba, _DEFAULT_RGBA):
        rgba = model.mat_rgba[material]
    return np.asarray(rgba, dtype=np.float32)


def _material_mean_rgb(model: mujoco.MjModel, material: int) -> np.ndarray | None:
    """Mean colour of a material's RGB texture (e.g. a checkered floor), or None without one."""
    if material < 0:
        return None
    texture = next((t for t in model.mat_texid[material] if t >= 0), -1)
    if texture < 0 or model.tex_nchannel[texture] < 3:
        return None
    size = model.tex_width[texture] * model.tex_height[texture] * model.tex_nchannel[texture]
    if model.tex_type[texture] == mujoco.mjtTexture.mjTEXTURE_CUBE:
        size *= 6
    pixels = model.tex_data[model.tex_adr[texture]:model.tex_adr[texture] + size]
    return pixels.reshape(-1, model.tex_nchannel[texture])[:, :3].mean(axis=0) / 255.0


def _hfield_mesh(model: mujoco.MjModel, hfield: int) -> tuple[np.ndarray, np.ndarray]:
    """The top surface of a height field: rows run along y, columns along x, heights scaled by size[2]."""
    rows, cols = model.hfield_nrow[hfield], model.hfield_ncol[hfield]
    size_x, size_y, top = model.hfield_size[hfield][:3]
    heights = model.hfield_data[model.hfield_adr[hfield]:model.hfield_adr[hfield] + rows * cols].reshape(rows, cols)
    y, x = np.meshgrid(np.linspace(-size_y, size_y, rows), np.linspace(-size_x, size_x, cols), indexing="ij")
    vertices = np.stack([x, y, heights * top], axis=-1).reshape(-1, 3)
    index = np.arange(rows * cols).reshape(rows, cols)
    a, b, c, d = index[:-1, :-1], index[:-1, 1:], index[1:, :-1], index[1:, 1:]
    faces = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3), np.stack([a, d, c], -1).reshape(-1, 3)])
    return vertices, faces


class LiveViewer:
    """A web page that draws a MuJoCo model at the states pushed to it.

    Every visual geom (groups 0-2, not fully transparent) is drawn with its colour: planes, height fields,
    spheres, capsules, ellipsoids, cylinders, boxes and meshes. Each body is one scene frame that `update`
    moves. With "Follow robot" on (the default) the scene is shifted so the followed body (the first body
    with a free joint) stays above the origin, which keeps it in view while the user orbits the camera.

    The page has a Pause box and a Speed slider; stepping loops honour them through `pace` or
    `wait_if_paused` and `playback_speed`. Pause holds only while a page is open, and closing the last page
    unticks it: anything on this machine can connect to the port, so a page that went away (or a script that
    ticked Pause and left) must not hold a training run. `release` ends pausing and pacing for good.

    Args:
        model: What to draw: ``simulated_model(vec_env)`` for an env, or an MJCF/URDF file.
        host: Interface to bind. The default serves this machine only.
        port: TCP port; 0 picks a free one (see `port`).
        follow: Start with the camera following the robot.
        verbose: Print the page's address.

    Raises:
        ValueError: MuJoCo cannot load the file `model`.
        OSError: The port is already in use.
    """

    def __init__(self, model: mujoco.MjModel | str | Path, host: str = "127.0.0.1", port: int = 8080, *,
                 follow: bool = True, verbose: bool = True) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an integer in [0, 65535], got {port!r}")
        self._model = as_model(model)
        self._data = mujoco.MjData(self._model)
        self._closed = False
        self._released = False
        self._last_tick: float | None = None
        self.drawn_geoms: list[int] = []
        """Ids of the geoms drawn."""
        self.skipped_geoms: list[str] = []
        """Visual geoms that could not be drawn (e.g. SDF geoms), by name or index."""

        _ensure_port_free(host, port)
        _quiet_handshake_errors()
        self._server = viser.ViserServer(host=host, port=port, verbose=verbose)
        if port != 0 and self._server.get_port() != port:  # lost a race for the port after the check
            self._server.stop()
            raise OSError(errno.EADDRINUSE, f"cannot start the live viewer: port {port} on {host} is already in "
                                            "use; choose another one with --port")
        self.host = host
        self.port = int(self._server.get_port())
        try:
            gui = self._server.gui
            gui.configure_theme(control_width="small", show_share_button=False)
            gui.set_panel_label(Path(model).name if isinstance(model, (str, Path)) else "simulated model")
            self._paused_box = gui.add_checkbox("Pause", initial_value=False)
            self._speed_slider = gui.add_slider("Speed", min=0.1, max=4.0, step=0.1, initial_value=1.0)
            self._follow_box = gui.add_checkbox("Follow robot", initial_value=follow)
            self._server.on_client_disconnect(self._on_disconnect)
            self._followed_body = self._find_followed_body()
            self._build_scene()
            self.update(self._model.qpos0)
        except BaseException:
            self.close()
            raise
        if verbose:
            print(f"[RAISIM_GYM] Live viewer: {self.url}", flush=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def model(self) -> mujoco.MjModel:
        return self._model

    @property
    def paused(self) -> bool:
        """The page's Pause box; settable from Python."""
        return bool(self._paused_box.value)

    @paused.setter
    def paused(self, value: bool) -> None:
        self._paused_box.value = bool(value)

    @property
    def playback_speed(self) -> float:
        """The page's Speed slider: 1.0 is real time; settable from Python."""
        return float(self._speed_slider.value)

    @playback_speed.setter
    def playback_speed(self, value: float) -> None:
        self._speed_slider.value = float(np.clip(value, 0.1, 4.0))

    @property
    def follow(self) -> bool:
        """The page's "Follow robot" box; settable from Python (applies from the next update)."""
        return bool(self._follow_box.value)

    @follow.setter
    def follow(self, value: bool) -> None:
        self._follow_box.value = bool(value)

    @property
    def connected_clients(self) -> int:
        """How many pages are open."""
        return len(self._server.get_clients())

    @property
    def qpos(self) -> np.ndarray:
        """The generalized coordinates shown (a copy)."""
        return self._data.qpos.copy()

    def _find_followed_body(self) -> int:
        for joint in range(self._model.njnt):
            if self._model.jnt_type[joint] == mujoco.mjtJoint.mjJNT_FREE:
                return int(self._model.jnt_bodyid[joint])
        return 1 if self._model.nbody > 1 else 0

    def _build_scene(self) -> None:
        model, scene = self._model, self._server.scene
        scene.set_up_direction("+z")
        # In front of the robot and to its right, at a distance proportional to the model's size.
        look_at = np.array([0.0, 0.0, 0.5 * model.stat.center[2]])
        self._server.initial_camera.look_at = tuple(look_at)
        extent = video.subject_extent(model)
        self._server.initial_camera.position = tuple(look_at + extent * np.array([1.1, -1.7, 0.8]))
        self._root = scene.add_frame("/world", show_axes=False)
        self._body_frames: dict[int, Any] = {}
        self._grounds: list[tuple[Any, np.ndarray]] = []  # re-centred infinite planes and their base position
        for geom in range(model.ngeom):
            rgba = _geom_rgba(model, geom)
            if model.geom_group[geom] not in VISIBLE_GEOM_GROUPS or rgba[3] <= 0.0:
                continue
            body = int(model.geom_bodyid[geom])
            if body not in self._body_frames:
                name = (model.body(body).name or f"body{body}").replace("/", "_")
                self._body_frames[body] = scene.add_frame(f"/world/{body}_{name}", show_axes=False)
            node = f"{self._body_frames[body].name}/{geom}_{(model.geom(geom).name or 'geom').replace('/', '_')}"
            self._add_geom(node, geom, rgba)

    def _add_geom(self, node: str, geom: int, rgba: np.ndarray) -> None:
        model, scene = self._model, self._server.scene
        kind, size = model.geom_type[geom], model.geom_size[geom]
        pose = {"position": tuple(map(float, model.geom_pos[geom])), "wxyz": tuple(map(float, model.geom_quat[geom]))}
        style = {"color": _rgb(rgba), "opacity": float(rgba[3]) if rgba[3] < 1.0 else None}
        if kind == mujoco.mjtGeom.mjGEOM_PLANE:
            texture_rgb = _material_mean_rgb(model, model.geom_matid[geom])
            plane_rgb = rgba[:3] * texture_rgb if texture_rgb is not None else rgba[:3]
            infinite = size[0] <= 0.0 or size[1] <= 0.0
            width = GROUND_WIDTH if infinite else 2.0 * size[0]
            height = GROUND_WIDTH if infinite else 2.0 * size[1]
            grid = scene.add_grid(node, width=width, height=height, cell_size=GROUND_SECTION / 2,
                                  section_size=GROUND_SECTION, plane_color=_rgb(plane_rgb), plane_opacity=1.0,
                                  cell_color=_rgb(0.6 * plane_rgb + 0.4), section_color=_rgb(0.4 * plane_rgb + 0.6),
                                  fade_distance=GROUND_WIDTH, **pose)
            horizontal = np.allclose(np.abs(model.geom_quat[geom]), [1, 0, 0, 0])
            if infinite and horizontal and model.geom_bodyid[geom] == 0:
                self._grounds.append((grid, model.geom_pos[geom].copy()))
        elif kind == mujoco.mjtGeom.mjGEOM_SPHERE:
            scene.add_icosphere(node, radius=float(size[0]), subdivisions=3, **style, **pose)
        elif kind == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
            scene.add_icosphere(node, radius=1.0, scale=tuple(map(float, size)), subdivisions=3, **style, **pose)
        elif kind == mujoco.mjtGeom.mjGEOM_CYLINDER:  # viser's cylinder lies along z, as MuJoCo's does
            scene.add_cylinder(node, radius=float(size[0]), height=2.0 * float(size[1]), **style, **pose)
        elif kind == mujoco.mjtGeom.mjGEOM_BOX:
            scene.add_box(node, dimensions=tuple(map(float, 2.0 * size)), **style, **pose)
        elif kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
            capsule = trimesh.creation.capsule(height=2.0 * float(size[1]), radius=float(size[0]), count=[24, 24])
            scene.add_mesh_simple(node, capsule.vertices.astype(np.float32), capsule.faces.astype(np.uint32),
                                  **style, **pose)
        elif kind == mujoco.mjtGeom.mjGEOM_MESH and model.geom_dataid[geom] >= 0:
            mesh = model.geom_dataid[geom]
            first, count = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
            vertices = model.mesh_vert[first:first + count].astype(np.float32)
            first, count = model.mesh_faceadr[mesh], model.mesh_facenum[mesh]
            faces = model.mesh_face[first:first + count].astype(np.uint32)
            scene.add_mesh_simple(node, vertices, faces, **style, **pose)
        elif kind == mujoco.mjtGeom.mjGEOM_HFIELD and model.geom_dataid[geom] >= 0:
            vertices, faces = _hfield_mesh(model, model.geom_dataid[geom])
            scene.add_mesh_simple(node, vertices.astype(np.float32), faces.astype(np.uint32), side="double",
                                  **style, **pose)
        else:
            self.skipped_geoms.append(model.geom(geom).name or str(geom))
            return
        self.drawn_geoms.append(geom)

    def update(self, qpos: np.ndarray) -> None:
        """Shows the model at generalized coordinates `qpos` (forward kinematics on a private MjData).

        Raises:
            ValueError: `qpos` does not have the model's nq entries, or is not finite.
            RuntimeError: The viewer was closed.
        """
        if self._closed:
            raise RuntimeError("this LiveViewer was closed")
        qpos = np.asarray(qpos, dtype=np.float64)
        if qpos.shape != (self._model.nq,):
            raise ValueError(f"qpos must have shape ({self._model.nq},) for this model, got {qpos.shape}")
        if not np.isfinite(qpos).all():
            raise ValueError("qpos must be finite")
        self._data.qpos[:] = qpos
        mujoco.mj_kinematics(self._model, self._data)
        offset = np.zeros(3)
        if self._follow_box.value:
            offset[:2] = self._data.xpos[self._followed_body][:2]
        with self._server.atomic():
            self._root.position = tuple(-offset)
            snapped = np.round(offset / GROUND_SECTION) * GROUND_SECTION
            for grid, position in self._grounds:
                grid.position = tuple(position + snapped)
            for body, frame in self._body_frames.items():
                frame.position = tuple(self._data.xpos[body])
                frame.wxyz = tuple(self._data.xquat[body])

    def _on_disconnect(self, client: object) -> None:
        if not self._closed and not self._server.get_clients():  # viser drops the leaving client before this
            self._paused_box.value = False

    def release(self) -> None:
        """Stops honouring Pause and Speed for good, e.g. once a stop signal arrived: the run must end promptly."""
        self._released = True

    def wait_if_paused(self) -> None:
        """Blocks while the page's Pause box is ticked and a page is open; returns at once if the viewer is
        closed or released."""
        while not self._closed and not self._released and self._paused_box.value and self._server.get_clients():
            time.sleep(0.05)
            self._last_tick = None

    def pace(self, control_dt: float) -> None:
        """Waits while paused, then sleeps so that calls are `control_dt / playback_speed` seconds apart.

        Sleeps only while a page is open: with nobody watching, evaluation runs at full speed. Falling behind
        (slow policy, slow machine) is not made up for with a burst of fast steps.
        """
        self.wait_if_paused()
        now = time.perf_counter()
        if self._released or not self._server.get_clients():
            self._last_tick = None
            return
        if self._last_tick is not None:
            target = self._last_tick + control_dt / self.playback_speed
            if target > now:
                time.sleep(target - now)
                now = target
        self._last_tick = now

    def close(self) -> None:
        """Stops the server and releases the port; safe to call twice."""
        if not self._closed:
            self._closed = True
            self._server.stop()

    def __enter__(self) -> LiveViewer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def stream_episode(
    vec_env: RaisimGymVecEnv,
    policy_fn: Callable[[np.ndarray], np.ndarray],
    steps: int,
    viewer: LiveViewer,
    realtime: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Steps `vec_env` with `policy_fn` for `steps` steps while `viewer` shows env 0, in real time.

    Observations are read without updating the normalization statistics.

    Args:
        vec_env: The evaluation env; every env steps, env 0 is shown.
        policy_fn: Observations (num_envs, num_obs) to float32 actions (num_envs, num_acts).
        steps: Number of control steps.
        viewer: Shows env 0's state after every step.
        realtime: Sleep so that one step lasts control_dt / playback_speed; always honours Pause.

    Returns:
        (rewards, dones), arrays of shape (steps, num_envs).
    """
    control_dt = float(vec_env.wrapper.getControlTimeStep())
    rewards = np.zeros((steps, vec_env.num_envs), dtype=np.float32)
    dones = np.zeros((steps, vec_env.num_envs), dtype=bool)
    viewer.update(vec_env.wrapper.getState(0)[0])
    observation = vec_env.observe(update_statistics=False)
    for step in range(steps):
        if realtime:
            viewer.pace(control_dt)
        else:
            viewer.wait_if_paused()
        action = np.ascontiguousarray(policy_fn(observation), dtype=np.float32)
        transition = vec_env.transition(action, update_statistics=False)
        rewards[step], dones[step], observation = transition.reward, transition.done, transition.observation
        viewer.update(vec_env.wrapper.getState(0)[0])
    return rewards, dones
