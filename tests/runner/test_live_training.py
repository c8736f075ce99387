"""Training with the live viewer on: every evaluation episode is streamed; a taken port fails before training."""
import socket

import pytest

from raisimGymTorch.runner import trainer
from conftest import small_cfg_text


@pytest.fixture
def cfg_path(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(small_cfg_text({"max_time": 0.1}))
    return path


def test_render_streams_evaluations_on_localhost(cfg_path, tmp_path, monkeypatch):
    from raisimGymTorch.viz.viewer import LiveViewer

    pushed = []
    original_update = LiveViewer.update
    monkeypatch.setattr(LiveViewer, "update", lambda self, qpos: (pushed.append(qpos.copy()), original_update(self, qpos)))
    lines = []
    result = trainer.train("rsg_anymal", cfg_path, iterations=1, run_root=tmp_path / "data", eval_envs=1,
                           update_threads=1, print_function=lines.append, render=True,
                           viewer_address=("127.0.0.1", 0))
    assert result.iteration == 1
    url_lines = [line for line in lines if line.startswith("[viewer]")]
    assert len(url_lines) == 1 and "127.0.0.1" in url_lines[0]
    # Two evaluations (iterations 0 and 1) of 10 steps each, plus the resets: env 0's states reached the viewer.
    assert len(pushed) >= 20
    assert all(q.shape == (19,) for q in pushed)


def test_a_taken_viewer_port_is_an_error_before_training(cfg_path, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"port {port} on 127.0.0.1 is already in use.*--port"):
            trainer.train("rsg_anymal", cfg_path, iterations=1, run_root=tmp_path / "data", eval_envs=1,
                          update_threads=1, render=True, viewer_address=("127.0.0.1", port))
    assert not list((tmp_path / "data").rglob("full_*.pt")), "nothing was trained"


def test_tester_render_shows_the_policy_live(cfg_path, tmp_path, monkeypatch):
    from raisimGymTorch.runner import player
    from raisimGymTorch.viz.viewer import LiveViewer

    result = trainer.train("rsg_anymal", cfg_path, iterations=0, run_root=tmp_path / "data", eval_envs=1,
                           update_threads=1, print_function=lambda line: None)
    pushed = []
    original_update = LiveViewer.update
    monkeypatch.setattr(LiveViewer, "update", lambda self, qpos: (pushed.append(qpos.copy()), original_update(self, qpos)))
    lines = []
    outcome, _ = player.play(result.last_checkpoint, "rsg_anymal", episodes=2, record_video=False,
                             print_function=lines.append, render=True, viewer_address=("127.0.0.1", 0))
    assert any(line.startswith("[viewer] showing the policy at http://127.0.0.1:") for line in lines)
    assert len(outcome.returns) == 2
    assert len(pushed) >= outcome.lengths.sum()
