"""How a song's record reads in a CSV or JSON Lines result file: a codec per format.

A codec turns a TagResult (or the MusicnnError that stopped a song) into one record of text
and reads records back. It knows nothing of files: `appender.DurableAppender` writes and
resumes. The tag columns come from the caller, in the order given; a result holds a value
for each of them under the same name (`TagResult.tags`).
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Iterator, NamedTuple, Protocol

import numpy as np

from .errors import MusicnnError

if TYPE_CHECKING:
    from .tagger import TagResult


class Song(NamedTuple):
    """What resuming needs to know of a record: whose it is, which model wrote it, "ok" or "error"."""

    path: str
    model: str
    status: str


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

    def decode(self, data: bytes) -> Iterator[tuple[int, Song | None]]:
        """(byte offset where it ends, its song, None for the header) of each whole record in `data`.

        Stops before a last record cut short by a crash; raises UnreadableRecord for any other
        record it cannot read.
        """


class CsvCodec:
    """One row per song: path, model, status, error, top_tags (';'-separated), then one column per tag."""

    def __init__(self, model: str, columns: list[str], top_n: int):
        self.model, self.columns, self.top_n = model, columns, top_n
        self._header = ["path", "model", "status", "error", "top_tags", *columns]

    def header(self) -> str:
        return _csv_line(self._header)

    def encode(self, name: str, result: TagResult | MusicnnError) -> str:
        if isinstance(result, MusicnnError):
            return _csv_line([name, self.model, "error", one_line(result), "", *[""] * len(self.columns)])
        return _csv_line([name, self.model, "ok", "", ";".join(result.top(self.top_n)),
                          *(str(value) for value in likelihoods(result, self.columns))])

    def decode(self, data: bytes) -> Iterator[tuple[int, Song | None]]:
        for line, end, text in _csv_records(data):
            try:
                row = next(csv.reader([text.decode("utf-8", "surrogateescape")], strict=True))
            except csv.Error as error:
                raise UnreadableRecord(line, f"is not a CSV record ({error})") from None
            if line == 1:
                if row != self._header:
                    raise UnreadableRecord(line, "has columns other than path, model, status, error, top_tags "
                                                 "and the tags")
                yield end, None
            elif len(row) != len(self._header):
                raise UnreadableRecord(line, f"has {len(row)} fields, not the {len(self._header)} of the header")
            else:
                yield end, Song(*row[:3])


class JsonlCodec:
    """One JSON object per line and song.

    ok: {"path", "model", "status": "ok", "top_tags": [...], "likelihoods": {tag: value},
    "timestamps": [start of each patch in seconds],
    "features": {name: [value per channel]}}, features only if the result has any, each the
    mean over patches and over every other axis but the last (channels).
    error: {"path", "model", "status": "error", "error": message}.
    """

    def __init__(self, model: str, columns: list[str], top_n: int):
        self.model, self.columns, self.top_n = model, columns, top_n

    def header(self) -> str:
        return ""

    def encode(self, name: str, result: TagResult | MusicnnError) -> str:
        return json.dumps(json_record(name, result, self.model, self.columns, self.top_n), ensure_ascii=False) + "\n"

    def decode(self, data: bytes) -> Iterator[tuple[int, Song | None]]:
        end = 0
        for line, text in enumerate(data.split(b"\n")[:-1], start=1):  # the last piece, if any, was cut short
            end += len(text) + 1
            try:
                record = json.loads(text.decode("utf-8", "surrogateescape"))
                song = Song(record["path"], record["model"], record["status"])
            except (ValueError, TypeError, KeyError):
                raise UnreadableRecord(line, "is not a JSON object with path, model and status") from None
            yield end, song


def json_record(name: str, result: TagResult | MusicnnError, model: str, columns: list[str], top_n: int) -> dict:
    """The JSON Lines record of song `name` (see JsonlCodec), as a dict of JSON values."""
    if isinstance(result, MusicnnError):
        return {"path": name, "model": model, "status": "error", "error": one_line(result)}
    record = {"path": name, "model": model, "status": "ok", "top_tags": result.top(top_n),
              "likelihoods": dict(zip(columns, json_floats(likelihoods(result, columns)))),
              "timestamps": json_floats(result.timestamps)}
    if result.features:
        record["features"] = {feature: json_floats(values) for feature, values in song_features(result).items()}
    return record


def likelihoods(result: TagResult, columns: list[str]) -> np.ndarray:
    """The song-level likelihood of each of `columns`, float32, (columns,)."""
    return result.likelihoods.astype(np.float32)[column_indices(result, columns)]


def song_features(result: TagResult) -> dict[str, np.ndarray]:
    """Each feature's song-level value: the mean over patches and every other axis but the last, (channels,)."""
    return {name: values.reshape(-1, values.shape[-1]).mean(axis=0).astype(np.float32)
            for name, values in result.features.items()}


def column_indices(result: TagResult, columns: list[str]) -> list[int]:
    """Where each of `columns` is among the result's tags (its taggram columns)."""
    index = {tag: i for i, tag in enumerate(result.tags)}
    return [index[column] for column in columns]


def one_line(error: Exception) -> str:
    """The error's message on one line, whatever it holds."""
    return " ".join(str(error).split())


def json_floats(values: np.ndarray) -> list[float]:
    """float32 values as the shortest floats that read back to the same float32 (JSON-friendly)."""
    return [float(str(value)) for value in values.astype(np.float32)]


def _csv_line(fields: list[str]) -> str:
    text = io.StringIO()
    # The writer quotes any field holding a character of its line terminator: with "\r\n", every
    # \r and \n in a file name is quoted, so that the record reads back whole. It ends in "\n".
    csv.writer(text, lineterminator="\r\n").writerow(fields)
    return text.getvalue()[:-2] + "\n"


def _csv_records(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(number of its first line, byte offset of its end, its bytes) of each whole CSV record in `data`.

    A record ends at a newline outside quotes (an even count of '"' so far, as quotes inside
    a quoted field are doubled); one that the data ends inside is left out.
    """
    start = end = quotes = 0
    first_line = 1
    for number, text in enumerate(data.split(b"\n")[:-1], start=1):  # the last piece lacks its newline
        end += len(text) + 1
        quotes += text.count(b'"')
        if quotes % 2 == 0:
            yield first_line, end, data[start:end]
            start, first_line = end, number + 1
