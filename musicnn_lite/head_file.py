"""The head file: a trained head (custom tags on a model's embeddings) and its pickle-free .npz format.

A head maps the embedding of each patch, (patches, dims), to a score per tag, (patches, tags):
a softmax over the head's tags, so each row sums to 1 (a head picks one of its tags). A song's
score is the mean over its patches, as for the built-in tags. A head is one affine map, stored
with its tags, base model, feature and cross-validated metrics in an .npz file (arrays
`weights`, `bias` and a JSON `header`); head_training learns one.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .embeddings import patch_embeddings
from .errors import MusicnnError
from .files import readable_name
from .npz_archive import NpzArchive, save_npz
from .results.durable import write_atomically
from .zoo import BUNDLED_MODELS, FEATURES, ModelInfo, ModelWeights

FORMAT_VERSION = 1  # raised when a head file changes so that older versions cannot read it
DEFAULT_MODEL = "MTT_musicnn"  # the model of a run given no model and no heads
MAX_HEAD_BYTES = 64 * 2 ** 20  # a head of 1000 tags on 753 values per patch takes 3 MB


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: its arrays have no single truth value
class Head:
    """A trained head: embeddings of `feature` from `model` -> scores for `tags`.

    name: what the head's tags are prefixed with in results (`name:tag`); a loaded head is
        named after its file's stem.
    weights: (dims, tags) and bias: (tags,), the affine map applied to each patch embedding
        before the softmax.
    info: what the head file's header says beyond the above: songs_per_tag, cross_validation
        (folds, songs, accuracy, per-tag precision and recall), patch_step, files_skipped,
        library_version.
    skipped: (path, reason) of each example file that could not be read (training only).
    model_sha256: the digest of the base model's weights file when it is a user's file (its
        name, the file's stem, does not say which file); None for a bundled model.
    """

    name: str
    tags: tuple[str, ...]
    model: str
    feature: str
    weights: np.ndarray
    bias: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    skipped: tuple[tuple[str, str], ...] = ()
    model_sha256: str | None = None

    def check_base(self, model: ModelInfo | ModelWeights) -> None:
        """Raise MusicnnError unless this head reads a feature of `model`, the very model it was trained on."""
        if self.model != model.name or self.feature not in FEATURES[model.architecture]:
            raise MusicnnError(f"the head {self.name!r} was trained on {self.model}'s {self.feature} embeddings, "
                               f"not on {model.name}'s: tag with --model {self.model} (Tagger({self.model!r})), "
                               f"or train the head again on {model.name}")
        if self.model_sha256 != model.sha256:
            raise MusicnnError(f"the head {self.name!r} was trained on {_described(self.model, self.model_sha256)}, "
                               f"not on {_described(model.name, model.sha256)}: tag with the weights it was "
                               "trained on, or train the head again on these")

    def patch_scores(self, feature: np.ndarray) -> np.ndarray:
        """Scores (patches, tags), each row summing to 1, from the feature array (patches, ...)."""
        embeddings = patch_embeddings(feature)
        if embeddings.shape[1] != len(self.weights):
            raise MusicnnError(f"the head {self.name!r} reads {len(self.weights)} values per patch, but this "
                               f"{self.feature} has {embeddings.shape[1]}: it comes from another model than "
                               f"{self.model}; train the head again on it")
        logits = embeddings @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        scores = np.exp(logits)
        return scores / scores.sum(axis=1, keepdims=True)

    def song_scores(self, feature: np.ndarray) -> np.ndarray:
        """Song-level scores (tags,): the mean of `patch_scores` over patches."""
        return self.patch_scores(feature).mean(axis=0)

    def report(self) -> str:
        """The cross-validated numbers as a table, or why there are none."""
        cv = self.info["cross_validation"]
        if not cv["folds"]:
            return f"not cross-validated: {cv['reason']}"
        width = max(len(tag) for tag in (*self.tags, "tag"))
        lines = [f"cross-validated by song ({cv['folds']} folds, {cv['songs']} songs): "
                 f"accuracy {cv['accuracy']:.2f}",
                 f"{'tag':<{width}}  songs  precision  recall"]
        lines += [f"{tag:<{width}}  {self.info['songs_per_tag'][tag]:>5}  {cv['per_tag'][tag]['precision']:>9.2f}"
                  f"  {cv['per_tag'][tag]['recall']:>6.2f}" for tag in self.tags]
        return "\n".join(lines)

    def save(self, path: str | os.PathLike) -> None:
        """Write the head to `path` (.npz: arrays `weights`, `bias` and a JSON `header`), atomically."""
        header = {"format_version": FORMAT_VERSION, "tags": list(self.tags), "model": self.model,
                  "model_sha256": self.model_sha256, "feature": self.feature, **self.info}
        path = Path(path)
        arrays = {"header": np.array(json.dumps(header)), "weights": self.weights, "bias": self.bias}
        try:
            write_atomically(path, lambda temporary: save_npz(temporary, arrays))
        except OSError as error:
            raise MusicnnError(f"cannot write the head file {path} ({error.strerror or error}); "
                               "choose a path in a folder you can write to") from None


HeadOrPath = Head | str | os.PathLike  # a head, or the path of a head file


def head_list(heads: HeadOrPath | Iterable[HeadOrPath]) -> tuple[Head | str, ...]:
    """`heads` (one head or several) as a tuple of Head objects and head file paths (str)."""
    heads = [heads] if isinstance(heads, (Head, str, os.PathLike)) or not isinstance(heads, Iterable) else list(heads)
    for head in heads:
        if not isinstance(head, (Head, str, os.PathLike)):
            raise MusicnnError(f"{head!r} is not a head; pass head files (paths) or Head objects")
    return tuple(head if isinstance(head, Head) else os.fspath(head) for head in heads)


def load_heads(heads: HeadOrPath | Iterable[HeadOrPath], model: ModelInfo | ModelWeights) -> tuple[Head, ...]:
    """`heads` loaded (head files read) and checked to read a feature of `model`, and named apart (their
    names prefix their tags)."""
    heads = tuple(head if isinstance(head, Head) else load(head) for head in head_list(heads))
    for head in heads:
        head.check_base(model)
    names = [head.name for head in heads]
    if len(set(names)) < len(names):
        raise MusicnnError(f"two heads are named {max(names, key=names.count)!r}, so their tags would share "
                           "columns; rename one of the head files")
    return heads


def base_model(heads: Sequence[Head], model: str | os.PathLike | None = None) -> str | os.PathLike:
    """The model to tag with: `model` if given, else the bundled model the heads were trained on, else
    DEFAULT_MODEL. Heads trained on a user's weights file need that file given: only its stem is known."""
    if model or not heads:
        return model or DEFAULT_MODEL
    head = heads[0]
    if head.model_sha256 is not None or head.model not in BUNDLED_MODELS:
        raise MusicnnError(f"the head {head.name!r} was trained on {_described(head.model, head.model_sha256)}, "
                           f"not on a bundled model: give that file as the model (--model PATH/{head.model}.npz, "
                           "Tagger(model=PATH))")
    return head.model


def load(path: str | os.PathLike) -> Head:
    """Read a head file written by `Head.save` (or `python -m musicnn_lite.train`).

    Never unpickles anything. A missing, corrupt or inconsistent file, or one written by a
    newer musicnn_lite (a higher format version), raises MusicnnError.
    """
    path = Path(path)
    if not path.is_file():
        raise MusicnnError(f"no such head file: {path}; train one with `python -m musicnn_lite.train`")
    with NpzArchive(path, MAX_HEAD_BYTES, lambda reason: _corrupt(path, reason)) as archive:
        text, weights, bias = archive.read_text("header"), archive.read("weights"), archive.read("bias")
    try:
        header = json.loads(str(text))
    except ValueError as error:
        raise _corrupt(path, f"its header is not JSON: {error}") from None
    except RecursionError:
        raise _corrupt(path, "its header nests too deeply") from None
    version = header.get("format_version") if isinstance(header, dict) else None
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise MusicnnError(f"{path} is a head file of format {version}, written by a newer musicnn_lite; "
                           f"this version reads format {FORMAT_VERSION} and older: upgrade musicnn_lite")
    tags = header.get("tags") if isinstance(header, dict) else None
    if isinstance(tags, list) and all(isinstance(tag, str) for tag in tags):
        tags = [readable_name(tag) for tag in tags]  # those of a head trained on names that are not UTF-8
    if version != FORMAT_VERSION or not isinstance(tags, list) or len(tags) < 2 \
            or not all(isinstance(tag, str) for tag in tags) or len(set(tags)) != len(tags) \
            or not all(isinstance(header.get(key), str) for key in ("model", "feature")) \
            or not (header.get("model_sha256") is None or _is_sha256(header["model_sha256"])) \
            or weights.ndim != 2 or weights.shape[1] != len(tags) or bias.shape != (len(tags),) \
            or weights.dtype.kind != "f" or bias.dtype.kind != "f" \
            or not (np.isfinite(weights).all() and np.isfinite(bias).all()):
        raise _corrupt(path, "missing or inconsistent header, weights or bias")
    info = {key: value for key, value in header.items()
            if key not in ("format_version", "tags", "model", "model_sha256", "feature")}
    return Head(readable_name(path.stem), tuple(tags), header["model"], header["feature"], weights, bias, info,
                model_sha256=header.get("model_sha256"))


def _is_sha256(text: object) -> bool:
    return isinstance(text, str) and re.fullmatch("[0-9a-f]{64}", text) is not None


def _described(model: str, sha256: str | None) -> str:
    """A base model as a message names it: a bundled model by name, a weights file by name and digest."""
    if sha256:
        return f"the weights file {model} (sha256 {sha256[:12]}...)"
    if model in BUNDLED_MODELS:
        return f"the bundled {model}"
    return f"a weights file named {model} (which file was not recorded: the head is older than that check)"


def _corrupt(path: Path, reason: object) -> MusicnnError:
    return MusicnnError(f"{path} is not a valid head file ({reason}); train it again with "
                        "`python -m musicnn_lite.train EXAMPLES -o HEAD.npz`")
