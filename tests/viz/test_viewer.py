"""The live browser viewer: what a real headless Chromium draws, where the server listens, and the env hooks."""
from __future__ import annotations

import base64
import errno
import json
import os
import queue
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from raisimGymTorch.env.make import RESOURCE_DIR
from raisimGymTorch.viz.viewer import LiveViewer, stream_episode

ANYMAL_XML = RESOURCE_DIR / "anymal_c" / "anymal_c.xml"
# rsg_anymal's nominal stance: base at 0.6 m, legs LF RF LH RH x (HAA, HFE, KFE).
STANDING = np.array([0, 0, 0.6, 1, 0, 0, 0, 0.03, 0.4, -0.8, -0.03, 0.4, -0.8, 0.03, -0.4, 0.8, -0.03, -0.4, 0.8])
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT = 800, 600


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening_addresses(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of the sockets listening on `port`."""
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, local_port = local.rsplit(":", 1)
            if state == "0A" and int(local_port, 16) == port:  # 0A = LISTEN
                addresses.append(address)
    return addresses


@pytest.fixture
def viewer():
    with LiveViewer(ANYMAL_XML, port=0, verbose=False) as live:
        yield live


def test_binds_loopback_only_and_releases_the_port_on_close():
    port = free_port()
    live = LiveViewer(ANYMAL_XML, port=port, verbose=False)
    try:
        assert live.port == port and live.url == f"http://127.0.0.1:{port}/"
        addresses = listening_addresses(port)
        assert addresses and set(addresses) == {"0100007F"}, f"listening on {addresses}, expected 127.0.0.1 only"
    finally:
        live.close()
    assert listening_addresses(port) == []
    with socket.socket() as again:  # the port is free for the next run
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
        again.listen()


def test_taken_port_is_a_clear_error_not_another_port():
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        next_port = listening_addresses(port + 1)
        with pytest.raises(OSError, match=rf"port {port} on 127\.0\.0\.1 is already in use.*--port") as caught:
            LiveViewer(ANYMAL_XML, port=port, verbose=False)
        assert caught.value.errno == errno.EADDRINUSE
        assert listening_addresses(port + 1) == next_port  # no silent move to the next port


def test_update_checks_the_state(viewer):
    with pytest.raises(ValueError, match=r"shape \(19,\)"):
        viewer.update(np.zeros(18))
    with pytest.raises(ValueError, match="finite"):
        viewer.update(np.full(19, np.nan))
    viewer.update(STANDING)
    np.testing.assert_array_equal(viewer.qpos, STANDING)
    viewer.close()
    with pytest.raises(RuntimeError, match="closed"):
        viewer.update(STANDING)


ALL_GEOM_TYPES = """
<mujoco>
  <asset>
    <mesh name="tetra" vertex="0 0 0  0.3 0 0  0 0.3 0  0 0 0.3"/>
    <hfield name="bumps" nrow="3" ncol="4" size="0.5 0.4 0.2 0.05" elevation="0 1 0 1  1 0 1 0  0 1 1 0"/>
  </asset>
  <worldbody>
    <geom name="floor" type="plane" size="0 0 1"/>
    <geom name="bumps" type="hfield" hfield="bumps" pos="0 -1.5 0"/>
    <body name="thing" pos="0 0 0.5">
      <freejoint/>
      <geom name="sphere" type="sphere" size="0.1" rgba="1 0 0 1"/>
      <geom name="capsule" type="capsule" size="0.05 0.2"/>
      <geom name="ellipsoid" type="ellipsoid" size="0.1 0.05 0.2" rgba="0 0 1 0.5"/>
      <geom name="cylinder" type="cylinder" size="0.08 0.2"/>
      <geom name="box" type="box" size="0.1 0.05 0.2"/>
      <geom name="tetra" type="mesh" mesh="tetra"/>
      <geom name="collision_only" type="sphere" size="0.1" group="3"/>
      <geom name="transparent" type="sphere" size="0.1" rgba="1 1 1 0"/>
    </body>
  </worldbody>
</mujoco>
"""


def test_every_visual_geom_is_drawn(viewer, tmp_path):
    assert viewer.skipped_geoms == []
    assert viewer.drawn_geoms == list(range(viewer.model.ngeom))  # ANYmal: the floor and all 23 robot geoms
    (tmp_path / "all.xml").write_text(ALL_GEOM_TYPES)
    with LiveViewer(tmp_path / "all.xml", port=0, verbose=False) as live:
        drawn = [live.model.geom(geom).name for geom in live.drawn_geoms]
        assert drawn == ["floor", "bumps", "sphere", "capsule", "ellipsoid", "cylinder", "box", "tetra"]
        assert live.skipped_geoms == []
        live.update(live.model.qpos0)


def test_bad_model_file_and_port_are_errors():
    with pytest.raises(ValueError, match="no_such_robot.xml"):
        LiveViewer("no_such_robot.xml", port=0, verbose=False)
    with pytest.raises(ValueError, match="port"):
        LiveViewer(ANYMAL_XML, port=70000, verbose=False)


def test_episode_view_shows_env0_after_every_step_and_closes_its_server(make_anymal):
    # The runner and the player own the viewer (the env knows nothing of it): EpisodeView pushes env 0's state.
    from raisimGymTorch.viz.episode_view import EpisodeView

    env = make_anymal(num_envs=2)
    actions = np.zeros((2, env.num_acts), dtype=np.float32)
    view = EpisodeView(env, live_viewer=("127.0.0.1", free_port()))
    assert view.watching and view.recorder is None
    env.step(actions)
    view.on_step()
    np.testing.assert_array_equal(view.viewer.qpos, env.wrapper.getState(0)[0])
    port = view.viewer.port
    view.close()
    assert listening_addresses(port) == []


def open_page(viewer: LiveViewer):
    """A websocket client that viser counts as an open page: it reports a camera, as the page does first."""
    import msgspec
    import viser
    from websockets.sync.client import connect

    page = connect(f"ws://127.0.0.1:{viewer.port}", subprotocols=[f"viser-v{viser.__version__}"], open_timeout=30)
    camera = {"type": "ViewerCameraMessage", "wxyz": [1.0, 0.0, 0.0, 0.0], "position": [3.0, -3.0, 2.0],
              "fov": 1.0, "near": 0.01, "far": 100.0, "image_height": 600, "image_width": 800,
              "look_at": [0.0, 0.0, 0.0], "up_direction": [0.0, 0.0, 1.0]}
    page.send(msgspec.msgpack.encode(camera))
    deadline = time.monotonic() + 30
    while viewer.connected_clients == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert viewer.connected_clients == 1
    return page


def test_pause_holds_only_while_a_page_is_open_and_closing_the_last_unticks_it(viewer):
    viewer.paused = True
    waiter = threading.Thread(target=viewer.wait_if_paused, daemon=True)
    waiter.start()
    waiter.join(timeout=10)
    assert not waiter.is_alive(), "a Pause ticked with no page open held the caller"
    page = open_page(viewer)
    page.close()
    deadline = time.monotonic() + 30
    while viewer.paused and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not viewer.paused and viewer.connected_clients == 0


def test_release_ends_a_pause_for_good(viewer):
    with open_page(viewer):
        viewer.paused = True
        viewer.release()
        viewer.wait_if_paused()
        assert viewer.paused, "release leaves the box as the user set it"


def test_stream_episode_honours_pause(make_anymal, viewer):
    env = make_anymal(num_envs=2)
    page = open_page(viewer)  # Pause holds only while a page is open
    viewer.paused = True
    result = {}
    policy = lambda obs: np.zeros((obs.shape[0], env.num_acts), dtype=np.float32)  # noqa: E731
    worker = threading.Thread(target=lambda: result.update(out=stream_episode(env, policy, 5, viewer=viewer)))
    worker.start()
    time.sleep(0.5)
    assert worker.is_alive() and "out" not in result, "stepped while paused"
    viewer.paused = False
    worker.join(timeout=10)
    page.close()
    rewards, dones = result["out"]
    assert rewards.shape == (5, 2) and dones.shape == (5, 2)
    np.testing.assert_array_equal(viewer.qpos, env.wrapper.getState(0)[0])


class Chromium:
    """Headless Chromium driven through the DevTools protocol over a pipe (no debugging port is opened)."""

    def __init__(self, profile: Path) -> None:
        to_chrome, self._writer = os.pipe()
        self._reader, from_chrome = os.pipe()

        def give_fds_3_and_4() -> None:  # --remote-debugging-pipe reads fd 3 and writes fd 4
            read_end, write_end = os.dup(to_chrome), os.dup(from_chrome)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader",
             "--enable-unsafe-swiftshader", "--remote-debugging-pipe", "--no-first-run", "--mute-audio",
             f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", "about:blank"],
            preexec_fn=give_fds_3_and_4, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome)
        os.close(from_chrome)
        self._next_id = 0
        self._replies: dict[int, queue.Queue] = {}
        threading.Thread(target=self._read, daemon=True).start()
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", page=True)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False}, page=True)

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._reader, 1 << 20):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in map(json.loads, messages):
                if message.get("id") in self._replies:
                    self._replies[message["id"]].put(message)

    def send(self, method: str, params: dict | None = None, page: bool = False, timeout: float = 20.0) -> dict:
        self._next_id += 1
        reply: queue.Queue = queue.Queue()
        self._replies[self._next_id] = reply
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if page:
            message["sessionId"] = self._session
        os.write(self._writer, json.dumps(message).encode() + b"\0")
        answer = reply.get(timeout=timeout)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def open(self, url: str, timeout: float = 20.0) -> None:
        """Navigates to `url` and waits until the page has loaded."""
        self.send("Page.navigate", {"url": url}, page=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                state = self.send("Runtime.evaluate", {"expression": "[location.href, document.readyState]",
                                                       "returnByValue": True}, page=True)["result"]["value"]
            except RuntimeError:  # between documents
                state = None
            if state == [url, "complete"]:
                return
            time.sleep(0.1)
        raise AssertionError(f"{url} did not load within {timeout} s")

    def screenshot(self) -> np.ndarray:
        png = base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"}, page=True)["data"])
        return iio.imread(png)[..., :3].astype(np.int16)

    def settled_screenshot(self, accept=lambda image: True, timeout: float = 20.0) -> np.ndarray:
        """The first screenshot that `accept`s and equals the one taken 0.3 s before (the scene has settled)."""
        deadline, previous = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            image = self.screenshot()
            if previous is not None and np.array_equal(image, previous) and accept(image):
                return image
            previous = image
            time.sleep(0.3)
        raise AssertionError(f"the page did not settle within {timeout} s")

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        os.close(self._writer)


def robot_pixels(image: np.ndarray) -> np.ndarray:
    """Mask of the ANYmal's orange shell (rgba 0.85 0.45 0.1, shaded); the ground and the page are grey-blue."""
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    return (r > g + 40) & (g > b + 20)


def ground_is_drawn(image: np.ndarray) -> bool:
    """The grey-blue floor fills the bottom middle of the view (a page still loading is white)."""
    r, g, b = image[HEIGHT - 100, WIDTH // 2]
    return b > r + 20


def centroid(mask: np.ndarray) -> np.ndarray:
    return np.argwhere(mask).mean(axis=0)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs it: apt-get install chromium)")
def test_chromium_draws_the_robot_and_its_motion(viewer, tmp_path):
    browser = Chromium(tmp_path / "profile")
    try:
        # A scene without the robot: the same page with the robot 100 m under the opaque ground.
        viewer.follow = False
        hidden = STANDING.copy()
        hidden[2] = -100.0
        viewer.update(hidden)
        browser.open(viewer.url)
        empty = browser.settled_screenshot(accept=ground_is_drawn)
        viewer.follow = True
        viewer.update(STANDING)
        standing = browser.settled_screenshot(accept=lambda image: robot_pixels(image).sum() > 2000)
        # Legs folded and the base turned 30 degrees about z.
        moved = STANDING.copy()
        moved[3:7] = [np.cos(np.pi / 12), 0, 0, np.sin(np.pi / 12)]
        moved[7:] = [0.3, 1.1, -2.0, -0.3, -0.2, 0.5, 0.3, -1.1, 2.0, -0.3, 0.2, -0.5]
        viewer.update(moved)
        posed = browser.settled_screenshot(accept=lambda image: not np.array_equal(image, standing))
        # Walked 3.25 m forward: the camera follows, so the robot stays put and the ground slides under it.
        walked = STANDING.copy()
        walked[0] = 3.25
        viewer.update(walked)
        followed = browser.settled_screenshot(accept=lambda image: not np.array_equal(image, posed))
    finally:
        browser.close()
    for name, image in [("empty", empty), ("standing", standing), ("moved", posed), ("walked", followed)]:
        iio.imwrite(tmp_path / f"{name}.png", image.astype(np.uint8))

    # The robot is drawn: a sizeable orange body near the middle that the empty scene does not have.
    overlays = robot_pixels(empty)  # the page's own orange: the axes gizmo, the software-WebGL notice
    robot = robot_pixels(standing) & ~overlays
    assert robot.sum() > 0.005 * WIDTH * HEIGHT, f"only {robot.sum()} robot pixels (screenshots in {tmp_path})"
    changed = np.abs(standing - empty).max(axis=-1) > 30
    rows, cols = np.nonzero(robot)
    region = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    assert changed[region].mean() > 0.3, f"the robot region barely differs from the empty scene ({tmp_path})"
    assert abs(centroid(robot)[1] - WIDTH / 2) < WIDTH / 4 and abs(centroid(robot)[0] - HEIGHT / 2) < HEIGHT / 3

    # It moves: the posed robot differs from the standing one inside the robot's region.
    assert (np.abs(posed - standing).max(axis=-1) > 30)[region].mean() > 0.1, f"the robot did not move ({tmp_path})"

    # The camera follows: the walked robot is drawn where the standing one was, on ground that moved.
    walked_robot = robot_pixels(followed) & ~overlays
    assert np.allclose(centroid(walked_robot), centroid(robot), atol=3), f"the camera did not follow ({tmp_path})"
    assert (np.abs(followed - standing).max(axis=-1) > 30)[~robot].mean() > 0.01, "the ground did not move"
