"""Issue 7, item 1: every public entry point turns bad input into a Python exception that names the problem.

The rows live in bad_input_cases.py and run in one child process (a crash or hang there fails the row that
caused it, not pytest). Each row must raise the documented type (TypeError, ValueError, IndexError,
FileNotFoundError or RuntimeError, or a subclass) with a message naming the problem, or, for the valid
inputs among them, must work.
"""
import re

import pytest
from bad_input_cases import TABLE
from reliability_helpers import check_case, run_case_table


@pytest.fixture(scope="module")
def table_run():
    return run_case_table("bad_input_cases", timeout=240)


@pytest.mark.parametrize("row", TABLE.cases.values(), ids=list(TABLE.cases))
def test_bad_input(row, table_run):
    check_case(row, table_run)


# --- time steps, and a known gap in the C++ core (World.hpp) ------------------------------------------------------

@pytest.mark.parametrize("times", [{"control_dt": float("inf")}, {"simulation_dt": 1e-12, "control_dt": 1.0}],
                         ids=["infinite control_dt", "10**12 substeps"])
def test_time_steps_whose_substep_count_is_not_an_int_are_rejected(times):
    from conftest import anymal_cfg

    from raisimGymTorch.env.make import make_vec_env

    with pytest.raises(ValueError, match="control_dt"):
        make_vec_env("rsg_anymal", anymal_cfg(**times), num_envs=1, num_threads=1).close()


def test_control_dt_that_is_not_a_multiple_of_simulation_dt_is_refused():
    # 0.0199 / 0.01 used to run one 0.01 s physics step per control step while reporting 0.0199 s.
    from conftest import anymal_cfg

    from raisimGymTorch.env.make import make_vec_env

    message = r"cfg key 'control_dt' \(0\.0199 s\) must be a whole multiple of 'simulation_dt' \(0\.01 s\), got 1\.99"
    with pytest.raises(ValueError, match=message):
        make_vec_env("rsg_anymal", anymal_cfg(control_dt=0.0199, simulation_dt=0.01), num_envs=1, num_threads=1)


# MuJoCo reports a failed allocation through mju_error, whose default handler exits the process: World asks for
# the memory itself first. RLIMIT_AS is known up front, so a num_envs far beyond it is refused before any env is
# built; RLIMIT_DATA is not, so there the env that no longer fits is refused.
MEMORY_LIMITED = r"""
import resource, sys
from conftest import anymal_cfg
from raisimGymTorch.env.make import make_vec_env
limit = getattr(resource, sys.argv[1])
resource.setrlimit(limit, (int(sys.argv[2]), int(sys.argv[2])))
try:
    make_vec_env("rsg_anymal", anymal_cfg(), num_envs=int(sys.argv[3]), num_threads=1)
except MemoryError as error:
    print("refused:", type(error).__name__, error)
    sys.exit(0)
print("built")
"""


@pytest.mark.parametrize("limit, num_envs, message", [
    ("RLIMIT_AS", 1 << 20, r"num_envs = 1048576 needs about \S+ TB of simulation data \(\S+ MB per env.*RLIMIT_AS"),
    ("RLIMIT_DATA", 400, r"not enough memory for the simulation data of '.*anymal_c.xml' \(\S+ MB.*"
                         r"while building env \d+ of num_envs = 400"),
], ids=["address space", "data segment"])
def test_num_envs_beyond_the_memory_limit_raises_instead_of_exiting(limit, num_envs, message):
    from reliability_helpers import describe_exit, run_python

    result = run_python(["-c", MEMORY_LIMITED, limit, str(4 << 30 if limit == "RLIMIT_AS" else 1 << 30),
                         str(num_envs)], timeout=120)
    assert result.returncode == 0 and "refused: OutOfMemory" in result.stdout, describe_exit(result)
    assert re.search(message, result.stdout), result.stdout
