"""The terrain level a perfect walker reaches: the ceiling that the rough task's curriculum and commands set.

    python benchmarks/curriculum_ceiling.py [--quick] [--walks 2000] [--robots 1000] [--episodes 100]

A perfect walker follows every command exactly on any terrain and never falls: at each control step its planar
velocity (yaw-aligned frame) and yaw rate equal the command. Its commands come from the env's own code
(`_toolkit.VelocityCommand` with cfg.yaml's `commands` block, as a training env draws them), over episodes of
cfg.yaml's `max_time`; each episode gives the distance from the spawn point and the commanded distance (the
planar speed commanded, integrated), the two numbers the curriculum judges. `--robots` robots then each live
`--episodes` episodes, each episode one of those walks drawn at random, and move through the levels by the env's
own rule (`_toolkit.TerrainCurriculum`: up past half a tile, down under half the commanded distance, from the top
to a random level). The mean level over the second half of their episodes is the most that training can show
under these commands, however well a policy walks.

Rows: the commands of cfg.yaml with and without `heading` (yaw rates drawn, the cfg until 2026-12-06), and a
robot promoted after every episode (the rule's own ceiling, whatever the commands).

    python benchmarks/curriculum_ceiling.py --policy full_N.pt [--envs 150] [--steps 25000] [--terrain-types a,b]

adds a real walker: that checkpoint's deterministic policy on cfg.yaml's terrain with the curriculum on, pushes and
observation noise off, under both kinds of command, in the same envs and seeds (one thread). A policy trained on
flat ground (48 observations) walks blind: the height scan is left out. It reports the mean level of the envs every
20 s (the level curve) and over the second half, and the share of ended episodes that were falls.
"""
from __future__ import annotations

import argparse
import copy
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import RESULTS_DIR, machine_info, markdown_table, write_result  # noqa: E402

import raisimGymTorch  # noqa: E402,F401  (before torch: it sets OpenMP's wait policy before torch loads libgomp)
import torch  # noqa: E402

from raisimGymTorch.env.bin import _toolkit  # noqa: E402
from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env  # noqa: E402
from raisimGymTorch.io.checkpoint import load_checkpoint  # noqa: E402
from raisimGymTorch.io.export import NormalizedPolicy  # noqa: E402

ROUGH_CFG = ENVS_DIR / "rsg_anymal_velocity" / "cfg.yaml"
FLAT_OBSERVATIONS = 48  # rsg_anymal_velocity without a height scan


@dataclass(frozen=True)
class Climb:
    mean_level: float
    promoted: float
    demoted: float


def command_kinds(commands: dict) -> tuple[dict, dict]:
    """`commands` without and with `heading` (legged_gym's full circle where the cfg has none)."""
    yaw_rates = {key: value for key, value in commands.items() if key != "heading"}
    return yaw_rates, {**yaw_rates, "heading": commands.get("heading", [-math.pi, math.pi])}


def perfect_walks(commands: dict, max_time: float, dt: float, count: int, seed: int) -> np.ndarray:
    """(distance from the spawn point, commanded distance) of `count` episodes of a perfect walker, in metres."""
    command = _toolkit.VelocityCommand(commands, seed=seed)
    headings = np.random.default_rng(seed).uniform(-math.pi, math.pi, count)
    walks = np.empty((count, 2))
    for episode in range(count):
        x = y = commanded = 0.0
        yaw = float(headings[episode])
        command.reset(yaw)
        for _ in range(round(max_time / dt)):
            vx, vy, yaw_rate = command.value
            cos, sin = math.cos(yaw), math.sin(yaw)
            x += (cos * vx - sin * vy) * dt
            y += (sin * vx + cos * vy) * dt
            yaw += yaw_rate * dt
            commanded += command.planar_speed * dt
            command.advance(dt, yaw)
        walks[episode] = math.hypot(x, y), commanded
    return walks


