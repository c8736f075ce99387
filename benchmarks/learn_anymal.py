"""Learning benchmark of rsg_anymal: does the shipped cfg.yaml teach ANYmal to walk within 30 minutes on 2 cores?

Trains from scratch with the shared trainer (`raisimGymTorch.runner.trainer.train`, the code behind runner.py) for
a wall-clock budget, with a checkpoint every ``--eval-every`` iterations. After training, every checkpoint's
deterministic policy is evaluated on ``--episodes`` episodes (one per env, the same start states for every
checkpoint), so evaluation costs no training time. Per checkpoint it reports:

* forward velocity: the world-frame base x velocity averaged over every step at which a robot is up;
* fall rate: episodes ending by termination (a body other than a foot touched the ground), not by the time limit;
* joint speed p95 / max over all joints and steps (the drives' no-load speed is 7.5 rad/s);
* base height while up, and the training rollout's average reward.

The last checkpoint also walks ``--long-seconds`` (20) second episodes: heading change (how far the robot turned,
unwrapped, degrees), net forward speed (x displacement over the episode's duration) and falls, the measures of
walking straight that 4 s episodes hide.

Writes benchmarks/results/learn_anymal.md, docs/learning_curve_anymal.png and docs/anymal_walk_strip.png.

    python benchmarks/learn_anymal.py [--minutes 30] [--eval-every 25]

The trainer's cfg is the shipped cfg.yaml with two keys changed, neither of which touches learning:
``environment.eval_every_n`` (checkpoint spacing) and ``record_video`` (off, since the trainer would film
every checkpoint).
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import re
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import raisimGymTorch  # noqa: F401  (first: it sets OpenMP's wait policy before torch loads libgomp)
import numpy as np
import torch
from ruamel.yaml import YAML

from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv
from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env
from raisimGymTorch.io.checkpoint import load_checkpoint
from raisimGymTorch.io.export import NormalizedPolicy
from raisimGymTorch.runner import trainer
from raisimGymTorch.runner.on_policy_runner import EVAL_SEED_OFFSET
from raisimGymTorch.runner.training_config import parse_training_config
from raisimGymTorch.viz import video
from raisimGymTorch.viz.model_source import simulated_model

ROOT = Path(__file__).resolve().parents[1]
ENV_NAME = "rsg_anymal"
SHIPPED_CFG = ENVS_DIR / ENV_NAME / "cfg.yaml"
TARGET_VELOCITY = 0.8  # m/s, issue 3
TARGET_FALL_RATE = 0.05
DRIVE_SPEED_LIMIT = 7.5  # rad/s, ANYdrive no-load speed (anymal_c::kDrive in env/robots/AnymalC.hpp)
JOINT_VELOCITY_SLICE = slice(22, 34)  # rsg_anymal's observation: joint velocities
ITERATION_LINE = re.compile(r"iteration\s+(\d+) \| average reward\s+(\S+) \| dones\s+(\S+) \|.*\|\s+(\d+) steps/s")
CHECKPOINT_LINE = re.compile(r"\[checkpoint\] full_(\d+)\.pt saved")


@dataclass
class Evaluation:
    """One checkpoint's deterministic evaluation."""

    velocity: float
    """World-frame base x velocity (m/s), averaged over all steps at which a robot is up."""
    fall_rate: float
    """Share of episodes that ended by termination."""
    joint_speed_p95: float
    """95th percentile of |joint velocity| (rad/s) over all joints and steps."""
    joint_speed_max: float
    """Largest |joint velocity| (rad/s) seen."""
    height: float
    """Mean base height (m) while up."""
    mean_return: float
    """Mean undiscounted episode return."""
    mean_seconds: float
    """Mean episode duration (s)."""


@dataclass
class LongWalk:
    """The last checkpoint's deterministic policy over long episodes."""

    seconds: float
    """Episode length asked for (s)."""
    heading_change_mean: float
    """Mean |heading change| (degrees) from start to end of an episode, unwrapped."""
    heading_change_worst: float
    """Largest |heading change| (degrees)."""
    net_speed: float
    """Mean x displacement / episode duration (m/s)."""
    fall_rate: float
    """Share of episodes that ended by termination."""


