"""Learning benchmark of rsg_anymal_velocity: does ANYmal C learn to follow velocity commands on 2 cores?

Trains from scratch with the shared trainer (the code behind runner.py) on cfg_flat.yaml (default) or cfg.yaml, for
a wall-clock budget or a sample budget, with a checkpoint every ``--eval-every`` iterations. After training, every
checkpoint's deterministic policy (actor mean, observation noise off) runs ``--episodes`` 20 s episodes with random
commands drawn from the cfg's ranges every ``resampling_time`` s (not ``training_resampling_time``; with heading
commands the yaw rate steers to the drawn heading), pushes off.
Per checkpoint it reports:

* RMS tracking error of vx, vy (m/s, together) and of the yaw rate (rad/s), body frame, over every step at which a
  robot is up, leaving out the first ``--settle`` seconds after each new command (the robot cannot change speed
  at once);
* the fall rate (episodes ended by a base contact);
* the mean terrain level reached by the training envs is not visible from outside the env; on cfg.yaml the
  evaluation runs on the levels the cfg starts at.

The last checkpoint is also pushed (1 m/s sideways every 5 s), put on friction 0.3 and loaded with +10 kg, each alone.

Writes benchmarks/results/learn_anymal_velocity[_flat].md, docs/learning_curve_anymal_velocity[_flat].png and a
frame strip docs/anymal_velocity[_flat]_strip.png (with ``_privileged`` after the task's name for
``--privileged-critic``, which trains with ``privileged_critic: true``).

    python benchmarks/learn_anymal_velocity.py [--cfg flat|rough] [--minutes 40] [--samples 20e6] [--privileged-critic]
    python benchmarks/learn_anymal_velocity.py --cfg rough --device cuda --train-only   # on a machine with a GPU
    python benchmarks/learn_anymal_velocity.py --evaluate-run RUN_DIR...   # evaluation only, of an earlier run

A run resumed with ``runner.py -m retrain`` continues in a new folder: give ``--evaluate-run`` every folder of it.
"""
from __future__ import annotations

import argparse
import copy
import os
import platform
import resource
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import raisimGymTorch  # noqa: F401  (first: it sets OpenMP's wait policy before torch loads libgomp)
import numpy as np
import torch

from curriculum_ceiling import perfect_walker
from learn_anymal import TrainingLog, benchmark_cfg, cpu_model, engine_speed, frame_strip
from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env
from raisimGymTorch.io.checkpoint import load_checkpoint
from raisimGymTorch.io.export import NormalizedPolicy
from raisimGymTorch.runner import player, trainer
from raisimGymTorch.runner.on_policy_runner import EVAL_SEED_OFFSET
from raisimGymTorch.runner.training_config import parse_training_config

ROOT = Path(__file__).resolve().parents[1]
ENV_NAME = "rsg_anymal_velocity"
CFGS = {"flat": ENVS_DIR / ENV_NAME / "cfg_flat.yaml", "rough": ENVS_DIR / ENV_NAME / "cfg.yaml"}
TARGET_LINEAR_RMS = 0.2  # m/s, issue 14 (flat)
TARGET_YAW_RMS = 0.2  # rad/s
TARGET_FALL_RATE = 0.01
TARGET_TERRAIN_LEVEL = 6  # of 10, within 100M samples (rough)
TARGET_ROUGH_LINEAR_RMS = 0.3  # m/s, on the levels reached
# The observation's layout (Environment.hpp): body-frame velocities x2 / x0.25, the command x (2, 2, 0.25).
LINEAR_VELOCITY, ANGULAR_VELOCITY, COMMAND = slice(0, 3), slice(3, 6), slice(9, 12)
COMMAND_SCALE = np.array([2.0, 2.0, 0.25])
STRIP_COMMAND = (0.8, 0.0, 0.3)  # the frame strip's command: forward while turning left
ROUGH_STRIP_COMMAND = (0.8, 0.0, 0.0)  # on terrain: straight out of a pit of stairs


