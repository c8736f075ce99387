"""The bad-input table: every public entry point fed wrong types, shapes, layouts, values and files.

Run in a child process by test_bad_input_table.py (``TABLE.run``), one row after the other, so that a
crash names its row. Rows that tests/env/test_bad_input.py, tests/env/test_config.py,
tests/io/test_checkpoint.py and the adapter tests already cover are not repeated here.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.util
import os
import random
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np
from conftest import anymal_cfg, small_cfg_text, step_buffers
from reliability_helpers import CaseTable

from raisimGymTorch.env.make import RESOURCE_DIR, import_env_module, load_cfg, make_vec_env
from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv

TABLE = CaseTable()
case = TABLE.case
N = 2  # envs in every env built here
SCRATCH = Path(tempfile.mkdtemp(prefix="rsg_bad_input_"))


def module():
    return import_env_module("rsg_anymal")


def environment_cfg(**overrides):
    return anymal_cfg(num_envs=N, num_threads=1, **overrides)["environment"]


def _sizes():
    env = module().RaisimGymEnv(str(RESOURCE_DIR), environment_cfg())
    qpos, qvel = env.getState(0)
    sizes = env.getObDim(), env.getActionDim(), len(qpos), len(qvel)
    env.close()
    return sizes


OB, ACT, NQ, NV = _sizes()  # 35, 12, 19, 18 for the shipped ANYmal


def construct(cfg, resource_dir=str(RESOURCE_DIR), source="cfg.yaml"):
    module().RaisimGymEnv(resource_dir, cfg, source).close()


@contextlib.contextmanager
def anymal(**overrides) -> Iterator[RaisimGymVecEnv]:
    env = make_vec_env("rsg_anymal", anymal_cfg(**overrides), num_envs=N, num_threads=1, normalize_ob=False)
    try:
        yield env
    finally:
        env.close()


def register_buffers(**bad):
    """Registers valid step buffers with `bad` ones (name -> function of the env) put in their place."""
    with anymal() as env:
        buffers = step_buffers(env.wrapper)
        buffers.update({name: make(env) for name, make in bad.items()})
        env.wrapper.setStepBuffers(**buffers)


def misaligned(shape, dtype=np.float32):
    """A writeable array of `shape` whose data starts one byte past an aligned address."""
    count = int(np.prod(shape))
    raw = np.zeros(count * np.dtype(dtype).itemsize + 1, np.uint8)
    array = np.frombuffer(raw.data, dtype=dtype, count=count, offset=1).reshape(shape)
    assert not array.flags.aligned and array.flags.writeable
    return array


def read_only(array):
    array.flags.writeable = False
    return array


def write(name: str, data: bytes | str) -> Path:
    path = SCRATCH / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# --- the compiled module's constructor ----------------------------------------------------------------

case("constructor: resource_dir None", TypeError, "incompatible constructor arguments")(
    lambda: construct(environment_cfg(), resource_dir=None))
case("constructor: cfg an int", ValueError, "cfg must be a YAML mapping")(lambda: construct(5))
case("constructor: cfg None", ValueError, "cfg must be a YAML mapping")(lambda: construct(None))
case("constructor: cfg_source an int", TypeError, "incompatible constructor arguments")(
    lambda: construct(environment_cfg(), source=3))
case("constructor: non-string key", ValueError, r"cfg key 1 under 'reward' must be a string")(
    lambda: construct({**environment_cfg(), "reward": {1: 2}}))
case("constructor: a set as value", ValueError, r"cfg key 'p_gain' has a value of unsupported type .*set")(
    lambda: construct(environment_cfg(p_gain={1.0})))
case("constructor: an object as value", ValueError, r"cfg key 'd_gain' has a value of unsupported type")(
    lambda: construct(environment_cfg(d_gain=object())))
case("constructor: NaN value", ValueError, r"cfg key 'p_gain' is NaN \(in cfg\.yaml\)")(
    lambda: construct(environment_cfg(p_gain=float("nan"))))
case("constructor: NaN in YAML text", ValueError, r"cfg key 'simulation_dt' is NaN")(
    lambda: construct("num_envs: 1\nsimulation_dt: .nan\n"))
# Issue 17 item 9: one rule for YAML booleans (the trainer took record_video: yes, C++ refused render: yes), numbers
# printed as %g, and long values quoted in part.
case("constructor: render: yes works, as record_video: yes does", None)(
    lambda: construct(environment_cfg(render="yes")))
case("constructor: render: Off works", None)(lambda: construct(environment_cfg(render="Off")))
case("constructor: render: maybe", ValueError,
     r"cfg key 'render' must be true or false \(or yes/no, on/off\), got 'maybe'")(
    lambda: construct(environment_cfg(render="maybe")))
case("constructor: max_time -1e-9", ValueError, r"cfg key 'max_time' must be positive, got -1e-09 \(in")(
    lambda: construct(environment_cfg(max_time=-1e-9)))


def short_message(function):
    """Runs `function`, which must fail, and re-raises its error if the message is short."""
    try:
        function()
    except Exception as error:  # noqa: BLE001
        assert len(str(error)) < 500, f"a {len(str(error))}-character message: {str(error)[:200]}"
        raise
    raise AssertionError("no error")


case("constructor: a 5 MB string as a number", ValueError,
     r"cfg key 'p_gain' must be a number, got 'xxxx[x]*\.\.\.' \(5000000 characters\)")(
    lambda: short_message(lambda: construct(environment_cfg(p_gain="x" * 5_000_000))))


def nested(depth, container):
    root = node = container()
    for _ in range(depth):
        child = container()
        if isinstance(node, dict):
            node["x"] = child
        else:
            node.append(child)
        node = child
    return root


case("constructor: mapping nested 100,000 deep", ValueError, r"nested deeper than 64 levels at key 'deep\.x\.x")(
    lambda: construct({**environment_cfg(), "deep": nested(100_000, dict)}))
case("constructor: list nested 100,000 deep", ValueError, r"nested deeper than 64 levels at key 'deep\[0\]\[0\]")(
    lambda: construct({**environment_cfg(), "deep": nested(100_000, list)}))


def alias_bomb_yaml(levels=9):
    """Ten times ten times ... references: a few hundred bytes that name 10**levels values."""
    lines = ["num_envs: 1", "a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


case("constructor: YAML alias bomb (10**9 values)", ValueError, r"more than 100000 keys and values \(YAML aliases")(
    lambda: construct(alias_bomb_yaml()))


def shared_list_bomb():
    values = [1.0] * 10
    for _ in range(8):
        values = [values] * 10
    construct({**environment_cfg(), "bomb": values})


case("constructor: shared-list bomb (10**9 values)", ValueError, r"more than 100000 keys and values")(shared_list_bomb)
case("constructor: 100,000-character resource_dir", RuntimeError, r"File name too long")(
    lambda: construct(environment_cfg(), resource_dir="x" * 100_000))
case("constructor: NUL in resource_dir", FileNotFoundError, r"model file not found")(
    lambda: construct(environment_cfg(), resource_dir=str(SCRATCH / "no\0where")))


def most_threads_work():
    env = make_vec_env("rsg_anymal", anymal_cfg(), num_envs=N, num_threads=1024)
    try:
        assert env.wrapper.getNumThreads() == 1024
        env.step(np.zeros((N, env.num_acts), np.float32))
    finally:
        env.close()


case("constructor: num_threads 1024 (the maximum) works", None)(most_threads_work)

# --- arrays into observe / setStepBuffers / step / statistics --------------------


def observe_into(make):
    with anymal() as env:
        env.wrapper.observe(make(env), False)


case("observe: Fortran-order buffer", ValueError, "observation must be C-contiguous")(
    lambda: observe_into(lambda env: np.asfortranarray(np.zeros((N, env.num_obs), np.float32))))
case("observe: misaligned buffer", ValueError, "observation must be aligned")(
    lambda: observe_into(lambda env: misaligned((N, env.num_obs))))
case("observe: big-endian float32", TypeError, r"observation must have dtype float32, got >f4")(
    lambda: observe_into(lambda env: np.zeros((N, env.num_obs), ">f4")))


def observe_update_flag_text():
    with anymal() as env:
        env.wrapper.observe(np.zeros((N, env.num_obs), np.float32), "yes")


case("observe: update_statistics a string", TypeError, "incompatible function arguments")(observe_update_flag_text)


def step_without_buffers():
    module = import_env_module("rsg_anymal").RaisimGymEnv(str(RESOURCE_DIR), anymal_cfg(num_envs=N)["environment"])
    try:
        module.step(np.zeros((N, module.getActionDim()), np.float32))
    finally:
        module.close()


case("step: before setStepBuffers", RuntimeError, r"setStepBuffers\(\.\.\.\) must be called once before step\(\)")(
    step_without_buffers)


def step_with(action):
    with anymal() as env:
        env.wrapper.step(action(env))


case("setStepBuffers: read-only done", ValueError, "done must be writeable")(
    lambda: register_buffers(done=lambda env: read_only(np.zeros(N, bool))))
case("setStepBuffers: truncated of the wrong shape", ValueError, r"truncated must have shape \(2,\), got \(3,\)")(
    lambda: register_buffers(truncated=lambda env: np.zeros(3, bool)))
case("setStepBuffers: terminated of dtype int8", TypeError, "terminated must have dtype bool")(
    lambda: register_buffers(terminated=lambda env: np.zeros(N, np.int8)))
case("setStepBuffers: strided reward", ValueError, "reward must be C-contiguous")(
    lambda: register_buffers(reward=lambda env: np.zeros(2 * N, np.float32)[::2]))
case("setStepBuffers: read-only final observation", ValueError, "final observation must be writeable")(
    lambda: register_buffers(final_observation=lambda env: read_only(np.zeros((N, env.num_obs), np.float32))))
case("setStepBuffers: final observation of the wrong shape", ValueError,
     rf"final observation must have shape \(2, {OB}\)")(
    lambda: register_buffers(final_observation=lambda env: np.zeros((N, env.num_obs + 1), np.float32)))
case("setStepBuffers: read-only reward terms", ValueError, "reward terms must be writeable")(
    lambda: register_buffers(reward_terms=lambda env: read_only(np.zeros((N, len(env.reward_names)), np.float32))))
case("setStepBuffers: reward terms of the wrong shape", ValueError, "reward terms must have shape")(
    lambda: register_buffers(reward_terms=lambda env: np.zeros((N + 1, len(env.reward_names)), np.float32)))
case("setStepBuffers: metrics of the wrong shape", ValueError, r"metrics must have shape \(2, 0\)")(
    lambda: register_buffers(metrics=lambda env: np.zeros((N, 1), np.float32)))
case("step: misaligned action", ValueError, "action must be aligned")(
    lambda: step_with(action=lambda env: misaligned((N, env.num_acts))))
case("step: 0-d action", ValueError, rf"action must have shape \(2, {ACT}\), got \(\)")(
    lambda: step_with(action=lambda env: np.array(0.0, np.float32)))
case("step: object-dtype action", TypeError, "action must have dtype float32, got object")(
    lambda: step_with(action=lambda env: np.zeros((N, env.num_acts), object)))
case("step: float16 action", TypeError, "action must have dtype float32, got float16")(
    lambda: step_with(action=lambda env: np.zeros((N, env.num_acts), np.float16)))
case("step: read-only action works (it is only read)", None)(
    lambda: step_with(action=lambda env: read_only(np.zeros((N, env.num_acts), np.float32))))
case("step: float32 with metadata works (an equal dtype object)", None)(
    lambda: step_with(action=lambda env: np.zeros((N, env.num_acts), np.dtype(np.float32, metadata={"a": 1}))))
case("step: float32 spelled '=f4' works", None)(
    lambda: step_with(action=lambda env: np.zeros((N, env.num_acts), np.dtype(np.float32).newbyteorder("="))))



def get_statistics_into_read_only():
    with anymal() as env:
        env.wrapper.getObStatistics(read_only(np.zeros(env.num_obs)), np.zeros(env.num_obs))


case("getObStatistics: read-only mean", ValueError, "mean must be writeable")(get_statistics_into_read_only)


def set_statistics(mean=0.0, var=1.0, count=1.0, dtype=np.float64):
    with anymal() as env:
        env.wrapper.setObStatistics(np.full(env.num_obs, mean, dtype), np.full(env.num_obs, var, dtype), count)


case("setObStatistics: NaN mean", ValueError, "must be finite")(lambda: set_statistics(mean=np.nan))
case("setObStatistics: inf var", ValueError, "must be finite")(lambda: set_statistics(var=np.inf))
case("setObStatistics: NaN count", ValueError, "count must be finite and non-negative")(
    lambda: set_statistics(count=float("nan")))
case("setObStatistics: inf count", ValueError, "count must be finite and non-negative")(
    lambda: set_statistics(count=float("inf")))
case("setObStatistics: float32 arrays", TypeError, "mean must have dtype float64, got float32")(
    lambda: set_statistics(dtype=np.float32))
case("getObStatistics: float32 buffers", TypeError, "mean must have dtype float64, got float32")(
    lambda: call("getObStatistics", np.zeros(OB, np.float32), np.zeros(OB)))
case("setObStatistics: wrong length", ValueError, rf"var must have shape \({OB},\), got \(3,\)")(
    lambda: call("setObStatistics", np.zeros(OB), np.ones(3), 1.0))
case("setObStatistics: negative count", ValueError, "count must be finite and non-negative")(
    lambda: set_statistics(count=-1.0))
case("setObStatistics: negative variance", ValueError, "non-negative variance")(lambda: set_statistics(var=-1.0))
# Issue 17 item 7: huge finite statistics used to be taken and overflow to inf/NaN at the next update.
case("setObStatistics: count 1e308", ValueError, r"observation count 1e\+308 is beyond 2\^53")(
    lambda: set_statistics(count=1e308))
case("setObStatistics: var 1e308", ValueError, r"observation var\[0\] = 1e\+308 is beyond any float32 observation")(
    lambda: set_statistics(var=1e308))
case("setObStatistics: mean -1e300", ValueError, r"observation mean\[0\] = -1e\+300 is beyond any float32")(
    lambda: set_statistics(mean=-1e300))


def largest_statistics_stay_finite():
    """The largest statistics set_statistics takes survive an update: the bounds are tight enough."""
    with anymal() as env:
        big = float(np.finfo(np.float32).max)
        env.wrapper.setNormalization(True, 5.0)
        env.set_statistics(np.full(env.num_obs, -big, np.float64), np.full(env.num_obs, 4.0 * big * big), 2.0**53)
        env.observe(update_statistics=True)
        mean, var, count = env.get_statistics()
        assert np.isfinite(mean).all() and np.isfinite(var).all() and np.isfinite(count), (mean, var, count)


case("setObStatistics: the largest accepted statistics stay finite after an update", None)(
    largest_statistics_stay_finite)


def call(method, *args):
    with anymal() as env:
        return getattr(env.wrapper, method)(*args)


case("setSeed: seed + num_envs beyond a C int", ValueError,
     r"seed must be between -2147483648 and 2147483646 \(env i gets seed \+ i\), got 2147483647")(
    lambda: call("setSeed", 2**31 - 1))
case("setSeed: beyond 64 bits", TypeError, "incompatible function arguments")(lambda: call("setSeed", 2**70))
case("setSeed: a string", TypeError, "incompatible function arguments")(lambda: call("setSeed", "3"))
case("setSeed: negative works", None)(lambda: call("setSeed", -(2**31)))
case("setNormalization: NaN clip", ValueError, "clip_obs must be positive, got nan")(
    lambda: call("setNormalization", True, float("nan")))
case("setNormalization: enabled a string", TypeError, "incompatible function arguments")(
    lambda: call("setNormalization", "on", 5.0))
case("getState: index -1", IndexError, "env index -1 out of range for 2 environments")(lambda: call("getState", -1))
case("getState: index num_envs", IndexError, "env index 2 out of range")(lambda: call("getState", N))
case("getState: index beyond 64 bits", TypeError, "incompatible function arguments")(lambda: call("getState", 2**70))


def set_state(index=0, qpos=None, qvel=None):
    with anymal() as env:
        good_qpos, good_qvel = env.wrapper.getState(0)
        env.wrapper.setState(index, good_qpos if qpos is None else qpos(good_qpos),
                             good_qvel if qvel is None else qvel(good_qvel))


def with_value(index, value):
    def change(array):
        array = array.copy()
        array[index] = value
        return array
    return change


case("setState: float32 qpos", TypeError, "qpos must have dtype float64, got float32")(
    lambda: set_state(qpos=lambda q: q.astype(np.float32)))
case("setState: qpos one short", ValueError, rf"qpos must have shape \({NQ},\), got \({NQ - 1},\)")(
    lambda: set_state(qpos=lambda q: q[:-1].copy()))
case("setState: NaN in qpos", ValueError, "qpos contains NaN at index 3")(
    lambda: set_state(qpos=with_value(3, np.nan)))
case("setState: inf in qvel", ValueError, f"qvel contains inf at index {NV - 1}")(
    lambda: set_state(qvel=with_value(NV - 1, -np.inf)))
case("setState: index past the end", IndexError, "env index 5 out of range")(lambda: set_state(index=5))
case("setState: qpos a list", TypeError, "qpos must be a numpy array")(lambda: set_state(qpos=lambda q: q.tolist()))


def huge_finite_state_is_reset():
    with anymal() as env:
        qpos, qvel = env.wrapper.getState(0)
        env.wrapper.setState(0, np.full_like(qpos, 1e300), np.full_like(qvel, 1e300))
        _, done = env.step(np.zeros((N, env.num_acts), np.float32))
        assert done[0] and env.diverged_resets == 1, "the absurd state diverges and the env is reset"
        assert np.isfinite(env.observe(update_statistics=False)).all()


case("setState: huge finite values are accepted, then reset as diverged", None)(huge_finite_state_is_reset)

# --- RaisimGymVecEnv ----------------------------------------------------------------------------------

case("RaisimGymVecEnv: impl None", TypeError, r"impl must be a compiled environment .* got NoneType")(
    lambda: RaisimGymVecEnv(None))


def vec_env_clip_text():
    impl = module().RaisimGymEnv(str(RESOURCE_DIR), environment_cfg())
    try:
        RaisimGymVecEnv(impl, clip_obs="wide")
    finally:
        impl.close()


case("RaisimGymVecEnv: clip_obs a word", ValueError, "could not convert string to float")(vec_env_clip_text)


def vec_env_on_closed_impl():
    impl = module().RaisimGymEnv(str(RESOURCE_DIR), environment_cfg())
    impl.close()
    RaisimGymVecEnv(impl)


case("RaisimGymVecEnv: a closed impl", RuntimeError, "closed")(vec_env_on_closed_impl)


def vec_env(method, *args):
    with anymal() as env:
        return getattr(env, method)(*args)


case("RaisimGymVecEnv.step: None", TypeError, "action must be a numpy array")(lambda: vec_env("step", None))
case("RaisimGymVecEnv.seed: beyond a C int", ValueError, "seed must be between")(lambda: vec_env("seed", 2**31 - 1))
case("RaisimGymVecEnv.set_statistics: wrong length", ValueError, rf"mean must have shape \({OB},\), got \(3,\)")(
    lambda: vec_env("set_statistics", np.zeros(3), np.ones(3), 1.0))
case("RaisimGymVecEnv.set_statistics: words", ValueError, "could not convert string to float")(
    lambda: vec_env("set_statistics", ["a"] * OB, np.ones(OB), 1.0))
case("RaisimGymVecEnv.load_scaling: missing files", FileNotFoundError, "mean7.csv")(
    lambda: vec_env("load_scaling", SCRATCH / "no_scaling", 7))


def load_corrupt_scaling():
    folder = SCRATCH / "corrupt_scaling"
    write("corrupt_scaling/mean3.csv", "1.0\nabc\n")
    write("corrupt_scaling/var3.csv", "1.0\n")
    vec_env("load_scaling", folder, 3)


case("RaisimGymVecEnv.load_scaling: corrupt csv", ValueError, "could not convert string 'abc'")(load_corrupt_scaling)


def load_scaling_with_count(name, count_text):
    write(f"{name}/mean3.csv", "0.0\n" * OB)
    write(f"{name}/var3.csv", "1.0\n" * OB)
    write(f"{name}/count3.csv", count_text)
    vec_env("load_scaling", SCRATCH / name, 3)


case("RaisimGymVecEnv.load_scaling: empty count file", ValueError,
     r"empty_count/count3\.csv must hold one number \(the sample count\), got 0")(
    lambda: load_scaling_with_count("empty_count", ""))
case("RaisimGymVecEnv.load_scaling: count 1e308", ValueError,
     r"the scaling files 3 in .*huge_count: observation count 1e\+308 is beyond 2\^53")(
    lambda: load_scaling_with_count("huge_count", "1e308\n"))

# --- make_vec_env and the adapters --------------------------------------------------------------------

case("make_vec_env: cfg a list", TypeError, "cfg must be a mapping \\(the parsed cfg.yaml\\), got list")(
    lambda: make_vec_env("rsg_anymal", ["environment"]))
case("make_vec_env: environment a number", ValueError, "needs an 'environment:' section")(
    lambda: make_vec_env("rsg_anymal", {"environment": 5}))


def numpy_integer_counts():
    env = make_vec_env("rsg_anymal", anymal_cfg(), num_envs=np.int64(2), num_threads=np.int32(1))
    try:
        assert env.num_envs == 2 and env.wrapper.getNumThreads() == 1
    finally:
        env.close()


case("make_vec_env: num_envs np.int64(2) works", None)(numpy_integer_counts)
case("make_vec_env: environment nested 100,000 deep", ValueError, "'environment:' section is nested too deeply")(
    lambda: make_vec_env("rsg_anymal", anymal_cfg(deep=nested(100_000, dict))))


def gymnasium_env(**kwargs):
    from raisimGymTorch.env.gymnasium import RaisimGymVectorEnv

    options = {"num_envs": N, "num_threads": 1, **kwargs}
    return RaisimGymVectorEnv("rsg_anymal", anymal_cfg(), **options)


@contextlib.contextmanager
def gymnasium_opened(**kwargs):
    env = gymnasium_env(**kwargs)
    try:
        env.reset(seed=0)
        yield env
    finally:
        env.close()


def gymnasium_call(method, *args, **kwargs):
    with gymnasium_opened() as env:
        return getattr(env, method)(*args, **kwargs)


def gymnasium_constructed(*args, **kwargs):
    from raisimGymTorch.env.gymnasium import RaisimGymVectorEnv

    RaisimGymVectorEnv(*args, **kwargs).close()


case("gymnasium: env an int", TypeError, "env must be an env name or a RaisimGymVecEnv, got int")(
    lambda: gymnasium_constructed(123))
case("gymnasium: cfg path missing", FileNotFoundError, "cfg file not found")(
    lambda: gymnasium_constructed("rsg_anymal", SCRATCH / "missing.yaml"))


def gymnasium_options_with_existing_env():
    with anymal() as env:
        gymnasium_constructed(env, num_envs=4)


case("gymnasium: options with an existing env", ValueError, r"used as built; do not pass cfg or \['num_envs'\]")(
    gymnasium_options_with_existing_env)
case("gymnasium: actions as words", ValueError, "could not convert string to float")(
    lambda: gymnasium_call("step", [["a"] * ACT] * N))
case("gymnasium: actions None", ValueError, rf"action must have shape \(2, {ACT}\), got \(1,\)")(
    lambda: gymnasium_call("step", None))
case("gymnasium: negative seed", ValueError, "seed must be between 0 and")(lambda: gymnasium_call("reset", seed=-1))
case("gymnasium: seed a string", TypeError, "seed must be an integer, got str")(
    lambda: gymnasium_call("reset", seed="1"))
case("gymnasium: action bounds of the wrong length", ValueError, "broadcast")(
    lambda: gymnasium_constructed("rsg_anymal", anymal_cfg(), num_envs=N, num_threads=1,
                                  action_bounds=(np.zeros(3), np.ones(3))))


# Stable-Baselines3 is optional (the sb3 adapter's own tests skip without it), and so are its rows.
sb3_case = case if importlib.util.find_spec("stable_baselines3") else (lambda *args: (lambda function: function))


@contextlib.contextmanager
def sb3_opened():
    from raisimGymTorch.env.sb3 import RaisimSb3VecEnv

    env = RaisimSb3VecEnv("rsg_anymal", anymal_cfg(), num_envs=N, num_threads=1)
    try:
        env.reset()
        yield env
    finally:
        env.close()


def sb3(action):
    with sb3_opened() as env:
        action(env)


sb3_case("sb3: step_async with too few values", ValueError, rf"action must have shape \(2, {ACT}\), got \(5,\)")(
    lambda: sb3(lambda env: (env.step_async(np.zeros(5, np.float32)), env.step_wait())))
sb3_case("sb3: step_wait before step_async", RuntimeError, r"step_wait\(\) needs a step_async")(
    lambda: sb3(lambda env: env.step_wait()))
sb3_case("sb3: negative seed", ValueError, "seed must be between 0 and")(lambda: sb3(lambda env: env.seed(-5)))
sb3_case("sb3: env_method on a subset", ValueError, "acts on all 2 environments at once")(
    lambda: sb3(lambda env: env.env_method("reset", indices=[0])))
sb3_case("sb3: NaN actions", ValueError, "action contains NaN at row 0, column 0")(
    lambda: sb3(lambda env: (env.step_async(np.full((N, ACT), np.nan, np.float32)), env.step_wait())))

# --- cfg files ----------------------------------------------------------------------------------------


def load_both(name, data):
    """Both cfg readers (make.load_cfg and the trainer's load_training_config) must refuse the file."""
    from raisimGymTorch.runner.training_config import load_training_config

    path = write(name, data)
    errors = []
    for reader in (load_cfg, load_training_config):
        try:
            reader(path)
        except Exception as error:  # noqa: BLE001
            errors.append(error)
    assert len(errors) == 2, f"a reader accepted {name}"
    assert type(errors[0]) is type(errors[1]), errors
    raise errors[0]


case("cfg file: missing", FileNotFoundError, "cfg file not found")(lambda: load_cfg(SCRATCH / "nothing.yaml"))
case("cfg file: a directory", FileNotFoundError, "cfg file not found")(lambda: load_cfg(SCRATCH))
case("cfg file: empty", ValueError, r"empty\.yaml must hold a mapping .* got NoneType")(
    lambda: load_both("empty.yaml", ""))
case("cfg file: random bytes", ValueError, r"random\.yaml is not UTF-8 text")(
    lambda: load_both("random.yaml", bytes(range(256)) * 4))
case("cfg file: a tab", ValueError, r"tab\.yaml is not valid YAML")(
    lambda: load_both("tab.yaml", "environment:\n\tnum_envs: 1\n"))
case("cfg file: a list", ValueError, r"list\.yaml must hold a mapping .* got list")(
    lambda: load_both("list.yaml", "- environment\n- seed\n"))
case("cfg file: a number", ValueError, r"number\.yaml must hold a mapping .* got int")(
    lambda: load_both("number.yaml", "42\n"))
case("cfg file: nested 3,000 deep", ValueError, r"deep\.yaml is nested too deeply to parse")(
    lambda: load_both("deep.yaml", "environment: " + "[" * 3_000 + "]" * 3_000 + "\n"))
case("cfg file: unclosed bracket", ValueError, "is not valid YAML")(
    lambda: load_both("unclosed.yaml", "environment: {num_envs: [1, 2\n"))


def training_cfg(name, **changes):
    from raisimGymTorch.runner.training_config import load_training_config

    text = small_cfg_text()
    cfg = load_cfg(write(f"{name}_base.yaml", text))
    for key, value in changes.items():
        if key == "environment_changes":
            cfg["environment"].update(value)
        elif value is None:
            cfg.pop(key)
        else:
            cfg[key] = value
    import io

    from ruamel.yaml import YAML

    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(cfg, stream)
    load_training_config(write(f"{name}.yaml", stream.getvalue()))


case("training cfg: seed a word", ValueError, r"cfg key 'seed' in .*seed_word\.yaml must be an integer")(
    lambda: training_cfg("seed_word", seed="one"))
case("training cfg: eval_every_n 0", ValueError, "'environment.eval_every_n' .* must be a positive integer, got 0")(
    lambda: training_cfg("eval0", environment_changes={"eval_every_n": 0}))
case("training cfg: architecture a list", ValueError, "cfg section 'architecture' .* must be a mapping, got list")(
    lambda: training_cfg("arch_list", architecture=[128, 128]))
case("training cfg: record_video 'maybe'", ValueError, "cfg key 'record_video' .* must be true or false")(
    lambda: training_cfg("video_maybe", record_video="maybe"))
case("training cfg: policy_net a word", ValueError, "'policy_net' .* must be a list of integers")(
    lambda: training_cfg("net_word", architecture={"policy_net": "big"}))
case("training cfg: no environment section", ValueError, "needs an 'environment:' section")(
    lambda: training_cfg("no_env", environment=None))
case("training cfg: a 5 MB seed", ValueError, r"cfg key 'seed' .* must be an integer, got 'xxxx[x]*\.\.\. \(5000002 ")(
    lambda: short_message(lambda: training_cfg("seed_huge", seed="x" * 5_000_000)))


def train_with_random_start(value):
    from raisimGymTorch.runner.trainer import train

    cfg = write(f"random_start_{value}.yaml", small_cfg_text({"random_episode_start": value, "num_envs": N}))
    train("rsg_anymal", cfg, iterations=0, eval_envs=1, run_root=SCRATCH / "runs", print_function=lambda line: None)


# The same boolean rule as render and record_video (issue 17 item 9).
case("training cfg: random_episode_start: no works", None)(lambda: train_with_random_start("no"))
case("training cfg: random_episode_start: maybe", ValueError,
     r"cfg key 'environment\.random_episode_start' in .* must be true or false \(or yes/no, on/off\), got 'maybe'")(
    lambda: train_with_random_start("maybe"))


# --- checkpoint files ---------------------------------------------------------------------------------


@cache
def checkpoint_bytes() -> bytes:
    """A genuine full_0.pt of a small rsg_anymal run."""
    from raisimGymTorch.algo.ppo import PPO, Actor, Critic, PPOConfig
    from raisimGymTorch.io.checkpoint import make_checkpoint, save_checkpoint

    with anymal() as env:
        config = PPOConfig(policy_net=[16], value_net=[16])
        ppo = PPO(Actor(env.num_obs, env.num_acts, [16]), Critic(env.num_obs, [16]), N, 4, config, seed=0)
        path = save_checkpoint(make_checkpoint(ppo, env, 0, "rsg_anymal", small_cfg_text()), SCRATCH / "full_0.pt")
    return path.read_bytes()


def load_checkpoint_bytes(name, data):
    from raisimGymTorch.io.checkpoint import load_checkpoint

    return load_checkpoint(write(name, data))


def edited_checkpoint(name, **changes):
    import torch

    path = write(name, checkpoint_bytes())
    checkpoint = torch.load(path, weights_only=True)
    checkpoint.update(changes)
    torch.save(checkpoint, path)
    return path


def restore_edited(name, **changes):
    """Loads an edited checkpoint and restores it into a PPO and env as the trainer does."""
    from raisimGymTorch.algo.ppo import PPO, Actor, Critic, PPOConfig
    from raisimGymTorch.io.checkpoint import load_checkpoint, restore_checkpoint

    path = edited_checkpoint(name, **changes)
    checkpoint = load_checkpoint(path)
    with anymal() as env:
        ppo = PPO(Actor(env.num_obs, env.num_acts, [16]), Critic(env.num_obs, [16]), N, 4,
                  PPOConfig(policy_net=[16], value_net=[16]), seed=0)
        restore_checkpoint(checkpoint, ppo, env, path)


def checkpoint_is_a_directory():
    from raisimGymTorch.io.checkpoint import load_checkpoint

    (SCRATCH / "ckpt_dir" / "full_1.pt").mkdir(parents=True)
    load_checkpoint(SCRATCH / "ckpt_dir" / "full_1.pt")


def load_edited(name, **changes):
    from raisimGymTorch.io.checkpoint import load_checkpoint

    load_checkpoint(edited_checkpoint(name, **changes))


case("checkpoint: a directory", FileNotFoundError, "checkpoint not found")(checkpoint_is_a_directory)
for eighth in range(1, 8):
    case(f"checkpoint: truncated to {eighth}/8", ValueError, r"full_t\d\.pt is not a readable checkpoint")(
        lambda eighth=eighth: load_checkpoint_bytes(f"full_t{eighth}.pt",
                                                    checkpoint_bytes()[: len(checkpoint_bytes()) * eighth // 8]))


def one_byte_flipped():
    """Flips a byte in the middle of the largest tensor: not in the zip's alignment padding, which no CRC covers."""
    import io
    import struct
    import zipfile

    data = bytearray(checkpoint_bytes())
    largest = max(zipfile.ZipFile(io.BytesIO(bytes(data))).infolist(), key=lambda member: member.file_size)
    # A local file header is 30 bytes, then the name and the extra field, whose lengths it holds at bytes 26-29.
    name_length, extra_length = struct.unpack_from("<HH", data, largest.header_offset + 26)
    start = largest.header_offset + 30 + name_length + extra_length
    data[start + largest.file_size // 2] ^= 0xFF
    load_checkpoint_bytes("full_flipped.pt", bytes(data))


case("checkpoint: one byte flipped mid-file", ValueError,
     r"full_flipped\.pt is not a readable checkpoint .*fails its CRC check")(
    one_byte_flipped)


def plain_tensor_file():
    import torch

    torch.save(torch.zeros(3), SCRATCH / "tensor.pt")
    from raisimGymTorch.io.checkpoint import load_checkpoint

    load_checkpoint(SCRATCH / "tensor.pt")


case("checkpoint: a plain tensor file", ValueError, "is not a raisimGymTorch checkpoint")(plain_tensor_file)
case("checkpoint: iteration a string", ValueError, r"is damaged: entry 'iteration' should be int, got str")(
    lambda: load_edited("full_iter.pt", iteration="3"))
case("checkpoint: another version", ValueError, "has checkpoint version 99")(
    lambda: load_edited("full_version.pt", version=99))


def short_mean():
    import torch

    load_edited("full_mean.pt", obs_mean=torch.zeros(5))


case("checkpoint: obs_mean of the wrong size", ValueError, r"is damaged: obs_mean has shape \(5,\)")(short_mean)

# Issue 17 item 9: edited numbers used to fail later naming neither file nor entry, or (a negative learning rate)
# to train silently.
case("checkpoint: NaN learning rate", ValueError, r"full_nanlr\.pt is damaged: learning_rate is nan, but a learning")(
    lambda: load_edited("full_nanlr.pt", learning_rate=float("nan")))
case("checkpoint: negative learning rate", ValueError, r"full_neglr\.pt is damaged: learning_rate is -0\.001, but")(
    lambda: load_edited("full_neglr.pt", learning_rate=-1e-3))
case("checkpoint: NaN clip_obs", ValueError, r"full_nanclip\.pt is damaged: clip_obs is nan, but clip_obs must be")(
    lambda: load_edited("full_nanclip.pt", clip_obs=float("nan")))


def negative_std():
    import torch

    checkpoint = torch.load(write("full_s.pt", checkpoint_bytes()), weights_only=True)
    actor = dict(checkpoint["actor"])
    actor["std"] = actor["std"].clone()
    actor["std"][2] = -0.5
    load_edited("full_negstd.pt", actor=actor)


case("checkpoint: negative std", ValueError,
     r"full_negstd\.pt is damaged: actor\.std\[2\] is -0\.5, but an action std")(
    negative_std)


def policy_export_as_checkpoint():
    from raisimGymTorch.algo.ppo import Actor
    from raisimGymTorch.io.checkpoint import load_checkpoint
    from raisimGymTorch.io.export import NormalizedPolicy, export_torchscript

    policy = NormalizedPolicy(Actor(OB, ACT, [16]).architecture, np.zeros(OB), np.ones(OB), 10.0)
    load_checkpoint(export_torchscript(policy, SCRATCH / "export" / "policy_9.pt"))


case("checkpoint: the run's own TorchScript export", ValueError,
     r"policy_9\.pt is a TorchScript export of a policy \(for deployment\), not a checkpoint; .* -w .*full_9\.pt$")(
    policy_export_as_checkpoint)


def negative_variance():
    import torch

    restore_edited("full_negvar.pt", obs_var=-torch.ones(OB))


case("checkpoint: negative variance", ValueError, "non-negative variance")(negative_variance)


def nan_count():
    import torch

    restore_edited("full_nancount.pt", obs_count=torch.tensor(float("nan"), dtype=torch.float64))


case("checkpoint: NaN count", ValueError, "observation count must be finite")(nan_count)


def actor_of_other_width():
    import torch

    checkpoint = torch.load(write("full_w.pt", checkpoint_bytes()), weights_only=True)
    actor = copy.deepcopy(checkpoint["actor"])
    actor["architecture.0.weight"] = torch.zeros(8, OB)
    restore_edited("full_width.pt", actor=actor)


case("checkpoint: networks of another width", ValueError, "does not fit the networks built from the cfg")(
    actor_of_other_width)

# --- model files --------------------------------------------------------------------------------------


def model(name, text):
    """Builds rsg_anymal from a resource dir whose anymal_c/anymal_c.xml holds `text`."""
    folder = SCRATCH / "models" / name
    write(f"models/{name}/anymal_c/anymal_c.xml", text)
    construct(environment_cfg(), resource_dir=str(folder))


def model_is_a_directory():
    (SCRATCH / "models" / "dir" / "anymal_c" / "anymal_c.xml").mkdir(parents=True)
    construct(environment_cfg(), resource_dir=str(SCRATCH / "models" / "dir"))


case("model: a directory", FileNotFoundError, "model file not found")(model_is_a_directory)
case("model: empty", ValueError, "MuJoCo rejected model file .*empty file")(lambda: model("empty", ""))
case("model: random bytes", ValueError, "MuJoCo rejected model file .*XML")(
    lambda: model("random", random.Random(7).randbytes(4096)))
# MuJoCo quotes the text it choked on; these bytes are not UTF-8, which a Python message must be.
case("model: not UTF-8 where it fails", ValueError, r"MuJoCo rejected model file .*\\xf6")(
    lambda: model("latin", b"<mujoco>\n<\xf6\xf6\xf6/>\n</mujoco>\n"))
case("model: includes a file outside", ValueError, "MuJoCo rejected model file")(
    lambda: model("include", '<mujoco><include file="/etc/hostname"/></mujoco>'))
case("model: missing mesh", ValueError, "MuJoCo rejected model file .*nowhere\\.stl")(
    lambda: model("mesh", '<mujoco><asset><mesh file="nowhere.stl"/></asset><worldbody/></mujoco>'))


def huge_arena():
    source = (RESOURCE_DIR / "anymal_c" / "anymal_c.xml").read_text()
    model("memory", source.replace("<compiler", '<size memory="200G"/><compiler', 1))


case("model: 200 GB arena", ValueError, "MuJoCo rejected model file .*Could not allocate memory")(huge_arena)
case("model: URDF with a joint to a missing link", ValueError, "MuJoCo rejected model file")(
    lambda: model("urdf", '<robot name="r"><link name="a"/><joint name="j" type="revolute"><parent link="a"/>'
                          '<child link="ghost"/></joint></robot>'))
case("model: URDF with no link", ValueError, "MuJoCo rejected model file|12 actuators")(
    lambda: model("urdf_empty", '<robot name="r"></robot>'))
