"""Issue 7, item 6: threads and close().

Each compiled env object has a lock: its calls release the GIL and serialize, so two envs step in parallel
from two Python threads (each in its own OpenMP region) and one env shared by threads does not crash. The
Python wrapper RaisimGymVecEnv owns one set of result buffers, so sharing *it* between threads is safe but
mixes their results; give each thread its own env. The threaded scenarios run in child processes
(thread_scenarios.py).
"""
import inspect

import numpy as np
import pytest
from conftest import anymal_cfg, step_buffers
from reliability_helpers import RELIABILITY_DIR, describe_exit, run_python

from raisimGymTorch.env.make import RESOURCE_DIR, import_env_module


@pytest.mark.parametrize("scenario", ["two_envs_in_two_threads", "one_env_from_two_threads",
                                      "close_while_other_threads_step"])
def test_threaded_scenario(scenario):
    result = run_python([str(RELIABILITY_DIR / "thread_scenarios.py"), scenario], timeout=150)
    assert result.returncode == 0 and result.stdout.strip().endswith("passed"), describe_exit(result)


# Arguments for every method of the compiled class; a method added later without a row here fails the test.
def closed_call_arguments(n, ob_dim, act_dim, nq, nv, buffers):
    f32 = np.float32
    return {
        "reset": (), "observe": (np.zeros((n, ob_dim), f32), False), "setStepBuffers": tuple(buffers.values()),
        "step": (np.zeros((n, act_dim), f32),), "setSeed": (1,), "setNormalization": (True, 5.0),
        "getObStatistics": (np.zeros(ob_dim), np.zeros(ob_dim)),
        "setObStatistics": (np.zeros(ob_dim), np.ones(ob_dim), 1.0), "getActionBounds": (),
        "getRewardNames": (), "getRewardInfo": (), "getState": (0,), "getMetricNames": (),
        "setState": (0, np.zeros(nq), np.zeros(nv)), "getModelFile": (), "getModelBinary": (), "curriculumUpdate": (3,),
        "randomizeEpisodeProgress": (1,), "getTerrainLevels": (), "setTerrainLevels": ([0] * n,),
        "getObDim": (), "getCriticObDim": (),
        "getActionDim": (), "getNumOfEnvs": (), "getNumThreads": (), "getDivergedResets": (),
        "getMaxEpisodeSteps": (), "canFail": (), "getControlTimeStep": (), "getSimulationTimeStep": (),
    }


def test_every_method_of_a_closed_env_raises_naming_closed():
    module = import_env_module("rsg_anymal")
    env = module.RaisimGymEnv(str(RESOURCE_DIR), anymal_cfg(num_envs=2, num_threads=1)["environment"])
    qpos, qvel = env.getState(0)
    arguments = closed_call_arguments(2, env.getObDim(), env.getActionDim(), len(qpos), len(qvel), step_buffers(env))
    env.close()
    env.close()  # twice is harmless
    assert env.closed
    methods = {name for name, value in inspect.getmembers(type(env)) if callable(value) and not name.startswith("_")}
    assert methods - {"close"} == set(arguments), "update the table: methods were added or removed"
    for name, args in arguments.items():
        with pytest.raises(RuntimeError, match="this environment was closed; create a new one"):
            getattr(env, name)(*args)


def test_every_method_of_a_closed_vec_env_raises_naming_closed(make_anymal, tmp_path):
    env = make_anymal(num_envs=2)
    action = np.zeros((2, env.num_acts), np.float32)
    env.close()
    calls = {
        "reset": lambda: env.reset(), "observe": lambda: env.observe(), "step": lambda: env.step(action),
        "transition": lambda: env.transition(action), "metrics": lambda: env.metrics(),
        "seed": lambda: env.seed(3), "final_observation": lambda: env.final_observation(),
        "num_acts": lambda: env.num_acts, "diverged_resets": lambda: env.diverged_resets,
        "reward_terms": lambda: env.reward_terms(), "get_reward_info": lambda: env.get_reward_info(),
        "get_statistics": lambda: env.get_statistics(),
        "set_statistics": lambda: env.set_statistics(np.zeros(env.num_obs), np.ones(env.num_obs), 1.0),
        "save_scaling": lambda: env.save_scaling(tmp_path, 0), "curriculum_callback": lambda: env.curriculum_callback(),
        "terrain_levels": lambda: env.terrain_levels, "set_terrain_levels": lambda: env.set_terrain_levels(np.zeros(2)),
    }
    for name, call in calls.items():
        with pytest.raises(RuntimeError, match="closed"):
            call()
    assert not list(tmp_path.iterdir()), "nothing is written from a closed env"