def yaw_of(qpos: np.ndarray) -> float:
    """Heading (rad) of the base quaternion (w, x, y, z) at qpos[3:7]."""
    w, x, y, z = qpos[3:7]
    return float(np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z)))


def engine_speed(seconds: float = 3.0, env_name: str = ENV_NAME, cfg_path: Path = SHIPPED_CFG,
                 action_std: float = 1.0) -> float:
    """This machine's speed right now: env steps/s of 100 envs (default rsg_anymal) on one thread under random
    actions of std `action_std`, one `transition` (step + observe) per control step."""
    env = make_vec_env(env_name, load_cfg(cfg_path), str(cfg_path), num_envs=100, num_threads=1, seed=0,
                       normalize_ob=False)
    try:
        actions = np.random.default_rng(0).normal(0.0, action_std, (100, env.num_acts)).astype(np.float32)
        env.reset()
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            env.transition(actions, update_statistics=False)
            steps += 100
        return steps / (time.perf_counter() - start)
    finally:
        env.close()


class TrainingLog:
    """Collects the trainer's console lines with their wall time, the machine load and the CPU time used."""

    def __init__(self, echo: bool) -> None:
        self.start = time.perf_counter()
        self.echo = echo
        self.iterations: list[tuple[float, int, float, float, int]] = []  # minutes, iteration, reward, dones, steps/s
        self.checkpoints: dict[int, float] = {}  # iteration -> wall minutes at which it was saved
        self.loads: list[float] = []
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample_load, daemon=True)
        self._sampler.start()

    def minutes(self) -> float:
        return (time.perf_counter() - self.start) / 60.0

    def __call__(self, line: str) -> None:
        now = self.minutes()
        if (match := ITERATION_LINE.search(line)) is not None:
            self.iterations.append((now, int(match[1]), float(match[2]), float(match[3]), int(match[4])))
        elif (match := CHECKPOINT_LINE.search(line)) is not None:
            self.checkpoints[int(match[1])] = now
        if self.echo or not ITERATION_LINE.search(line) or len(self.iterations) % 10 == 0:
            print(f"[{now:6.2f} min] {line}", flush=True)

    def _sample_load(self) -> None:
        while not self._stop.wait(5.0):
            self.loads.append(os.getloadavg()[0])

    def close(self) -> None:
        self._stop.set()


def benchmark_cfg(source: Path, eval_every: int, **environment: object) -> str:
    """The cfg's text with the checkpoint spacing set, videos off and `environment` keys set."""
    cfg = load_cfg(source)
    cfg["environment"].update(eval_every_n=eval_every, **environment)
    cfg["record_video"] = False
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(cfg, stream)
    return stream.getvalue()


def evaluation_run(checkpoint_path: Path, episodes: int, threads: int, actuator: dict | None = None,
                   max_time: float | None = None) -> tuple[NormalizedPolicy, RaisimGymVecEnv]:
    """A checkpoint's policy and `episodes` envs of its cfg, seeded as the trainer's evaluations are; `actuator` and
    `max_time` replace the cfg's drive model and episode length when given."""
    checkpoint = load_checkpoint(checkpoint_path)
    config = parse_training_config(checkpoint["cfg_text"], str(checkpoint_path))
    if actuator is not None:
        config.cfg["environment"]["actuator"] = actuator
    if max_time is not None:
        config.cfg["environment"]["max_time"] = max_time
    policy = NormalizedPolicy.from_checkpoint(checkpoint)
    env = make_vec_env(ENV_NAME, config.cfg, str(checkpoint_path), num_envs=episodes, num_threads=threads,
                       seed=config.seed + EVAL_SEED_OFFSET, normalize_ob=False)
    return policy, env


