"""Run directories: timestamped, hold copies of the run's files, never shared by two runs."""
import datetime

import pytest

from raisimGymTorch.io.run_directory import make_run_directory


def test_copies_files_into_a_timestamped_folder(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("seed: 1\n")
    now = datetime.datetime(2024, 5, 6, 7, 8, 9)
    run_dir = make_run_directory("rsg_test", [cfg], root=tmp_path / "data", now=now)
    assert run_dir == tmp_path / "data" / "rsg_test" / "2024-05-06-07-08-09"
    assert (run_dir / "cfg.yaml").read_text() == "seed: 1\n"
    again = make_run_directory("rsg_test", [cfg], root=tmp_path / "data", now=now)
    assert again.name == "2024-05-06-07-08-09-1"


def test_missing_file_is_named_before_anything_is_created(tmp_path):
    with pytest.raises(FileNotFoundError, match="Environment.hpp"):
        make_run_directory("rsg_test", [tmp_path / "Environment.hpp"], root=tmp_path / "data")
    assert not (tmp_path / "data").exists()
