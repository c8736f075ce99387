"""Headless videos of a policy: MuJoCo's offscreen renderer (EGL, else OSMesa) to mp4 and TensorBoard frames.

MuJoCo picks its OpenGL backend from ``MUJOCO_GL`` when ``mujoco`` is first imported, and PyOpenGL cannot
switch platforms afterwards, so `select_gl_backend` probes each backend in a child process (a broken driver
may crash, which must not take training with it) and sets ``MUJOCO_GL`` before this process imports mujoco.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .model_source import as_model

GL_BACKENDS = ("egl", "osmesa")
GL_PACKAGES_HINT = "on Debian/Ubuntu: apt-get install libegl1 libopengl0 libgl1-mesa-dri (EGL) or libosmesa6 (OSMesa)"

_PROBE = """
import mujoco
model = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size="1"/></worldbody></mujoco>')
renderer = mujoco.Renderer(model, 16, 16)
data = mujoco.MjData(model)
mujoco.mj_forward(model, data)
renderer.update_scene(data)
assert renderer.render().shape == (16, 16, 3)
"""

# The outcome of the probe is a property of the process (MUJOCO_GL is read once), so it is cached here.
_selection: dict[str, Any] = {"done": False, "backend": None, "reason": "", "reported": False}


def select_gl_backend() -> str | None:
    """Finds an OpenGL backend that renders offscreen, once per process.

    A ``MUJOCO_GL`` set by the user is respected. Otherwise EGL, then OSMesa, is tried in a child process and
    the first that works is put into ``MUJOCO_GL`` (this must happen before mujoco is imported here).

    Returns:
        The backend name, or None if none works; `unavailable_reason` then says why.
    """
    if _selection["done"]:
        return _selection["backend"]
    _selection["done"] = True
    requested = os.environ.get("MUJOCO_GL", "").strip().lower()
    if requested:
        candidates: Sequence[str] = (requested,)
    elif "mujoco" in sys.modules:
        # Too late to choose: mujoco already fixed its backend (glfw by default on Linux).
        candidates = ("glfw",)
    else:
        candidates = GL_BACKENDS
    failures = []
    for backend in candidates:
        error = _probe(backend)
        if error is None:
            os.environ.setdefault("MUJOCO_GL", backend)
            _selection["backend"] = backend
            return backend
        failures.append(f"MUJOCO_GL={backend}: {error}")
    if not requested and "mujoco" in sys.modules:
        failures.append("mujoco was imported before a backend could be chosen; start with MUJOCO_GL=egl set")
    _selection["reason"] = "; ".join(failures)
    return None


def unavailable_reason() -> str:
    """Why `select_gl_backend` found nothing (empty if it found a backend or has not run)."""
    return _selection["reason"]


def report_unavailable_once(print_function: Callable[[str], None] = print) -> None:
    """Says once per process that videos are off and why, with the packages that fix it."""
    if not _selection["reported"]:
        _selection["reported"] = True
        print_function(f"[video] no OpenGL backend renders offscreen ({unavailable_reason()}); continuing without "
                       f"videos. To get videos, {GL_PACKAGES_HINT}.")


def _probe(backend: str) -> str | None:
    """Renders a tiny scene in a child process with MUJOCO_GL=backend; returns None or the error's last line."""
    environment = {**os.environ, "MUJOCO_GL": backend}
    environment.pop("PYOPENGL_PLATFORM", None)
    return run_probe(_PROBE, environment)


def run_probe(code: str, environment: dict[str, str] | None = None) -> str | None:
    """Runs Python `code` in a child process, where a broken GL driver or display can crash or exit only the child.

    Args:
        code: The probe; it fails by raising (or by exiting non-zero).
        environment: The child's environment variables (default: this process's).

    Returns:
        None if the child exited 0, else the last line of its stderr (or why it could not run).
    """
    try:
        result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True,
                                timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if result.returncode == 0:
        return None
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {result.returncode}"


def set_state(model: Any, data: Any, qpos: np.ndarray, qvel: np.ndarray) -> None:
    """Puts a Python-side MjData into an env's state and computes its poses, for drawing.

    The env's own mjData lives in C++; this copy of ``getState(i)`` is what films and windows draw.

    Args:
        model: The ``mujoco.MjModel`` the env simulates (``simulated_model(env)``).
        data: An ``MjData`` of `model`.
        qpos, qvel: From ``getState(i)``.
    """
    import mujoco

    data.qpos[:] = qpos
    data.qvel[:] = qvel
    mujoco.mj_forward(model, data)


def subject_extent(model: Any) -> float:
    """The size (m) to frame: the model's extent, or on a terrain heightfield, whose hundreds of metres would put the
    camera that far out, the extent of the geoms that are not the world's (the robot)."""
    import mujoco

    moving = model.geom_bodyid > 0
    if model.nhfield == 0 or not moving.any():
        return float(model.stat.extent)
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    radii = model.geom_rbound[moving, None]
    low = (data.geom_xpos[moving] - radii).min(axis=0)
    high = (data.geom_xpos[moving] + radii).max(axis=0)
    return float(min(model.stat.extent, 0.5 * np.linalg.norm(high - low)))