def climb(cfg: dict, walks: np.ndarray, robots: int, episodes: int, seed: int) -> Climb:
    """The mean level of `robots` curricula over the second half of `episodes` episodes, each a random one of
    `walks`, and the shares of moves up (including from the top to a random level) and down."""
    terrain = _toolkit.Terrain(cfg["environment"]["terrain"])
    rng = np.random.default_rng(seed)
    moves = {move: 0 for move in _toolkit.CurriculumMove.__members__.values()}
    levels = []
    for robot in range(robots):
        curriculum = _toolkit.TerrainCurriculum(cfg["environment"]["curriculum"], terrain, robot, robots, seed)
        for episode, index in enumerate(rng.integers(len(walks), size=episodes)):
            moves[curriculum.update(*walks[index])] += 1
            if episode >= episodes // 2:
                levels.append(curriculum.level)
    total = robots * episodes
    up = moves[_toolkit.CurriculumMove.UP] + moves[_toolkit.CurriculumMove.RANDOM]
    return Climb(float(np.mean(levels)), up / total, moves[_toolkit.CurriculumMove.DOWN] / total)


def perfect_walker(cfg: dict, commands: dict | None = None, walk_count: int = 2000, robots: int = 1000,
                   episodes: int = 100, seed: int = 0) -> Climb:
    """How a perfect walker climbs `cfg`'s terrain under `commands` (default: the cfg's own)."""
    environment = cfg["environment"]
    walks = perfect_walks(environment["commands"] if commands is None else commands, float(environment["max_time"]),
                          float(environment["control_dt"]), walk_count, seed)
    return climb(cfg, walks, robots, episodes, seed)


def ceilings(cfg: dict, walk_count: int, robots: int, episodes: int, seed: int = 0) -> dict[str, Climb]:
    yaw_rates, with_heading = command_kinds(cfg["environment"]["commands"])
    return {
        "yaw rates drawn (cfg.yaml until 2026-12-06)":
            perfect_walker(cfg, yaw_rates, walk_count, robots, episodes, seed),
        f"heading drawn in {with_heading['heading']} rad, yaw rate steered (cfg.yaml)":
            perfect_walker(cfg, with_heading, walk_count, robots, episodes, seed),
        "promoted after every episode": climb(cfg, np.array([[math.inf, 0.0]]), robots, episodes, seed),
    }


