"""Plays a checkpoint's deterministic policy: the shared code behind every env folder's tester.py."""
from __future__ import annotations

import argparse
import copy
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from raisimGymTorch.env.make import make_vec_env
from raisimGymTorch.io.checkpoint import check_dimensions, load_checkpoint
from raisimGymTorch.io.export import NormalizedPolicy
from raisimGymTorch.viz import mujoco_window, video
from raisimGymTorch.viz.episode_view import EpisodeView

from .evaluation import EvaluationResult, evaluate_policy
from .training_config import load_training_config, parse_training_config

NO_WEIGHT_MESSAGE = (
    "tester.py needs a policy to play: pass -w path/to/full_<N>.pt\n"
    "runner.py writes these into raisimGymTorch/data/<env>/<date-time>/ every eval_every_n iterations."
)


def play(
    weight: str | Path,
    env_name: str | None = None,
    episodes: int = 1,
    record_video: bool = True,
    seed: int | None = None,
    print_function: Callable[[str], None] = print,
    render: bool = False,
    viewer_address: tuple[str, int] = ("127.0.0.1", 8080),
    mujoco_viewer: bool = False,
    cfg_path: str | Path | None = None,
    command: Sequence[float] | None = None,
) -> tuple[EvaluationResult, Path | None]:
    """Runs `episodes` deterministic episodes of a checkpoint's policy in one env and films them.

    The env is rebuilt from the cfg stored in the checkpoint (or from `cfg_path`), so the run directory's other files
    are not needed. Observation noise is off, as in the trainer's evaluations.

    Args:
        weight: A ``full_<N>.pt`` checkpoint.
        env_name: If given, the checkpoint must come from this env.
        episodes: Episodes to play; 0 plays until interrupted (Ctrl-C, or closing MuJoCo's viewer), without a video.
        record_video: Write ``<checkpoint stem>_test.mp4`` next to the checkpoint (if a GL backend works).
        seed: Seed of the env; defaults to the cfg's.
        print_function: Where console lines go.
        render: Show the episodes live in the browser, in real time while a page is open.
        viewer_address: (host, port) the live viewer binds.
        mujoco_viewer: Show the episodes in MuJoCo's own window, in real time (needs a display).
        cfg_path: Play in the env of this cfg.yaml instead of the stored one (e.g. a flat-ground policy on terrain);
            its observation and action sizes must match the checkpoint's.
        command: (vx, vy, yaw rate) held for whole episodes, for envs with a ``commands:`` block.

    Returns:
        The episodes' outcomes and the video's path (None without a video).

    Raises:
        FileNotFoundError: The checkpoint does not exist.
        ValueError: It is corrupt, from another env, or does not fit the env; or `command` is given for an env that
            takes no velocity commands.
        mujoco_window.WindowUnavailable: `mujoco_viewer` is set and MuJoCo's viewer cannot open a window here.
        mujoco_window.WindowClosed: The user closed MuJoCo's viewer window (nothing is written then).
    """
    weight = Path(weight)
    checkpoint = load_checkpoint(weight)
    if env_name is not None and checkpoint["env_name"] != env_name:
        raise ValueError(f"{weight} was trained on env '{checkpoint['env_name']}', not '{env_name}'")
    config = (load_training_config(cfg_path) if cfg_path is not None
              else parse_training_config(checkpoint["cfg_text"], f"the cfg stored in {weight}"))
    cfg = config.cfg if command is None else with_fixed_command(config.cfg, command, config.source)
    env = make_vec_env(checkpoint["env_name"], cfg, config.source, num_envs=1, num_threads=1,
                       seed=config.seed if seed is None else seed, normalize_ob=False, evaluation=True)
    view = None
    try:
        check_dimensions(checkpoint, env.num_obs, env.num_acts, weight)
        policy = NormalizedPolicy.from_checkpoint(checkpoint)
        view = EpisodeView(env, print_function, record_video=record_video and episodes > 0,
                           live_viewer=viewer_address if render else None, mujoco_viewer=mujoco_viewer)
        if view.viewer is not None:
            print_function(f"[viewer] showing the policy at {view.viewer.url}")
        video_path = weight.with_name(f"{weight.stem}_test.mp4")
        if view.recorder is not None:
            # Before the episodes, not after them: a folder we cannot write is known now.
            try:
                video.check_writable(video_path)
            except OSError as error:
                raise OSError(f"{error}; pass --no-video, or copy {weight.name} into a folder you can write") from None
        if view.window is not None:
            print_function(f"[viewer] showing the policy in MuJoCo's viewer on display {mujoco_window.display_name()}; "
                           "close its window to stop")
        played = 0
        while True:
            # Until interrupted, one episode at a time; otherwise all of them in one evaluation.
            result = evaluate_policy(policy, env, episodes_per_env=episodes or 1,
                                     on_step=view.on_step if view.watching else None)
            for ret, length, fell in zip(result.returns, result.lengths, result.falls):
                played += 1
                print_function(f"episode {played}: return {ret:.4f}, length {length} steps "
                               f"({length * result.control_dt:.2f} s), {'fell' if fell else 'time limit'}")
            if episodes > 0:
                break
        video_path = view.write_video(video_path)
        if video_path is not None:
            print_function(f"[video] {video_path}")
    finally:
        if view is not None:
            view.close()
        env.close()
    return result, video_path


