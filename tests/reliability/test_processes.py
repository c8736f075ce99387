"""Issue 17 items 1 and 6: envs in forked processes, and more threads than the system will start.

Each scenario runs in a child process (process_scenarios.py) with a time limit, so that a hang in a forked
child or an exit from inside the threading library fails the test instead of hanging or killing pytest.
"""
import pytest
from reliability_helpers import RELIABILITY_DIR, describe_exit, run_python


@pytest.mark.parametrize("scenario", ["fork_after_stepping", "fork_pool_after_stepping", "thread_limit"])
def test_process_scenario(scenario):
    result = run_python([str(RELIABILITY_DIR / "process_scenarios.py"), scenario], timeout=150)
    assert result.returncode == 0 and result.stdout.strip().endswith("passed"), describe_exit(result)
