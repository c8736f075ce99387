"""runner.py and tester.py command lines given bad arguments and bad weight files.

``python cli_cases.py <scratch dir>`` runs every case in this one process (runpy, as ``python runner.py ...``
would, exit code included) and prints one JSON line per case; test_cli_bad_input.py checks them. Run
directories go to the scratch dir, so nothing lands in raisimGymTorch/data even if a case trained.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path

ENVS = Path(__file__).resolve().parents[2] / "raisimGymTorch" / "env" / "envs"
RUNNER, TESTER = ENVS / "rsg_anymal" / "runner.py", ENVS / "rsg_anymal" / "tester.py"


class Payload:
    """Unpickling this creates the file PAYLOAD_RAN: proof that a checkpoint's code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@dataclass(frozen=True)
class CliCase:
    name: str
    script: Path
    argv: list[str]  # "{dir}" is replaced by the scratch dir
    exit_code: int
    stderr: str  # a regex the error output must match


REFUSED_PICKLE = (r"error: .*evil\.pt is not a readable checkpoint: it asks to build a (io|builtins)\.open, which no "
                  r"raisimGymTorch checkpoint contains; it was not loaded")
CASES = [
    CliCase("runner: --iterations not a number", RUNNER, ["--iterations", "ten"], 2,
            r"argument --iterations: invalid int value: 'ten'"),
    CliCase("runner: unknown mode", RUNNER, ["-m", "resume"], 2, r"argument -m/--mode: invalid choice: 'resume'"),
    CliCase("runner: unknown option", RUNNER, ["--lr", "3"], 2, r"unrecognized arguments: --lr 3"),
    CliCase("runner: retrain without -w", RUNNER, ["-m", "retrain"], 1,
            r"retrain mode needs a checkpoint: .* -w path/to/full_<N>\.pt"),
    CliCase("runner: missing weight file", RUNNER, ["-m", "retrain", "-w", "{dir}/nowhere/full_3.pt"], 1,
            r"error: checkpoint not found: .*nowhere/full_3\.pt"),
    CliCase("runner: empty weight file", RUNNER, ["-m", "retrain", "-w", "{dir}/empty.pt"], 1,
            r"error: .*empty\.pt is not a readable checkpoint"),
    CliCase("runner: random bytes as weights", RUNNER, ["-m", "retrain", "-w", "{dir}/random.pt"], 1,
            r"error: .*random\.pt is not a readable checkpoint"),
    CliCase("runner: truncated weight file", RUNNER, ["-m", "retrain", "-w", "{dir}/truncated.pt"], 1,
            r"error: .*truncated\.pt is not a readable checkpoint"),
    CliCase("runner: weights of another env", RUNNER, ["-m", "retrain", "-w", "{dir}/other_env.pt"], 1,
            r"error: .*other_env\.pt was trained on env 'rsg_ant', not 'rsg_anymal'"),
    CliCase("runner: a pickle that runs code as weights", RUNNER, ["-m", "retrain", "-w", "{dir}/evil.pt"], 1,
            REFUSED_PICKLE),
    CliCase("runner: negative iterations", RUNNER, ["--iterations", "-3"], 1,
            r"error: iterations must be >= 0, got -3"),
    CliCase("runner: zero envs", RUNNER, ["--num-envs", "0", "--iterations", "1"], 1,
            r"error: cfg key 'num_envs' must be between 1 and"),
    CliCase("tester: no -w", TESTER, [], 2, r"tester\.py needs a policy to play: pass -w path/to/full_<N>\.pt"),
    CliCase("tester: --episodes 0", TESTER, ["-w", "{dir}/good.pt", "--episodes", "0"], 2,
            r"--episodes must be at least 1, got 0"),
    CliCase("tester: --episodes not a number", TESTER, ["-w", "x", "--episodes", "some"], 2,
            r"argument --episodes: invalid int value"),
    CliCase("tester: two live views", TESTER, ["-w", "x", "--render", "--mujoco-viewer"], 2,
            r"argument --mujoco-viewer: not allowed with argument --render"),
    CliCase("tester: missing weight file", TESTER, ["-w", "{dir}/full_404.pt"], 1,
            r"error: checkpoint not found: .*full_404\.pt"),
    CliCase("tester: a directory as weights", TESTER, ["-w", "{dir}"], 1, r"error: checkpoint not found"),
    CliCase("tester: random bytes as weights", TESTER, ["-w", "{dir}/random.pt"], 1,
            r"error: .*random\.pt is not a readable checkpoint"),
    CliCase("tester: a pickle that runs code as weights", TESTER, ["-w", "{dir}/evil.pt"], 1,
            REFUSED_PICKLE),
    CliCase("tester: weights of another env", TESTER, ["-w", "{dir}/other_env.pt", "--no-video"], 1,
            r"error: .*other_env\.pt was trained on env 'rsg_ant'"),
    CliCase("tester: stored cfg not YAML", TESTER, ["-w", "{dir}/cfg_not_yaml.pt", "--no-video"], 1,
            r"error: the cfg stored in .*cfg_not_yaml\.pt is not valid YAML"),
    CliCase("tester: stored cfg with an unknown key", TESTER, ["-w", "{dir}/cfg_unknown_key.pt", "--no-video"], 1,
            r"error: unknown cfg key 'rewrad'"),
    CliCase("tester: stored cfg an alias bomb", TESTER, ["-w", "{dir}/cfg_bomb.pt", "--no-video"], 1,
            r"error: cfg has more than 100000 keys and values"),
    CliCase("tester: NaN weights", TESTER, ["-w", "{dir}/nan_weights.pt", "--no-video"], 1,
            r"error: action contains NaN at row 0"),
    # Issue 17 item 9: the run's own export used to be called "corrupt or truncated?" with torch's unsafe advice.
    CliCase("runner: the TorchScript export as weights", RUNNER, ["-m", "retrain", "-w", "{dir}/policy_5.pt"], 1,
            r"error: .*policy_5\.pt is a TorchScript export of a policy \(for deployment\), not a checkpoint; "
            r"runner\.py and tester\.py take the checkpoint written beside it: -w .*full_5\.pt"),
    CliCase("tester: the TorchScript export as weights", TESTER, ["-w", "{dir}/policy_5.pt", "--no-video"], 1,
            r"error: .*policy_5\.pt is a TorchScript export of a policy .* -w .*full_5\.pt"),
]


