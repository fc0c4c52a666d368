"""Parquet result rows: one row per song with the fields of the JSON Lines record, as Arrow columns.

Columns: path, model, status ("ok" or "error"), error (null when ok), top_tags (list of
strings, most likely first), one float32 column per tag (its song-level likelihood, null
for an error row), then for each requested feature a column `features.NAME`, a fixed-size
list of float32 (the song-level embedding, one value per channel). Arrow types are plain,
so pandas, Polars, DuckDB, Spark and Ray read the files as they are. pyarrow is imported
here, so only code that writes Parquet needs it.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import MusicnnError
from .spectrum import N_MELS, PATCH_SECONDS, patch_frames

if TYPE_CHECKING:
    from .tagger import Tagger, TagResult

FEATURE_PREFIX = "features."


def result_schema(labels: Iterable[str], feature_widths: dict[str, int] | None = None) -> pa.Schema:
    """The columns of a row: `labels` are the model's tags, `feature_widths` the channels of each feature."""
    return pa.schema([
        pa.field("path", pa.string(), nullable=False),
        ("model", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("top_tags", pa.list_(pa.string())),
        *((tag, pa.float32()) for tag in labels),
        *((FEATURE_PREFIX + name, pa.list_(pa.float32(), width)) for name, width in (feature_widths or {}).items()),
    ])


def feature_widths(tagger: Tagger, features: Iterable[str]) -> dict[str, int]:
    """The channels of each of `features` (the last axis of its output), measured on one blank patch."""
    features = tuple(features)
    if not features:
        return {}
    outputs = tagger.predict(np.zeros((1, patch_frames(PATCH_SECONDS), N_MELS), np.float32), features)
    return {name: outputs[name].shape[-1] for name in features}


def result_row(path: str, result: TagResult | MusicnnError, model: str, top_n: int) -> dict:
    """The row of song `path` (a dict of column -> value): its TagResult, or the error that stopped it.

    The tag columns hold the likelihoods as float32, so they equal the CSV's and JSONL's values.
    """
    row = {"path": stored_path(path), "model": model}
    if isinstance(result, MusicnnError):
        return {**row, "status": "error", "error": " ".join(str(result).split())}
    row.update(status="ok", error=None, top_tags=result.top(top_n))
    row.update(zip(result.tags, result.likelihoods.astype(np.float32).tolist()))
    for name, values in result.features.items():
        row[FEATURE_PREFIX + name] = song_embedding(values).tolist()
    return row


def rows_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows from `result_row` as a table of `schema` (columns an error row lacks are null)."""
    return pa.Table.from_pylist(rows, schema=schema)


def song_embedding(values: np.ndarray) -> np.ndarray:
    """A feature's song-level value: the mean over patches and every other axis but the last, (channels,) float32."""
    return values.reshape(-1, values.shape[-1]).mean(axis=0).astype(np.float32)


def stored_path(path: str | os.PathLike) -> str:
    """`path` as Parquet stores it: UTF-8 text, with bytes that are not UTF-8 written as `\\xNN` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class ParquetWriter:
    """A Parquet result file of one row per song, staged as part files while a run goes, packed at the end.

    A Parquet file is readable only once its footer is written, at the end, so a file being
    written cannot survive a crash. The rows are kept in memory and written, every
    `rows_per_part` rows or `seconds_per_part` seconds, as one part file in a folder beside
    the output (OUT.parquet.parts/, each written under a temporary name, made durable and
    renamed into place). `close()` packs the rows of an earlier finished file, if resumed, and
    the parts, in order, into OUT.parquet (one row group per part), again through a temporary
    file and a rename, then removes the folder. A run stopped by an exception writes what it
    holds as a part and keeps the parts; a run killed outright loses the rows not yet in a
    part, which a resumed run tags again. `done` maps each song already written to its status.
    """

    def __init__(self, path: Path, schema: pa.Schema, model: str, top_n: int, resume: bool,
                 rows_per_part: int = 1000, seconds_per_part: float = 60):
        self.path, self.schema, self.model, self.top_n = path, schema, model, top_n
        self.rows_per_part, self.seconds_per_part = rows_per_part, seconds_per_part
        self.kept_in = path.with_name(path.name + ".parts")
        self.done: dict[str, str] = {}
        self._rows: list[dict] = []
        self._last_part = time.monotonic()
        self._finished = path if resume and path.exists() else None
        if not resume:
            shutil.rmtree(self.kept_in, ignore_errors=True)
        self.kept_in.mkdir(exist_ok=True)
        for leftover in self.kept_in.glob("*.tmp"):
            leftover.unlink()
        self._parts = sorted(self.kept_in.glob("*.parquet"))  # named by their write order
        for stored in [self._finished, *self._parts] if self._finished else self._parts:
            self._take_up(stored)
        self._next = int(self._parts[-1].stem) + 1 if self._parts else 0

    def write(self, name: str, result: TagResult | MusicnnError) -> None:
        """Add the row of song `name`: its TagResult, or the MusicnnError that stopped it."""
        self.write_row(result_row(name, result, self.model, self.top_n))

    def write_row(self, row: dict) -> None:
        """Add a row made by `result_row` (here, or on a Ray worker)."""
        self._rows.append(row)
        self.done[_given_path(row["path"])] = row["status"]
        if len(self._rows) >= self.rows_per_part or time.monotonic() - self._last_part >= self.seconds_per_part:
            self._write_part()

    def close(self) -> None:
        """Write the rows held, pack everything into the Parquet file (through a rename), remove the parts."""
        self._write_part()
        temporary = self.path.with_name(self.path.name + ".tmp")
        with pq.ParquetWriter(temporary, self.schema) as packed:
            for stored in [self._finished, *self._parts] if self._finished else self._parts:
                file = pq.ParquetFile(stored)
                for group in range(file.num_row_groups):
                    packed.write_table(file.read_row_group(group))
        _fsync_path(temporary)
        os.replace(temporary, self.path)
        shutil.rmtree(self.kept_in)

    def __enter__(self) -> ParquetWriter:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.close()
        else:  # a run stopped by an exception keeps its rows in parts for --resume instead of packing them
            self._write_part()

    def _write_part(self) -> None:
        self._last_part = time.monotonic()
        if not self._rows:
            return
        part = self.kept_in / f"{self._next:08d}.parquet"
        temporary = part.with_suffix(".tmp")
        pq.write_table(rows_table(self._rows, self.schema), temporary)
        _fsync_path(temporary)
        os.replace(temporary, part)
        self._parts.append(part)
        self._next += 1
        self._rows = []

    def _take_up(self, stored: Path) -> None:
        """List the songs of an earlier run's file or part in `done`, after checking that it fits this run."""
        try:
            table = pq.read_table(stored, columns=["path", "model", "status"])
            schema = pq.read_schema(stored)
        except (OSError, pa.ArrowException) as error:
            raise MusicnnError(f"{self.path} cannot be resumed: {stored} is not a Parquet file ({error}); "
                               "choose another --output file") from None
        if not schema.equals(self.schema):
            raise MusicnnError(f"{self.path} cannot be resumed: its columns are not those of this model and "
                               "--features; resume with the same --model and --features, or choose another "
                               "--output file")
        for model in set(table.column("model").to_pylist()) - {self.model}:
            raise MusicnnError(f"{self.path} holds results of model {model}, not {self.model}; "
                               f"resume with --model {model}, or write to another --output file")
        for path, status in zip(table.column("path").to_pylist(), table.column("status").to_pylist()):
            self.done[_given_path(path)] = status


def _given_path(stored: str) -> str:
    """The path `stored_path` was given: `\\xNN` escapes of bytes 0x80-0xff back to the surrogates Python uses."""
    return re.sub(r"\\x([89a-f][0-9a-f])", lambda match: chr(0xDC00 + int(match[1], 16)), stored)


def _fsync_path(path: Path) -> None:
    with open(path, "rb+") as file:
        os.fsync(file.fileno())