@dataclass
class Tracking:
    """One policy's deterministic evaluation."""

    linear_rms: float
    """RMS of |command_xy - v_xy| (m/s) over settled steps while up."""
    yaw_rms: float
    """RMS of command_yaw - w_z (rad/s)."""
    fall_rate: float
    """Share of episodes ended by termination."""
    mean_seconds: float
    """Mean episode duration (s)."""

    def summary(self) -> str:
        return (f"vx/vy RMS {self.linear_rms:.3f} m/s, yaw RMS {self.yaw_rms:.3f} rad/s, "
                f"falls {100 * self.fall_rate:.0f}%")


def evaluation_cfg(cfg: dict, change: str | None = None, level: int | None = None,
                   terrain_type: str | None = None) -> dict:
    """The training cfg without pushes; `change` puts one robustness condition in. On terrain, `level` holds every
    env on that level and `terrain_type` (a key of terrain.proportions) makes every tile of that type."""
    cfg = copy.deepcopy(cfg)
    environment = cfg["environment"]
    environment.pop("push", None)
    if level is not None:
        environment["curriculum"] = {**environment.get("curriculum", {}), "min_init_level": level,
                                     "max_init_level": level, "enabled": False}
    if terrain_type is not None:
        environment["terrain"] = {**environment["terrain"], "proportions": {terrain_type: 1.0}}
    if change == "push":
        environment["push"] = {"interval": 5.0, "velocity_x": [0.0, 0.0], "velocity_y": [1.0, 1.0]}
    elif change == "friction":
        environment.setdefault("randomization", {})["friction"] = [0.3, 0.3]
    elif change == "mass":
        environment.setdefault("randomization", {})["added_base_mass"] = [10.0, 10.0]
    return cfg


def tracking_table(label: str, results: dict[object, Tracking]) -> list[str]:
    """Markdown lines: one row per key of `results` (a level, a tile type)."""
    return [f"| {label} | vx/vy RMS (m/s) | yaw rate RMS (rad/s) | falls | mean episode (s) |", "|---|---|---|---|---|"
            ] + [f"| {key} | {t.linear_rms:.3f} | {t.yaw_rms:.3f} | {100 * t.fall_rate:.0f}% | {t.mean_seconds:.1f} |"
                 for key, t in results.items()]


def terrain_types(environment: dict) -> list[str]:
    """The tile types of the cfg's terrain (keys of terrain.proportions), in the order of its columns."""
    from raisimGymTorch.env.bin import _toolkit

    terrain = _toolkit.Terrain(environment["terrain"], 0)
    return list(dict.fromkeys(map(terrain.proportion_key, range(terrain.types))))


