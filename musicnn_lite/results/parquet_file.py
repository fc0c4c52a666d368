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
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..embeddings import song_embedding
from ..errors import MusicnnError, one_line
from .parts import PackedAtClose
from .resume import cannot_resume, check_features, check_model, refused_part

if TYPE_CHECKING:
    from ..tag_result import TagResult

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
    """`path` as Parquet stores it: UTF-8 text, in which `\\xNN` stands for byte NN.

    Bytes that are not UTF-8 are written so, and so is a backslash followed by an `x` (as
    `\\x5c`), so that every name reads back exactly (see `given_path`).
    """
    text = os.fsencode(path).decode("utf-8", "surrogateescape")  # bytes that are not UTF-8 as U+DC80-U+DCFF
    return _TO_ESCAPE.sub(lambda match: f"\\x{ord(match[0]) % 0x100:02x}", text)


def given_path(stored: str) -> str:
    """The path that `stored_path` stored as `stored`."""
    text = _ESCAPE.sub(lambda match: chr(int(match[1], 16) + (0 if match[1] == "5c" else 0xDC00)), stored)
    return os.fsdecode(text.encode("utf-8", "surrogateescape"))


_TO_ESCAPE = re.compile(r"\\(?=x)|[\udc80-\udcff]")
_ESCAPE = re.compile(r"\\x(5c|[89a-f][0-9a-f])")
_RUN_KEY = b"musicnn_lite.run"  # the key of the packed file's metadata naming the run that packed it (see parts)


class ParquetWriter(PackedAtClose):
    """A Parquet result file of one row per song, staged as part files while a run goes, packed at the end.

    A Parquet file is readable only once its footer, written last, is there, so a file being
    written cannot survive a crash. The rows are held in memory and written, every
    `rows_per_part` rows or `seconds_per_part` seconds, as one part file in a folder beside
    the output (OUT.parquet.parts/: see parts). `close()` packs the parts, in order, after the
    rows of the finished file that a resumed run adds to, into OUT.parquet (one row group per
    part), again through a temporary file and a rename, then removes the folder. A run stopped by
    an exception writes the rows it holds as a part and keeps the parts; a run killed outright
    loses the rows not yet in a part, which a resumed run tags again. columns: the tags written;
    feature_widths: the channels of each feature (see `result_schema`). `done` maps each song
    already written to its status; `kept_in` is the parts folder. pyarrow is given open files,
    never names, so that any file name works.
    """

    extension = ".parquet"

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
        self.done[given_path(row["path"])] = row["status"]
        if len(self._rows) >= self.rows_per_part or time.monotonic() - self._last_part >= self.seconds_per_part:
            self._flush()

    def _finished_run(self) -> str:
        schema = self._read(self.path, lambda file: file.schema_arrow)
        return (schema.metadata or {}).get(_RUN_KEY, b"").decode("utf-8", "replace")

    def _take_up(self, stored: list[Path], finished_too: bool) -> None:
        self._adds_to_finished = finished_too
        for file in self._packed_files:
            self._take_up_file(file)

    def _flush(self) -> None:
        self._last_part = time.monotonic()
        if self._rows:
            table = rows_table(self._rows, self.schema)
            self._staged.add(lambda part: _write_table(table, part))
            self._rows = []

    def _pack(self, temporary: Path, run: str) -> None:
        with open(temporary, "wb") as output, \
                pq.ParquetWriter(output, self.schema.with_metadata({_RUN_KEY: run.encode()})) as packed:
            for stored in self._packed_files:
                with open(stored, "rb") as source:
                    file = pq.ParquetFile(source)
                    for group in range(file.num_row_groups):
                        packed.write_table(file.read_row_group(group))

    @property
    def _packed_files(self) -> list[Path]:
        """The files whose rows the packed file holds, in order: the finished file a run adds to, then the parts."""
        return [self.path, *self._staged.parts] if self._adds_to_finished else self._staged.parts

    def _read(self, stored: Path, read: Callable[[pq.ParquetFile], Any]) -> Any:
        """What `read` takes from the Parquet file `stored`; read errors refused in one line."""
        try:
            with open(stored, "rb") as source:
                return read(pq.ParquetFile(source))
        except (OSError, pa.ArrowException) as error:
            reason = f"is not a Parquet file of musicnn_lite results ({error})"
            if stored == self.path:
                raise cannot_resume(self.path, f"it {reason}") from None
            raise refused_part(self.path, stored, reason) from None

    def _take_up_file(self, stored: Path) -> None:
        """List the songs of an earlier run's file or part in `done`, after checking that it fits this run."""
        schema, table = self._read(stored, lambda file: (file.schema_arrow,
                                                         file.read(columns=["path", "model", "status"])))
        for model in set(table.column("model").to_pylist()):
            check_model(self.path, model, self.model)
        check_features(self.path, _feature_names(schema), _feature_names(self.schema))
        if not schema.equals(self.schema):
            raise cannot_resume(self.path, "its columns are not those of this model, --features and --head",
                                "resume with the same --model, --features and --head, or choose another "
                                "--output file")
        for path, status in zip(table.column("path").to_pylist(), table.column("status").to_pylist()):
            self.done[given_path(path)] = status


def _feature_names(schema: pa.Schema) -> list[str]:
    return [name.removeprefix(FEATURE_PREFIX) for name in schema.names if name.startswith(FEATURE_PREFIX)]


def _write_table(table: pa.Table, path: Path) -> None:
    with open(path, "wb") as file:
        pq.write_table(table, file)
