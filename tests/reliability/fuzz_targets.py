"""Property-based fuzzing of the compiled module's array and cfg inputs (hypothesis), run in a child process.

The property: an input that meets the documented contract works, and any other input raises one of the
documented exception types (TypeError, ValueError, IndexError, FileNotFoundError, RuntimeError) and leaves
the env usable. A crash, an abort or another exception type fails. test_fuzz.py runs each target in a
fresh interpreter, so that a crash fails that test instead of killing pytest.
"""
from __future__ import annotations

import math
import resource
import sys

import numpy as np
from conftest import anymal_cfg, step_buffers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst
from reliability_helpers import DOCUMENTED

from raisimGymTorch.env.make import RESOURCE_DIR, import_env_module

N = 2
SETTINGS = settings(max_examples=60, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DTYPES = [np.dtype(t) for t in (np.float32, np.float64, np.float16, np.int32, np.int64, np.uint8, np.bool_,
                                np.complex64, ">f4", ">f8", "<i2")]

# No example may build thousands of envs; and should one try, a memory limit ends it instead of the machine.
resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
MODULE = import_env_module("rsg_anymal")
ENV = MODULE.RaisimGymEnv(str(RESOURCE_DIR), anymal_cfg(num_envs=N, num_threads=1)["environment"])
OB_DIM, ACT_DIM = ENV.getObDim(), ENV.getActionDim()
NQ, NV = (len(x) for x in ENV.getState(0))
TERMS = len(ENV.getRewardNames())
ENV.setStepBuffers(**step_buffers(ENV))
# What setStepBuffers requires of each array (all writeable).
CONTRACT = {name: (value.dtype, value.shape) for name, value in step_buffers(ENV).items()}


def elements(dtype: np.dtype):
    if dtype.kind == "f":
        return st.floats(allow_nan=True, allow_infinity=True, width=8 * dtype.itemsize)
    if dtype.kind == "c":
        return st.complex_numbers(allow_nan=True, allow_infinity=True, width=8 * dtype.itemsize)
    return None


@st.composite
def arrays(draw, dtype, shape):
    """Half the time the right dtype, shape and layout (with any values, NaN included); otherwise any dtype,
    shape, layout and flags."""
    if draw(st.booleans()):
        return draw(npst.arrays(np.dtype(dtype), shape, elements=elements(np.dtype(dtype))))
    chosen_dtype = draw(st.sampled_from([np.dtype(dtype)] * 3 + DTYPES))
    chosen_shape = draw(st.one_of(st.just(shape), npst.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=14)))
    values = draw(npst.arrays(chosen_dtype, chosen_shape, elements=elements(chosen_dtype)))
    layout = draw(st.sampled_from(["c", "c", "c", "fortran", "strided", "misaligned", "list"]))
    if layout == "fortran":
        values = np.asfortranarray(values)
    elif layout == "strided" and values.ndim:
        values = np.repeat(values, 2, axis=-1)[..., ::2]
    elif layout == "misaligned" and values.itemsize > 1:
        raw = np.zeros(values.nbytes + 1, np.uint8)
        moved = np.frombuffer(raw.data, dtype=values.dtype, count=values.size, offset=1).reshape(values.shape)
        moved[...] = values
        values = moved
    elif layout == "list":
        return values.tolist()
    if draw(st.integers(0, 4)) == 0:
        values.flags.writeable = False
    return values


def meets_contract(array, dtype, shape, writeable=False, finite=False, nonnegative=False) -> bool:
    """What the binding accepts: exactly this dtype in native order, shape, C order, aligned, and so on."""
    if not isinstance(array, np.ndarray):
        return False
    dtype = np.dtype(dtype)
    ok = (array.dtype.num == dtype.num and array.dtype.byteorder in "=|" and array.shape == tuple(shape)
          and array.flags.c_contiguous and array.flags.aligned and (array.flags.writeable or not writeable))
    if ok and finite:
        ok = bool(np.isfinite(array).all())
    if ok and nonnegative:
        ok = bool((array >= 0).all())
    return ok


def check(call, valid: bool) -> None:
    """`call` must work when `valid`, and raise a documented type otherwise; the env must stay usable."""
    try:
        call()
    except DOCUMENTED as error:
        assert not valid, f"a valid input raised {type(error).__name__}: {error}"
    else:
        assert valid, "an input that breaks the contract was accepted"
    ENV.step(np.zeros((N, ACT_DIM), np.float32))


def valid(dtype, shape):
    """A contract-meeting array with finite values."""
    if np.dtype(dtype).kind == "f":
        return npst.arrays(dtype, shape, elements=st.floats(-1e3, 1e3, width=8 * np.dtype(dtype).itemsize))
    return npst.arrays(dtype, shape)


@st.composite
def one_fuzzed(draw, **contracts):
    """Arguments of which at most one (chosen at random) is fuzzed, the others valid."""
    fuzzed = draw(st.sampled_from([None, *contracts]))
    drawn = {name: draw(arrays(*contract) if name == fuzzed else valid(*contract))
             for name, contract in contracts.items()}
    return {**drawn, "fuzzed": fuzzed}


@SETTINGS
@given(arguments=one_fuzzed(observation=(np.float32, (N, OB_DIM)), reward=(np.float32, (N,)), done=(np.bool_, (N,)),
                            terminated=(np.bool_, (N,)), truncated=(np.bool_, (N,)),
                            final_observation=(np.float32, (N, OB_DIM)), reward_terms=(np.float32, (N, TERMS)),
                            metrics=(np.float32, (N, 0))))
def fuzz_step_buffers(arguments):
    arguments = {name: value for name, value in arguments.items() if name != "fuzzed"}
    valid = all(meets_contract(value, CONTRACT[name][0], CONTRACT[name][1], writeable=True)
                for name, value in arguments.items())
    check(lambda: ENV.setStepBuffers(**arguments), valid)
    ENV.setStepBuffers(**step_buffers(ENV))  # valid ones again, for the next example's step


@SETTINGS
@given(arguments=one_fuzzed(action=(np.float32, (N, ACT_DIM))))
def fuzz_step(arguments):
    action = arguments["action"]
    check(lambda: ENV.step(action), meets_contract(action, np.float32, (N, ACT_DIM), finite=True))


@SETTINGS
@given(ob=arrays(np.float32, (N, OB_DIM)), update=st.booleans())
def fuzz_observe(ob, update):
    check(lambda: ENV.observe(ob, update), meets_contract(ob, np.float32, (N, OB_DIM), writeable=True))


@SETTINGS
@given(index=st.one_of(st.integers(0, N - 1), st.integers(-2, N + 1), st.integers(-(2**70), 2**70)),
       arguments=one_fuzzed(qpos=(np.float64, (NQ,)), qvel=(np.float64, (NV,))))
def fuzz_set_state(index, arguments):
    qpos, qvel = arguments["qpos"], arguments["qvel"]
    valid = (0 <= index < N and meets_contract(qpos, np.float64, (NQ,), finite=True)
             and meets_contract(qvel, np.float64, (NV,), finite=True))
    check(lambda: ENV.setState(index, qpos, qvel), valid)


@SETTINGS
@given(arguments=one_fuzzed(mean=(np.float64, (OB_DIM,)), var=(np.float64, (OB_DIM,))),
       count=st.one_of(st.floats(0, 1e12), st.floats(allow_nan=True, allow_infinity=True)))
def fuzz_set_statistics(arguments, count):
    mean, var = arguments["mean"], arguments["var"]
    if arguments["fuzzed"] != "var":
        var = np.abs(var)  # a valid variance
    # Beyond these no float32 run can get (ObservationStatistics.hpp): |mean| <= FLT_MAX, var <= (2 FLT_MAX)^2,
    # count <= 2^53.
    largest = float(np.finfo(np.float32).max)
    valid = (meets_contract(mean, np.float64, (OB_DIM,), finite=True)
             and meets_contract(var, np.float64, (OB_DIM,), finite=True, nonnegative=True)
             and math.isfinite(count) and 0 <= count <= 2.0**53
             and bool(np.all(np.abs(mean) <= largest)) and bool(np.all(var <= (2 * largest) ** 2)))
    check(lambda: ENV.setObStatistics(mean, var, count), valid)


# --- cfg trees ----------------------------------------------------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.integers(-3, 3),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
VALUES = st.recursive(SCALARS, lambda children: st.one_of(st.lists(children, max_size=4),
                                                          st.dictionaries(st.text(max_size=6), children, max_size=4)),
                      max_leaves=12)
# Counts that could build thousands of envs or threads are left out: they are valid and merely slow.
COUNTS = st.one_of(st.integers(-5, 4), st.integers(2**20 + 1, 2**63 - 1), st.integers(2**63, 2**70),
                   st.sampled_from([1.5, "auto", "many", None, True, [], {}]))


@st.composite
def cfg_trees(draw):
    """The shipped environment cfg with random keys replaced, removed or added, or a random tree altogether."""
    if draw(st.integers(0, 9)) == 0:
        return draw(VALUES)
    cfg = anymal_cfg(num_envs=N, num_threads=1)["environment"]
    for _ in range(draw(st.integers(1, 2))):
        action = draw(st.sampled_from(["perturb", "perturb", "perturb", "replace", "remove", "add", "nested"]))
        if not cfg:
            break
        key = draw(st.sampled_from(sorted(cfg)))
        if action == "perturb" and key not in ("num_envs", "num_threads"):
            # Same type, any value: numbers become negative, zero, huge, infinite, NaN.
            value = cfg[key]
            if isinstance(value, bool):
                cfg[key] = draw(st.booleans())
            elif isinstance(value, (int, float)):
                cfg[key] = draw(st.one_of(st.floats(1e-3, 1e2), st.floats(1e-3, 1e2), st.integers(1, 100),
                                          st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**40), 2**40)))
        elif action == "replace":
            cfg[key] = draw(COUNTS if key in ("num_envs", "num_threads") else VALUES)
        elif action == "remove":
            cfg.pop(key)
        elif action == "add":
            cfg[draw(st.text(max_size=12))] = draw(VALUES)
        elif isinstance(cfg.get("reward"), dict) and cfg["reward"]:
            term = draw(st.sampled_from(sorted(cfg["reward"])))
            cfg["reward"][term] = draw(VALUES)
    return cfg


def substeps_are_few(cfg) -> bool:
    """Whether one step is cheap: cfgs asking for millions of physics steps per control step are valid but slow."""
    try:
        return 0 < float(cfg["control_dt"]) / float(cfg["simulation_dt"]) <= 1000
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return False


@SETTINGS
@given(cfg=st.one_of(cfg_trees(), cfg_trees(), cfg_trees(), cfg_trees(), st.text(max_size=40)))
def fuzz_cfg(cfg):
    try:
        env = MODULE.RaisimGymEnv(str(RESOURCE_DIR), cfg, "fuzzed cfg")
    except DOCUMENTED:
        return
    try:  # a cfg the constructor accepts gives a working env
        n = env.getNumOfEnvs()
        env.reset()
        env.observe(np.zeros((n, env.getObDim()), np.float32), True)
        if substeps_are_few(cfg):
            env.setStepBuffers(**step_buffers(env))
            env.step(np.zeros((n, env.getActionDim()), np.float32))
    finally:
        env.close()


if __name__ == "__main__":
    globals()[sys.argv[1]]()
    print("passed")
