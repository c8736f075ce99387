"""raisimGymTorch: vectorized C++ environments on MuJoCo, stepped on a thread pool, trained with PyTorch PPO."""
import os
import sys
import warnings

# torch's OpenMP threads (libgomp) spin while idle by default. On a machine with other work, or while
# torch runs between env steps, spinning threads steal the cores the env's threads need: measured 3-4x
# slower with 2 threads when the envs still ran on libgomp too (benchmarks/throughput.py). libgomp
# reads this once, when it is loaded, so it has to be set before torch or an env module is imported.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    if "torch" in sys.modules:
        warnings.warn(
            "torch was imported before raisimGymTorch, so OpenMP threads keep spinning while idle, which can make "
            "multi-threaded stepping several times slower; import raisimGymTorch first or set OMP_WAIT_POLICY=PASSIVE",
            RuntimeWarning,
            stacklevel=2,
        )
