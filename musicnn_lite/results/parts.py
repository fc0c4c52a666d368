"""Part files: a result file that cannot be appended to safely, staged as files in a folder beside it.

An .npz (a zip archive) or a .parquet file (readable only once its footer, written last, is
there) would be lost whole if a run were killed while writing it. Its records go instead to
numbered part files in OUT.parts/, each written under a temporary name, made durable and
renamed into place, so that a killed run leaves whole parts only. At the end the parts are
packed into the result file, again through a temporary file and a rename, and the folder is
removed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from .durable import sibling, write_atomically, write_failure
from .locking import OutputLock


class PartFolder:
    """The parts of result file `output` (files ending in `extension`), in the order they were written.

    resume: keep the parts an earlier run left; otherwise start with none. Temporary files a
    killed run left are removed.
    """

    def __init__(self, output: Path, extension: str, resume: bool):
        self.output, self.path, self._extension = output, sibling(output, ".parts"), extension
        if not resume:
            shutil.rmtree(self.path, ignore_errors=True)
        try:
            self.path.mkdir(exist_ok=True)
        except OSError as error:
            raise write_failure(self.path, error) from None
        for leftover in self.path.glob("*.tmp"):
            leftover.unlink()
        self.parts = sorted(self.path.glob(f"*{extension}"))  # named by their write order

    def add(self, write: Callable[[Path], None]) -> None:
        """Write the next part: `write` fills a temporary file, which is made durable and renamed into place."""
        number = int(self.parts[-1].stem) + 1 if self.parts else 0
        part = self.path / f"{number:08d}{self._extension}"
        try:
            write_atomically(part, write, part.with_suffix(".tmp"))
        except OSError as error:
            raise write_failure(self.path, error) from None
        self.parts.append(part)

    def pack(self, write: Callable[[Path], None]) -> None:
        """Write the result file (`write` fills a temporary file, made durable and renamed into place), then
        remove the parts."""
        try:
            write_atomically(self.output, write)
            shutil.rmtree(self.path)
        except OSError as error:
            raise write_failure(self.output, error) from None


class PackedAtClose:
    """The life of a writer whose result file is packed from its parts at the end.

    A writer of result file `path` calls `_start` last in its __init__; its `_open(resume)` sets
    `_staged` (its PartFolder) and lists the songs already written in `done`; it packs with
    `_pack(temporary path)`, and `_flush()` writes what it holds in memory as a part, if anything.
    `kept_in` is the parts folder. A run stopped by an exception keeps its parts for --resume
    instead of packing them.
    """

    path: Path

    def _start(self, resume: bool) -> None:
        """Take the lock on the result file, then open it; the lock is released if opening fails."""
        self.kept_in = sibling(self.path, ".parts")
        self.done: dict[str, str] = {}
        self._lock = OutputLock(self.path)
        try:
            self._open(resume)
        except BaseException:
            self._lock.release()
            raise

    def close(self) -> None:
        """Pack the parts into the result file (written whole, then renamed into place); remove the parts."""
        try:
            self._flush()
            self._staged.pack(self._pack)
        finally:
            self._lock.release()

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.close()
            return
        try:
            self._flush()
        finally:
            self._lock.release()

    def _flush(self) -> None:
        """Write what is held in memory as a part: nothing, unless the writer holds records."""
