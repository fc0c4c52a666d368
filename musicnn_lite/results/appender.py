"""A result file written one record per song, each made durable before the next, and resumable.

Each record is written whole and made durable (fsync) before the next song's, so a killed run
leaves whole records plus at most one record cut short at the end. Reopened with
`resume=True`, the appender cuts that last record off and lists the songs already written in
`done`; any other record it cannot read stops it with an error naming the line, and the file
is left as it was. The format of the records is a codec's (csv_file, jsonl_file).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from ..errors import MusicnnError
from .durable import refuse_unwritable, write_failure
from .locking import OutputLock
from .resume import check_features, check_model

if TYPE_CHECKING:
    from ..tag_result import TagResult


class StoredRecord(NamedTuple):
    """What resuming needs to know of a record: whose it is, which model wrote it, "ok" or "error", and the
    names of the features it holds (None where the format holds none, or for an error)."""

    path: str
    model: str
    status: str
    features: tuple[str, ...] | None = None


class UnreadableRecord(Exception):
    """A whole record (not one cut short at the end of the file) that is not this format's."""

    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line} {reason}")


class LineCodec(Protocol):
    """One result format written as text, one record after another."""

    def header(self) -> str:
        """What a new file begins with ("" for none)."""

    def encode(self, name: str, result: TagResult | MusicnnError) -> str:
        """The record of song `name`, ending in a newline."""

    def decode(self, data: bytes) -> Iterator[tuple[int, StoredRecord | None]]:
        """(byte offset where it ends, its record, None for the header) of each whole record in `data`.

        Stops before a last record cut short by a crash; raises UnreadableRecord for any other
        record it cannot read.
        """


class DurableAppender:
    """Appends the records of `codec` to `path`; `done` maps each song already written to its status.

    features: the names of the features this run's records hold, which those of a resumed file must hold too.
    A file that this writer creates and cannot even start (a full disk) is removed again.
    """

    def __init__(self, path: Path, codec: LineCodec, model: str, resume: bool, features: Iterable[str] = ()):
        self._codec, self._model, self._features = codec, model, tuple(features)
        self.done: dict[str, str] = {}
        self._fd: int | None = None
        self._lock = OutputLock(path)
        self.path = self.kept_in = self._lock.output
        created = not self.path.exists()
        try:
            self._open(resume)
        except BaseException:
            self.close()
            if created:
                self.path.unlink(missing_ok=True)
            raise

    def write(self, name: str, result: TagResult | MusicnnError) -> None:
        """Add the record of song `name`: its TagResult, or the MusicnnError that stopped it."""
        self._append(self._codec.encode(name, result))
        self.done[name] = "error" if isinstance(result, MusicnnError) else "ok"

    def close(self) -> None:
        """Close the file and release it to other runs."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._lock.release()

    def __enter__(self) -> DurableAppender:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.close()

    def _open(self, resume: bool) -> None:
        """Open the file, keeping its whole records if `resume`, else starting it afresh."""
        refuse_unwritable(self.path)
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0), 0o666)
        except OSError as error:
            raise write_failure(self.path, error) from None
        keep = self._take_up(self.path.read_bytes()) if resume else 0
        os.ftruncate(self._fd, keep)
        if not keep:
            self._append(self._codec.header())

    def _append(self, text: str) -> None:
        """Write `text` and make it durable; on failure, cut the file back to where it was."""
        # Paths that are not UTF-8 (held as surrogate escapes) are written back as their own bytes.
        data = memoryview(text.encode("utf-8", "surrogateescape"))
        size = os.fstat(self._fd).st_size
        try:
            while data:
                data = data[os.write(self._fd, data):]
            os.fsync(self._fd)
        except OSError as error:
            with contextlib.suppress(OSError):  # if this fails too, a resumed run cuts the partial record
                os.ftruncate(self._fd, size)
            raise write_failure(self.path, error) from None

    def _take_up(self, data: bytes) -> int:
        """Fill `done` from the whole records in `data`; the number of bytes they span."""
        keep = 0
        try:
            for end, record in self._codec.decode(data):
                keep = end
                if record is not None:
                    check_model(self.path, record.model, self._model)
                    if record.features is not None:
                        check_features(self.path, record.features, self._features)
                    self.done[record.path] = record.status
        except UnreadableRecord as error:
            raise MusicnnError(f"{self.path} cannot be resumed: {error}; it was not written by musicnn_lite with "
                               f"model {self._model}, or was changed since (only a last record cut short by a "
                               "crash is mended). Mend that line or choose another --output file; the file is "
                               "left as it was") from None
        return keep
