""".npz archives: reading ones that may be damaged or hostile (never unpickles, never allocates what it has
not checked), and writing them under any file name.

Weights files, head files and result parts are all .npz archives. Each array's .npy header is
read first, and the archive is refused if any entry is not a plain array of the size it
declares, or if their sizes add up to more than a bound; only then are arrays decompressed
(CRC-checked by zipfile).
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from collections.abc import Callable

import numpy as np

from .errors import MusicnnError

ArrayHeader = tuple[tuple[int, ...], np.dtype]  # shape, dtype
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_READ_ERRORS = (OSError, ValueError, zipfile.BadZipFile, zlib.error, EOFError)


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` as an uncompressed .npz at `path`, whatever its extension (np.savez would add ".npz")."""
    with open(path, "wb") as file:
        np.savez(file, **arrays)


class NpzArchive:
    """An open .npz archive whose array headers (`headers`: name -> (shape, dtype)) have been checked.

    invalid(reason) makes the MusicnnError raised for anything wrong with the file, so that
    each kind of file explains itself in its own words. `comment` is the zip archive's comment
    (bytes). Use it as a context manager.
    """

    def __init__(self, path: str | os.PathLike, max_bytes: int, invalid: Callable[[str], MusicnnError]):
        self._invalid = invalid
        try:
            self._zip = zipfile.ZipFile(path)  # never np.load: it would also open .npy files and pickles
        except _READ_ERRORS as error:
            raise invalid(f"not an .npz archive: {error}") from error
        self.comment = self._zip.comment
        try:
            self.headers = self._read_headers(max_bytes)
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(self, *exception) -> None:
        self._zip.close()

    def read(self, name: str) -> np.ndarray:
        """The array `name`, decompressed and CRC-checked."""
        if name not in self.headers:
            raise self._invalid(f"no {name!r} array")
        try:
            with self._zip.open(f"{name}.npy") as member:
                return np.lib.format.read_array(member, allow_pickle=False)
        except _READ_ERRORS as error:
            raise self._invalid(f"{name!r} is damaged: {error}") from error

    def read_text(self, name: str) -> np.ndarray:
        """The array `name`, which must hold unicode strings (a 0-d array for one string)."""
        if name in self.headers and self.headers[name][1].kind != "U":
            raise self._invalid(f"{name!r} is not text")
        return self.read(name)

    def _read_headers(self, max_bytes: int) -> dict[str, ArrayHeader]:
        headers, total = {}, 0
        for info in self._zip.infolist():
            if not info.filename.endswith(".npy"):
                raise self._invalid(f"{info.filename!r} is not an array")
            total += info.file_size
            if total > max_bytes:
                raise self._invalid(f"its arrays declare more than {max_bytes // 2 ** 20} MB")
            try:
                with self._zip.open(info) as member:
                    read_header = _HEADER_READERS.get(np.lib.format.read_magic(member))
                    if read_header is None:
                        raise ValueError("unsupported .npy version")
                    shape, _, dtype = read_header(member)
                    header_bytes = member.tell()
            except _READ_ERRORS as error:
                raise self._invalid(f"unreadable header of {info.filename!r}: {error}") from error
            if dtype.hasobject or header_bytes + math.prod(shape) * dtype.itemsize != info.file_size:
                raise self._invalid(f"{info.filename!r} is not a plain array of the size it declares")
            headers[info.filename[:-len(".npy")]] = shape, dtype
        return headers
