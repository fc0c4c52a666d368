"""The .npz result file: every song's taggram and features, staged as one part file per song, packed at the end.

An .npz is a zip archive, which cannot be appended to safely. So each song's record goes to a
folder beside it (OUT.npz.parts/, one small .npz per song: see parts), and `close()`
packs the parts into OUT.npz, again through a temporary file and a rename, then removes the
folder. A run stopped by an exception
keeps its parts; a resumed run takes them up, or adds to a finished OUT.npz.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import MusicnnError, one_line
from ..npz_archive import save_npz
from .durable import refuse_read_only
from .parts import PackedAtClose, PartFolder
from .resume import check_model

if TYPE_CHECKING:
    from ..tag_result import TagResult


class NpzWriter(PackedAtClose):
    """An .npz archive of every song's taggram and features, packed at the end from per-song parts.

    Arrays in the finished file: "model" (str), "tags" (columns,), "paths" (songs,), "status"
    (songs,) "ok" or "error", "errors" (songs,) the error message or "", and for each song i
    that was tagged "i/taggram" (patches, columns), "i/timestamps" (patches,) the start of each
    patch in seconds, plus "i/<feature>" (patches, ...) for each feature. Songs are in the order
    they were written. `done` maps each song already written to its status; `kept_in` is the
    parts folder, where they are until `close()`.
    """

    def __init__(self, path: Path, model: str, columns: list[str], resume: bool):
        self.path, self.model, self.columns = path, model, columns
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

    def _open(self, resume: bool) -> None:
        refuse_read_only(self.path)
        finished = self._open_finished_file() if resume and self.path.exists() else None
        self._staged = PartFolder(self.path, ".npz", resume)
        for part in self._staged.parts:
            with np.load(part) as arrays:
                check_model(self.path, str(arrays["model"]), self.model)
                self.done[str(arrays["path"])] = str(arrays["status"])
        if finished is not None:
            with finished:
                self._import_songs(finished)

    def _write_part(self, arrays: dict) -> None:
        self._staged.add(lambda path: save_npz(path, arrays))
        self.done[arrays["path"]] = arrays["status"]

    def _pack(self, temporary: Path) -> None:
        listing = {"paths": [], "status": [], "errors": []}
        with zipfile.ZipFile(temporary, "w", allowZip64=True) as archive:
            for index, part in enumerate(self._staged.parts):
                with np.load(part) as arrays:
                    for key, field in (("paths", "path"), ("status", "status"), ("errors", "error")):
                        listing[key].append(str(arrays[field]))
                    for key in arrays.files:
                        if key in _SONG_ARRAYS or key.startswith("feature/"):
                            _put_array(archive, f"{index}/{key.removeprefix('feature/')}", arrays[key])
            _put_array(archive, "model", np.array(self.model))
            _put_array(archive, "tags", np.array(self.columns))
            for key, values in listing.items():
                _put_array(archive, key, np.array(values, dtype=str))

    def _open_finished_file(self):
        """The finished OUT.npz of an earlier run (an open NpzFile), checked to be of this model."""
        try:
            finished = np.load(self.path)
            model = str(finished["model"])
            if not {"tags", "paths", "status", "errors"} <= set(finished.files):
                raise KeyError("paths, status, errors or tags")
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            raise MusicnnError(f"{self.path} cannot be resumed: it is not a musicnn_lite result file ({error}); "
                               "choose another --output file") from None
        if model != self.model:
            finished.close()
            check_model(self.path, model, self.model)  # raises, naming both models
        return finished

    def _import_songs(self, finished) -> None:
        """Copy the songs of a finished OUT.npz that the parts lack into parts, to be packed again."""
        arrays_of_song = {}  # song index -> {layer: key}
        for key in finished.files:
            index, slash, layer = key.partition("/")
            if slash:
                arrays_of_song.setdefault(int(index), {})[layer] = key
        songs = zip(finished["paths"].tolist(), finished["status"].tolist(), finished["errors"].tolist())
        for index, (name, status, error) in enumerate(songs):
            if name not in self.done:
                arrays = {"path": name, "model": self.model, "status": status, "error": error}
                for layer, key in arrays_of_song.get(index, {}).items():
                    arrays[layer if layer in _SONG_ARRAYS else f"feature/{layer}"] = finished[key]
                self._write_part(arrays)


_SONG_ARRAYS = ("taggram", "timestamps")  # a song's arrays in an .npz besides its features


def _put_array(archive: zipfile.ZipFile, key: str, array: np.ndarray) -> None:
    """Store one array in an .npz archive under `key`, as np.savez does, without holding the others."""
    with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
