"""One writer per result file: an exclusive lock on a file beside it, OUT.lock, holding the writer's process id.

The lock is fcntl's record lock on POSIX and msvcrt's elsewhere. It is taken on the real file
(symbolic links resolved), so that two names of one file share one lock, before OUT or its parts
are touched, and the lock file is removed when the writer closes. A process killed outright
leaves an unlocked lock file, which the next run takes over.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .durable import OutputError, sibling, write_failure

if os.name == "nt":
    import msvcrt
else:
    import fcntl


class OutputLock:
    """An exclusive lock on the result file `output`, held from creation to `release()`.

    `output` is the file locked, symbolic links resolved: the writer writes that file, and
    writes beside it what it writes beside its output.
    """

    def __init__(self, output: Path):
        self.output = output = Path(os.path.realpath(output))
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
        try:
            os.ftruncate(self._fd, 0)
            os.write(self._fd, f"{os.getpid()}\n".encode())
        except OSError as error:  # a disk with no room left even for a process id
            self.release()
            raise write_failure(output, error) from None

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
