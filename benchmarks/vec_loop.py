"""One timed run of the vectorized env, in a process of its own; prints one JSON line.

benchmarks/throughput.py starts this once per measurement, so that no run inherits another's OpenMP
thread pool, allocator state or environment variables (OMP_WAIT_POLICY is read when libgomp loads).
It reads the same raw float32 action file as the engine loop: batches of (num_envs, action_dim), batch
t modulo their number at control step t.

    python benchmarks/vec_loop.py --env rsg_anymal --num-envs 100 --threads 2 --steps 1000 \\
        --seed 1 --actions actions.bin [--no-normalize] [--no-update-statistics] [--step-only] [--checksums]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--num-envs", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--actions", required=True)
    parser.add_argument("--no-normalize", action="store_true", help="normalize_ob=False")
    parser.add_argument("--no-update-statistics", action="store_true", help="transition(update_statistics=False)")
    parser.add_argument("--step-only", action="store_true", help="step() only: no observation")
    parser.add_argument("--checksums", action="store_true",
                        help="untimed: sum rewards, episode ends and the last observation like the engine loop does")
    args = parser.parse_args()

    cfg_path = ENVS_DIR / args.env / "cfg.yaml"
    normalize = not (args.no_normalize or args.checksums)
    env = make_vec_env(args.env, load_cfg(cfg_path), str(cfg_path), num_envs=args.num_envs, num_threads=args.threads,
                       seed=args.seed, normalize_ob=normalize)
    actions = np.fromfile(args.actions, dtype=np.float32).reshape(-1, args.num_envs, env.num_acts)
    batches = actions.shape[0]
    # Env i seeded with seed + i, then one reset: the first episodes draw from fresh generators, as in
    # the engine loop, whatever the constructor did before.
    env.seed(args.seed)
    env.reset()

    if args.checksums:
        reward_sum, dones, timeouts = 0.0, 0, 0
        for t in range(args.steps):
            step = env.transition(actions[t % batches], update_statistics=False)
            reward_sum += float(step.reward.astype(np.float64).sum())
            dones += int(step.done.sum())
            timeouts += int(step.truncated.sum())
            observation = step.observation
        print(json.dumps({"reward_sum": reward_sum, "dones": dones, "timeouts": timeouts,
                          "observation_sum": float(observation.astype(np.float64).sum())}))
        return 0

    update = not args.no_update_statistics
    observe = not args.step_only
    cpu_start, start = time.process_time(), time.perf_counter()
    for t in range(args.steps):
        if observe:
            env.transition(actions[t % batches], update_statistics=update)
        else:
            env.step(actions[t % batches])
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    env.close()
    # CPU seconds are the whole process's: every thread, OpenMP workers spinning at a barrier included.
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
