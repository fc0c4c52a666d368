"""Part files: a result file that cannot be appended to safely, staged as files in a folder beside it.

An .npz (a zip archive) or a .parquet file (readable only once its footer, written last, is
there) would be lost whole if a run were killed while writing it. Its records go instead to
numbered part files in OUT.parts/, each written under a temporary name, made durable and
renamed into place, so that a killed run leaves whole parts only. At the end the parts are
packed into the result file, again through a temporary file and a rename, and the folder is
removed.

Each parts folder belongs to one run, named in its `run.json`: the run's id, and the id of the
finished file that the run adds to (null for a fresh run). The packed file records the id of the
run that packed it (in the format's metadata). So whatever the moment of a kill, --resume can
tell what holds the records:

- the finished file has the parts' id: it was packed from them (the kill came before the folder
  was removed), so it alone holds them; the folder is discarded;
- the parts add to the finished file's id: a resumed run was killed before packing: both;
- otherwise the finished file is from before a fresh run: the parts alone, and the finished file
  is replaced at the end, never mixed in.

A folder is made whole under OUT.parts.tmp and renamed into place, and removed by renaming it
there first, so that no kill leaves half a folder at OUT.parts. Only names the writer makes are
taken up (`run.json`, `NNNNNNNN` + the extension, and `NNNNNNNN.tmp` leftovers, which are
removed); anything else in the folder stops --resume, naming it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from .durable import refuse_unwritable, sibling, sync_folder, write_atomically, write_failure
from .locking import OutputLock
from .resume import cannot_resume, refused_part

RUN_FILE = "run.json"


class PartFolder:
    """The parts of result file `output` (files ending in `extension`), in the order they were written.

    resume: keep the parts an earlier run left, if any; otherwise start with none.
    finished_run: the run id that the finished result file records ("" if it records none), or None
    if there is no finished file to add to (always None without resume). Attributes: `run`, this
    folder's run id, which the packed file must record; `adds_to_finished`, whether the finished
    file's records belong to this run's results; `is_new`, whether the folder was made here (for
    this run, not taken up); `parts`.
    """

    def __init__(self, output: Path, extension: str, resume: bool, finished_run: str | None):
        self.output, self.path, self._extension = output, sibling(output, ".parts"), extension
        self._scratch = sibling(output, ".parts.tmp")
        try:
            _remove_tree(self._scratch)  # a folder a killed run left half made, or half removed
            record = self._read_run() if resume and self.path.exists() else None
            if record is not None and finished_run is not None and record["run"] == finished_run:
                self.remove()  # packed already: the run was killed before the folder was removed
                record = None
            self.is_new = record is None
            if self.is_new:
                record = {"run": uuid.uuid4().hex, "adds_to": finished_run}
                self._create(record)
        except OSError as error:
            raise write_failure(self.path, error) from None
        self.run = record["run"]
        self.adds_to_finished = finished_run is not None and record["adds_to"] == finished_run
        self.parts = self._take_parts()

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
        """Write the result file: `write` fills a temporary file, made durable and renamed into place; remove the parts.

        The file `write` makes must record this folder's `run`.
        """
        try:
            write_atomically(self.output, write)
            self.remove()
        except OSError as error:
            raise write_failure(self.output, error) from None

    def remove(self) -> None:
        """Remove the folder in one step (a rename), then its files."""
        os.rename(self.path, self._scratch)
        sync_folder(self.path.parent)
        _remove_tree(self._scratch)

    def _read_run(self) -> dict:
        """The run.json of an earlier run's folder."""
        try:
            record = json.loads((self.path / RUN_FILE).read_bytes())
            if not (isinstance(record, dict) and isinstance(record.get("run"), str)
                    and isinstance(record.get("adds_to", 0), (str, type(None)))):
                raise ValueError("not a run record")
        except (OSError, ValueError) as error:
            raise cannot_resume(self.output, f"{self.path / RUN_FILE} is missing or damaged ({error})",
                                "run again without --resume to start afresh") from None
        return record

    def _create(self, record: dict) -> None:
        """Replace the folder, if any, by an empty one of the run `record`; made whole before it is put in place."""
        if self.path.exists() or self.path.is_symlink():
            self.remove()
        try:
            self._scratch.mkdir()
            write_atomically(self._scratch / RUN_FILE, lambda file: file.write_text(json.dumps(record)))
            os.rename(self._scratch, self.path)
            sync_folder(self.path.parent)
        except OSError:
            _remove_tree(self._scratch)
            raise

    def _take_parts(self) -> list[Path]:
        """The parts in the folder, in write order; temporary files left by a kill are removed."""
        numbered = []
        for entry in self.path.iterdir():
            if entry.name == RUN_FILE:
                continue
            number, _, extension = entry.name.partition(".")
            ours = re.fullmatch(r"\d{8,}", number) and entry.name == f"{int(number):08d}.{extension}" \
                and f".{extension}" in (self._extension, ".tmp") and entry.is_file() and not entry.is_symlink()
            if not ours:
                raise refused_part(self.output, entry, f"is not a name musicnn_lite gives its parts "
                                                       f"(NNNNNNNN{self._extension}, files only)")
            if extension == "tmp":
                entry.unlink()
            else:
                numbered.append((int(number), entry))
        return [part for _, part in sorted(numbered)]


class PackedAtClose:
    """The life of a writer whose result file is packed from its parts at the end.

    A writer of result file `path`, whose parts end in `extension`, calls `_start` last in its
    __init__. It implements `_finished_run()`, the run id its finished file records ("" for none);
    `_take_up(stored, finished_too)`, which lists in `done` the songs of the parts `stored` (and of
    the finished file too, if `finished_too`), checking that they fit this run; `_pack(temporary,
    run)`, which writes every record into `temporary`, recording the run id `run`; and `_flush()`,
    which writes what it holds in memory as a part, if anything. `kept_in` is the parts folder. A
    run stopped by an exception keeps its parts for --resume instead of packing them.
    """

    path: Path
    extension: str

    def _start(self, resume: bool) -> None:
        """Take the lock on the result file, then open it; the lock is released if opening fails."""
        self._lock = OutputLock(self.path)
        self.path = self._lock.output
        self.kept_in = sibling(self.path, ".parts")
        self.done: dict[str, str] = {}
        self._staged = None
        try:
            refuse_unwritable(self.path)
            finished_run = self._finished_run() if resume and self.path.exists() else None
            self._staged = PartFolder(self.path, self.extension, resume, finished_run)
            self._take_up(self._staged.parts, self._staged.adds_to_finished)
        except BaseException:
            if self._staged is not None and self._staged.is_new:  # a run refused leaves things as they were
                with contextlib.suppress(OSError):
                    self._staged.remove()
            self._lock.release()
            raise

    def close(self) -> None:
        """Pack the parts into the result file (written whole, then renamed into place); remove the parts."""
        try:
            self._flush()
            self._staged.pack(lambda temporary: self._pack(temporary, self._staged.run))
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

    def _finished_run(self) -> str:
        """The run id the finished result file records, "" if none."""

    def _take_up(self, stored: list[Path], finished_too: bool) -> None:
        """List the songs of the parts `stored` (and of the finished file, if `finished_too`) in `done`."""

    def _pack(self, temporary: Path, run: str) -> None:
        """Write every record into `temporary`, recording the run id `run`."""

    def _flush(self) -> None:
        """Write what is held in memory as a part: nothing, unless the writer holds records."""


def _remove_tree(path: Path) -> None:
    """Remove the folder (or file) `path` and all in it, if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
