"""Files that hold either their old content or the complete new one, never a part: checkpoints and exports.

A write goes to a hidden temporary file ``.<name>.<machine>.<pid>.<8 hex digits>.tmp`` beside its destination,
is fsynced and then renamed over it. A writer killed mid-write (SIGKILL, power loss) leaves its temporary
behind; the machine and pid in its name tell whether that writer has ended, so the next write or read in the
folder can delete it (`remove_stale_temporaries`) without touching a write still in progress.
"""
from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Callable
from pathlib import Path

_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<machine>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp")


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Calls ``write(temporary)`` on a temporary file beside `path`, makes it durable and renames it to `path`.

    Temporary files that killed writers left in the folder are deleted first.

    Args:
        path: Destination, e.g. ``<run_dir>/full_200.pt``; its folder is created if missing.
        write: Writes the complete content to the file it is given (which does not exist yet).

    Returns:
        `path`.

    Raises:
        Whatever `write` or the file system raised; `path` is then unchanged and the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    temporary = path.with_name(f".{path.name}.{_machine()}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        write(temporary)
        _fsync(temporary)
        os.replace(temporary, path)  # atomic on POSIX and Windows
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Deletes the temporary files of `write_atomically` calls in `directory` whose writer has ended.

    Only this module's naming pattern is touched, and only files of writers that certainly ended on this
    machine: a write in progress, here or on another machine sharing the folder, keeps its file.

    Returns:
        The files deleted. Errors (a read-only or vanished folder) are ignored: cleaning up is never worth a
        failed save or load.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match and _writer_has_ended(match["machine"], int(match["pid"])):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


def _machine() -> str:
    """Names the process-id space of this process: the host name and, on Linux, the pid namespace.

    The namespace tells apart containers that share a host name (host networking), whose pids mean different
    processes.
    """
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
    try:
        return f"{host}-{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return host


def _writer_has_ended(machine: str, pid: int) -> bool:
    """Whether process `pid` of `machine` has certainly ended; unknowable (so False) for another machine."""
    # On Windows os.kill(pid, 0) would terminate the process rather than probe it.
    if os.name != "posix" or machine != _machine() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it runs, as another user
        return False
    return False


def _fsync(path: Path) -> None:
    """Flushes a file that a library wrote by name (torch.save, torch.onnx.export) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    """Makes the rename durable; not all platforms can open a directory, which is harmless."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