@torch.no_grad()
def evaluate(checkpoint_path: Path, episodes: int, threads: int, actuator: dict | None = None) -> Evaluation:
    """Runs one deterministic episode in each of `episodes` envs, seeded as the trainer's evaluations are; with
    `actuator`, on that drive model instead of the one the policy trained with."""
    policy, env = evaluation_run(checkpoint_path, episodes, threads, actuator)
    try:
        env.reset()
        up = np.ones(episodes, dtype=bool)
        fell = np.zeros(episodes, dtype=bool)
        returns = np.zeros(episodes)
        lengths = np.zeros(episodes)
        velocities, heights, joint_speeds = [], [], []
        observation = env.observe(update_statistics=False)
        for _ in range(int(env.wrapper.getMaxEpisodeSteps())):
            if not up.any():
                break
            for i in np.flatnonzero(up):
                qpos, qvel = env.wrapper.getState(int(i))
                velocities.append(qvel[0])
                heights.append(qpos[2])
            joint_speeds.append(np.abs(observation[up, JOINT_VELOCITY_SLICE]).ravel())
            actions = policy(torch.from_numpy(observation)).numpy()
            step = env.transition(np.ascontiguousarray(actions, dtype=np.float32), update_statistics=False)
            observation = step.observation
            returns[up] += step.reward[up]
            lengths[up] += 1
            fell[step.terminated & up] = True
            up &= ~step.done
        speeds = np.concatenate(joint_speeds)
        return Evaluation(
            velocity=float(np.mean(velocities)),
            fall_rate=float(fell.mean()),
            joint_speed_p95=float(np.percentile(speeds, 95)),
            joint_speed_max=float(speeds.max()),
            height=float(np.mean(heights)),
            mean_return=float(returns.mean()),
            mean_seconds=float(lengths.mean() * env.wrapper.getControlTimeStep()),
        )
    finally:
        env.close()


@torch.no_grad()
def evaluate_long(checkpoint_path: Path, episodes: int, seconds: float, threads: int,
                  actuator: dict | None = None) -> LongWalk:
    """Runs one deterministic `seconds`-long episode in each of `episodes` envs and measures how straight it walks
    (on the drive model `actuator` when given)."""
    policy, env = evaluation_run(checkpoint_path, episodes, threads, actuator, max_time=seconds)
    try:
        env.reset()
        states = [env.wrapper.getState(i)[0] for i in range(episodes)]
        start_x = np.array([qpos[0] for qpos in states])
        last_yaw = np.array([yaw_of(qpos) for qpos in states])
        turned = np.zeros(episodes)
        end_x = start_x.copy()
        up = np.ones(episodes, dtype=bool)
        fell = np.zeros(episodes, dtype=bool)
        lengths = np.zeros(episodes)
        observation = env.observe(update_statistics=False)
        for _ in range(int(env.wrapper.getMaxEpisodeSteps())):
            if not up.any():
                break
            actions = policy(torch.from_numpy(observation)).numpy()
            step = env.transition(np.ascontiguousarray(actions, dtype=np.float32), update_statistics=False)
            observation, dones = step.observation, step.done
            lengths[up] += 1
            for i in np.flatnonzero(up & ~dones):  # an ended env has already been reset: its state is a new episode's
                qpos = env.wrapper.getState(int(i))[0]
                yaw = yaw_of(qpos)
                turned[i] += np.angle(np.exp(1j * (yaw - last_yaw[i])))  # wrapped step, summed: unwrapped heading
                last_yaw[i] = yaw
                end_x[i] = qpos[0]
            fell[step.terminated & up] = True
            up &= ~dones
        duration = lengths * env.wrapper.getControlTimeStep()
        change = np.degrees(np.abs(turned))
        return LongWalk(seconds=seconds, heading_change_mean=float(change.mean()),
                        heading_change_worst=float(change.max()),
                        net_speed=float(np.mean((end_x - start_x) / np.maximum(duration, 1e-9))),
                        fall_rate=float(fell.mean()))
    finally:
        env.close()


