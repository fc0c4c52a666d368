"""What every result file needs besides its format: names beside it, one writer at a time, write errors in one line.

A result file OUT is written by one process at a time: it holds an exclusive lock (fcntl's
record lock on POSIX, msvcrt's elsewhere) on a lock file beside it, OUT.lock, which holds its
process id. The lock is taken before OUT or its parts are touched, and the file is removed
when the writer closes. A process killed outright leaves an unlocked lock file, which the
next run takes over.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from pathlib import Path

from .errors import MusicnnError

if os.name == "nt":
    import msvcrt
else:
    import fcntl


class OutputError(MusicnnError):
    """The result file cannot be written (disk full, no permission, another run writing it): the run stops."""


def sibling(path: Path, suffix: str) -> Path:
    """`path` with `suffix` added to its name, in the same folder.

    A name that would be too long for the file system is shortened, with a hash of the whole
    name, so that each output keeps siblings of its own.
    """
    limit = _name_max(path.parent)
    name = path.name + suffix
    if len(os.fsencode(name)) <= limit:
        return path.with_name(name)
    tail = "~" + hashlib.sha1(os.fsencode(path.name)).hexdigest()[:10] + suffix
    stem = path.name
    while len(os.fsencode(stem + tail)) > limit:
        stem = stem[:-1]
    return path.with_name(stem + tail)


def refuse_read_only(path: Path) -> None:
    """Raise OutputError if the result file `path` exists but may not be written.

    A file without any write permission is refused even where the superuser could write it:
    someone made it read-only to keep it.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if not mode & 0o222 or not os.access(path, os.W_OK):
        raise OutputError(f"cannot write results to {path}: it is read-only; choose another --output file, "
                          "or make it writable to replace it")


def write_failure(path: Path, error: OSError) -> OutputError:
    """The one-line OutputError for an OSError met while writing `path`."""
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return OutputError(f"the disk is full: cannot write {path}")
    return OutputError(f"cannot write results to {path} ({error.strerror or error}); choose a file in a folder "
                       "that exists and that you may write to")


def check_model(path: Path, found: str, model: str) -> None:
    """Refuse to resume `path`, whose records model `found` wrote, with another `model`."""
    if found != model:
        raise MusicnnError(f"{path} holds results of model {found}, not {model}; "
                           f"resume with --model {found}, or write to another --output file")


def fsync_path(path: Path) -> None:
    """Make the file at `path` durable."""
    with open(path, "rb+") as file:
        os.fsync(file.fileno())


class OutputLock:
    """An exclusive lock on the result file `output`, held from creation to `release()`."""

    def __init__(self, output: Path):
        self.path = sibling(output, ".lock")
        while True:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as error:
                raise write_failure(output, error) from None
            if not _try_lock(self._fd):
                holder = _read_pid(self._fd)
                os.close(self._fd)
                raise OutputError(f"{output} is being written by another musicnn_lite run ({holder}); "
                                  "wait for it to end, or choose another --output file")
            if _same_file(self._fd, self.path):  # not a lock file that its last holder has just removed
                break
            os.close(self._fd)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        """Remove the lock file and unlock it (in that order, so that no run locks a removed file unseen)."""
        if self._fd is None:
            return
        if os.name == "nt":  # Windows removes no open file; a run that opened it meanwhile keeps it
            os.close(self._fd)
            with contextlib.suppress(OSError):
                self.path.unlink()
        else:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
        self._fd = None


def _try_lock(fd: int) -> bool:
    try:
        if os.name == "nt":
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _read_pid(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip() if hasattr(os, "pread") else ""
    except OSError:
        pid = ""
    return f"process {pid}" if pid.isdigit() else "its process id is unknown"


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):
        return 255
