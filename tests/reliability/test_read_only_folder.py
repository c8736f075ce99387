"""Issue 17, item 9: tester.py on a checkpoint in a folder it cannot write used to fail after the episodes with
"[Errno 32] Broken pipe" (ffmpeg, which opens the mp4 itself, had exited). It must say which file it cannot write,
why, and what to do, before playing.

The folder is made read-only for real: a tmpfs remounted read-only as root (chmod does not stop root), else
chmod 0o555.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import small_cfg_text
from reliability_helpers import ANYMAL_DIR, child_environment, describe_exit

from raisimGymTorch.viz import video


def save_small_checkpoint(path):
    from conftest import anymal_cfg

    from raisimGymTorch.algo.ppo import PPO, Actor, Critic, PPOConfig
    from raisimGymTorch.env.make import make_vec_env
    from raisimGymTorch.io.checkpoint import make_checkpoint, save_checkpoint

    env = make_vec_env("rsg_anymal", anymal_cfg(), num_envs=2, num_threads=1)
    try:
        ppo = PPO(Actor(env.num_obs, env.num_acts, [32, 32]), Critic(env.num_obs, [32, 32]), 2, 4,
                  PPOConfig(policy_net=[32, 32], value_net=[32, 32]), seed=0)
        save_checkpoint(make_checkpoint(ppo, env, 5, "rsg_anymal", small_cfg_text()), path)
    finally:
        env.close()


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder holding full_5.pt that this process cannot write into, and the reason the OS gives."""
    folder = tmp_path / "run"
    folder.mkdir()
    if os.geteuid() != 0:
        save_small_checkpoint(folder / "full_5.pt")
        folder.chmod(0o555)
        yield folder, "Permission denied"
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"root, and mount is not allowed here, so no folder is read-only to us: {mounted.stderr[:200]}")
    try:
        save_small_checkpoint(folder / "full_5.pt")
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, capture_output=True)
        yield folder, "Read-only file system"
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.skipif(video.select_gl_backend() is None, reason="no OpenGL backend: tester.py films nothing")
def test_tester_names_the_video_it_cannot_write(read_only_folder):
    folder, reason = read_only_folder
    result = subprocess.run([sys.executable, str(ANYMAL_DIR / "tester.py"), "-w", str(folder / "full_5.pt")],
                            capture_output=True, text=True, timeout=240, env=child_environment())
    assert result.returncode == 1, describe_exit(result)
    assert "Broken pipe" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert re.search(rf"^error: cannot write the video {re.escape(str(folder))}/full_5_test\.mp4: {reason}; pass "
                     r"--no-video, or copy full_5\.pt into a folder you can write$", result.stderr, re.M), result.stderr
    assert "episode 1" not in result.stdout, "it played before finding out it cannot write the video"
    assert sorted(p.name for p in folder.iterdir()) == ["full_5.pt"]
