"""The actuator network pipeline end to end: drive data -> fit -> file -> the C++ forward pass the envs run."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from raisimGymTorch.actuator.__main__ import main as actuator_cli
from raisimGymTorch.actuator.data import DriveLog, history_pairs, load_drive_log
from raisimGymTorch.actuator.drive import DriveParameters, Loads, random_loads, simulate_drive
from raisimGymTorch.actuator.excitation import excitation_targets
from raisimGymTorch.actuator.fit import fit_network
from raisimGymTorch.actuator.network import ActuatorNetwork, read_network, write_network
from raisimGymTorch.env.bin._toolkit import ActuatorNetworkHistory


@pytest.fixture
def random_network(tmp_path: Path) -> tuple[ActuatorNetwork, Path]:
    torch.manual_seed(0)
    network = ActuatorNetwork(history=3, lag=2, hidden=(16, 8), input_scale=np.linspace(0.5, 2.0, 6), output_scale=40.0)
    path = tmp_path / "random.net"
    network.save(path)
    return network, path


def reference_torques(network: ActuatorNetwork, errors: np.ndarray, velocities: np.ndarray) -> np.ndarray:
    """PyTorch's forward pass over the same history the C++ keeps: before the first sample, the first sample."""
    padded_e = np.concatenate([np.repeat(errors[:1], network.lag * (network.history - 1), 0), errors])
    padded_v = np.concatenate([np.repeat(velocities[:1], network.lag * (network.history - 1), 0), velocities])
    log = DriveLog(np.arange(len(padded_e), dtype=float), padded_e, np.zeros_like(padded_e), padded_v,
                   np.zeros_like(padded_e))
    inputs, _ = history_pairs(log, network.history, network.lag)
    with torch.no_grad():
        return network(torch.from_numpy(inputs)).numpy().reshape(errors.shape[1], -1).T


def test_cpp_forward_pass_equals_pytorch(random_network: tuple[ActuatorNetwork, Path]) -> None:
    network, path = random_network
    rng = np.random.default_rng(1)
    errors, velocities = rng.normal(0, 0.2, (40, 12)), rng.normal(0, 3.0, (40, 12))
    drives = ActuatorNetworkHistory(str(path), 12)
    cpp = np.stack([drives.torques(e, v) for e, v in zip(errors, velocities)])
    np.testing.assert_allclose(cpp, reference_torques(network, errors, velocities), rtol=1e-12, atol=1e-9)


def test_history_is_per_env_and_restarts_with_the_episode(random_network: tuple[ActuatorNetwork, Path]) -> None:
    _, path = random_network
    rng = np.random.default_rng(2)
    samples = [(rng.normal(0, 0.2, 4), rng.normal(0, 2, 4)) for _ in range(10)]
    first, second = ActuatorNetworkHistory(str(path), 4), ActuatorNetworkHistory(str(path), 4)
    a = [first.torques(e, v) for e, v in samples]
    for e, v in reversed(samples):  # another env's different history leaves the first one's alone
        second.torques(e, v)
    first.reset()
    again = [first.torques(e, v) for e, v in samples]
    np.testing.assert_array_equal(np.stack(a), np.stack(again))
    fresh = ActuatorNetworkHistory(str(path), 4)
    first.reset()
    np.testing.assert_array_equal(fresh.torques(*samples[3]), first.torques(*samples[3]))
    assert not np.allclose(second.torques(*samples[0]), fresh.torques(*samples[0]))


def test_no_heap_allocation_per_step(random_network: tuple[ActuatorNetwork, Path]) -> None:
    _, path = random_network
    drives = ActuatorNetworkHistory(str(path), 12)
    drives.heap_bytes_over(10)  # first calls may touch lazily allocated state
    assert drives.heap_bytes_over(2000) == 0


def test_file_round_trip_and_foreign_networks(tmp_path: Path, random_network: tuple[ActuatorNetwork, Path]) -> None:
    network, path = random_network
    again = read_network(path)
    x = torch.randn(50, 6, dtype=torch.float64)
    torch.testing.assert_close(again(x), network(x), rtol=0, atol=0)
    # A network trained elsewhere: plain arrays in, the same C++ reader.
    rng = np.random.default_rng(3)
    layers = [(rng.normal(size=(5, 4)), rng.normal(size=5)), (rng.normal(size=(1, 5)), rng.normal(size=1))]
    foreign = tmp_path / "foreign.net"
    write_network(foreign, history=2, lag=1, input_scale=np.ones(4), output_scale=1.0, layers=layers)
    e, v = np.array([0.1, -0.2]), np.array([1.0, 0.5])
    x0 = np.stack([e, e, v, v], axis=1)  # a first sample fills the history
    hidden = x0 @ layers[0][0].T + layers[0][1]
    expected = (hidden / (1 + np.abs(hidden))) @ layers[1][0].T + layers[1][1]
    np.testing.assert_allclose(ActuatorNetworkHistory(str(foreign), 2).torques(e, v), expected[:, 0], rtol=1e-12)


