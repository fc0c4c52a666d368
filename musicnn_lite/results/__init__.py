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
    records hold (see embeddings.feature_widths): a resumed file must hold the same features, and
    a Parquet file's columns need their widths before its first record. A symbolic link is
    followed: the file it names is written, and what is written beside it goes beside that file.
    Raises OutputError if the file cannot be written or another run is writing it.
    """
    path, columns, feature_widths = Path(path), list(columns), feature_widths or {}
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return NpzWriter(path, model, columns, resume, list(feature_widths))
    if suffix == ".parquet":
        return _parquet_writer(path, model, columns, top_n, resume, feature_widths)
    codec = {".csv": CsvCodec, ".jsonl": JsonlCodec}.get(suffix)
    if codec is None:
        raise OutputError(f"cannot write results to {path}: name it .csv, .jsonl, .npz or .parquet")
    return DurableAppender(path, codec(model, columns, top_n), model, resume, list(feature_widths))


def output_paths(path: str | os.PathLike) -> list[Path]:
    """The result file `path` (the file a link names) and what is written beside it while a run goes: no input
    may be among them."""
    path = Path(os.path.realpath(path))
    return [path, *(sibling(path, suffix) for suffix in (".lock", ".tmp", ".parts", ".parts.tmp"))]


def _parquet_writer(path: Path, model: str, columns: list[str], top_n: int, resume: bool,
                    feature_widths: dict[str, int]) -> ResultWriter:
    try:
        from .parquet_file import ParquetWriter
    except ImportError:
        raise OutputError(f"writing {path} needs pyarrow: pip install 'musicnn_lite[parquet]'") from None
    return ParquetWriter(path, model, columns, top_n, resume, feature_widths)
