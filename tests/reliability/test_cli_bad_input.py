"""Issue 7, item 1: runner.py and tester.py turn bad arguments and bad weight files into a one-line error and an
exit code (2 for usage, 1 for a bad file or value), never a traceback, a crash or a hang.

The cases (cli_cases.py) run in one child process through runpy, exactly as ``python runner.py <args>``; the real
scripts are also run as processes by test_security.py (a malicious checkpoint) and test_crash_safety.py (retrain).
"""
import json
import re

import pytest
from cli_cases import CASES
from reliability_helpers import RELIABILITY_DIR, describe_exit, run_python


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("cli")
    result = run_python([str(RELIABILITY_DIR / "cli_cases.py"), str(scratch)], timeout=240)
    found = {}
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            outcome = json.loads(line)
            found[outcome["name"]] = outcome
    if len(found) < len(CASES):
        pytest.fail(f"the child process ended early: {describe_exit(result)}")
    assert not (scratch / "runs").exists() or not any((scratch / "runs").rglob("full_*.pt")), "a case trained"
    assert not (scratch / "PAYLOAD_RAN").exists(), "loading evil.pt ran the code pickled into it"
    return found


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_command_line(case, outcomes):
    outcome = outcomes[case.name]
    assert outcome["code"] == case.exit_code, outcome
    assert "Traceback" not in outcome["stderr"] + outcome["stdout"], outcome["stderr"]
    assert re.search(case.stderr, outcome["stderr"], re.S), outcome["stderr"]
    assert "weights_only" not in outcome["stderr"], "the error must not suggest loading unsafely"
