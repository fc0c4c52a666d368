"""The .csv result file: one row per song, its song-level likelihoods as columns.

Columns: path, model, status ("ok" or "error"), error, top_tags (';'-separated), then one column
per tag. A file name holding a comma, a quote, \\r or \\n is quoted, so that it reads back whole.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import MusicnnError, one_line
from .appender import StoredRecord, UnreadableRecord

if TYPE_CHECKING:
    from ..tag_result import TagResult


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
                          *(str(value) for value in result.likelihoods_of(self.columns))])

    def decode(self, data: bytes) -> Iterator[tuple[int, StoredRecord | None]]:
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
                yield end, StoredRecord(*row[:3])


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
