"""Issue 17, item 11: README's loopback-only torchrun command leaves nothing listening on the machine's network.

torchrun's rendezvous store binds all interfaces whatever address it is given; README says so, and gives
``unshare -rn sh -c 'ip link set lo up && exec torchrun …'`` for one machine. Both are checked here on a 2-rank,
2-iteration run of runner.py's command line (train_driver.py), in child processes with hard time limits: the
listening sockets of the launched process tree are looked up by inode in the machine's /proc/net/tcp* and in
each process's own namespace (/proc/<pid>/net/tcp*).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import small_cfg_text
from reliability_helpers import RELIABILITY_DIR, child_environment

RUN_TIMEOUT = 300  # seconds for 2 ranks x 2 iterations, torch imports included, on a loaded 2-core machine


def descendants(root: int) -> set[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, grown = {root}, True
    while grown:
        grown = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grown = True
    return tree


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[len("socket:["):-1])
    except OSError:
        pass  # the process ended meanwhile
    return inodes


def listening(tables: list[str], inodes: set[str]) -> set[str]:
    """'address:port' (hex, as /proc writes it) of the LISTEN sockets in `tables` whose inode is in `inodes`."""
    found = set()
    for table in tables:
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                found.add(fields[1])
    return found


def run_and_watch(command: list[str], tmp_path: Path) -> tuple[set[str], set[str], str]:
    """Runs `command` to completion, sampling its tree's listening sockets: (seen from the machine's network
    namespace, seen from the processes' own, output)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=child_environment(), cwd=tmp_path, start_new_session=True)
    on_machine, in_own = set(), set()
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while process.poll() is None:
            if time.monotonic() > deadline:
                pytest.fail(f"{' '.join(command)[:200]} did not finish within {RUN_TIMEOUT} s")
            for pid in descendants(process.pid):
                inodes = socket_inodes(pid)
                on_machine |= listening(["/proc/net/tcp", "/proc/net/tcp6"], inodes)
                in_own |= listening([f"/proc/{pid}/net/tcp", f"/proc/{pid}/net/tcp6"], inodes)
            time.sleep(0.2)
        output = process.stdout.read()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()
    assert process.returncode == 0, output[-3000:]
    assert "[runner] finished: 2 iterations done" in output, output[-3000:]
    return on_machine, in_own, output


def torchrun_command(tmp_path: Path) -> str:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(small_cfg_text())
    return (f"{shutil.which('torchrun')} --standalone --nproc-per-node=2 {RELIABILITY_DIR / 'train_driver.py'} "
            f"{tmp_path / 'runs'} {cfg} --iterations 2")


WILDCARD = "00000000000000000000000000000000"


@pytest.fixture
def torchrun(tmp_path):
    if shutil.which("torchrun") is None:
        pytest.skip("torchrun is not installed")
    return torchrun_command(tmp_path)


def test_plain_torchrun_listens_on_all_interfaces(torchrun, tmp_path):
    on_machine, _, _ = run_and_watch(["sh", "-c", f"exec {torchrun}"], tmp_path)
    assert any(address.rsplit(":", 1)[0] in (WILDCARD, "00000000") for address in on_machine), on_machine


def test_readme_namespace_command_listens_only_inside_its_namespace(torchrun, tmp_path):
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("unshare or ip is not installed")
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("unprivileged network namespaces are not allowed here")
    on_machine, in_own, _ = run_and_watch(
        ["unshare", "-rn", "sh", "-c", f"ip link set lo up && exec {torchrun}"],
        tmp_path)
    assert in_own, "the watcher saw torchrun's sockets in its namespace, so it would have seen them outside"
    assert on_machine == set(), f"listening on the machine's network: {on_machine}"
