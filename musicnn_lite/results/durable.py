"""Writing files that survive a crash: names beside a result file, atomic replacement, write errors in one line."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from ..errors import MusicnnError


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


def write_atomically(path: Path, write: Callable[[Path], None], temporary: Path | None = None) -> None:
    """Replace `path` by what `write` puts in a temporary file beside it, made durable first.

    Readers see the old file or the whole new one, never part of it, whenever the process
    dies. temporary: the name to write under (default: `path` + ".tmp"). An OSError is
    raised again once the temporary file is removed.
    """
    temporary = temporary or sibling(path, ".tmp")
    try:
        write(temporary)
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, path)
        sync_folder(path.parent)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def sync_folder(folder: Path) -> None:
    """Make the names in `folder` durable (a rename or removal in it), where the system allows it."""
    if os.name == "nt":  # Windows cannot open a folder for fsync; NTFS journals its names
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def refuse_unwritable(path: Path) -> None:
    """Raise OutputError if the result file `path` exists but is a folder or may not be written.

    A file without any write permission is refused even where the superuser could write it:
    someone made it read-only to keep it.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise OutputError(f"cannot write results to {path}: it is a folder; name a file, "
                          f"for instance {path / ('tags' + path.suffix)}")
    if not mode & 0o222 or not os.access(path, os.W_OK):
        raise OutputError(f"cannot write results to {path}: it is read-only; choose another --output file, "
                          "or make it writable to replace it")


def write_failure(path: Path, error: OSError) -> OutputError:
    """The one-line OutputError for an OSError met while writing `path`."""
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return OutputError(f"the disk is full: cannot write {path}")
    return OutputError(f"cannot write results to {path} ({error.strerror or error}); choose a file in a folder "
                       "that exists and that you may write to")


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):
        return 255
