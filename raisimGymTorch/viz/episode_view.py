"""Everything that watches env 0 while a policy plays, set up in one place for training and for tester.py:
the mp4 recorder, the live browser viewer and MuJoCo's own window, fed by one per-step hook."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv

from . import mujoco_window, video
from .model_source import simulated_model

if TYPE_CHECKING:
    from .viewer import LiveViewer


class EpisodeView:
    """Films and shows env 0 of `env`; pass `on_step` to `evaluate_policy` and write the video after.

    Args:
        env: The env the policy plays in (evaluation env or the tester's).
        print_function: Where notices go (videos unavailable).
        record_video: Film env 0, if a GL backend renders offscreen here (else a notice says why, once).
        live_viewer: (host, port) to show env 0 live in the browser, in real time while a page is open; None: no.
        mujoco_viewer: Show env 0 in MuJoCo's own window, in real time (needs a display).

    Raises:
        OSError: The live viewer's port is taken.
        mujoco_window.WindowUnavailable: `mujoco_viewer` is set and no window can open here.
    """

    def __init__(self, env: RaisimGymVecEnv, print_function: Callable[[str], None] = print, *,
                 record_video: bool = False, live_viewer: tuple[str, int] | None = None,
                 mujoco_viewer: bool = False, video_seconds: float | None = None) -> None:
        self.env = env
        self.control_dt = float(env.wrapper.getControlTimeStep())
        # Films at most this much of each episode: rendering dominates an evaluation's cost otherwise.
        self.video_steps = None if video_seconds is None else max(1, round(video_seconds / self.control_dt))
        self._steps = 0
        self.recorder: video.VideoRecorder | None = None
        self.viewer: LiveViewer | None = None
        self.window: mujoco_window.MujocoWindow | None = None
        self.every, self.fps = video.frame_stride(self.control_dt)
        try:
            # The recorder first: select_gl_backend must run before this process first imports mujoco.
            if record_video:
                if video.select_gl_backend() is None:
                    video.report_unavailable_once(print_function)
                else:
                    self.recorder = video.VideoRecorder(simulated_model(env), every=self.every)
            if live_viewer is not None:
                from .viewer import LiveViewer  # viser is imported only when asked for

                self.viewer = LiveViewer(simulated_model(env), host=live_viewer[0], port=live_viewer[1])
            if mujoco_viewer:
                reason = mujoco_window.unavailable_reason()
                if reason is not None:
                    raise mujoco_window.WindowUnavailable(reason)
                self.window = mujoco_window.MujocoWindow(simulated_model(env), self.control_dt)
        except BaseException:
            self.close()
            raise

    def begin(self) -> None:
        """Starts a new film (the frames of the previous one are dropped)."""
        if self.recorder is not None:
            self.recorder.frames.clear()
        self._steps = 0

    def on_step(self) -> None:
        """Captures, shows and paces env 0's current state; `evaluate_policy` calls it after every step."""
        qpos, qvel = self.env.wrapper.getState(0)
        if self.recorder is not None and (self.video_steps is None or self._steps <= self.video_steps):
            self.recorder.capture(qpos, qvel)
        self._steps += 1
        if self.viewer is not None:
            self.viewer.update(qpos)
            self.viewer.pace(self.control_dt)  # real time only while a browser page is open
        if self.window is not None:
            self.window.show(qpos, qvel)

    def release(self) -> None:
        """Lets the live viewer's Pause and real-time pacing hold nothing from now on (a stop was requested)."""
        if self.viewer is not None:
            self.viewer.release()

    @property
    def watching(self) -> bool:
        """Something films or shows env 0 (else `on_step` need not be called)."""
        return self.recorder is not None or self.viewer is not None or self.window is not None

    @property
    def frames(self) -> int:
        """Frames filmed since `begin`."""
        return len(self.recorder.frames) if self.recorder is not None else 0

    def write_video(self, path: str | Path) -> Path | None:
        """Writes the film to `path` (mp4); None if nothing was filmed.

        Raises:
            OSError, ValueError, RuntimeError: The encoder failed.
        """
        if not self.frames:
            return None
        return self.recorder.write_mp4(path, self.fps)

    def stop_filming(self) -> None:
        """Films no more (e.g. after the encoder failed); the live views stay."""
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None

    def close(self) -> None:
        """Closes the recorder, the viewer's server and the window."""
        self.stop_filming()
        if self.viewer is not None:
            self.viewer.close()
            self.viewer = None
        if self.window is not None:
            self.window.close()
            self.window = None
