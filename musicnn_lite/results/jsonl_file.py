"""The .jsonl result file: one JSON object per line and song.

ok: {"path", "model", "status": "ok", "top_tags": [...], "likelihoods": {tag: value},
"timestamps": [start of each patch in seconds], "features": {name: [value per channel]}},
features only if the result has any, each the song's embedding (see embeddings.song_embedding).
error: {"path", "model", "status": "error", "error": message}.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from ..embeddings import song_embedding
from ..errors import MusicnnError, one_line
from .appender import StoredRecord, UnreadableRecord

if TYPE_CHECKING:
    from ..tag_result import TagResult


def song_record(name: str, model: str, result: TagResult | MusicnnError, columns: list[str], top_n: int) -> dict:
    """The JSON object of song `name`: its TagResult's top tags, likelihoods of `columns`, timestamps and
    song-level features, or the error that stopped it. Values are float32, written as the shortest
    decimals that read back to the same float32."""
    if isinstance(result, MusicnnError):
        return {"path": name, "model": model, "status": "error", "error": one_line(result)}
    record = {"path": name, "model": model, "status": "ok", "top_tags": result.top(top_n),
              "likelihoods": dict(zip(columns, json_floats(result.likelihoods_of(columns)))),
              "timestamps": json_floats(result.timestamps)}
    if result.features:
        record["features"] = {name: json_floats(song_embedding(values)) for name, values in result.features.items()}
    return record


class JsonlCodec:
    """One JSON object per line and song (see `song_record`)."""

    def __init__(self, model: str, columns: list[str], top_n: int):
        self.model, self.columns, self.top_n = model, columns, top_n

    def header(self) -> str:
        return ""

    def encode(self, name: str, result: TagResult | MusicnnError) -> str:
        return json.dumps(song_record(name, self.model, result, self.columns, self.top_n), ensure_ascii=False) + "\n"

    def decode(self, data: bytes) -> Iterator[tuple[int, StoredRecord | None]]:
        end = 0
        for line, text in enumerate(data.split(b"\n")[:-1], start=1):  # the last piece, if any, was cut short
            end += len(text) + 1
            try:
                record = json.loads(text.decode("utf-8", "surrogateescape"))
                features = tuple(record.get("features", {})) if record["status"] == "ok" else None
                stored = StoredRecord(record["path"], record["model"], record["status"], features)
            except (ValueError, TypeError, KeyError, AttributeError):
                raise UnreadableRecord(line, "is not a JSON object with path, model and status") from None
            yield end, stored


def json_floats(values: np.ndarray) -> list[float]:
    """float32 values as the shortest floats that read back to the same float32 (JSON-friendly)."""
    return [float(str(value)) for value in values.astype(np.float32)]
