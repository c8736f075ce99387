"""Prints the SHA-256 of a seeded rsg_anymal rollout: python rollout_hash.py <seed> <num_threads>.

The rollout covers observations (normalized, so the running statistics are in it), rewards, done and truncated
flags, final observations and the statistics at the end; random actions strong enough to end episodes.
"""
import hashlib
import sys

import numpy as np
from conftest import anymal_cfg, random_actions

from raisimGymTorch.env.make import make_vec_env

STEPS, NUM_ENVS = 60, 6


def rollout_hash(seed: int, num_threads: int) -> str:
    env = make_vec_env("rsg_anymal", anymal_cfg(max_time=0.25), num_envs=NUM_ENVS, num_threads=num_threads,
                       seed=seed)
    digest = hashlib.sha256()
    ends = 0
    try:
        for action in random_actions(NUM_ENVS, env.num_acts, STEPS, seed=5, scale=2.0):
            digest.update(env.observe(update_statistics=True).tobytes())
            reward, done = env.step(action)
            ends += int(done.sum())
            for part in (reward, done, env.truncated, env.final_observation()[done]):
                digest.update(np.ascontiguousarray(part).tobytes())
        for part in env.get_statistics():
            digest.update(np.asarray(part).tobytes())
    finally:
        env.close()
    assert ends >= NUM_ENVS, "the rollout must include episode ends (and so seeded resets)"
    return digest.hexdigest()


if __name__ == "__main__":
    print(rollout_hash(int(sys.argv[1]), int(sys.argv[2])))
