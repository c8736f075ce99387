"""Plays a trained velocity-command policy; --command VX VY YAW_RATE fixes the command.

    python raisimGymTorch/env/envs/rsg_anymal_velocity/tester.py -w path/to/full_N.pt [--command VX VY YAW_RATE] [--episodes K] [--no-video]
        [--render | --mujoco-viewer]
"""
from raisimGymTorch.runner import player


def main() -> int:
    return player.main("rsg_anymal_velocity")


if __name__ == "__main__":
    raise SystemExit(main())