def corrupt(path: Path, tmp_path: Path, how: str) -> Path:
    blob = bytearray(path.read_bytes())
    out = tmp_path / f"{how}.net"
    if how == "truncated":
        blob = blob[: len(blob) // 2]
    elif how == "nan":
        blob[-8:] = struct.pack("<d", float("nan"))  # the last layer's bias
    elif how == "magic":
        blob[:8] = b"NOTANET!"
    elif how == "trailing":
        blob += b"\0\0\0\0"
    out.write_bytes(bytes(blob))
    return out


@pytest.mark.parametrize("how, message", [("truncated", "truncated"), ("nan", "non-finite"),
                                          ("magic", "not an actuator network"), ("trailing", "after the last layer")])
def test_bad_network_files_are_named_errors(tmp_path: Path, random_network: tuple[ActuatorNetwork, Path], how: str,
                                            message: str) -> None:
    bad = corrupt(random_network[1], tmp_path, how)
    with pytest.raises(ValueError, match=message) as error:
        ActuatorNetworkHistory(str(bad), 12)
    assert str(bad) in str(error.value)


def test_missing_file_and_layer_sizes_that_do_not_chain(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="missing"):
        ActuatorNetworkHistory(str(tmp_path / "absent.net"), 12)
    with pytest.raises(ValueError, match="does not take 6 inputs"):
        write_network(tmp_path / "x.net", 3, 1, np.ones(6), 1.0, [(np.ones((4, 5)), np.ones(4))])
    # The same mistake written by hand, past the Python writer's checks: the C++ reader refuses it too.
    raw = tmp_path / "raw.net"
    raw.write_bytes(b"RSGACTNN" + struct.pack("<III", 1, 3, 1) + np.ones(6).tobytes() + struct.pack("<dI", 1.0, 1)
                    + struct.pack("<II", 1, 5) + np.ones(5).tobytes() + np.ones(1).tobytes())
    with pytest.raises(ValueError, match="layer 1 takes 5 inputs, but 6 come in"):
        ActuatorNetworkHistory(str(raw), 12)


def small_log(seconds: float = 6.0, joints: int = 6, seed: int = 0) -> DriveLog:
    parameters = DriveParameters(physics_rate=4000.0)
    targets = excitation_targets(joints, seconds, parameters.control_period, seed=seed)
    return simulate_drive(targets, random_loads(joints, np.random.default_rng(seed)), parameters, seed)


def test_fit_recovers_a_synthetic_drive_better_than_pd() -> None:
    network, report = fit_network(small_log(), epochs=40, batch=256, print_function=lambda _: None)
    # Bound from runs of this test: ~1 N m against ~2-5 N m for the ideal PD on ~10 N m RMS torque.
    assert report.network_rms < 0.6 * report.pd_rms
    assert report.network_rms < 0.15 * report.torque_rms


def test_drive_log_errors_name_the_problem(tmp_path: Path) -> None:
    log = small_log(seconds=1.0, joints=2)
    good = tmp_path / "good.npz"
    log.save(good)
    assert load_drive_log(good).num_samples == log.num_samples
    arrays = {name: getattr(log, name) for name in ("time", "target", "position", "velocity", "torque")}
    nan = dict(arrays, velocity=arrays["velocity"].copy())
    nan["velocity"][5, 1] = np.nan
    np.savez(tmp_path / "nan.npz", **nan)
    with pytest.raises(ValueError, match=r"'velocity' holds a non-finite value at sample 5, joint 1"):
        load_drive_log(tmp_path / "nan.npz")
    np.savez(tmp_path / "columns.npz", **{k: v for k, v in arrays.items() if k != "torque"})
    with pytest.raises(ValueError, match="lacks the column.*torque"):
        load_drive_log(tmp_path / "columns.npz")
    np.savez(tmp_path / "short.npz", **{k: v[:50] for k, v in arrays.items()})
    with pytest.raises(ValueError, match="50 samples; fitting needs at least"):
        load_drive_log(tmp_path / "short.npz")


def test_command_line_generate_fit_and_load_in_cpp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, net = tmp_path / "drive.npz", tmp_path / "drive.net"
    assert actuator_cli(["generate", str(data), "--joints", "4", "--seconds", "3"]) == 0
    assert actuator_cli(["fit", str(data), "-o", str(net), "--epochs", "5"]) == 0
    assert "held-out torque error" in capsys.readouterr().out
    assert net.with_suffix(".png").stat().st_size > 10_000
    assert ActuatorNetworkHistory(str(net), 12).torques(np.zeros(12), np.zeros(12)).shape == (12,)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    assert actuator_cli(["fit", str(bad), "-o", str(net)]) == 2
    assert "not a readable .npz" in capsys.readouterr().err
