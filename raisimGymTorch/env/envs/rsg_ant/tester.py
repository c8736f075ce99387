"""Plays a trained Ant policy.

    python raisimGymTorch/env/envs/rsg_ant/tester.py -w path/to/full_N.pt [--episodes K] [--no-video]
        [--render | --mujoco-viewer]
"""
from raisimGymTorch.runner import player


def main() -> int:
    return player.main("rsg_ant")


if __name__ == "__main__":
    raise SystemExit(main())
