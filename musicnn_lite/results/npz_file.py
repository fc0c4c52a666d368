"""The .npz result file: every song's taggram and features, staged as one part file per song, packed at the end.

An .npz is a zip archive, which cannot be appended to safely. So each song's record goes to a
folder beside it (OUT.npz.parts/, one small .npz per song: see parts), and `close()`
packs the parts into OUT.npz, again through a temporary file and a rename, then removes the
folder. A run stopped by an exception keeps its parts; a resumed run takes them up, or adds to a
finished OUT.npz. Parts and finished files are read as NpzArchive reads any .npz: never
unpickled, every array checked before it is read, anything damaged refused in one line.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import MusicnnError, one_line
from ..npz_archive import NpzArchive, save_npz
from .parts import PackedAtClose
from .resume import cannot_resume, check_features, check_model, refused_part

if TYPE_CHECKING:
    from ..tag_result import TagResult


class NpzWriter(PackedAtClose):
    """An .npz archive of every song's taggram and features, packed at the end from per-song parts.

    Arrays in the finished file: "model" (str), "tags" (columns,), "paths" (songs,), "status"
    (songs,) "ok" or "error", "errors" (songs,) the error message or "", and for each song i
    that was tagged "i/taggram" (patches, columns), "i/timestamps" (patches,) the start of each
    patch in seconds, plus "i/<feature>" (patches, ...) for each feature. Songs are in the order
    they were written. The zip comment names the run that packed it (see parts). features: the
    names of the features this run's records hold, which a resumed file's must be too. `done`
    maps each song already written to its status; `kept_in` is the parts folder, where they are
    until `close()`.
    """

    extension = ".npz"

    def __init__(self, path: Path, model: str, columns: list[str], resume: bool, features: Iterable[str] = ()):
        self.path, self.model, self.columns, self._features = path, model, columns, tuple(features)
        self._start(resume)

    def write(self, name: str, result: TagResult | MusicnnError) -> None:
        """Add the record of song `name`: its TagResult, or the MusicnnError that stopped it."""
        arrays = {"path": name, "model": self.model}
        if isinstance(result, MusicnnError):
            arrays.update(status="error", error=one_line(result))
        else:
            arrays.update(status="ok", error="", taggram=result.taggram[:, result.column_indices(self.columns)],
                          timestamps=result.timestamps,
                          **{f"feature/{feature}": values for feature, values in result.features.items()})
        self._write_part(arrays)

    def _finished_run(self) -> str:
        with self._archive(self.path) as finished:
            return finished.comment.decode("utf-8", "replace").removeprefix(_RUN_COMMENT)

    def _take_up(self, stored: list[Path], finished_too: bool) -> None:
        for part in stored:
            with self._archive(part) as arrays:
                fields = _part_fields(arrays, self._invalid(part))
                check_model(self.path, fields["model"], self.model)
                if fields["status"] == "ok":
                    check_features(self.path, _features_in(arrays.headers, "feature/"), self._features)
                self.done[fields["path"]] = fields["status"]
        if finished_too:
            with self._archive(self.path) as finished:
                self._import_songs(finished, self._invalid(self.path))

    def _write_part(self, arrays: dict) -> None:
        self._staged.add(lambda path: save_npz(path, arrays))
        self.done[arrays["path"]] = arrays["status"]

    def _pack(self, temporary: Path, run: str) -> None:
        listing = {"paths": [], "status": [], "errors": []}
        with zipfile.ZipFile(temporary, "w", allowZip64=True) as archive:
            archive.comment = f"{_RUN_COMMENT}{run}".encode()
            for index, part in enumerate(self._staged.parts):
                with self._archive(part) as arrays:
                    fields = _part_fields(arrays, self._invalid(part))
                    for key, field in (("paths", "path"), ("status", "status"), ("errors", "error")):
                        listing[key].append(fields[field])
                    for key in arrays.headers:
                        if key in _SONG_ARRAYS or key.startswith("feature/"):
                            _put_array(archive, f"{index}/{key.removeprefix('feature/')}", arrays.read(key))
            _put_array(archive, "model", np.array(self.model))
            _put_array(archive, "tags", np.array(self.columns))
            for key, values in listing.items():
                _put_array(archive, key, np.array(values, dtype=str))

    def _archive(self, path: Path) -> NpzArchive:
        """The part or finished file `path`, opened and checked. Its arrays are stored whole (as this writer
        writes them), so they cannot add up to more than the file holds."""
        return NpzArchive(path, max(path.stat().st_size, 2 ** 20), self._invalid(path))

    def _invalid(self, path: Path) -> Callable[[str], MusicnnError]:
        """What makes the error for anything wrong with the part or finished file `path`."""
        if path == self.path:
            return lambda reason: cannot_resume(self.path, f"it is not a musicnn_lite result file ({reason})")
        return lambda reason: refused_part(self.path, path, f"is not a part musicnn_lite wrote ({reason})")

    def _import_songs(self, finished: NpzArchive, invalid: Callable[[str], MusicnnError]) -> None:
        """Copy the songs of a finished OUT.npz that the parts lack into parts, to be packed again."""
        model = _text(finished, "model", invalid)
        listing = [finished.read_text(key) for key in ("paths", "status", "errors")]
        if "tags" not in finished.headers or len({array.shape for array in listing}) != 1 or listing[0].ndim != 1 \
                or not set(listing[1].tolist()) <= {"ok", "error"}:
            raise invalid("its tags, paths, status and errors do not make one list of songs")
        paths, status, errors = (array.tolist() for array in listing)
        check_model(self.path, model, self.model)
        arrays_of_song = {}  # song index -> {layer: key}
        for key in finished.headers:
            index, slash, layer = key.partition("/")
            if slash:
                if not index.isdigit() or int(index) >= len(paths):
                    raise invalid(f"{key!r} is the array of no song")
                arrays_of_song.setdefault(int(index), {})[layer] = key
        for index, (name, state, error) in enumerate(zip(paths, status, errors)):
            layers = arrays_of_song.get(index, {})
            if state == "ok":
                check_features(self.path, _features_in(layers, ""), self._features)
            if name not in self.done:
                arrays = {"path": name, "model": self.model, "status": state, "error": error}
                for layer, key in layers.items():
                    arrays[layer if layer in _SONG_ARRAYS else f"feature/{layer}"] = finished.read(key)
                self._write_part(arrays)


_SONG_ARRAYS = ("taggram", "timestamps")  # a song's arrays in an .npz besides its features
_RUN_COMMENT = "musicnn_lite run "  # the packed file's zip comment: this, then the id of the run that packed it


def _part_fields(arrays: NpzArchive, invalid: Callable[[str], MusicnnError]) -> dict[str, str]:
    """A part's path, model, status ("ok" or "error") and error."""
    fields = {name: _text(arrays, name, invalid) for name in ("path", "model", "status", "error")}
    if fields["status"] not in ("ok", "error"):
        raise invalid(f"its status is {fields['status']!r}, not 'ok' or 'error'")
    return fields


def _text(arrays: NpzArchive, name: str, invalid: Callable[[str], MusicnnError]) -> str:
    """The one string that array `name` holds."""
    text = arrays.read_text(name)
    if text.shape:
        raise invalid(f"{name!r} is not one string")
    return str(text)


def _features_in(keys: Iterable[str], prefix: str) -> list[str]:
    """The feature names among a song's array `keys`: those starting with `prefix`, other than its taggram and
    timestamps."""
    return [key[len(prefix):] for key in keys if key.startswith(prefix) and key[len(prefix):] not in _SONG_ARRAYS]


def _put_array(archive: zipfile.ZipFile, key: str, array: np.ndarray) -> None:
    """Store one array in an .npz archive under `key`, as np.savez does, without holding the others."""
    with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
