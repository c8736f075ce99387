"""Data-parallel training on 2 ranks over gloo on localhost: what torchrun users rely on.

One torchrun launch runs every check that needs healthy ranks (`two_ranks`); two more launches kill and freeze a
rank. Run as a script, this file is the worker those launches start (see `_worker`).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from raisimGymTorch.io.checkpoint import load_checkpoint
from raisimGymTorch.runner.distributed import (DistributedError, LaunchInfo, merge_statistics, split_envs,
                                               threads_per_rank)

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import small_cfg_text  # noqa: E402

ENVIRONMENT = {"num_envs": 8, "max_time": 0.2, "eval_every_n": 2}
TRAIN_ITERATIONS = 4
RESUME_ITERATIONS = 2
BASE_DATA_SEED = 7


def statistics_of(data):
    """(mean, population variance, count) in float64, the reference for the merge."""
    data = np.asarray(data, dtype=np.float64)
    return data.mean(axis=0), data.var(axis=0), float(len(data))


def chan(first, second):
    """Chan et al.'s merge of two sets of statistics, as the C++ ObservationStatistics folds in a batch."""
    (mean, var, count), (other_mean, other_var, other_count) = first, second
    total = count + other_count
    delta = other_mean - mean
    return (mean + delta * other_count / total,
            (var * count + other_var * other_count + delta**2 * count * other_count / total) / total, total)


# --- without processes -------------------------------------------------------------------------------------

def test_merge_of_ranks_that_share_a_base_equals_the_statistics_of_the_union():
    rng = np.random.default_rng(0)
    base_data = rng.normal(3.0, 2.0, (5000, 4))
    rank_data = [rng.normal(3.5, 1.0 + k, (100 + 50 * k, 4)) for k in range(3)]
    base = statistics_of(base_data)
    updated = [chan(base, statistics_of(data)) for data in rank_data]

    mean, var, count = merge_statistics(base, updated)
    union_mean, union_var, union_count = statistics_of(np.concatenate([base_data, *rank_data]))
    assert count == union_count == 5450
    np.testing.assert_allclose(mean, union_mean, rtol=1e-12)
    np.testing.assert_allclose(var, union_var, rtol=1e-12)
    # Chan-merging the ranks' statistics instead counts the base three times.
    naive = chan(chan(updated[0], updated[1]), updated[2])
    assert naive[2] == 3 * 5000 + 450
    assert not np.allclose(naive[0], union_mean, rtol=1e-3)


def test_merge_from_empty_statistics_and_of_ranks_without_new_data():
    rng = np.random.default_rng(1)
    empty = (np.zeros(3), np.ones(3), 0.0)  # what a fresh env holds
    a, b = rng.normal(size=(10, 3)), rng.normal(size=(20, 3))
    mean, var, count = merge_statistics(empty, [statistics_of(a), statistics_of(b)])
    union = statistics_of(np.concatenate([a, b]))
    np.testing.assert_allclose(mean, union[0], rtol=1e-12)
    np.testing.assert_allclose(var, union[1], rtol=1e-12)
    assert count == 30
    unchanged = merge_statistics(union, [union, union])
    np.testing.assert_allclose(unchanged[0], union[0], rtol=1e-12)
    np.testing.assert_allclose(unchanged[1], union[1], rtol=1e-12)
    assert unchanged[2] == 30