def frame_strip(checkpoint_path: Path, path: Path, frames: int, start_s: float, spacing_s: float,
                env_name: str = ENV_NAME, edit_cfg: Callable[[dict], dict] | None = None,
                distance: float = 2.0, elevation: float = -12.0) -> Path | None:
    """Films one deterministic episode of the policy and saves `frames` frames `spacing_s` apart as one PNG.

    `edit_cfg` changes the checkpoint's cfg first (e.g. a fixed velocity command); `distance` (m) and `elevation`
    (degrees) place the camera.
    """
    if video.select_gl_backend() is None:
        print(f"[strip] no OpenGL backend ({video.unavailable_reason()}); no frame strip", flush=True)
        return None
    from PIL import Image

    checkpoint = load_checkpoint(checkpoint_path)
    config = parse_training_config(checkpoint["cfg_text"], str(checkpoint_path))
    cfg = config.cfg if edit_cfg is None else edit_cfg(config.cfg)
    env = make_vec_env(env_name, cfg, str(checkpoint_path), num_envs=1, num_threads=1,
                       seed=config.seed + EVAL_SEED_OFFSET, normalize_ob=False, evaluation=True)
    recorder = video.VideoRecorder(simulated_model(env), width=400, height=300, shadows=True)
    import mujoco  # after video.select_gl_backend has chosen the GL backend

    side = mujoco.MjvCamera()  # from the robot's right at its first heading, following the base: legs in profile
    side.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    side.trackbodyid = 1
    side.distance, side.elevation = distance, elevation
    recorder.camera = side
    try:
        policy = NormalizedPolicy.from_checkpoint(checkpoint)
        control_dt = float(env.wrapper.getControlTimeStep())
        wanted = {round((start_s + k * spacing_s) / control_dt) for k in range(frames)}
        env.reset()
        side.azimuth = np.degrees(yaw_of(env.wrapper.getState(0)[0])) + 90.0
        with torch.no_grad():
            observation = env.observe(update_statistics=False)
            for step in range(int(env.wrapper.getMaxEpisodeSteps())):
                if step in wanted:
                    recorder.capture(*env.wrapper.getState(0))
                actions = policy(torch.from_numpy(observation)).numpy()
                transition = env.transition(np.ascontiguousarray(actions, dtype=np.float32), update_statistics=False)
                observation = transition.observation
                if transition.done[0]:
                    break
        if not recorder.frames:
            return None
        gap = np.full((recorder.frames[0].shape[0], 4, 3), 255, dtype=np.uint8)
        strip = np.concatenate([part for frame in recorder.frames for part in (frame, gap)][:-1], axis=1)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(strip).save(path)
        return path
    finally:
        recorder.close()
        env.close()


