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
from typing import TYPE_CHECKING, Iterable

import numpy as np
import pyarrow as pa

from .errors import MusicnnError
from .spectrum import N_MELS, PATCH_SECONDS, patch_frames

if TYPE_CHECKING:
    from .tagger import Tagger, TagResult

FEATURE_PREFIX = "features."


def result_schema(tagger: Tagger, features: Iterable[str] = ()) -> pa.Schema:
    """The columns of `tagger`'s rows with `features`; each feature's width is measured on one blank patch."""
    features = tuple(features)
    widths = {}
    if features:
        outputs = tagger.predict(np.zeros((1, patch_frames(PATCH_SECONDS), N_MELS), np.float32), features)
        widths = {name: outputs[name].shape[-1] for name in features}
    return pa.schema([
        pa.field("path", pa.string(), nullable=False),
        ("model", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("top_tags", pa.list_(pa.string())),
        *((tag, pa.float32()) for tag in tagger.labels),
        *((FEATURE_PREFIX + name, pa.list_(pa.float32(), width)) for name, width in widths.items()),
    ])


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
