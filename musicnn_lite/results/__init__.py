"""Result files: one record per song, in a format chosen by the file's extension (.csv, .jsonl, .npz, .parquet).

Each format survives a crash and resumes: .csv and .jsonl through the durable appender
(`appender`, with the codecs of `csv_file` and `jsonl_file`), .npz and .parquet through part
files packed at the end (`parts`, `npz_file`, `parquet_file`). One run at a time writes a result
file (`locking`); writing and its errors are `durable`'s. `printout` holds musicnn's text lines.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .appender import DurableAppender
from .csv_file import CsvCodec
from .durable import OutputError, sibling
from .jsonl_file import JsonlCodec
from .npz_file import NpzWriter

if TYPE_CHECKING:
    from ..errors import MusicnnError
    from ..tag_result import TagResult

FORMATS = (".csv", ".jsonl", ".npz", ".parquet")


class ResultWriter(Protocol):
    """Writes one record per song. `done` maps each song already written to its status ("ok" or
    "error"); `kept_in` is where the records written so far are, until the writer is closed."""

    done: dict[str, str]
    kept_in: Path

    def write(self, name: str, result: TagResult | MusicnnError) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> ResultWriter: ...

    def __exit__(self, kind, error, traceback) -> None: ...


def open_writer(path: str | os.PathLike, model: str, columns: list[str], top_n: int = 3,
                resume: bool = False, feature_widths: dict[str, int] | None = None) -> ResultWriter:
    """A writer for the result file `path`, its format chosen by the extension (see FORMATS).

    model: the model's name, written in every record. columns: the tags to write, in order,
    each a name in the results' `tags`. top_n: how many top tags a CSV, JSONL or Parquet record
    lists. resume: keep the records already in the file (listed in `.done`) and add to them;
    otherwise the file is started afresh. feature_widths: the channels of each feature the
    records hold, which a Parquet file's columns need before its first record (see
    parquet_file.feature_widths). Raises OutputError if the file cannot be written or another run
    is writing it.
    """
    path, columns = Path(path), list(columns)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return NpzWriter(path, model, columns, resume)
    if suffix == ".parquet":
        return _parquet_writer(path, model, columns, top_n, resume, feature_widths or {})
    codec = {".csv": CsvCodec, ".jsonl": JsonlCodec}.get(suffix)
    if codec is None:
        raise OutputError(f"cannot write results to {path}: name it .csv, .jsonl, .npz or .parquet")
    return DurableAppender(path, codec(model, columns, top_n), model, resume)


def output_paths(path: str | os.PathLike) -> list[Path]:
    """The result file `path` and what is written beside it while a run goes: no input may be among them."""
    path = Path(path)
    return [path, sibling(path, ".lock"), sibling(path, ".tmp"), sibling(path, ".parts")]


def _parquet_writer(path: Path, model: str, columns: list[str], top_n: int, resume: bool,
                    feature_widths: dict[str, int]) -> ResultWriter:
    try:
        from .parquet_file import ParquetWriter
    except ImportError:
        raise OutputError(f"writing {path} needs pyarrow: pip install 'musicnn_lite[parquet]'") from None
    return ParquetWriter(path, model, columns, top_n, resume, feature_widths)