def test_statistics_merged_for_many_iterations_through_real_envs_stay_those_of_the_union(make_anymal):
    """Two envs stand in for two ranks, as `Distributed.merge_statistics` drives them: every iteration each folds
    its own observations into the shared base, and the merge goes back into both through set_statistics. After 50
    iterations the envs still hold the float64 statistics of every observation (a float32 hop per iteration, as
    get/set_statistics once had, was off by up to 3e-6 relative here)."""
    ranks = [make_anymal(num_envs=4, seed=1 + 4 * k) for k in range(2)]  # raw observations, statistics still update
    rng = np.random.default_rng(3)
    base = ranks[0].get_statistics()  # empty: count 0, the same on both
    seen = []
    for _ in range(50):
        for env in ranks:
            for _ in range(3):
                seen.append(env.observe(update_statistics=True).astype(np.float64))
                env.step(rng.normal(0.0, 0.5, (env.num_envs, env.num_acts)).astype(np.float32))
        base = merge_statistics(base, [env.get_statistics() for env in ranks])
        for env in ranks:
            env.set_statistics(*base)
            held = env.get_statistics()
            assert held[2] == base[2] and all(np.array_equal(a, b) for a, b in zip(held[:2], base[:2]))

    union_mean, union_var, union_count = statistics_of(np.concatenate(seen))
    assert base[2] == union_count == 50 * 2 * 3 * 4
    # atol: features that are zero or never vary have no relative precision to speak of.
    np.testing.assert_allclose(base[0], union_mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(base[1], union_var, rtol=1e-12, atol=1e-14)


def test_ranks_split_the_total_env_count_and_its_seeds():
    for total, ranks in [(8, 2), (100, 3), (5, 5), (7, 4)]:
        shares = [split_envs(total, ranks, rank) for rank in range(ranks)]
        seeds = [offset + i for count, offset in shares for i in range(count)]
        assert seeds == list(range(total)), (total, ranks, shares)
        assert max(c for c, _ in shares) - min(c for c, _ in shares) <= 1
    with pytest.raises(ValueError, match="num_envs 3 for 4 ranks"):
        split_envs(3, 4, 0)


def test_threads_are_the_ranks_share_of_the_cores():
    assert threads_per_rank(2, cores=2) == 1
    assert threads_per_rank(2, cores=16) == 8
    assert threads_per_rank(3, cores=2) == 1
    assert threads_per_rank(1, cores=4) == 4


def test_launch_info_reads_torchruns_variables():
    assert LaunchInfo.from_environment({}) is None
    assert LaunchInfo.from_environment({"WORLD_SIZE": "1", "RANK": "0"}) is None
    info = LaunchInfo.from_environment({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert info == LaunchInfo(rank=3, world_size=4, local_rank=1, local_world_size=2)
    with pytest.raises(ValueError, match="RANK is not set"):
        LaunchInfo.from_environment({"WORLD_SIZE": "2"})
    with pytest.raises(ValueError, match="inconsistent"):
        LaunchInfo.from_environment({"WORLD_SIZE": "2", "RANK": "2"})


# --- two ranks under torchrun ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """Runs `_worker` on 2 ranks with torchrun; returns the records of rank 0 and rank 1 and the output folder."""
    out = tmp_path_factory.mktemp("two_ranks")
    (out / "cfg.yaml").write_text(small_cfg_text(ENVIRONMENT))
    (out / "other_cfg.yaml").write_text(small_cfg_text(ENVIRONMENT, seed=99))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               __file__, "checks", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=_environment(), cwd=out)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    records = [pickle.loads((out / f"rank{rank}.pkl").read_bytes()) for rank in (0, 1)]
    return records, out, done.stdout


def test_parameters_optimizer_and_learning_rate_stay_identical_on_both_ranks(two_ranks):
    (rank0, rank1), _, _ = two_ranks
    for phase in ("train", "resume"):
        updates0, updates1 = rank0[phase]["updates"], rank1[phase]["updates"]
        assert len(updates0) == len(updates1) == (TRAIN_ITERATIONS if phase == "train" else RESUME_ITERATIONS)
        for step, (a, b) in enumerate(zip(updates0, updates1)):
            for key in ("parameters", "optimizer", "learning_rate", "kl"):
                assert a[key] == b[key], (phase, step, key)
            # ...while each rank learned from its own envs.
            assert a["observations"] != b["observations"], (phase, step)
        assert len({u["parameters"] for u in updates0}) == len(updates0), "every update changes the parameters"


def test_merged_normalizer_equals_the_normalizer_of_all_ranks_data(two_ranks):
    (rank0, rank1), _, _ = two_ranks
    for record in (rank0, rank1):
        merged, expected = record["merge"]["merged"], record["merge"]["union"]
        assert merged[2] == expected[2]
        # float64 from the C++ statistics through the all-gather and back: only summation order differs.
        assert merged[0].dtype == merged[1].dtype == np.float64
        np.testing.assert_allclose(merged[0], expected[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(merged[1], expected[1], rtol=1e-12, atol=1e-14)
    assert all(np.array_equal(a, b) for a, b in zip(rank0["merge"]["merged"], rank1["merge"]["merged"]))
    # In training, too, both ranks hold the same statistics after every merge.
    assert rank0["train"]["statistics"] == rank1["train"]["statistics"]
    assert len(set(rank0["train"]["statistics"])) == TRAIN_ITERATIONS


def test_only_rank0_writes_files_and_both_ranks_report_its_run(two_ranks):
    (rank0, rank1), out, stdout = two_ranks
    assert not (out / "rank1_root").exists()
    run_dirs = list((out / "data" / "rsg_anymal").iterdir())
    assert len(run_dirs) == 3  # the first run, the resumed one and the one stopped by NaN
    train_dir = Path(rank0["train"]["run_dir"])
    assert rank1["train"]["run_dir"] == str(train_dir)
    names = {p.name for p in train_dir.iterdir()}
    assert {"full_0.pt", "full_2.pt", "full_4.pt", "policy_4.pt", "cfg.yaml"} <= names
    assert any(name.startswith("events.out.tfevents") for name in names)
    # One progress line per iteration, from rank 0, counting the steps of both ranks.
    progress = [line for line in stdout.splitlines() if line.startswith("iteration")]
    assert len(progress) == TRAIN_ITERATIONS + RESUME_ITERATIONS + 1  # + the NaN run's first iteration
    assert "[runner] 2 ranks (gloo), 4 envs and 1 thread(s) on rank 0" in stdout


def test_resume_on_two_ranks_restores_the_checkpoint_everywhere(two_ranks):
    (rank0, rank1), _, _ = two_ranks
    saved = load_checkpoint(rank0["train"]["last_checkpoint"])
    digest = _digest(*saved["actor"].values(), *saved["critic"].values())
    # Rank 1 was given a path that does not exist: rank 0 reads the file and sends it.
    assert rank0["resume"]["loaded"] == rank1["resume"]["loaded"] == [digest]
    resumed_dir = Path(rank0["resume"]["run_dir"])
    at_load = load_checkpoint(resumed_dir / f"full_{TRAIN_ITERATIONS}.pt")
    for key in ("iteration", "learning_rate", "obs_mean", "obs_var", "obs_count", "generator"):
        assert torch.equal(torch.as_tensor(at_load[key]), torch.as_tensor(saved[key])), key
    final = load_checkpoint(resumed_dir / f"full_{TRAIN_ITERATIONS + RESUME_ITERATIONS}.pt")
    assert final["iteration"] == TRAIN_ITERATIONS + RESUME_ITERATIONS
    assert rank0["resume"]["iteration"] == rank1["resume"]["iteration"] == TRAIN_ITERATIONS + RESUME_ITERATIONS


def test_a_non_finite_loss_on_one_rank_stops_both(two_ranks):
    (rank0, rank1), _, _ = two_ranks
    assert "stopped at iteration 1" in rank1["nan"] and "non-finite loss nan" in rank1["nan"]
    assert "stopped at iteration 1" in rank0["nan"] and "non-finite loss on another rank" in rank0["nan"]


def test_ranks_with_different_cfgs_refuse_to_train(two_ranks):
    (rank0, rank1), _, _ = two_ranks
    for record in (rank0, rank1):
        assert "differs between rank 0 and rank(s) [1]" in record["other_cfg"]


# --- a rank that dies or hangs ------------------------------------------------------------------------------

def _fail_rank1(rank0, rank1, after_line, fail):
    """Calls fail(rank1) once rank 0 printed `after_line`; returns rank 0's stderr and the seconds it then needed."""
    try:
        _wait_for_line(rank0, after_line)
        fail(rank1)
        started = time.monotonic()
        _, err = rank0.communicate(timeout=60)
        return err, time.monotonic() - started
    finally:
        for process in (rank0, rank1):
            process.kill()
            process.wait()


def test_a_killed_rank_makes_the_other_stop_with_a_clear_error(tmp_path):
    rank0, rank1, run_root = _start_two_runners(tmp_path, timeout=20, eval_every_n=2)
    err, waited = _fail_rank1(rank0, rank1, "iteration      3 ", lambda rank: rank.kill())
    assert rank0.returncode == 1, err
    assert waited < 20, f"rank 0 needed {waited:.0f} s to notice"  # a dead peer is noticed at once, no timeout
    assert "error: rank 0 of 2:" in err and "another rank's process ended" in err, err
    assert "Traceback" not in err, err
    checkpoints = sorted(next((run_root / "rsg_anymal").iterdir()).glob("full_*.pt"))
    assert checkpoints and load_checkpoint(checkpoints[-1])["iteration"] >= 2
    assert not list(checkpoints[0].parent.glob(".*.tmp"))


def test_a_hung_rank_makes_the_other_stop_after_the_timeout(tmp_path):
    rank0, rank1, _ = _start_two_runners(tmp_path, timeout=3, eval_every_n=1000)
    # SIGSTOP: alive, sockets open, silent.
    err, waited = _fail_rank1(rank0, rank1, "iteration      2 ", lambda rank: rank.send_signal(signal.SIGSTOP))
    assert rank0.returncode == 1, err
    assert 2.5 < waited < 30, waited
    assert "error: rank 0 of 2:" in err and "another rank did not answer within 3 s" in err, err
    assert "Traceback" not in err, err


def test_a_signal_to_one_rank_stops_both_after_the_same_iteration(tmp_path):
    rank0, rank1, run_root = _start_two_runners(tmp_path, timeout=20, eval_every_n=1000)
    try:
        _wait_for_line(rank0, "iteration      1 ")
        rank1.send_signal(signal.SIGTERM)
        out, err = rank0.communicate(timeout=60)
        rank1.wait(timeout=30)
    finally:
        for process in (rank0, rank1):
            process.kill()
            process.wait()
    assert rank0.returncode == 0 and rank1.returncode == 0, err + rank1.stderr.read()
    final = [line for line in out.splitlines() if line.startswith("[runner] stopped by signal")]
    assert len(final) == 1, out
    iterations = int(final[0].split(": ")[1].split()[0])
    run_dir = next((run_root / "rsg_anymal").iterdir())
    assert load_checkpoint(run_dir / f"full_{iterations}.pt")["iteration"] == iterations


def test_ctrl_c_forwarded_by_torchrun_counts_once(monkeypatch):
    from raisimGymTorch.runner.stop_request import StopRequest

    monkeypatch.setattr(StopRequest, "SAME_REQUEST_SECONDS", 0.2)
    lines = []
    with StopRequest(lines.append) as stop:
        os.kill(os.getpid(), signal.SIGINT)  # from the terminal
        os.kill(os.getpid(), signal.SIGINT)  # forwarded by torchrun
        assert stop.requested and len(lines) == 1
        time.sleep(0.3)
        with pytest.raises(KeyboardInterrupt):  # a later one aborts, as without torchrun
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)


def _start_two_runners(tmp_path, timeout, eval_every_n):
    """Two runner processes on localhost, wired as torchrun would, training until stopped."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(small_cfg_text({**ENVIRONMENT, "eval_every_n": eval_every_n}))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    processes = []
    for rank in (0, 1):
        environment = _environment(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                                   LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2")
        processes.append(subprocess.Popen(
            [sys.executable, __file__, "runner", str(cfg), str(tmp_path / f"data{rank}"), "--dist-timeout",
             str(timeout)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, cwd=tmp_path))
    return processes[0], processes[1], tmp_path / "data0"


def _wait_for_line(process, prefix, seconds=90):
    deadline = time.monotonic() + seconds
    for line in process.stdout:
        if line.startswith(prefix):
            return
        if time.monotonic() > deadline:
            break
    process.kill()
    raise AssertionError(f"no line starting with {prefix!r}: {process.stderr.read()[-3000:]}")


def _environment(**extra):
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **extra}
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), environment.get("PYTHONPATH", "")])
    return environment


def _digest(*tensors):
    """A hash of the tensors' bits."""
    hasher = hashlib.sha256()
    for tensor in tensors:
        hasher.update(torch.as_tensor(tensor).detach().cpu().contiguous().numpy().tobytes())
    return hasher.hexdigest()


# --- the worker these tests launch ---------------------------------------------------------------------------

def _worker(mode, directory, *rest):
    """``checks <dir>``: every check of `two_ranks`, records in <dir>/rank<r>.pkl; ``runner <cfg> <root> [args]``:
    trainer.main with the run directories under <root>."""
    from raisimGymTorch.runner import trainer

    directory = Path(directory)
    if mode == "runner":
        cfg, root = directory, Path(rest[0])
        original = trainer.train

        def train(*args, **kwargs):
            return original(*args, **{**kwargs, "run_root": root, "eval_envs": 2, "update_threads": 1})

        trainer.train = train
        return trainer.main("rsg_anymal", cfg, list(rest[1:]))

    from raisimGymTorch.algo.ppo import PPO
    from raisimGymTorch.env.make import load_cfg, make_vec_env
    from raisimGymTorch.runner.distributed import Distributed

    distributed = Distributed.from_environment(timeout=60)
    rank = distributed.rank
    root = directory / ("data" if rank == 0 else "rank1_root")
    record = {}

    # 1. The statistics merge with real envs: rank r steps envs like training does, a raw twin gives its data.
    cfg = load_cfg(directory / "cfg.yaml")
    count, offset = distributed.assign_envs(8)
    normalized = make_vec_env("rsg_anymal", cfg, num_envs=count, num_threads=1, seed=1 + offset)
    raw = make_vec_env("rsg_anymal", cfg, num_envs=count, num_threads=1, seed=1 + offset, normalize_ob=False)
    # A base as if 300 observations had been seen before (the same on both ranks).
    normalized.set_statistics(*statistics_of(np.random.default_rng(BASE_DATA_SEED).normal(0.5, 2.0, (300, 35))))
    base = normalized.get_statistics()
    actions = np.random.default_rng(rank).normal(size=(6, count, normalized.num_acts)).astype(np.float32)
    seen = []
    for step in range(7):
        normalized.observe()
        seen.append(raw.observe(update_statistics=False).copy())
        if step < 6:
            normalized.step(actions[step])
            raw.step(actions[step])
    merged = distributed.merge_statistics(normalized, base)
    everyone = [None, None]
    torch.distributed.all_gather_object(everyone, np.concatenate(seen))
    record["merge"] = {"merged": merged, "union": chan(base, statistics_of(np.concatenate(everyone)))}
    normalized.close()
    raw.close()

    # 2. Training, recording what every update left behind.
    def watch(phase):
        record[phase] = {"updates": [], "statistics": [], "loaded": []}
        return record[phase]

    real_update, real_load, real_merge = PPO.update, PPO.load_state_dict, Distributed.merge_statistics

    def update(self, last_obs, iteration):
        observations = _digest(self.storage.observations)
        stats = real_update(self, last_obs, iteration)
        optimizer = [t for state in self.optimizer.state_dict()["state"].values() for t in state.values()]
        current["updates"].append({"parameters": _digest(*self._parameters), "optimizer": _digest(*optimizer),
                                   "learning_rate": self.learning_rate, "kl": stats["kl"],
                                   "observations": observations})
        return stats

    def load_state_dict(self, state_dict):
        real_load(self, state_dict)
        current["loaded"].append(_digest(*self.actor.state_dict().values(), *self.critic.state_dict().values()))

    def merge(self, env, base):
        merged = real_merge(self, env, base)
        current["statistics"].append(_digest(*merged[:2], merged[2]))
        return merged

    PPO.update, PPO.load_state_dict, Distributed.merge_statistics = update, load_state_dict, merge
    options = {"run_root": root, "eval_envs": 2, "update_threads": 1, "distributed": distributed}
    current = watch("train")
    result = trainer.train("rsg_anymal", directory / "cfg.yaml", iterations=TRAIN_ITERATIONS, **options)
    current.update(run_dir=str(result.run_dir), last_checkpoint=str(result.last_checkpoint))

    # 3. Resume; only rank 0 can read the checkpoint.
    current = watch("resume")
    weight = result.last_checkpoint if rank == 0 else directory / "nowhere" / "full_4.pt"
    resumed = trainer.train("rsg_anymal", directory / "cfg.yaml", mode="retrain", weight=weight,
                            iterations=RESUME_ITERATIONS, **options)
    current.update(run_dir=str(resumed.run_dir), iteration=resumed.iteration)

    # 4. A NaN reward on rank 1 in the second iteration.
    current = watch("nan_run")
    calls = []

    def poisoned(self, last_obs, iteration):
        calls.append(1)
        if rank == 1 and len(calls) == 2:
            self.storage.rewards[0, 0] = float("nan")
        return update(self, last_obs, iteration)

    PPO.update = poisoned
    try:
        trainer.train("rsg_anymal", directory / "cfg.yaml", iterations=3, **options)
        record["nan"] = "no error"
    except FloatingPointError as error:
        record["nan"] = str(error)
    PPO.update = update

    # 5. Rank 1 with another cfg.
    try:
        trainer.train("rsg_anymal", directory / ("cfg.yaml" if rank == 0 else "other_cfg.yaml"), iterations=1,
                      **options)
        record["other_cfg"] = "no error"
    except DistributedError as error:
        record["other_cfg"] = str(error)

    (directory / f"rank{rank}.pkl").write_bytes(pickle.dumps(record))
    distributed.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(_worker(*sys.argv[1:]))