@torch.no_grad()
def evaluate(checkpoint_path: Path, episodes: int, settle: float, threads: int, change: str | None = None,
             level: int | None = None, terrain_type: str | None = None) -> Tracking:
    """One deterministic episode in each of `episodes` envs, seeded as the trainer's evaluations are; on terrain at
    the cfg's starting levels, or all on `level`, on every tile type or only on `terrain_type`."""
    checkpoint = load_checkpoint(checkpoint_path)
    config = parse_training_config(checkpoint["cfg_text"], str(checkpoint_path))
    env = make_vec_env(ENV_NAME, evaluation_cfg(config.cfg, change, level, terrain_type), str(checkpoint_path),
                       num_envs=episodes, num_threads=threads, seed=config.seed + EVAL_SEED_OFFSET, normalize_ob=False,
                       evaluation=True)
    try:
        policy = NormalizedPolicy.from_checkpoint(checkpoint)
        # Heading commands steer the yaw rate at every step: a new draw shows in vx and vy only.
        new_command_columns = slice(0, 2) if "heading" in config.cfg["environment"]["commands"] else slice(0, 3)
        dt = float(env.wrapper.getControlTimeStep())
        env.reset()
        up = np.ones(episodes, dtype=bool)
        fell = np.zeros(episodes, dtype=bool)
        lengths = np.zeros(episodes)
        since_command = np.zeros(episodes)
        last_command = None
        linear_errors, yaw_errors = [], []
        observation = env.observe(update_statistics=False)
        for _ in range(int(env.wrapper.getMaxEpisodeSteps())):
            if not up.any():
                break
            command = observation[:, COMMAND] / COMMAND_SCALE
            if last_command is not None:
                changed = command[:, new_command_columns] != last_command[:, new_command_columns]
                since_command = np.where(np.any(changed, axis=1), 0.0, since_command + dt)
            last_command = command
            settled = up & (since_command >= settle)
            velocity = observation[:, LINEAR_VELOCITY] / 2.0
            yaw_rate = observation[:, ANGULAR_VELOCITY][:, 2] / 0.25
            linear_errors.append(np.linalg.norm(command[settled, :2] - velocity[settled, :2], axis=1))
            yaw_errors.append(command[settled, 2] - yaw_rate[settled])
            actions = policy(torch.from_numpy(observation)).numpy()
            step = env.transition(np.ascontiguousarray(actions, dtype=np.float32), update_statistics=False)
            observation = step.observation
            lengths[up] += 1
            fell[step.terminated & up] = True
            up &= ~step.done
        linear = np.concatenate(linear_errors)
        yaw = np.concatenate(yaw_errors)
        return Tracking(linear_rms=float(np.sqrt(np.mean(linear ** 2))), yaw_rms=float(np.sqrt(np.mean(yaw ** 2))),
                        fall_rate=float(fell.mean()), mean_seconds=float(lengths.mean() * dt))
    finally:
        env.close()


def engine_speeds(seconds: float = 3.0) -> dict[str, float]:
    """This machine's speed now: env steps/s and physics steps/s of 100 envs on one thread, random actions, for the
    flat and the rough task (the rough one with its terrain and 187-point height scan)."""
    speeds = {}
    for name, path in CFGS.items():
        environment = load_cfg(path)["environment"]
        substeps = round(environment["control_dt"] / environment["simulation_dt"])
        speeds[name] = engine_speed(seconds, ENV_NAME, path, action_std=0.5)
        speeds[name + " physics"] = speeds[name] * substeps
    return speeds


@dataclass
class TrainingCurve:
    """A run's TensorBoard scalars, read back from every events file in its folders (each resume adds one)."""

    minutes: dict[int, float]
    """Iteration -> training wall minutes (the gaps between a run and its resumption left out)."""
    scalars: dict[str, list[tuple[int, float]]]
    """Tag -> (iteration, value)."""

    @classmethod
    def read(cls, run_dirs: list[Path], tags: tuple[str, ...] = ("Reward/mean_per_step", "Metrics/terrainLevel")
             ) -> TrainingCurve:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        minutes: dict[int, float] = {}
        scalars: dict[str, list[tuple[int, float]]] = {tag: [] for tag in tags}
        earlier = 0.0
        accumulators = []
        for events in (events for run_dir in run_dirs for events in run_dir.glob("events*")):
            accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
            accumulator.Reload()
            if "Reward/mean_per_step" in accumulator.Tags()["scalars"]:
                accumulators.append(accumulator)
        accumulators.sort(key=lambda a: a.Scalars("Reward/mean_per_step")[0].wall_time)
        for accumulator in accumulators:
            clock = accumulator.Scalars("Reward/mean_per_step")
            for event in clock:
                minutes[event.step] = earlier + (event.wall_time - clock[0].wall_time) / 60.0
            earlier = minutes[clock[-1].step]
            for tag in tags:
                if tag in accumulator.Tags()["scalars"]:
                    scalars[tag] += [(event.step, event.value) for event in accumulator.Scalars(tag)]
        return cls(minutes, {tag: sorted(values) for tag, values in scalars.items() if values})

    def last(self, tag: str, iterations: int = 20) -> float:
        """The mean of `tag` over the last `iterations` iterations."""
        return float(np.mean([value for _, value in self.scalars[tag][-iterations:]]))

    def level_before(self, iteration: int, iterations: int = 20) -> float:
        """The training envs' mean terrain level over the `iterations` iterations before `iteration` (NaN at 0)."""
        values = [value for it, value in self.scalars["Metrics/terrainLevel"]
                  if iteration - iterations <= it < iteration]
        return float(np.mean(values)) if values else float("nan")