def plot_curve(rows: list[tuple[float, int, int, Evaluation]], log: TrainingLog, minutes: float, episodes: int,
               path: Path) -> Path:
    """Velocity, fall rate and training reward against wall minutes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wall = [row[0] for row in rows]
    figure, axes = plt.subplots(3, 1, figsize=(7, 8), sharex=True)
    axes[0].plot(wall, [row[3].velocity for row in rows], "o-", color="tab:blue")
    axes[0].axhline(TARGET_VELOCITY, color="gray", linestyle="--", label=f"target {TARGET_VELOCITY} m/s")
    axes[0].set_ylabel("forward velocity (m/s)")
    axes[0].legend(loc="lower right")
    axes[1].plot(wall, [100 * row[3].fall_rate for row in rows], "o-", color="tab:red")
    axes[1].axhline(100 * TARGET_FALL_RATE, color="gray", linestyle="--", label="target < 5%")
    axes[1].set_ylabel("falls (% of episodes)")
    axes[1].set_ylim(-3, 103)
    axes[1].legend(loc="upper right")
    axes[2].plot([it[0] for it in log.iterations], [it[2] for it in log.iterations], color="tab:green", linewidth=1)
    axes[2].set_ylabel("training reward per step")
    axes[2].set_xlabel("wall-clock minutes of training (2 cores)")
    axes[2].set_xlim(0, max(minutes, wall[-1] if wall else 0) * 1.02)
    for axis in axes:
        axis.grid(alpha=0.3)
    figure.suptitle(f"rsg_anymal from scratch: deterministic policy, {episodes} episodes per point")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_markdown(path: Path, rows: list[tuple[float, int, int, Evaluation]], log: TrainingLog, args: argparse.Namespace,
                   wall_minutes: float, cpu_seconds: float, num_envs: int, steps: int, figures: list[Path | None],
                   long_walk: LongWalk, speed: float) -> None:
    samples = rows[-1][2] if rows else 0
    command = "python benchmarks/learn_anymal.py " + " ".join(sys.argv[1:])
    cfg_text = Path(args.cfg).read_text()
    load = f"{np.mean(log.loads):.1f} (min {np.min(log.loads):.1f}, max {np.max(log.loads):.1f})" if log.loads else "-"
    final = rows[-1][3] if rows else None
    reached = next((row for row in rows if row[3].velocity >= TARGET_VELOCITY and row[3].fall_rate < TARGET_FALL_RATE),
                   None)
    lines = [
        "# Learning: rsg_anymal with the shipped cfg.yaml",
        "",
        f"`{command}`",
        "",
        f"Machine: {platform.processor() or platform.machine()} ({cpu_model()}), {os.cpu_count()} cores; torch "
        f"{torch.__version__}, Python {platform.python_version()}. The machine was shared: 1-minute load average "
        f"during training {load}; this process used {cpu_seconds / 60 / max(wall_minutes, 1e-9):.2f} cores on average. "
        f"Machine speed, measured before training: {speed:,.0f} env steps/s (100 rsg_anymal envs, one thread, random "
        "actions, one transition per step); scale the wall times below by it.",
        "",
        f"Training: {wall_minutes:.1f} wall minutes, {samples:,} samples ({num_envs} envs x {steps} steps per "
        f"iteration; one sample = one control step of 0.01 s), {samples / max(wall_minutes * 60, 1e-9):,.0f} samples/s "
        "overall (checkpoints included).",
        "",
        f"Evaluation: after training, each checkpoint's deterministic policy (actor mean) runs {args.episodes} episodes "
        "of 4 s from the same seeded start states. Velocity is the world-frame base x velocity averaged over the steps "
        "at which a robot is up; a fall is an episode ended by termination (a body other than a foot touched the "
        "ground); joint speeds are |q̇| over all 12 joints and steps (the drives' no-load speed is 7.5 rad/s). "
        f"Target (issue 3): velocity >= {TARGET_VELOCITY} m/s with fewer than {TARGET_FALL_RATE:.0%} falls.",
        "",
        "| wall min | iteration | samples | samples/s | training reward/step | velocity (m/s) | falls | "
        "joint speed p95 / max (rad/s) | base height (m) | eval return |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for wall, iteration, row_samples, result in rows:
        reward = next((it[2] for it in reversed(log.iterations) if it[1] < iteration), float("nan"))
        lines.append(
            f"| {wall:.1f} | {iteration} | {row_samples:,} | {row_samples / max(wall * 60, 1e-9):,.0f} | "
            f"{reward:.3f} | {result.velocity:.2f} | {100 * result.fall_rate:.0f}% | "
            f"{result.joint_speed_p95:.1f} / {result.joint_speed_max:.1f} | {result.height:.3f} | "
            f"{result.mean_return:.1f} |")
    lines.append("")
    if final is not None:
        ok = final.velocity >= TARGET_VELOCITY and final.fall_rate < TARGET_FALL_RATE
        lines.append(f"Final policy: {final.velocity:.2f} m/s, {100 * final.fall_rate:.0f}% falls: target "
                     f"{'reached' if ok else 'NOT reached'}."
                     + (f" First reached at {reached[0]:.1f} wall minutes (iteration {reached[1]})." if reached else ""))
        lines.append("")
    lines += [
        f"Long episodes (the final policy, {args.episodes} deterministic episodes of {long_walk.seconds:.0f} s, the "
        "walk a user sees beyond the 4 s of training): heading change |final - initial yaw| "
        f"{long_walk.heading_change_mean:.1f}° mean, {long_walk.heading_change_worst:.1f}° worst; net forward speed "
        f"(x displacement / duration) {long_walk.net_speed:.2f} m/s; falls {100 * long_walk.fall_rate:.0f}%.",
        "",
    ]
    for figure in figures:
        if figure is not None:
            lines.append(f"![{figure.stem}]({os.path.relpath(figure, path.parent)})")
            lines.append("")
    which = "The shipped cfg.yaml" if Path(args.cfg).resolve() == SHIPPED_CFG.resolve() else f"The cfg {args.cfg}"
    lines += [f"{which} (the benchmark sets `eval_every_n` to "
              f"{args.eval_every} and `record_video` off):", "", "```yaml", cfg_text.rstrip(), "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="wall-clock training budget")
    parser.add_argument("--iterations", type=int, default=None, help="also stop after this many iterations")
    parser.add_argument("--eval-every", type=int, default=25, help="iterations between checkpoints (evaluated later)")
    parser.add_argument("--episodes", type=int, default=50, help="deterministic evaluation episodes per checkpoint")
    parser.add_argument("--long-seconds", type=float, default=20.0, help="episode length of the final straightness check")
    parser.add_argument("--cfg", default=str(SHIPPED_CFG), help="cfg.yaml to train with (default: the shipped one)")
    parser.add_argument("--seed", type=int, default=None, help="override the cfg's seed")
    parser.add_argument("--run-root", default="/tmp/learn_anymal", help="parent of the trainer's run directory")
    parser.add_argument("--markdown", default=str(ROOT / "benchmarks" / "results" / "learn_anymal.md"))
    parser.add_argument("--curve", default=str(ROOT / "docs" / "learning_curve_anymal.png"))
    parser.add_argument("--strip", default=str(ROOT / "docs" / "anymal_walk_strip.png"))
    parser.add_argument("--quiet", action="store_true", help="print only every 10th iteration line")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg_source = Path(args.cfg)
    run_root = Path(args.run_root)
    run_root.mkdir(parents=True, exist_ok=True)
    cfg_path = run_root / "cfg.yaml"
    cfg_path.write_text(benchmark_cfg(cfg_source, args.eval_every))
    shipped = load_cfg(cfg_source)
    num_envs = int(shipped["environment"]["num_envs"])
    steps = round(shipped["environment"]["max_time"] / shipped["environment"]["control_dt"])

    speed = engine_speed()
    print(f"[learn] machine speed: {speed:,.0f} env steps/s (100 envs, 1 thread)", flush=True)
    log = TrainingLog(echo=not args.quiet)
    # The trainer stops after the iteration in progress on SIGINT and saves a final checkpoint.
    timer = threading.Timer(args.minutes * 60.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    timer.start()
    try:
        result = trainer.train(ENV_NAME, cfg_path, run_root=run_root, seed=args.seed, iterations=args.iterations,
                               print_function=log)
    finally:
        timer.cancel()
        log.close()
    wall_minutes = log.minutes()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    log.checkpoints.setdefault(result.iteration, wall_minutes)
    print(f"[learn] trained {result.iteration} iterations in {wall_minutes:.1f} min; evaluating "
          f"{len(log.checkpoints)} checkpoints x {args.episodes} episodes", flush=True)

    rows = []
    for iteration, wall in sorted(log.checkpoints.items()):
        evaluation = evaluate(result.run_dir / f"full_{iteration}.pt", args.episodes, threads=2)
        rows.append((wall, iteration, iteration * num_envs * steps, evaluation))
        print(f"[learn] {wall:5.1f} min, iteration {iteration:4d}: {evaluation.velocity:5.2f} m/s, falls "
              f"{100 * evaluation.fall_rate:3.0f}%, joint speed p95 {evaluation.joint_speed_p95:.1f} max "
              f"{evaluation.joint_speed_max:.1f} rad/s, height {evaluation.height:.3f} m, return "
              f"{evaluation.mean_return:.1f}, {evaluation.mean_seconds:.2f} s", flush=True)
    long_walk = evaluate_long(result.last_checkpoint, args.episodes, args.long_seconds, threads=2)
    print(f"[learn] {args.long_seconds:.0f} s episodes: heading change {long_walk.heading_change_mean:.1f}° mean, "
          f"{long_walk.heading_change_worst:.1f}° worst, net speed {long_walk.net_speed:.2f} m/s, falls "
          f"{100 * long_walk.fall_rate:.0f}%", flush=True)
    curve = plot_curve(rows, log, args.minutes, args.episodes, Path(args.curve))
    strip = frame_strip(result.last_checkpoint, Path(args.strip), frames=8, start_s=2.5, spacing_s=0.08)
    write_markdown(Path(args.markdown), rows, log, args, wall_minutes, cpu_seconds, num_envs, steps, [curve, strip],
                   long_walk, speed)
    print(f"[learn] wrote {args.markdown}, {curve}, {strip}; run directory {result.run_dir}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
