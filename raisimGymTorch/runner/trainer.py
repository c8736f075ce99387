"""The training entry point behind every env folder's runner.py: the command line and `train`, thin wrappers around
`raisimGymTorch.runner.on_policy_runner.OnPolicyRunner`.

Under torchrun (``torchrun --nproc_per_node=K runner.py``) every rank runs the same code with its share of the envs;
see `raisimGymTorch.runner.distributed` for what the ranks exchange. Rank 0 alone writes and evaluates.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from .device import DEVICE_CHOICES
from .distributed import BACKEND_VARIABLE, TIMEOUT_VARIABLE, Distributed, DistributedError, ProcessGroup, SingleProcess
from .on_policy_runner import DEFAULT_EVAL_ENVS, OnPolicyRunner, RunnerOptions, TrainingResult, load_on_main
from .training_config import load_training_config


def train(
    env_name: str,
    cfg_path: str | Path,
    *,
    mode: str = "train",
    weight: str | Path | None = None,
    iterations: int | None = None,
    num_envs: int | None = None,
    seed: int | None = None,
    run_root: str | Path | None = None,
    steps_per_iteration: int | None = None,
    eval_envs: int = DEFAULT_EVAL_ENVS,
    rollout_threads: int | None = 1,
    update_threads: int | None = None,
    print_function: Callable[[str], None] = print,
    distributed: ProcessGroup | None = None,
    render: bool | None = None,
    viewer_address: tuple[str, int] = ("127.0.0.1", 8080),
    device: str = "auto",
) -> TrainingResult:
    """Trains a PPO policy on env `env_name` and writes checkpoints, exports, videos and logs to a run directory.

    Args:
        env_name: Env folder name under ``raisimGymTorch/env/envs``, e.g. ``rsg_anymal``.
        cfg_path: The cfg.yaml to train with, also in retrain mode (a note is printed if it differs from the
            cfg stored in the checkpoint).
        mode: ``train`` starts from scratch; ``retrain`` resumes `weight` exactly (iteration count, optimizer,
            learning rate, generator and observation statistics).
        weight: A ``full_<N>.pt`` checkpoint, required in retrain mode.
        iterations: Iterations to run in this call; None runs until SIGINT/SIGTERM.
        num_envs: Overrides ``environment.num_envs``; with several ranks, the total over all of them.
        seed: Overrides the cfg's ``seed``.
        run_root: Parent of the ``<env_name>/<timestamp>`` run directories; defaults to ``raisimGymTorch/data``.
        steps_per_iteration: Steps per env per iteration; overrides ``algorithm.steps_per_env``.
        eval_envs: Environments (one episode each) of every evaluation.
        rollout_threads: torch threads while collecting, when the env's OpenMP threads do the work; None leaves
            torch's setting. One is best: measured on 2 cores, torch with 2 threads made the rollout 3-9x slower.
        update_threads: torch threads during the PPO update; None keeps torch's setting at the call (all cores
            by default: 0.40 s instead of 0.62 s per update of the shipped cfg on an idle 2-core machine).
        print_function: Where console lines go (rank 0's; the other ranks print nothing).
        render: Show every evaluation episode live in the browser; None follows the cfg's ``environment.render``.
        viewer_address: (host, port) the live viewer binds.
        device: Where the networks and the PPO update run: ``auto`` (the GPU if torch sees one), ``cpu`` or ``cuda``;
            the env always steps on the CPU.
        distributed: This rank's process group (default: a `SingleProcess`); under torchrun `main` joins a
            `Distributed` one. The cfg's ``num_envs`` is then the total, split over the ranks (see `split_envs`);
            a ``num_threads`` of ``auto`` (or none) becomes this rank's share of the machine's cores, and so do
            torch's threads; only rank 0 writes the run directory and evaluates.

    Returns:
        Where the run ended (the same on every rank; rank 0's run directory).

    Raises:
        FileNotFoundError: The cfg or the checkpoint does not exist.
        ValueError: A bad cfg key or value, a corrupt checkpoint, one that does not fit the env, or ``cuda`` asked
            for on a machine without one.
        FloatingPointError: A loss became NaN or infinite; the message names the iteration and the last good
            checkpoint, which is left as it was.
        DistributedError: Another rank died or did not answer within the timeout.
    """
    if mode not in ("train", "retrain"):
        raise ValueError(f"mode must be 'train' or 'retrain', got {mode!r}")
    if iterations is not None and iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    group = distributed or SingleProcess()
    resume = None
    if mode == "retrain":
        if not weight:
            raise ValueError("retrain mode needs a checkpoint: -w path/to/full_<N>.pt")
        resume = (Path(weight), load_on_main(weight, group))  # before anything is built: a bad file fails fast
    config = load_training_config(cfg_path)
    options = RunnerOptions(num_envs, seed, run_root, steps_per_iteration, eval_envs, rollout_threads, update_threads,
                            print_function, render, viewer_address, device)
    with OnPolicyRunner(env_name, config, cfg_path, group, options, resume) as runner:
        return runner.learn(iterations)


def parse_args(argv: Sequence[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """The runner.py command line: ``[--cfg PATH] [-m train|retrain] [-w full_N.pt] [--iterations N] [--num-envs N]
    [--seed S] [--device auto|cpu|cuda] [--dist-timeout SECONDS] [--dist-backend gloo|nccl]``."""
    parser = argparse.ArgumentParser(prog=prog, description="Train a PPO policy on this environment.")
    parser.add_argument("--cfg", default=None, metavar="PATH",
                        help="the cfg.yaml to train with (default: the env folder's cfg.yaml)")
    parser.add_argument("-m", "--mode", choices=("train", "retrain"), default="train",
                        help="train from scratch, or resume the checkpoint given with -w")
    parser.add_argument("-w", "--weight", default="", help="checkpoint full_<N>.pt to resume (retrain mode)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="iterations to run (default: until Ctrl-C, which saves a checkpoint first)")
    parser.add_argument("--num-envs", type=int, default=None, help="override environment.num_envs")
    parser.add_argument("--seed", type=int, default=None, help="override the cfg's seed")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                        help="where the networks and the update run: auto (the GPU if there is one), cpu or cuda; "
                             "the env always steps on the CPU")
    parser.add_argument("--log-dir", default=None, metavar="FOLDER",
                        help="parent of the <env>/<timestamp> run folders (default raisimGymTorch/data)")
    parser.add_argument("--render", action="store_true",
                        help="show evaluation episodes live in the browser (also: environment.render: True)")
    parser.add_argument("--host", default="127.0.0.1", help="address the live viewer binds (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port of the live viewer (default 8080)")
    parser.add_argument("--dist-timeout", type=float, default=None, metavar="SECONDS",
                        help=f"under torchrun: how long a rank waits for the others before it stops with an error "
                             f"(default ${TIMEOUT_VARIABLE}, else 60)")
    parser.add_argument("--dist-backend", choices=("gloo", "nccl"), default=None,
                        help=f"under torchrun: gloo (CPU) or nccl (GPUs) (default ${BACKEND_VARIABLE}, else gloo)")
    return parser.parse_args(argv)


def main(env_name: str, cfg_path: str | Path, argv: Sequence[str] | None = None) -> int:
    """Entry point of an env folder's runner.py.

    Args:
        env_name: The env folder name.
        cfg_path: The folder's cfg.yaml, used unless ``--cfg`` names another.
        argv: Command-line arguments (default ``sys.argv[1:]``).

    Started by torchrun with several processes, every process joins the process group and trains its share.

    Returns:
        The process exit code: 0 on success, 1 on an error that was explained on stderr.
    """
    args = parse_args(argv, prog=f"{env_name}/runner.py")
    if args.mode == "retrain" and not args.weight:
        print("retrain mode needs a checkpoint: runner.py -m retrain -w path/to/full_<N>.pt", file=sys.stderr)
        return 1
    group: ProcessGroup = SingleProcess()  # until the process group is joined, errors are this process's own
    try:
        group = Distributed.from_environment(args.dist_timeout, args.dist_backend)
        result = train(env_name, args.cfg or cfg_path, mode=args.mode, weight=args.weight or None, iterations=args.iterations,
                       num_envs=args.num_envs, seed=args.seed, run_root=args.log_dir, distributed=group,
                       render=True if args.render else None, viewer_address=(args.host, args.port),
                       device=args.device)
    except (OSError, ValueError, FloatingPointError, DistributedError) as error:
        named = group.world_size == 1 or isinstance(error, DistributedError)  # a DistributedError names its rank
        print(f"error: {'' if named else f'rank {group.rank}: '}{error}", file=sys.stderr)
        return 1
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            group.close()
    if group.is_main:
        how = "stopped by signal" if result.stopped_by_signal else "finished"
        print(f"[runner] {how}: {result.iteration} iterations done; last checkpoint {result.last_checkpoint}")
    return 0