def with_fixed_command(cfg: Mapping[str, Any], command: Sequence[float], source: str) -> dict[str, Any]:
    """A copy of `cfg` whose velocity commands are always `command` (vx, vy, yaw rate): every range becomes [v, v],
    and heading commands, which would steer the yaw rate, are dropped.

    Raises:
        ValueError: Not three finite numbers, or the cfg has no ``environment.commands`` block.
    """
    values = [float(value) for value in command]
    if len(values) != 3 or not all(math.isfinite(value) for value in values):
        raise ValueError(f"--command needs three finite numbers VX VY YAW_RATE, got {list(command)}")
    commands = cfg["environment"].get("commands")
    if not isinstance(commands, Mapping):
        raise ValueError(f"--command: {source} has no 'environment.commands' block; this env takes no velocity "
                         f"commands")
    fixed = copy.deepcopy(dict(cfg))
    fixed["environment"] = dict(fixed["environment"])
    fixed_commands = {key: value for key, value in commands.items() if key != "heading"}
    fixed["environment"]["commands"] = {**fixed_commands, "lin_vel_x": [values[0]] * 2, "lin_vel_y": [values[1]] * 2,
                                        "yaw_rate": [values[2]] * 2, "standing_below": 0.0}
    return fixed


def parse_args(argv: Sequence[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """The tester.py command line: ``-w full_N.pt [--cfg PATH] [--command VX VY YAW_RATE] [--episodes K] [--no-video]
    [--seed S] [--render | --mujoco-viewer]``.

    ``--render`` and ``--mujoco-viewer`` are two live views, and one at a time: both pace to real time.
    """
    parser = argparse.ArgumentParser(prog=prog, description="Play a trained policy deterministically.")
    parser.add_argument("-w", "--weight", default="", help="checkpoint full_<N>.pt written by runner.py")
    parser.add_argument("--cfg", default=None, metavar="PATH",
                        help="play in the env of this cfg.yaml (default: the cfg stored in the checkpoint)")
    parser.add_argument("--command", type=float, nargs=3, default=None, metavar=("VX", "VY", "YAW_RATE"),
                        help="hold this velocity command (m/s, m/s, rad/s) for whole episodes")
    parser.add_argument("--episodes", type=int, default=None,
                        help="episodes to play (default 1; with --render or --mujoco-viewer, until stopped)")
    parser.add_argument("--no-video", action="store_true", help="do not write an mp4 next to the checkpoint")
    parser.add_argument("--seed", type=int, default=None, help="env seed (default: the cfg's)")
    live = parser.add_mutually_exclusive_group()
    live.add_argument("--render", action="store_true", help="show the policy live in the browser")
    live.add_argument("--mujoco-viewer", action="store_true",
                      help="show the policy in MuJoCo's own window, in real time, until it is closed (needs a display)")
    parser.add_argument("--host", default="127.0.0.1", help="address the live viewer binds (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port of the live viewer (default 8080)")
    return parser.parse_args(argv)


def main(env_name: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of an env folder's tester.py.

    Args:
        env_name: The env folder name.
        argv: Command-line arguments (default ``sys.argv[1:]``).

    Returns:
        The process exit code: 0 on success (or when stopped by Ctrl-C or by closing the viewer window), 2 on a bad
        command line, 1 on an error explained on stderr.
    """
    args = parse_args(argv, prog=f"{env_name}/tester.py")
    if not args.weight:
        print(NO_WEIGHT_MESSAGE, file=sys.stderr)
        return 2
    if args.episodes is not None and args.episodes < 1:
        print(f"--episodes must be at least 1, got {args.episodes}", file=sys.stderr)
        return 2
    if args.mujoco_viewer and mujoco_window.display_name() is None:
        print(mujoco_window.NO_DISPLAY_MESSAGE, file=sys.stderr)
        return 2
    live = args.render or args.mujoco_viewer
    episodes = args.episodes if args.episodes is not None else (0 if live else 1)
    try:
        play(args.weight, env_name, episodes, not args.no_video, args.seed, render=args.render,
             viewer_address=(args.host, args.port), mujoco_viewer=args.mujoco_viewer, cfg_path=args.cfg,
             command=args.command)
    except KeyboardInterrupt:
        return 0
    except mujoco_window.WindowClosed as closed:
        print(f"[viewer] {closed}; stopped")
        return 0
    except (OSError, ValueError, mujoco_window.WindowUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
