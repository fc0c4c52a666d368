"""Where tagging results go: musicnn's printout and tag lines, and CSV, JSON Lines and NPZ result files.

The result files survive a crash: each song's record is written whole and made durable
(flush and fsync) before the next song's, so a killed run leaves complete records plus, in
CSV and JSON Lines, at most one partial record at the end. Reopened with `resume=True`, a
writer cuts that partial record off and lists the songs already written in `done`, so a
resumed run writes each song once. An NPZ file is a zip archive, which cannot be appended to
safely: its records go to a folder beside it (`OUT.npz.parts/`, one small .npz per song,
each written under a temporary name and renamed into place), which `close()` packs into
OUT.npz, again by writing a temporary file and renaming it.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

from .errors import MusicnnError

if TYPE_CHECKING:
    from .tagger import TagResult

FORMATS = (".csv", ".jsonl", ".npz", ".parquet")


def top_tags_text(name: str, tags: list[str]) -> str:
    """musicnn's printout of a song's top tags: '[name] TopN tags:' then one ' - tag' line each."""
    return "\n".join([f"[{name}] Top{len(tags)} tags:", *(f" - {tag}" for tag in tags)])


def musicnn_tags_line(name: str, model: str, input_length: float, input_overlap: float | bool,
                      tags: list[str]) -> str:
    """musicnn's saved line 'file,model,input_length=..,input_overlap=..,tag1,tag2,...' (no newline)."""
    return ",".join([name, model, f"input_length={input_length}", f"input_overlap={input_overlap}", *tags])


def open_writer(path: str | os.PathLike, model: str, labels: list[str], top_n: int = 3,
                resume: bool = False, feature_widths: dict[str, int] | None = None) -> ResultWriter:
    """A writer for the result file `path`, its format chosen by the extension (see FORMATS).

    model: the model's name, written in every record. labels: its tags, in taggram column order.
    top_n: how many top tags a CSV, JSONL or Parquet record lists. resume: keep the records
    already in the file (listed in `.done`) and add to them; otherwise the file is started afresh.
    feature_widths: the channels of each feature the records hold (Parquet's columns are fixed
    before the first record; see parquet.feature_widths).
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        return _parquet_writer(Path(path), model, labels, top_n, resume, feature_widths)
    writer_class = {".csv": CsvWriter, ".jsonl": JsonlWriter, ".npz": NpzWriter}.get(suffix)
    if writer_class is None:
        raise MusicnnError(f"cannot write results to {path}: name it .csv, .jsonl, .npz or .parquet")
    try:
        return writer_class(Path(path), model, list(labels), top_n, resume)
    except OSError as error:
        raise MusicnnError(f"cannot write results to {path} ({error.strerror or error}); "
                           "choose a file in a folder that exists and that you may write to") from None


def _parquet_writer(path: Path, model: str, labels: list[str], top_n: int, resume: bool,
                    feature_widths: dict[str, int] | None) -> ResultWriter:
    try:
        from .parquet import ParquetWriter, result_schema
    except ImportError:
        raise MusicnnError(f"writing {path} needs pyarrow: pip install 'musicnn_lite[parquet]'") from None
    try:
        return ParquetWriter(path, result_schema(labels, feature_widths), model, top_n, resume)
    except OSError as error:
        raise MusicnnError(f"cannot write results to {path} ({error.strerror or error}); "
                           "choose a file in a folder that exists and that you may write to") from None


class ResultWriter:
    """Writes one record per song to a result file; `done` maps each path already written to its status."""

    def __init__(self, path: Path, model: str, labels: list[str], top_n: int, resume: bool):
        self.path, self.model, self.labels, self.top_n = path, model, labels, top_n
        self.done: dict[str, str] = {}

    def write(self, name: str, result: TagResult | MusicnnError) -> None:
        """Add the record of song `name`: its TagResult, or the MusicnnError that stopped it."""
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file."""

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.close()

    def _check_model(self, model: str) -> None:
        if model != self.model:
            raise MusicnnError(f"{self.path} holds results of model {model}, not {self.model}; "
                               f"resume with --model {model}, or write to another --output file")