@dataclass(frozen=True)
class PolicyClimb:
    level_curve: list[float]
    """The mean level of the envs every 20 s."""
    falls: float
    """The share of ended episodes that ended in a fall."""

    @property
    def mean_level(self) -> float:
        return float(np.mean(self.level_curve[len(self.level_curve) // 2:]))


@torch.no_grad()
def policy_climbs(checkpoint: dict, source: str, cfg: dict, envs: int, steps: int,
                  terrain_types: list[str] | None = None) -> dict[str, PolicyClimb]:
    """A loaded checkpoint's deterministic policy (from file `source`) on `cfg`'s terrain with its curriculum, under
    drawn yaw rates and under heading commands, in the same envs and seeds."""
    policy = NormalizedPolicy.from_checkpoint(checkpoint)
    base = copy.deepcopy(cfg)
    environment = base["environment"]
    environment.pop("push", None)
    if checkpoint["obs_dim"] == FLAT_OBSERVATIONS:  # a flat-ground policy walks blind
        environment.pop("height_scan", None)
    if terrain_types:
        environment["terrain"]["proportions"] = {name: 1.0 for name in terrain_types}
    yaw_rates, with_heading = command_kinds(environment["commands"])
    kinds = {"yaw rates drawn": yaw_rates, "heading drawn, yaw rate steered": with_heading}
    climbs = {}
    for kind, kind_commands in kinds.items():
        environment["commands"] = kind_commands
        env = make_vec_env("rsg_anymal_velocity", base, source, num_envs=envs, num_threads=1, seed=5,
                           normalize_ob=False, evaluation=True)
        try:
            env.reset()
            observation = env.observe(update_statistics=False)
            episode_steps = int(env.wrapper.getMaxEpisodeSteps())
            curve, falls, ended = [], 0, 0
            for step in range(1, steps + 1):
                actions = policy(torch.from_numpy(observation)).numpy()
                transition = env.transition(np.ascontiguousarray(actions, dtype=np.float32), update_statistics=False)
                observation = transition.observation
                falls += int(transition.terminated.sum())
                ended += int(transition.done.sum())
                if step % episode_steps == 0:
                    curve.append(float(env.terrain_levels.mean()))
        finally:
            env.close()
        climbs[kind] = PolicyClimb(curve, falls / max(ended, 1))
    return climbs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few walks: proves the script runs")
    parser.add_argument("--walks", type=int, default=2000, help="perfect-walker episodes per kind of command")
    parser.add_argument("--robots", type=int, default=1000)
    parser.add_argument("--episodes", type=int, default=100, help="episodes each robot lives")
    parser.add_argument("--policy", type=Path, default=None, metavar="CHECKPOINT", help="also a real walker: full_N.pt")
    parser.add_argument("--envs", type=int, default=150, help="--policy: envs on the terrain")
    parser.add_argument("--steps", type=int, default=25000, help="--policy: control steps of each env")
    parser.add_argument("--terrain-types", default=None,
                        help="--policy: comma-separated tile types (default cfg.yaml's)")
    args = parser.parse_args()
    walks, robots, episodes = (50, 50, 40) if args.quick else (args.walks, args.robots, args.episodes)
    if args.quick:
        args.envs, args.steps = 4, 2000

    cfg = load_cfg(ROUGH_CFG)
    rows = [[name, f"{result.mean_level:.2f}", f"{100 * result.promoted:.1f}%", f"{100 * result.demoted:.1f}%"]
            for name, result in ceilings(cfg, walks, robots, episodes).items()]
    environment = cfg["environment"]
    commands = environment["commands"]
    text = "\n\n".join([
        "# The terrain level a perfect walker reaches under the rough task's commands",
        f"`python benchmarks/curriculum_ceiling.py{' --quick' if args.quick else ''}`: {walks} perfect-walker "
        f"episodes per kind of command, {robots} robots x {episodes} episodes through the curriculum, mean level "
        f"over each robot's second half. cfg.yaml: {environment['max_time']} s episodes, commands every "
        f"{commands['resampling_time']} s, vx {commands['lin_vel_x']}, vy {commands['lin_vel_y']}, yaw rate "
        f"{commands['yaw_rate']}, {environment['terrain']['levels']} levels of "
        f"{environment['terrain'].get('tile_size', 8.0)} m tiles. No physics: nothing here depends on the machine.",
        markdown_table(["commands", "mean level (of 0-9)", "episodes promoted", "episodes demoted"], rows),
    ])
    if args.policy is not None:
        types = args.terrain_types.split(",") if args.terrain_types else None
        checkpoint = load_checkpoint(args.policy)
        climbs = policy_climbs(checkpoint, str(args.policy), cfg, args.envs, args.steps, types)
        text += "\n\n" + "\n\n".join([
            f"A real walker: `{args.policy}` (trained {checkpoint['iteration']} iterations), "
            f"{args.envs} envs x {args.steps} control steps each, terrain types "
            f"{', '.join(types) if types else 'as cfg.yaml'}:",
            markdown_table(["commands", "mean level, second half", "level every 20 s", "ended episodes that fell"],
                           [[kind, f"{result.mean_level:.2f}", " ".join(f"{level:.2f}" for level in result.level_curve),
                             f"{100 * result.falls:.1f}%"] for kind, result in climbs.items()]),
        ])
    text += "\n\n" + markdown_table(["machine", "value"], [[key, value] for key, value in machine_info().items()])
    write_result(text + "\n", RESULTS_DIR / f"curriculum_ceiling{'_quick' if args.quick else ''}.md")


if __name__ == "__main__":
    main()