def plot_curve(rows: list[tuple[float, int, int, Tracking]], curve: TrainingCurve, title: str, path: Path,
               ceiling: float | None = None) -> Path:
    """The tracking errors, falls and training reward against samples; on terrain also the mean level, with the
    target and the `ceiling` a perfect walker reaches under the run's commands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = [row[2] / 1e6 for row in rows]
    terrain = curve.scalars.get("Metrics/terrainLevel")
    figure, axes = plt.subplots(4 if terrain else 3, 1, figsize=(7, 10.5 if terrain else 8), sharex=True)
    axes[0].plot(samples, [row[3].linear_rms for row in rows], "o-", label="vx, vy (m/s)")
    axes[0].plot(samples, [row[3].yaw_rms for row in rows], "s-", label="yaw rate (rad/s)")
    target = TARGET_ROUGH_LINEAR_RMS if terrain else TARGET_LINEAR_RMS
    axes[0].axhline(target, color="gray", linestyle="--", label=f"target {target}" + (" m/s" if terrain else ""))
    axes[0].set_ylabel("RMS tracking error")
    axes[0].legend(loc="upper right")
    axes[1].plot(samples, [100 * row[3].fall_rate for row in rows], "o-", color="tab:red")
    axes[1].axhline(100 * TARGET_FALL_RATE, color="gray", linestyle="--", label="target < 1%")
    axes[1].set_ylabel("falls (% of 20 s episodes)")
    axes[1].legend(loc="upper right")
    per_iteration = rows[-1][2] / max(rows[-1][1], 1)
    reward = curve.scalars["Reward/mean_per_step"]
    axes[2].plot([it * per_iteration / 1e6 for it, _ in reward], [value for _, value in reward], color="tab:green",
                 linewidth=1)
    axes[2].set_ylabel("training reward per step")
    if terrain:
        axes[3].plot([it * per_iteration / 1e6 for it, _ in terrain], [value for _, value in terrain],
                     color="tab:brown", linewidth=1)
        axes[3].axhline(TARGET_TERRAIN_LEVEL, color="gray", linestyle="--", label=f"target {TARGET_TERRAIN_LEVEL}")
        if ceiling is not None:
            axes[3].axhline(ceiling, color="tab:brown", linestyle=":", label=f"a perfect walker: {ceiling:.1f}")
        axes[3].set_ylabel("mean terrain level (training)")
        axes[3].legend(loc="upper left")
    axes[-1].set_xlabel("samples (millions)")
    for axis in axes:
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cfg", choices=tuple(CFGS), default="flat", help="the task: cfg_flat.yaml or cfg.yaml")
    parser.add_argument("--minutes", type=float, default=40.0, help="wall-clock training budget")
    parser.add_argument("--samples", type=float, default=20e6, help="also stop after this many samples")
    parser.add_argument("--num-envs", type=int, default=None, help="override environment.num_envs")
    parser.add_argument("--eval-every", type=int, default=100,
                        help="iterations between checkpoints (with --evaluate-run: between the checkpoints evaluated)")
    parser.add_argument("--episodes", type=int, default=50, help="deterministic evaluation episodes per checkpoint")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds after a new command left out of the error")
    parser.add_argument("--seed", type=int, default=None, help="override the cfg's seed")
    parser.add_argument("--run-root", default="/tmp/learn_anymal_velocity", help="parent of the trainer's run folder")
    parser.add_argument("--evaluate-run", nargs="+", default=None, metavar="RUN_DIR",
                        help="only evaluate an earlier run's checkpoints: its folder (a resumed run: all its folders)")
    parser.add_argument("--quiet", action="store_true", help="print only every 10th iteration line")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu",
                        help="where the networks and the update run (the envs always step on the CPU)")
    parser.add_argument("--strip-level", type=int, default=None,
                        help="rough: the terrain level of the frame strip (default: the level the training reached)")
    parser.add_argument("--train-only", action="store_true",
                        help="stop after training; evaluate later, elsewhere, with --evaluate-run")
    parser.add_argument("--privileged-critic", action="store_true",
                        help="train with environment.privileged_critic: true (results in *_privileged files)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    suffix = ("_flat" if args.cfg == "flat" else "") + ("_privileged" if args.privileged_critic else "")
    markdown = ROOT / "benchmarks" / "results" / f"learn_anymal_velocity{suffix}.md"
    curve_path = ROOT / "docs" / f"learning_curve_anymal_velocity{suffix}.png"
    speeds = engine_speeds()
    print("[learn] machine speed (100 envs, 1 thread): " + ", ".join(f"{k} {v:,.0f}/s" for k, v in speeds.items()),
          flush=True)

    cpu_seconds, wall_minutes, load = float("nan"), float("nan"), "-"
    shipped = load_cfg(CFGS[args.cfg])
    per_iteration = (args.num_envs or shipped["environment"]["num_envs"]) * shipped["algorithm"]["steps_per_env"]
    if args.evaluate_run is None:
        run_root = Path(args.run_root)
        run_root.mkdir(parents=True, exist_ok=True)
        cfg_path = run_root / "cfg.yaml"
        overrides = {"privileged_critic": True} if args.privileged_critic else {}
        cfg_path.write_text(benchmark_cfg(CFGS[args.cfg], args.eval_every, **overrides))
        log = TrainingLog(echo=not args.quiet)
        timer = threading.Timer(args.minutes * 60.0, lambda: os.kill(os.getpid(), signal.SIGINT))
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        timer.start()
        try:
            result = trainer.train(ENV_NAME, cfg_path, run_root=run_root, seed=args.seed, num_envs=args.num_envs,
                                   iterations=int(np.ceil(args.samples / per_iteration)), print_function=log,
                                   device=args.device)
        finally:
            timer.cancel()
            log.close()
        wall_minutes = log.minutes()
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu_seconds = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        log.checkpoints.setdefault(result.iteration, wall_minutes)
        run_dirs, walls = [result.run_dir], dict(log.checkpoints)
        checkpoints = {iteration: result.run_dir / f"full_{iteration}.pt" for iteration in walls}
        if log.loads:
            load = f"{np.mean(log.loads):.1f} (min {np.min(log.loads):.1f}, max {np.max(log.loads):.1f})"
    else:
        run_dirs = [Path(folder) for folder in args.evaluate_run]
        # A resumed run's iterations go on from its checkpoint, so the folders' checkpoints join into one series.
        checkpoints = {int(path.stem.split("_")[1]): path for run_dir in run_dirs for path in run_dir.glob("full_*.pt")}
        if not checkpoints:
            raise SystemExit(f"--evaluate-run: no checkpoints full_<iteration>.pt in {', '.join(map(str, run_dirs))}")
        checkpoints = {iteration: path for iteration, path in checkpoints.items()
                       if iteration % args.eval_every == 0 or iteration == max(checkpoints)}
        walls = {iteration: float("nan") for iteration in checkpoints}
    last = checkpoints[max(walls)]
    checkpoint = load_checkpoint(last)
    trained = parse_training_config(checkpoint["cfg_text"], str(last)).cfg
    # The checkpoint's own count (files before it existed: the cfg's), as runner.py's --num-envs leaves the cfg as is.
    envs = checkpoint.get("num_envs", trained["environment"]["num_envs"])
    per_iteration = envs * trained["algorithm"]["steps_per_env"]
    if args.train_only:
        print(f"[learn] trained {max(walls) * per_iteration:,} samples in {wall_minutes:.1f} min; run directory "
              f"{run_dirs[0]}", flush=True)
        return 0
    curve_data = TrainingCurve.read(run_dirs)
    if args.evaluate_run is not None:  # a checkpoint is written after its iteration's last logged scalar
        walls = {iteration: max((m for it, m in curve_data.minutes.items() if it <= iteration), default=float("nan"))
                 for iteration in walls}
        wall_minutes = max(curve_data.minutes.values(), default=float("nan"))
    terrain_level = curve_data.last("Metrics/terrainLevel") if "Metrics/terrainLevel" in curve_data.scalars else None
    # What the run's commands and the curriculum's rule allow at all (benchmarks/curriculum_ceiling.py).
    ceiling = perfect_walker(trained).mean_level if terrain_level is not None else None

    rows = []
    for iteration in sorted(walls):
        checkpoint_path = checkpoints[iteration]
        tracking = evaluate(checkpoint_path, args.episodes, args.settle, threads=2)
        samples = iteration * per_iteration
        rows.append((walls[iteration], iteration, samples, tracking))
        print(f"[learn] iteration {iteration:4d} ({samples / 1e6:.1f} M samples): {tracking.summary()}, "
              f"{tracking.mean_seconds:.1f} s", flush=True)
    robustness = {change: evaluate(last, args.episodes, args.settle, threads=2, change=change)
                  for change in ("push", "friction", "mass")}
    for change, tracking in robustness.items():
        print(f"[learn] robustness, {change}: {tracking.summary()}", flush=True)
    by_level, by_type = {}, {}
    if terrain_level is not None:
        for level in range(trained["environment"]["terrain"]["levels"]):
            by_level[level] = evaluate(last, args.episodes, args.settle, threads=2, level=level)
            print(f"[learn] level {level}: {by_level[level].summary()}", flush=True)
        for terrain_type in terrain_types(trained["environment"]):
            by_type[terrain_type] = evaluate(last, args.episodes, args.settle, threads=2, terrain_type=terrain_type)
            print(f"[learn] {terrain_type}: {by_type[terrain_type].summary()}", flush=True)
    strip_path = ROOT / "docs" / f"anymal_velocity{suffix}_strip.png"
    # On terrain: out of a pit of stairs (a stairs_down tile seen from its centre), on the level the training envs
    # reached at the end (or --strip-level); the camera a little higher and farther, so that the steps show.
    strip_level = args.strip_level if args.strip_level is not None else round(terrain_level or 0)
    on_terrain = {"level": strip_level, "terrain_type": "stairs_down"} if terrain_level is not None else {}
    spacing = 0.6 if on_terrain else 0.3
    strip_command = ROUGH_STRIP_COMMAND if on_terrain else STRIP_COMMAND
    strip = frame_strip(last, strip_path, frames=8, start_s=2.0 if on_terrain else 3.0, spacing_s=spacing,
                        env_name=ENV_NAME, edit_cfg=lambda cfg: player.with_fixed_command(
                            evaluation_cfg(cfg, **on_terrain), strip_command, "cfg"),
                        distance=3.5 if on_terrain else 3.0, elevation=-20.0 if on_terrain else -12.0)
    curve = plot_curve(rows, curve_data, f"{ENV_NAME} ({args.cfg}) from scratch: deterministic policy, "
                       f"{args.episodes} episodes per point", curve_path, ceiling)

    command = "python benchmarks/learn_anymal_velocity.py " + " ".join(sys.argv[1:] if argv is None else argv)
    critic = " and a privileged critic" if args.privileged_critic else ""
    machine = (f"{cpu_model()}, {os.cpu_count()} cores; torch {torch.__version__}, Python {platform.python_version()}."
               " Machine speed " + ("before training" if args.evaluate_run is None else "at evaluation") +
               " (100 envs, one thread, random actions): " + ", ".join(f"{k} {v:,.0f} steps/s" for k, v in
                                                                         speeds.items()) + ".")
    if args.evaluate_run is None:
        machine += (f" 1-minute load average during training {load}; this process used "
                    f"{cpu_seconds / 60 / max(wall_minutes, 1e-9):.2f} cores on average.")
    lines = [f"# Learning: {ENV_NAME} with {CFGS[args.cfg].name}{critic}", "", f"`{command}`", "",
             ("Machine: " if args.evaluate_run is None else "Evaluated on: ") + machine, "",
             f"Training: {wall_minutes:.1f} wall minutes, {rows[-1][2]:,} samples (one sample = one 0.02 s control "
             "step)" + ("." if terrain_level is None else f"; mean terrain level of the training envs over the last "
                        f"20 iterations {terrain_level:.2f} (levels 0-{len(by_level) - 1}); a perfect walker "
                        f"reaches {ceiling:.2f} under the run's commands (benchmarks/curriculum_ceiling.py)."), "",
             f"Evaluation: {args.episodes} deterministic 20 s episodes per checkpoint with random commands (cfg "
             f"ranges, drawn every resampling_time s), observation noise and pushes off, physics randomized as in "
             "training"
             + (", on the cfg's starting levels" if terrain_level is not None else "") + "; errors over steps at "
             f"which a robot is up, leaving out {args.settle:.1f} s after each new command. "
             + (f"Targets (issue 14, flat): RMS vx/vy <= {TARGET_LINEAR_RMS} m/s, yaw rate <= {TARGET_YAW_RMS} rad/s, "
                f"falls < {TARGET_FALL_RATE:.0%}, within 20M samples." if terrain_level is None else
                f"Targets (issue 14, rough): mean terrain level >= {TARGET_TERRAIN_LEVEL} with RMS vx/vy <= "
                f"{TARGET_ROUGH_LINEAR_RMS} m/s on the levels reached, within 100M samples."), "",
             "| wall min | iteration | samples | vx/vy RMS (m/s) | yaw rate RMS (rad/s) | falls | mean episode (s) |"
             + (" training envs' mean level |" if terrain_level is not None else ""),
             "|---|---|---|---|---|---|---|" + ("---|" if terrain_level is not None else "")]
    for wall, iteration, samples, tracking in rows:
        level = curve_data.level_before(iteration) if terrain_level is not None else None
        lines.append(f"| {wall:.1f} | {iteration} | {samples:,} | {tracking.linear_rms:.3f} | {tracking.yaw_rms:.3f} | "
                     f"{100 * tracking.fall_rate:.0f}% | {tracking.mean_seconds:.1f} |"
                     + ("" if level is None else " – |" if np.isnan(level) else f" {level:.2f} |"))
    lines += ["", f"Robustness of the last policy ({last.name}), each condition alone:", "",
              "| condition | falls | vx/vy RMS (m/s) | yaw rate RMS (rad/s) |", "|---|---|---|---|"]
    names = {"push": "pushed 1 m/s sideways every 5 s", "friction": "friction 0.3", "mass": "+10 kg base mass"}
    for change, tracking in robustness.items():
        lines.append(f"| {names[change]} | {100 * tracking.fall_rate:.0f}% | {tracking.linear_rms:.3f} | "
                     f"{tracking.yaw_rms:.3f} |")
    if by_level:
        lines += ["", f"The last policy with every env held on one level (all terrain types, {args.episodes} episodes "
                  "each):", ""] + tracking_table("level", by_level)
    if by_type:
        lines += ["", f"The last policy on one tile type at a time (the cfg's starting levels, {args.episodes} "
                  "episodes each):", ""] + tracking_table("tile type", by_type)
    lines += ["", f"![learning curve]({os.path.relpath(curve, markdown.parent)})", ""]
    if strip is not None:
        where = f" from the bottom of a pit of stairs of level {strip_level}" if on_terrain else ""
        lines += [f"The last policy told to walk {strip_command[0]} m/s forward while turning at {strip_command[2]} "
                  f"rad/s{where}, {spacing} s between frames:", "",
                  f"![frames]({os.path.relpath(strip, markdown.parent)})", ""]
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text("\n".join(lines))
    print(f"[learn] wrote {markdown} and {curve}; run directories {', '.join(map(str, run_dirs))}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
