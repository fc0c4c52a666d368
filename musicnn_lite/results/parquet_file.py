"""Parquet results: one row per song with the fields of the JSON Lines record, as Arrow columns.

Columns: path, model, status ("ok" or "error"), error (null when ok), top_tags (list of
strings, most likely first), timestamps (list of float32: the start of each patch, seconds),
one float32 column per tag (its song-level likelihood), then for each requested feature a
column `features.NAME`, a fixed-size list of float32 (the song-level embedding, one value per
channel). An error row has nulls past `error`. The types are plain Arrow types, so pandas,
Polars, DuckDB, Spark and Ray read the files as they are. The same rows come from
`ParquetWriter` here and from the Ray workers (musicnn_lite.ray). pyarrow is imported here,
so only code that writes Parquet needs it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..embeddings import song_embedding
from ..errors import MusicnnError, one_line
from ..spectrum import N_MELS, patch_frames
from .durable import refuse_read_only
from .parts import PackedAtClose, PartFolder
from .resume import check_model

if TYPE_CHECKING:
    from ..tag_result import TagResult
    from ..tagger import Tagger

FEATURE_PREFIX = "features."


def result_schema(columns: Iterable[str], feature_widths: dict[str, int] | None = None) -> pa.Schema:
    """The columns of a row: `columns` are the tags written, `feature_widths` the channels of each feature."""
    return pa.schema([
        pa.field("path", pa.string(), nullable=False),
        ("model", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("top_tags", pa.list_(pa.string())),
        ("timestamps", pa.list_(pa.float32())),
        *((tag, pa.float32()) for tag in columns),
        *((FEATURE_PREFIX + name, pa.list_(pa.float32(), width)) for name, width in (feature_widths or {}).items()),
    ])


def feature_widths(tagger: Tagger, features: Iterable[str]) -> dict[str, int]:
    """The channels of each of `features` (the last axis of its output), measured on one blank patch."""
    features = tuple(features)
    if not features:
        return {}
    outputs = tagger.predict(np.zeros((1, patch_frames(3), N_MELS), np.float32), features)
    return {name: outputs[name].shape[-1] for name in features}


def result_row(path: str, result: TagResult | MusicnnError, model: str, columns: list[str], top_n: int) -> dict:
    """The row of song `path` (column -> value): its TagResult, or the error that stopped it.

    columns: the tags to write, each among the result's tags. The values are float32, as
    in the CSV and JSON Lines files.
    """
    row = {"path": stored_path(path), "model": model}
    if isinstance(result, MusicnnError):
        return {**row, "status": "error", "error": one_line(result)}
    row.update(status="ok", error=None, top_tags=result.top(top_n),
               timestamps=result.timestamps.astype(np.float32).tolist())
    row.update(zip(columns, result.likelihoods_of(columns).tolist()))
    row.update((FEATURE_PREFIX + name, song_embedding(values).tolist()) for name, values in result.features.items())
    return row


def rows_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows from `result_row` as a table of `schema` (the columns an error row lacks are null)."""
    return pa.Table.from_pylist(rows, schema=schema)


def stored_path(path: str | os.PathLike) -> str:
    """`path` as Parquet stores it: UTF-8 text, with bytes that are not UTF-8 written as `\\xNN` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class ParquetWriter(PackedAtClose):
    """A Parquet result file of one row per song, staged as part files while a run goes, packed at the end.

    A Parquet file is readable only once its footer, written last, is there, so a file being
    written cannot survive a crash. The rows are held in memory and written, every
    `rows_per_part` rows or `seconds_per_part` seconds, as one part file in a folder beside
    the output (OUT.parquet.parts/: see parts). `close()` packs an earlier finished file, if resumed, and the parts,
    in order, into OUT.parquet (one row group per part), again through a temporary file and a
    rename, then removes the folder. A run stopped by an exception writes the rows it holds as
    a part and keeps the parts; a run killed outright loses the rows not yet in a part, which a
    resumed run tags again. columns: the tags written; feature_widths: the channels of each
    feature (see `result_schema`). `done` maps each song already written to its status;
    `kept_in` is the parts folder.
    """

    def __init__(self, path: Path, model: str, columns: list[str], top_n: int, resume: bool,
                 feature_widths: dict[str, int] | None = None, rows_per_part: int = 1000,
                 seconds_per_part: float = 60):
        self.path, self.model, self.columns, self.top_n = path, model, columns, top_n
        self.schema = result_schema(columns, feature_widths)
        self.rows_per_part, self.seconds_per_part = rows_per_part, seconds_per_part
        self._rows: list[dict] = []
        self._last_part = time.monotonic()
        self._start(resume)

    def write(self, name: str, result: TagResult | MusicnnError) -> None:
        """Add the row of song `name`: its TagResult, or the MusicnnError that stopped it."""
        self.write_row(result_row(name, result, self.model, self.columns, self.top_n))

    def write_row(self, row: dict) -> None:
        """Add a row made by `result_row` (here, or on a Ray worker)."""
        self._rows.append(row)
        self.done[_given_path(row["path"])] = row["status"]
        if len(self._rows) >= self.rows_per_part or time.monotonic() - self._last_part >= self.seconds_per_part:
            self._flush()

    @property
    def _stored(self) -> list[Path]:
        """The files whose rows the packed file holds, in order: a finished file taken up, then the parts."""
        return [self.path, *self._staged.parts] if self._resumed_finished else self._staged.parts

    def _open(self, resume: bool) -> None:
        refuse_read_only(self.path)
        self._resumed_finished = resume and self.path.exists()
        self._staged = PartFolder(self.path, ".parquet", resume)
        for stored in self._stored:
            self._take_up(stored)

    def _flush(self) -> None:
        self._last_part = time.monotonic()
        if self._rows:
            table = rows_table(self._rows, self.schema)
            self._staged.add(lambda file: pq.write_table(table, file))
            self._rows = []

    def _pack(self, temporary: Path) -> None:
        with pq.ParquetWriter(temporary, self.schema) as packed:
            for stored in self._stored:
                file = pq.ParquetFile(stored)
                for group in range(file.num_row_groups):
                    packed.write_table(file.read_row_group(group))

    def _take_up(self, stored: Path) -> None:
        """List the songs of an earlier run's file or part in `done`, after checking that it fits this run."""
        try:
            table = pq.read_table(stored, columns=["path", "model", "status"])
            schema = pq.read_schema(stored)
        except (OSError, pa.ArrowException) as error:
            raise MusicnnError(f"{self.path} cannot be resumed: {stored} is not a Parquet file of musicnn_lite "
                               f"results ({error}); choose another --output file") from None
        if not schema.equals(self.schema):
            raise MusicnnError(f"{self.path} cannot be resumed: its columns are not those of this model and "
                               "--features; resume with the same --model and --features, or choose another "
                               "--output file")
        for model in set(table.column("model").to_pylist()):
            check_model(self.path, model, self.model)
        for path, status in zip(table.column("path").to_pylist(), table.column("status").to_pylist()):
            self.done[_given_path(path)] = status


def _given_path(stored: str) -> str:
    """The path `stored_path` was given: `\\xNN` escapes of bytes 0x80-0xff back to the surrogates Python uses."""
    return re.sub(r"\\x([89a-f][0-9a-f])", lambda match: chr(0xDC00 + int(match[1], 16)), stored)
