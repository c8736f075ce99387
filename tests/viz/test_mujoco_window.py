"""tester.py --mujoco-viewer: the policy plays in MuJoCo's own window, here on a virtual X server (Xvfb)."""
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import small_cfg_text

from raisimGymTorch.env.make import ENVS_DIR
from raisimGymTorch.runner import trainer

TESTER = ENVS_DIR / "rsg_anymal" / "tester.py"

# tester.py's main with MujocoWindow.show counted; after the 15th state, a screenshot of the X server counts the
# pixels the window drew (the rest of Xvfb's screen is black).
DRIVER = """
import os, sys, time
import numpy as np
from PIL import ImageGrab
from raisimGymTorch.runner import player
from raisimGymTorch.viz import mujoco_window

shown = []
original_show = mujoco_window.MujocoWindow.show

def show(window, qpos, qvel):
    original_show(window, qpos, qvel)
    shown.append(qpos.shape)
    if len(shown) == 15:
        for _ in range(100):  # the window draws in a thread of its own, at its own pace
            drawn = int(np.asarray(ImageGrab.grab(xdisplay=os.environ["DISPLAY"])).any(axis=-1).sum())
            if drawn > 50_000:
                break
            time.sleep(0.1)
        print(f"drawn pixels {drawn}")

mujoco_window.MujocoWindow.show = show
code = player.main("rsg_anymal", sys.argv[1:])
print(f"shown {len(shown)} states of shape {set(shown)}")
raise SystemExit(code)
"""


@pytest.fixture(scope="module")
def x_display():
    """A fresh virtual X server's display name (":N"), with software OpenGL; skips if Xvfb cannot start."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed, so no X server can be started (CI installs it: apt-get install xvfb)")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                              pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(write_end)
    with os.fdopen(read_end) as display_number:
        number = display_number.readline().strip()  # Xvfb writes it once it accepts connections
    if not number:
        server.wait(timeout=10)
        pytest.skip(f"Xvfb could not start: {server.stderr.read().decode(errors='replace')[-500:]}")
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained rsg_anymal checkpoint whose cfg has 0.1 s (10-step) episodes."""
    folder = tmp_path_factory.mktemp("window")
    cfg_path = folder / "cfg.yaml"
    cfg_path.write_text(small_cfg_text({"max_time": 0.1}))
    result = trainer.train("rsg_anymal", cfg_path, iterations=0, run_root=folder / "data", eval_envs=1,
                           update_threads=1, print_function=lambda line: None)
    return result.last_checkpoint


def environment_on(display: str) -> dict[str, str]:
    environment = {**os.environ, "DISPLAY": display, "LIBGL_ALWAYS_SOFTWARE": "1"}
    environment.pop("WAYLAND_DISPLAY", None)
    return environment


def test_tester_plays_episodes_in_mujocos_viewer_and_films_them(x_display, checkpoint):
    # The video stays on: the window (GLFW) and the offscreen renderer (EGL or OSMesa) share the process.
    done = subprocess.run([sys.executable, "-c", DRIVER, "-w", str(checkpoint), "--mujoco-viewer", "--episodes", "2"],
                          env=environment_on(x_display), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"[viewer] showing the policy in MuJoCo's viewer on display {x_display}" in done.stdout, done.stdout
    lengths = [int(n) for n in re.findall(r"^episode \d: return \S+, length (\d+) steps", done.stdout, re.M)]
    assert lengths == [10, 10], done.stdout
    # One state at each episode's start and after every step but the last: as many as steps.
    assert f"shown {sum(lengths)} states of shape {{(19,)}}" in done.stdout, done.stdout
    drawn = int(re.search(r"drawn pixels (\d+)", done.stdout).group(1))
    assert drawn > 50_000, f"the window drew {drawn} pixels"
    assert re.search(r"^\[video\] (no OpenGL backend|.*full_0_test\.mp4$)", done.stdout, re.M), done.stdout


def test_closing_the_window_stops_the_tester_cleanly(x_display, checkpoint):
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed, so nothing can press the window's keys (apt-get install xdotool)")
    environment = environment_on(x_display)
    command = [sys.executable, "-u", str(TESTER), "-w", str(checkpoint), "--mujoco-viewer", "--no-video"]
    tester = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first_line = tester.stdout.readline()  # printed once the window exists (and the probe's window is gone)
        assert first_line.startswith("[viewer] showing the policy in MuJoCo's viewer"), first_line
        window = subprocess.run(["xdotool", "search", "--sync", "--name", "MuJoCo"], env=environment,
                                capture_output=True, text=True, timeout=60).stdout.split()[0]
        # Ctrl+Q is the Quit of MuJoCo's viewer: the same exit request as the title bar's close button.
        subprocess.run(["xdotool", "key", "--window", window, "ctrl+q"], env=environment, check=True, timeout=60)
        out, err = tester.communicate(timeout=60)
    finally:
        tester.kill()
    assert tester.returncode == 0, err[-3000:]
    assert out.rstrip().endswith("[viewer] MuJoCo's viewer window was closed; stopped"), out[-2000:]
    assert "Traceback" not in err, err


def test_mujoco_viewer_without_a_display_says_so(checkpoint):
    environment = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run([sys.executable, str(TESTER), "-w", str(checkpoint), "--mujoco-viewer"], env=environment,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 2, done.stderr
    assert "MuJoCo's viewer needs a display (neither DISPLAY nor WAYLAND_DISPLAY is set)" in done.stderr
    assert "--render" in done.stderr and "Traceback" not in done.stderr
