"""The catalog behind /v1/similar and /v1/search: the songs of a result file that the CLI wrote.

A `.parquet`, `.jsonl` or `.npz` written with `--features penultimate` holds each song's
song-level tag likelihoods and embedding (the layer's mean over patches). Similar songs are
the nearest by cosine similarity of the embeddings, found by brute force: one matrix-vector
product, which benchmarks/serve.py times at 10k, 100k and 1M songs. The file is read again
whenever it changes (the CLI writes .parquet and .npz whole, through a rename; a .jsonl grows
record by record, and a last record cut short is left for the next reading).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..embeddings import song_embedding
from ..errors import MusicnnError
from ..files import readable_name

EMBEDDING = "penultimate"  # the layer a catalog's embedding is taken from, when the file has it
log = logging.getLogger("musicnn_lite.service")


@dataclass(frozen=True)
class Songs:
    """One reading of a catalog file: its tagged songs (error records left out), all of one model.

    paths: as the file names them, bytes that are not UTF-8 as `\\xNN` in every format (as Parquet
    stores them; files.readable_name). likelihoods: (songs, tags) float32, the columns named by `tags`.
    embeddings: (songs, channels) float32, each of unit length, from the layer `feature`.
    """

    model: str
    paths: list[str]
    tags: list[str]
    likelihoods: np.ndarray
    feature: str
    embeddings: np.ndarray

    @functools.cached_property
    def rows(self) -> dict[str, int]:
        """The row of each path."""
        return {path: row for row, path in enumerate(self.paths)}

    @functools.cached_property
    def rows_by_file(self) -> dict[str, int]:
        """The row of each path made absolute (a relative one from the server's working folder)."""
        return {os.path.abspath(path): row for row, path in enumerate(self.paths)}

    def similar(self, embedding: np.ndarray, n: int, leave_out: int | None = None) -> list[tuple[str, float]]:
        """The `n` songs nearest to `embedding` (channels,) by cosine similarity, nearest first, with their
        similarities; `leave_out` is a row not to list (the song asked about)."""
        scores = self.embeddings @ _unit(embedding.astype(np.float32))
        if leave_out is not None:
            scores[leave_out] = -np.inf
        return [(self.paths[row], float(scores[row]))
                for row in _highest(scores, min(n, len(scores) - (leave_out is not None)))]

    def search(self, tag: str, minimum: float, limit: int) -> tuple[int, list[tuple[str, float]]]:
        """How many songs have a likelihood of `tag` of at least `minimum`, and the `limit` likeliest of them."""
        column = self.likelihoods[:, self.tags.index(tag)]
        passing = np.flatnonzero(column >= minimum)
        return len(passing), [(self.paths[passing[i]], float(column[passing[i]]))
                              for i in _highest(column[passing], limit)]


def _highest(scores: np.ndarray, n: int) -> np.ndarray:
    """The indices of the `n` highest `scores`, highest first (ties in index order)."""
    n = max(0, min(n, len(scores)))
    top = np.argpartition(-scores, n - 1)[:n] if 0 < n < len(scores) else np.arange(n)
    return top[np.argsort(-scores[top], kind="stable")]


class Catalog:
    """A catalog file and its latest good reading (see `songs`). Raises MusicnnError if it cannot be read."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._stamp = _stamp(self.path)
        self._songs = read_catalog(self.path)
        self._reading = threading.Lock()

    def songs(self) -> Songs:
        """The songs as the file holds them now: read again if it changed since the last reading, the
        last good reading if the new one fails (a message is logged)."""
        stamp = _stamp(self.path)
        if stamp != self._stamp:
            with self._reading:
                if stamp != self._stamp:
                    try:
                        self._songs = read_catalog(self.path)
                    except MusicnnError as error:
                        log.warning("kept the catalog read before: %s", error)
                    self._stamp = stamp
        return self._songs


def read_catalog(path: Path) -> Songs:
    """The tagged songs of a .parquet, .jsonl or .npz result file (see the README's formats)."""
    readers = {".parquet": _read_parquet, ".jsonl": _read_jsonl, ".npz": _read_npz}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise MusicnnError(f"{path}: a catalog is a .parquet, .jsonl or .npz result file of musicnn_lite")
    try:
        model, paths, tags, likelihoods, features = reader(path)
    except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile) as error:
        raise MusicnnError(f"cannot read the catalog {path} ({type(error).__name__}: {error}); give a result file "
                           "written by musicnn_lite with --features penultimate") from error
    if not paths:
        raise MusicnnError(f"the catalog {path} holds no tagged songs yet; tag some into it first")
    feature = EMBEDDING if EMBEDDING in features else next(iter(features)) if len(features) == 1 else None
    if feature is None:
        have = f"only the features {', '.join(features)}" if features else "no song embeddings"
        raise MusicnnError(f"the catalog {path} has {have}; write it with --features {EMBEDDING}")
    return Songs(model, [readable_name(song) for song in paths], tags, np.asarray(likelihoods, np.float32), feature,
                 _unit(np.asarray(features[feature], np.float32)))


def _read_parquet(path: Path):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from ..results.parquet_file import FEATURE_PREFIX, result_schema

    table = pq.read_table(path)
    table = table.filter(pc.equal(table.column("status"), "ok"))
    fixed = set(result_schema([]).names)
    tags = [name for name in table.column_names if name not in fixed and not name.startswith(FEATURE_PREFIX)]
    likelihoods = np.stack([table.column(tag).to_numpy() for tag in tags], axis=1) if tags else np.zeros((0, 0))
    features = {}
    for name in table.column_names:
        if name.startswith(FEATURE_PREFIX):
            values = table.column(name).combine_chunks()
            features[name.removeprefix(FEATURE_PREFIX)] = values.flatten().to_numpy().reshape(len(values), -1)
    models = table.column("model").to_pylist()
    return models[0] if models else "", table.column("path").to_pylist(), tags, likelihoods, features


def _read_jsonl(path: Path):
    model, paths, tags, likelihoods, features = "", [], [], [], {}
    with open(path, "rb") as file:
        lines = file.read().split(b"\n")[:-1]  # the last piece, if any, is a record still being written
    for line in lines:
        record = json.loads(line.decode("utf-8", "surrogateescape"))  # names not UTF-8 are written as their bytes
        if record["status"] != "ok":
            continue
        model, tags = record["model"], tags or list(record["likelihoods"])
        paths.append(record["path"])
        likelihoods.append([record["likelihoods"][tag] for tag in tags])
        for name, values in record.get("features", {}).items():
            features.setdefault(name, []).append(values)
    return model, paths, tags, likelihoods, features


def _read_npz(path: Path):
    paths, likelihoods, features = [], [], {}
    with np.load(path) as results:
        tags = results["tags"].tolist()
        keys: dict[int, dict[str, str]] = {}  # song index -> layer -> its array's key, "INDEX/LAYER"
        for key in results.files:
            index, slash, layer = key.partition("/")
            if slash:
                keys.setdefault(int(index), {})[layer] = key
        for index, (song, status) in enumerate(zip(results["paths"].tolist(), results["status"].tolist())):
            if status != "ok":
                continue
            paths.append(song)
            for layer, key in keys[index].items():
                if layer == "taggram":
                    likelihoods.append(results[key].mean(axis=0))
                elif layer != "timestamps":
                    features.setdefault(layer, []).append(song_embedding(results[key]))
        model = str(results["model"])
    return model, paths, tags, likelihoods, features


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Each vector (last axis) scaled to unit length; a zero vector stays zero."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1)


def _stamp(path: Path) -> tuple | None:
    """What tells that a file changed: its inode, size and modification time (None if it is gone)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns
