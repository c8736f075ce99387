"""Issue 7, item 1: property-based fuzzing (hypothesis) of array and cfg inputs, each target in a child process.

See fuzz_targets.py for the property. 60 examples per target; a failure prints hypothesis's falsifying example.
"""
import pytest
from reliability_helpers import RELIABILITY_DIR, describe_exit, run_python

pytest.importorskip("hypothesis", reason="pip install hypothesis")
TARGETS = ["fuzz_step_buffers", "fuzz_step", "fuzz_observe", "fuzz_set_state", "fuzz_set_statistics", "fuzz_cfg"]


@pytest.mark.parametrize("target", TARGETS)
def test_fuzzed_inputs_work_or_raise_documented_errors(target, tmp_path):
    # Hypothesis keeps caches in ./.hypothesis unless told otherwise; keep the checkout clean.
    result = run_python([str(RELIABILITY_DIR / "fuzz_targets.py"), target], timeout=170,
                        HYPOTHESIS_STORAGE_DIRECTORY=str(tmp_path / "hypothesis"))
    assert result.returncode == 0 and result.stdout.strip().endswith("passed"), describe_exit(result)