class _LineWriter(ResultWriter):
    """A text file of one record per song, appended line by line."""

    def __init__(self, path: Path, model: str, labels: list[str], top_n: int, resume: bool):
        super().__init__(path, model, labels, top_n, resume)
        keep = 0
        if resume and path.exists():
            data = path.read_bytes()
            rows, keep = _whole_rows(self._split(data), len(data), path)
            for name, model_name, status in self._songs(rows):
                self._check_model(model_name)
                self.done[name] = status
            with open(path, "r+b") as file:
                file.truncate(keep)
        # Paths that are not UTF-8 (held as surrogate escapes) are written back as their own bytes.
        self._file = open(path, "a" if keep else "w", encoding="utf-8", errors="surrogateescape", newline="")
        if not keep:
            self._start()

    def write(self, name: str, result: TagResult | MusicnnError) -> None:
        self._append(self._record(name, result))

    def close(self) -> None:
        self._file.close()

    def _append(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()
        os.fsync(self._file.fileno())

    def _start(self) -> None:
        """Write what a new file begins with."""

    def _record(self, name: str, result: TagResult | MusicnnError) -> str:
        raise NotImplementedError

    def _split(self, data: bytes) -> Iterator[tuple[object, int, bool]]:
        """The stored rows, each as (parsed row or None, byte offset of its end, whether it ends in a newline)."""
        raise NotImplementedError

    def _songs(self, rows: list) -> list[tuple[str, str, str]]:
        """(path, model, status) of each song in the whole rows; MusicnnError if they are not this format."""
        raise NotImplementedError

    def _not_ours(self, detail: str) -> MusicnnError:
        return MusicnnError(f"{self.path} cannot be resumed: {detail}; it was not written by musicnn_lite "
                            f"with model {self.model}. Choose another --output file")


class CsvWriter(_LineWriter):
    """One row per song: path, model, status, error, top_tags (';'-separated), then one column per tag."""

    def __init__(self, path: Path, model: str, labels: list[str], top_n: int, resume: bool):
        self.header = ["path", "model", "status", "error", "top_tags", *labels]
        super().__init__(path, model, labels, top_n, resume)

    def _start(self) -> None:
        self._append(self._line(self.header))

    def _record(self, name: str, result: TagResult | MusicnnError) -> str:
        if isinstance(result, MusicnnError):
            return self._line([name, self.model, "error", _one_line(result), "", *[""] * len(self.labels)])
        return self._line([name, self.model, "ok", "", ";".join(result.top(self.top_n)),
                           *(str(value) for value in result.likelihoods.astype(np.float32))])

    @staticmethod
    def _line(fields: Iterable[str]) -> str:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(fields)
        return text.getvalue()

    def _split(self, data):
        lines = _lines(data)
        ends = list(itertools.accumulate(map(len, lines)))
        # A path holding a line break makes a row span lines; the reader counts the lines it took.
        reader = csv.reader((line.decode("utf-8", "surrogateescape") for line in lines), strict=True)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error:  # a quote left open at the end: the last row was cut inside a path
                yield None, len(data), False
                return
            end = ends[reader.line_num - 1]
            yield row, end, data[end - 1:end] == b"\n"

    def _songs(self, rows):
        if rows and rows[0] != self.header:
            raise self._not_ours("its columns differ from path, model, status, error, top_tags and this model's tags")
        if any(len(row) != len(self.header) for row in rows):
            raise self._not_ours(f"a row has not the {len(self.header)} columns of the header")
        return [(row[0], row[1], row[2]) for row in rows[1:]]


class JsonlWriter(_LineWriter):
    """One JSON object per line and song.

    ok: {"path", "model", "status": "ok", "top_tags": [...], "likelihoods": {tag: value},
    "features": {name: [value per channel]}}, features only if the result has any, each the
    mean over patches and over every other axis but the last (channels).
    error: {"path", "model", "status": "error", "error": message}.
    """

    def _record(self, name: str, result: TagResult | MusicnnError) -> str:
        if isinstance(result, MusicnnError):
            return self._line({"path": name, "model": self.model, "status": "error", "error": _one_line(result)})
        record = {"path": name, "model": self.model, "status": "ok", "top_tags": result.top(self.top_n),
                  "likelihoods": dict(zip(self.labels, _floats(result.likelihoods)))}
        if result.features:
            record["features"] = {feature: _floats(values.reshape(-1, values.shape[-1]).mean(axis=0))
                                  for feature, values in result.features.items()}
        return self._line(record)

    @staticmethod
    def _line(record: dict) -> str:
        return json.dumps(record, ensure_ascii=False) + "\n"

    def _split(self, data):
        end = 0
        for line in _lines(data):
            end += len(line)
            try:
                yield json.loads(line.decode("utf-8", "surrogateescape")), end, line.endswith(b"\n")
            except ValueError:
                yield None, end, line.endswith(b"\n")

    def _songs(self, rows):
        try:
            return [(row["path"], row["model"], row["status"]) for row in rows]
        except (TypeError, KeyError):
            raise self._not_ours("a line is not an object with path, model and status") from None


class NpzWriter(ResultWriter):
    """An .npz archive of every song's taggram and features, packed at the end from per-song parts.

    Arrays in the finished file: "model" (str), "tags" (tags,), "paths" (songs,), "status" (songs,)
    "ok" or "error", "errors" (songs,) the error message or "", and for each song i that was
    tagged "i/taggram" (patches, tags) plus "i/<feature>" (patches, ...) for each feature.
    Songs are in the order they were written.
    """

    def __init__(self, path: Path, model: str, labels: list[str], top_n: int, resume: bool):
        super().__init__(path, model, labels, top_n, resume)
        self.parts = path.with_name(path.name + ".parts")
        finished = self._open_finished_file() if resume and path.exists() else None
        if not resume:
            shutil.rmtree(self.parts, ignore_errors=True)
        self.parts.mkdir(exist_ok=True)
        for leftover in self.parts.glob("*.tmp"):
            leftover.unlink()
        self._parts = sorted(self.parts.glob("*.npz"))  # named by their write order
        for part in self._parts:
            with np.load(part) as arrays:
                self._check_model(str(arrays["model"]))
                self.done[str(arrays["path"])] = str(arrays["status"])
        self._next = int(self._parts[-1].stem) + 1 if self._parts else 0
        if finished is not None:
            with finished:
                self._import_songs(finished)

    def write(self, name: str, result: TagResult | MusicnnError) -> None:
        arrays = {"path": name, "model": self.model}
        if isinstance(result, MusicnnError):
            arrays.update(status="error", error=_one_line(result))
        else:
            arrays.update(status="ok", error="", taggram=result.taggram,
                          **{f"feature/{feature}": values for feature, values in result.features.items()})
        self._write_part(arrays)

    def close(self) -> None:
        """Pack the parts into the .npz file (written whole, then renamed into place); remove the parts."""
        temporary = self.path.with_name(self.path.name + ".tmp")
        listing = {"paths": [], "status": [], "errors": []}
        with zipfile.ZipFile(temporary, "w", allowZip64=True) as archive:
            for index, part in enumerate(self._parts):
                with np.load(part) as arrays:
                    for key, field in (("paths", "path"), ("status", "status"), ("errors", "error")):
                        listing[key].append(str(arrays[field]))
                    for key in arrays.files:
                        if key == "taggram" or key.startswith("feature/"):
                            _put_array(archive, f"{index}/{key.removeprefix('feature/')}", arrays[key])
            _put_array(archive, "model", np.array(self.model))
            _put_array(archive, "tags", np.array(self.labels))
            for key, values in listing.items():
                _put_array(archive, key, np.array(values, dtype=str))
        _fsync_path(temporary)
        os.replace(temporary, self.path)
        shutil.rmtree(self.parts)

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:  # a run stopped by an exception keeps its parts for --resume instead of packing them
            self.close()

    def _write_part(self, arrays: dict) -> None:
        part = self.parts / f"{self._next:08d}.npz"
        temporary = part.with_suffix(".tmp")
        with open(temporary, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, part)
        self._parts.append(part)
        self._next += 1
        self.done[arrays["path"]] = arrays["status"]

    def _open_finished_file(self):
        """The finished OUT.npz of an earlier run (an open NpzFile), checked to be of this model."""
        try:
            finished = np.load(self.path)
            model = str(finished["model"])
            if not {"tags", "paths", "status", "errors"} <= set(finished.files):
                raise KeyError("paths, status, errors or tags")
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            raise MusicnnError(f"{self.path} cannot be resumed: it is not a musicnn_lite result file ({error}); "
                               "choose another --output file") from None
        if model != self.model:
            finished.close()
            self._check_model(model)  # raises, naming both models
        return finished

    def _import_songs(self, finished) -> None:
        """Copy the songs of a finished OUT.npz that the parts lack into parts, to be packed again."""
        arrays_of_song = {}  # song index -> {layer: key}
        for key in finished.files:
            index, slash, layer = key.partition("/")
            if slash:
                arrays_of_song.setdefault(int(index), {})[layer] = key
        songs = zip(finished["paths"].tolist(), finished["status"].tolist(), finished["errors"].tolist())
        for index, (name, status, error) in enumerate(songs):
            if name not in self.done:
                arrays = {"path": name, "model": self.model, "status": status, "error": error}
                for layer, key in arrays_of_song.get(index, {}).items():
                    arrays["taggram" if layer == "taggram" else f"feature/{layer}"] = finished[key]
                self._write_part(arrays)


def _lines(data: bytes) -> list[bytes]:
    """`data` cut after each newline; the last piece lacks one if the file does not end in a newline."""
    lines = [line + b"\n" for line in data.split(b"\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def _whole_rows(rows: Iterable[tuple[object, int, bool]], size: int, path: Path) -> tuple[list, int]:
    """The rows before a partial last one, and the number of bytes they span.

    Only the last row may lack its newline: a crash cut it short. Any other unreadable row
    means the file is not a result file, and it is refused rather than overwritten.
    """
    whole, keep = [], 0
    for row, end, terminated in rows:
        if not terminated:
            break
        if row is None:
            raise MusicnnError(f"{path} cannot be resumed: the record ending at byte {end} of {size} is unreadable; "
                               "choose another --output file")
        whole.append(row)
        keep = end
    return whole, keep


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _floats(values: np.ndarray) -> list[float]:
    """float32 values as the shortest floats that read back to the same float32 (JSON-friendly)."""
    return [float(str(value)) for value in values.astype(np.float32)]


def _put_array(archive: zipfile.ZipFile, key: str, array: np.ndarray) -> None:
    """Store one array in an .npz archive under `key`, as np.savez does, without holding the others."""
    with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def _fsync_path(path: Path) -> None:
    with open(path, "rb+") as file:
        os.fsync(file.fileno())