def make_files(scratch: Path) -> None:
    """The weight files the cases name: a good checkpoint and damaged variants of it."""
    import torch
    from conftest import anymal_cfg, small_cfg_text

    from raisimGymTorch.algo.ppo import PPO, Actor, Critic, PPOConfig
    from raisimGymTorch.env.make import make_vec_env
    from raisimGymTorch.io.checkpoint import make_checkpoint, save_checkpoint
    from raisimGymTorch.io.export import NormalizedPolicy, export_torchscript

    env = make_vec_env("rsg_anymal", anymal_cfg(), num_envs=2, num_threads=1)
    ppo = PPO(Actor(env.num_obs, env.num_acts, [32, 32]), Critic(env.num_obs, [32, 32]), 2, 4,
              PPOConfig(policy_net=[32, 32], value_net=[32, 32]), seed=0)
    good = make_checkpoint(ppo, env, 5, "rsg_anymal", small_cfg_text())
    export_torchscript(NormalizedPolicy.from_training(ppo.actor, env), scratch / "policy_5.pt")
    env.close()
    save_checkpoint(good, scratch / "good.pt")
    data = (scratch / "good.pt").read_bytes()
    (scratch / "empty.pt").write_bytes(b"")
    # Random bytes behind a pickle's opening (protocol 6): what sometimes made torch warn about weights_only.
    (scratch / "random.pt").write_bytes(b"\x80\x06" + os.urandom(8190))
    (scratch / "truncated.pt").write_bytes(data[: len(data) * 2 // 3])
    bomb = "environment:\n  num_envs: 1\n  a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
    variants = {
        "other_env": {"env_name": "rsg_ant"},
        "cfg_not_yaml": {"cfg_text": "environment: {num_envs: [1, 2\n"},
        "cfg_unknown_key": {"cfg_text": small_cfg_text({"rewrad": 1})},
        "cfg_bomb": {"cfg_text": bomb},
        "nan_weights": {"actor": {key: torch.full_like(value, float("nan")) if key != "std" else value
                                  for key, value in good["actor"].items()}},
    }
    for name, changes in variants.items():
        save_checkpoint({**good, **changes}, scratch / f"{name}.pt")
    torch.save({**good, "actor": Payload(scratch / "PAYLOAD_RAN")}, scratch / "evil.pt")


def run(case: CliCase, scratch: Path) -> dict:
    argv = [arg.replace("{dir}", str(scratch)) for arg in case.argv]
    out, err = io.StringIO(), io.StringIO()
    sys.argv = [str(case.script), *argv]
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(str(case.script), run_name="__main__")
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except BaseException:  # noqa: BLE001  (an escaped exception is what a user would see as a traceback)
            import traceback

            err.write("Traceback (most recent call last):\n" + traceback.format_exc())
            code = 1
    return {"name": case.name, "code": code, "stdout": out.getvalue()[-3000:], "stderr": err.getvalue()[-3000:]}


if __name__ == "__main__":
    scratch = Path(sys.argv[1])
    from raisimGymTorch.io import run_directory

    run_directory.DATA_DIR = scratch / "runs"
    make_files(scratch)
    for case in CASES:
        print(json.dumps(run(case, scratch)), flush=True)
