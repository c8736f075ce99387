"""MuJoCo's own interactive window (``mujoco.viewer.launch_passive``) showing one env's states in real time.

The env steps in C++; the window draws a Python-side copy of env 0's state (`video.set_state`), as videos do.
MuJoCo's viewer ends the whole process with "ERROR: could not create window" when the display or its OpenGL
does not work, so `unavailable_reason` first opens a window in a child process.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import video
from .model_source import as_model

NO_DISPLAY_MESSAGE = ("MuJoCo's viewer needs a display (neither DISPLAY nor WAYLAND_DISPLAY is set); "
                      "--render shows the policy in a browser instead")

# Opens and closes a window of a one-sphere model, waiting for the viewer's thread as `MujocoWindow.close` does.
_PROBE = """
import threading
import glfw
glfw.ERROR_REPORTING = "raise"  # a display or GLX failure as an exception that names it
if not glfw.init():
    raise RuntimeError("glfw.init failed")
glfw.window_hint(glfw.VISIBLE, glfw.FALSE)
glfw.destroy_window(glfw.create_window(16, 16, "probe", None, None))
import mujoco, mujoco.viewer
model = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size="1"/></worldbody></mujoco>')
before = set(threading.enumerate())
handle = mujoco.viewer.launch_passive(model, mujoco.MjData(model), show_left_ui=False, show_right_ui=False)
handle.sync()
handle.close()
for thread in set(threading.enumerate()) - before:
    thread.join(30)
"""


class WindowClosed(Exception):
    """The user closed MuJoCo's viewer window."""


class WindowUnavailable(RuntimeError):
    """MuJoCo's viewer cannot open a window here: no display, or one whose OpenGL does not work."""


def display_name() -> str | None:
    """The display a window would open on (``DISPLAY``, else ``WAYLAND_DISPLAY``), or None."""
    return os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or None


def unavailable_reason() -> str | None:
    """Why MuJoCo's viewer cannot open a window here (None if it can), found by opening one in a child process."""
    if display_name() is None:
        return NO_DISPLAY_MESSAGE
    error = video.run_probe(_PROBE)
    return None if error is None else f"MuJoCo's viewer cannot open a window on display {display_name()}: {error}"


class MujocoWindow:
    """A passive MuJoCo viewer window that shows states handed to it, one per control step, at real time.

    Args:
        model: What to show: ``simulated_model(env)`` for an env, or an MJCF/URDF file.
        control_dt: Seconds of simulated time between two `show` calls; `show` sleeps to keep that pace.

    Raises:
        WindowUnavailable: There is no display (check `unavailable_reason` first: a broken one ends the process).
    """

    def __init__(self, model: mujoco.MjModel | str | Path, control_dt: float) -> None:
        if display_name() is None:
            raise WindowUnavailable(NO_DISPLAY_MESSAGE)
        import mujoco.viewer

        self.model = as_model(model)
        self.data = mujoco.MjData(self.model)
        self.control_dt = float(control_dt)
        # The viewer draws from a thread of its own; `close` joins it, since the interpreter crashes if that thread
        # is still tearing down its window when the process exits.
        before = set(threading.enumerate())
        self._handle = mujoco.viewer.launch_passive(self.model, self.data, show_left_ui=False, show_right_ui=False)
        self._threads = set(threading.enumerate()) - before
        with self._handle.lock():
            video.track_root_body(self._handle.cam, self.model)
        self._last_show: float | None = None

    @property
    def is_open(self) -> bool:
        """False once the window was closed, by the user or by `close`."""
        return self._handle.is_running()

    def show(self, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Draws the state (qpos, qvel), first sleeping until `control_dt` has passed since the previous call.

        Falling behind (a slow policy or renderer) is not made up for with a burst of fast steps.

        Raises:
            WindowClosed: The window has been closed.
        """
        if not self.is_open:
            raise WindowClosed("MuJoCo's viewer window was closed")
        now = time.perf_counter()
        if self._last_show is not None and self._last_show + self.control_dt > now:
            time.sleep(self._last_show + self.control_dt - now)
            now = self._last_show + self.control_dt
        self._last_show = now
        with self._handle.lock():
            video.set_state(self.model, self.data, qpos, qvel)
        self._handle.sync()

    def close(self) -> None:
        """Closes the window and waits for the viewer's thread to finish; safe to call twice."""
        self._handle.close()
        for thread in self._threads:
            thread.join(timeout=30)

    def __enter__(self) -> MujocoWindow:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