def fit_view_to_subject(model: Any) -> float:
    """Moves the near clipping plane in to 1% of the subject's size (MuJoCo puts it at 1% of the model's extent, 2.6 m
    on the rough terrain, which cut away the ground in front of a camera near the robot) and returns that size."""
    extent = subject_extent(model)
    if extent < model.stat.extent:
        model.vis.map.znear = min(float(model.vis.map.znear), 0.01 * extent / float(model.stat.extent))
    return extent


def track_root_body(camera: Any, model: Any) -> None:
    """Points an ``MjvCamera`` at body 1 (a robot's root) from slightly above, at twice the subject's extent."""
    import mujoco

    camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    camera.trackbodyid = 1 if model.nbody > 1 else 0
    camera.distance = 2.0 * fit_view_to_subject(model)
    camera.elevation = -20.0


class VideoRecorder:
    """Renders states of one MuJoCo model into frames and writes them as an mp4.

    Args:
        model: What to film: ``simulated_model(env)`` for an env, or an MJCF/URDF file.
        width, height: Frame size in pixels; multiples of 16 keep ffmpeg from resizing.
        camera: A camera of the model to film from; if the model has none of that name, a camera tracks body 1.
        every: Render only every `every`-th captured state (e.g. 3 at a 0.01 s control step gives 33 fps).
        shadows: Shadows and reflections look better and render about 3x slower in software.

    Raises:
        RuntimeError: No GL backend works (call `select_gl_backend` first to avoid this).
    """

    def __init__(self, model: mujoco.MjModel | str | Path, width: int = 640, height: int = 480, camera: str = "track",
                 every: int = 1, shadows: bool = False) -> None:
        if select_gl_backend() is None:
            raise RuntimeError(f"no OpenGL backend renders offscreen: {unavailable_reason()}")
        import mujoco  # after select_gl_backend has set MUJOCO_GL

        self._mujoco = mujoco
        self.model = as_model(model)
        self.model.vis.global_.offwidth = max(self.model.vis.global_.offwidth, width)
        self.model.vis.global_.offheight = max(self.model.vis.global_.offheight, height)
        fit_view_to_subject(self.model)
        self.data = mujoco.MjData(self.model)
        self.renderer = mujoco.Renderer(self.model, height, width)
        self.every = max(1, int(every))
        self.shadows = shadows
        if mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, camera) >= 0:
            self.camera: Any = camera
        else:
            self.camera = mujoco.MjvCamera()
            track_root_body(self.camera, self.model)
        self.frames: list[np.ndarray] = []
        self._calls = 0

    def capture(self, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Renders the state (qpos, qvel) into a frame, if this is an `every`-th call."""
        self._calls += 1
        if (self._calls - 1) % self.every:
            return
        mujoco = self._mujoco
        set_state(self.model, self.data, qpos, qvel)
        self.renderer.update_scene(self.data, camera=self.camera)
        self.renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self.shadows
        self.renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = self.shadows
        self.frames.append(self.renderer.render())

    def write_mp4(self, path: str | Path, fps: float) -> Path:
        """Writes the frames to `path` with imageio-ffmpeg (H.264) and returns `path`.

        Raises:
            ValueError: There are no frames.
            OSError: `path` cannot be written (read-only folder, no permission, full disk); the message names it.
        """
        import imageio.v2 as imageio

        if not self.frames:
            raise ValueError(f"no frames to write to {path}")
        path = Path(path)
        check_writable(path)
        with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=16, ffmpeg_log_level="error") as out:
            for frame in self.frames:
                out.append_data(frame)
        return path

    def frame_strip(self, count: int = 4, scale: int = 2) -> np.ndarray:
        """`count` evenly spaced frames side by side, each shrunk `scale` times (uint8 HWC), for TensorBoard."""
        if not self.frames:
            raise ValueError("no frames")
        picks = np.linspace(0, len(self.frames) - 1, min(count, len(self.frames))).round().astype(int)
        return np.concatenate([self.frames[i][::scale, ::scale] for i in picks], axis=1)

    def close(self) -> None:
        """Frees the GL context."""
        self.renderer.close()


def check_writable(path: str | Path) -> None:
    """Raises OSError naming `path` and the reason if this process cannot create or overwrite it.

    ffmpeg opens the output itself, so a read-only folder used to surface as "[Errno 32] Broken pipe" when the
    frames were piped into an ffmpeg that had already exited. A file this check creates is removed again.
    """
    path = Path(path)
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
    except OSError as error:
        raise _named(error.errno, f"cannot write the video {path}: {error.strerror}") from None
    if not existed:
        path.unlink(missing_ok=True)


def _named(number: int | None, message: str) -> OSError:
    """An OSError that keeps `number` as its errno but reads as `message` alone, without "[Errno N]"."""
    error = OSError(message)
    error.errno = number
    return error


def frame_stride(control_dt: float, target_fps: float = 30.0) -> tuple[int, float]:
    """How many control steps per frame to get close to `target_fps` in real time, and the resulting fps."""
    every = max(1, round(1.0 / (target_fps * control_dt)))
    return every, 1.0 / (every * control_dt)
