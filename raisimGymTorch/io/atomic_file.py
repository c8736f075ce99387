"""Files that hold either their old content or the complete new one, never a part: checkpoints and exports.

A write goes to a hidden temporary file ``.<name>.<machine>.<pid>.<8 hex digits>.tmp`` beside its destination,
is fsynced and then renamed over it. A writer killed mid-write (SIGKILL, power loss) leaves its temporary
behind; the machine and pid in its name tell whether that writer has ended, so the next write or read in the
folder can delete it (`remove_stale_temporaries`) without touching a write still in progress.
"""
from __future__ import annotations

import errno
import os
import re
import secrets
import socket
from collections.abc import Callable
from pathlib import Path

_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<machine>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp")
# ENOSPC: the disk is full; EDQUOT: the user's quota is; EFBIG: the file-size limit (ulimit -f) is reached.
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class NoRoomError(OSError):
    """A write failed for want of room: no space left on the device, the quota exceeded, or the file-size limit.

    Its message names the strerror (e.g. "No space left on device"), the file, its folder and the fix.
    """

    def __str__(self) -> str:
        return str(self.strerror)  # without OSError's "[Errno 28] " prefix: the message says it in words


def write_bytes_atomically(path: str | Path, data: bytes | memoryview) -> Path:
    """`write_atomically` for content already in memory.

    Writing through Python rather than through a library (torch.save by file name) keeps the errno: torch
    reports a full disk as a RuntimeError "file write failed", which says nothing about space.

    Raises:
        NoRoomError: The disk, the quota or the file-size limit is full; `path` is unchanged.
        OSError: Any other failure to write; `path` is unchanged.
    """
    def write(temporary: Path) -> None:
        with open(temporary, "xb") as file:
            file.write(data)

    return write_atomically(path, write)


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Calls ``write(temporary)`` on a temporary file beside `path`, makes it durable and renames it to `path`.

    Temporary files that killed writers left in the folder are deleted first.

    Args:
        path: Destination, e.g. ``<run_dir>/full_200.pt``; its folder is created if missing.
        write: Writes the complete content to the file it is given (which does not exist yet).

    Returns:
        `path`.

    Raises:
        NoRoomError: The disk, the quota or the file-size limit is full (an OSError naming it, the file and the
            folder).
        Whatever else `write` or the file system raised; `path` is then unchanged and the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    temporary = path.with_name(f".{path.name}.{_machine()}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        write(temporary)
        _fsync(temporary)
        os.replace(temporary, path)  # atomic on POSIX and Windows
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if error.errno in _NO_ROOM:
            raise NoRoomError(error.errno, _no_room_message(error.errno, path)) from error
        raise
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


def _no_room_message(number: int, path: Path) -> str:
    """What filled up, where, and what to do; `path` itself was left as it was."""
    folder = path.parent.resolve()
    if number == errno.EFBIG:
        try:
            import resource

            limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
            detail = f" (the file-size limit, ulimit -f, is {limit} bytes)" if limit != resource.RLIM_INFINITY else ""
        except (ImportError, OSError, ValueError):
            detail = ""
        fix = "raise the file-size limit (ulimit -f unlimited)"
    else:
        detail = ""
        fix = "free space there or write to another disk (runner.py --log-dir FOLDER)"
    return f"cannot write {path.name} in {folder}: {os.strerror(number)}{detail}; {fix}"


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
