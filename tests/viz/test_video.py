"""Videos: evaluation episodes and tester.py write mp4 files when an offscreen GL backend exists.

The rendering runs in a child process because MuJoCo fixes its GL backend when first imported, and other
tests in this process may already have imported it without choosing one.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import small_cfg_text

SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from raisimGymTorch.runner import on_policy_runner, player, trainer
    from raisimGymTorch.viz import video

    root = Path(sys.argv[1])
    if len(sys.argv) > 3:
        on_policy_runner.TRAINING_VIDEO_SECONDS = float(sys.argv[3])
    lines = []
    result = trainer.train("rsg_anymal", root / "cfg.yaml", iterations=int(sys.argv[2]), run_root=root / "data",
                           eval_envs=2, update_threads=1, print_function=lines.append)
    played = player.play(result.last_checkpoint, "rsg_anymal", print_function=lines.append)
    print(json.dumps({"backend": video.select_gl_backend(), "reason": video.unavailable_reason(),
                      "lines": lines, "run_dir": str(result.run_dir), "tester_video": str(played[1])}))
""")


def run_script(tmp_path, iterations, *extra, **environment):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), str(iterations), *extra], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **environment})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_training_and_tester_write_videos(tmp_path):
    (tmp_path / "cfg.yaml").write_text(small_cfg_text({"max_time": 0.3}, record_video=True))
    report = run_script(tmp_path, iterations=0)
    if report["backend"] is None:
        # Said once, and training went on.
        assert sum("no OpenGL backend" in line for line in report["lines"]) == 1
        pytest.skip(f"no offscreen OpenGL backend on this machine: {report['reason']}")

    import imageio.v3 as iio
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = Path(report["run_dir"])
    for path in [run_dir / "video_0.mp4", Path(report["tester_video"])]:
        frames = iio.imread(path)
        # 0.3 s at a 0.01 s control step, one frame in 3 (33 fps): 10 frames of 640 x 480.
        assert frames.shape == (10, 480, 640, 3), path
        assert frames.std() > 5, "the frames show something"
    assert report["tester_video"] == str(run_dir / "full_0_test.mp4")
    events = EventAccumulator(str(run_dir))
    events.Reload()
    assert "Evaluation/frames" in events.Tags()["images"]


def test_training_films_only_the_start_of_long_episodes(tmp_path):
    (tmp_path / "cfg.yaml").write_text(small_cfg_text({"max_time": 0.3}, record_video=True))
    report = run_script(tmp_path, 0, "0.1")  # the trainer films 0.1 s of each 0.3 s episode
    if report["backend"] is None:
        pytest.skip(f"no offscreen OpenGL backend on this machine: {report['reason']}")
    import imageio.v3 as iio

    # Steps 0 to 10 at one frame in 3: 4 frames; tester.py films the whole episode.
    assert iio.imread(Path(report["run_dir"]) / "video_0.mp4").shape[0] == 4
    assert iio.imread(report["tester_video"]).shape[0] == 10


def test_without_gl_it_says_so_once_and_trains_on(tmp_path):
    (tmp_path / "cfg.yaml").write_text(small_cfg_text({"max_time": 0.3}, record_video=True))
    # GLFW needs a display; without one it is a backend that surely fails.
    environment = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), "1"], capture_output=True, text=True,
                          timeout=300, env={**environment, "MUJOCO_GL": "glfw"})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"] is None and "MUJOCO_GL=glfw" in report["reason"]
    said = [line for line in report["lines"] if "no OpenGL backend" in line]
    assert len(said) == 1 and "apt-get install" in said[0], report["lines"]
    assert sum(line.startswith("[evaluation]") for line in report["lines"]) == 2, "training and evaluation went on"
    assert report["tester_video"] == "None" and not list(Path(report["run_dir"]).glob("*.mp4"))


def test_a_video_that_cannot_be_written_does_not_stop_training(tmp_path):
    (tmp_path / "cfg.yaml").write_text(small_cfg_text({"max_time": 0.3}, record_video=True))
    script = textwrap.dedent("""
        import json, sys
        from pathlib import Path
        from raisimGymTorch.runner import trainer
        from raisimGymTorch.viz import video

        root = Path(sys.argv[1])
        lines = []
        result = trainer.train("rsg_anymal", root / "cfg.yaml", iterations=2, run_root=root / "data", eval_envs=2,
                               update_threads=1, print_function=lines.append)
        print(json.dumps({"backend": video.select_gl_backend(), "lines": lines, "iteration": result.iteration,
                          "checkpoints": sorted(p.name for p in result.run_dir.glob("full_*.pt"))}))
    """)
    # An ffmpeg that does not exist makes every mp4 write fail.
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "IMAGEIO_FFMPEG_EXE": str(tmp_path / "no-ffmpeg")})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["backend"] is None:
        pytest.skip("no offscreen OpenGL backend on this machine, so no video is attempted")
    assert report["iteration"] == 2
    assert report["checkpoints"] == ["full_0.pt", "full_1.pt", "full_2.pt"]
    assert sum("cannot write mp4" in line for line in report["lines"]) == 1


TERRAIN_SCRIPT = textwrap.dedent("""
    import json
    from raisimGymTorch.viz import video
    if video.select_gl_backend() is None:
        print(json.dumps({"backend": None, "reason": video.unavailable_reason()}))
        raise SystemExit
    from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env
    from raisimGymTorch.viz.model_source import simulated_model

    env = make_vec_env("rsg_anymal_velocity", load_cfg(ENVS_DIR / "rsg_anymal_velocity" / "cfg.yaml"), "cfg.yaml",
                       num_envs=1, num_threads=1, seed=0, normalize_ob=False)
    env.reset()
    recorder = video.VideoRecorder(simulated_model(env), width=320, height=240)
    recorder.capture(*env.wrapper.getState(0))
    recorder.renderer.enable_depth_rendering()
    depth = recorder.renderer.render()
    import numpy as np
    qpos, _ = env.wrapper.getState(0)
    distance = np.linalg.norm(np.mean([c.pos for c in recorder.renderer.scene.camera], axis=0) - qpos[:3])
    print(json.dumps({"backend": video.select_gl_backend(), "distance": float(distance),
                      "extent": recorder.model.stat.extent, "frame_std": float(recorder.frames[0].std()),
                      "nearest_bottom_depth": float(depth[-40:].min()), "farthest_bottom_depth": float(depth[-40:].max())}))
""")


def test_on_terrain_the_camera_frames_the_robot_and_sees_the_ground_before_it():
    # The terrain makes the model's extent ~260 m, and MuJoCo's near plane (1% of the extent, 2.6 m) cut away the
    # ground in the lower part of every frame.
    done = subprocess.run([sys.executable, "-c", TERRAIN_SCRIPT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["backend"] is None:
        pytest.skip(f"no offscreen OpenGL backend on this machine: {report['reason']}")
    assert report["extent"] > 100 and 0.5 < report["distance"] < 5.0, report
    assert report["frame_std"] > 5, "the frame shows something"
    # The bottom rows look down onto the ground near the robot: every pixel there lies a few metres away.
    assert 0.5 < report["nearest_bottom_depth"] and report["farthest_bottom_depth"] < 10.0, report
