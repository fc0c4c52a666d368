"""Custom tags: a small classifier (a "head") on a model's embeddings, learned from folders of examples.

A head maps the embedding of each patch, (patches, dims), to a score per tag, (patches, tags):
a softmax over the head's tags, so each row sums to 1 (a head picks one of its tags). A song's
score is the mean over its patches, as for the built-in tags. Training standardises the
embeddings and fits a class-weighted logistic regression (chosen by measurement:
benchmarks/head_pipelines.py); both steps are affine, so a head is one affine map, stored with
its tags, base model, feature and cross-validated metrics in a pickle-free .npz file.

    head = heads.train("my_examples/")       # my_examples/happy/*.mp3, my_examples/sad/*.ogg, ...
    print(head.report())
    head.save("mood.npz")
    head = heads.load("mood.npz")
    head.song_scores(tagger.tag("song.mp3", features=[head.feature]).features[head.feature])
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import numpy as np

from .errors import MusicnnError
from .files import audio_files

if TYPE_CHECKING:
    from .tagger import Tagger

FORMAT_VERSION = 1  # raised when a head file changes so that older versions cannot read it
FOLDS = 5  # cross-validation folds, fewer when a tag has fewer songs
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
    """

    name: str
    tags: tuple[str, ...]
    model: str
    feature: str
    weights: np.ndarray
    bias: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    skipped: tuple[tuple[str, str], ...] = ()

    def check_base(self, model: str, features: tuple[str, ...]) -> None:
        """Raise MusicnnError unless this head reads a feature of `model` (a model's name and its layers)."""
        if self.model != model or self.feature not in features:
            raise MusicnnError(f"the head {self.name!r} was trained on {self.model}'s {self.feature} embeddings, "
                               f"not on {model}'s: tag with --model {self.model} (Tagger({self.model!r})), "
                               f"or train the head again on {model}")

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
                  "feature": self.feature, **self.info}
        path, temporary = Path(path), None
        try:
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as file:
                temporary = file.name
                np.savez(file, header=np.array(json.dumps(header)), weights=self.weights, bias=self.bias)
            os.replace(temporary, path)
        except OSError as error:
            if temporary:
                Path(temporary).unlink(missing_ok=True)
            raise MusicnnError(f"cannot write the head file {path} ({error.strerror or error}); "
                               "choose a path in a folder you can write to") from None


HeadSource = Head | str | os.PathLike  # a head, or the path of a head file


def head_sources(heads: HeadSource | Iterable[HeadSource]) -> tuple[Head | str, ...]:
    """`heads` (one head or several) as a tuple of Head objects and head file paths (str)."""
    heads = [heads] if isinstance(heads, (Head, str, os.PathLike)) or not isinstance(heads, Iterable) else list(heads)
    for head in heads:
        if not isinstance(head, (Head, str, os.PathLike)):
            raise MusicnnError(f"{head!r} is not a head; pass head files (paths) or Head objects")
    return tuple(head if isinstance(head, Head) else os.fspath(head) for head in heads)


def heads_for(model: str, features: tuple[str, ...], heads: HeadSource | Iterable[HeadSource]) -> tuple[Head, ...]:
    """`heads` loaded and checked to read a feature of `model` (a model's name and its layers), and
    named apart (their names prefix their tags)."""
    heads = tuple(head if isinstance(head, Head) else load(head) for head in head_sources(heads))
    for head in heads:
        head.check_base(model, features)
    names = [head.name for head in heads]
    if len(set(names)) < len(names):
        raise MusicnnError(f"two heads are named {max(names, key=names.count)!r}, so their tags would share "
                           "columns; rename one of the head files")
    return heads


def likeliest_tags(heads: Mapping[str, Iterable[str]], likelihood: Callable[[str], float]) -> list[str]:
    """The likeliest tag of each head (name -> its tags), as "HEAD:TAG", given the song-level
    likelihood of each "HEAD:TAG" column."""
    return [max((f"{name}:{tag}" for tag in tags), key=likelihood) for name, tags in heads.items()]


def patch_embeddings(feature: np.ndarray) -> np.ndarray:
    """One vector per patch, (patches, channels): a feature with more axes (e.g. cnn1's
    (patches, 187, 64)) is averaged over all but its first and last."""
    feature = np.asarray(feature, dtype=np.float32)
    return feature.reshape(len(feature), -1, feature.shape[-1]).mean(axis=1)


def load(path: str | os.PathLike) -> Head:
    """Read a head file written by `Head.save` (or `python -m musicnn_lite.train`).

    Never unpickles anything. A missing, corrupt or inconsistent file, or one written by a
    newer musicnn_lite (a higher format version), raises MusicnnError.
    """
    path = Path(path)
    if not path.is_file():
        raise MusicnnError(f"no such head file: {path}; train one with `python -m musicnn_lite.train`")
    try:
        with zipfile.ZipFile(path) as archive:  # np.load alone would also open .npy files
            if sum(info.file_size for info in archive.infolist()) > MAX_HEAD_BYTES:
                raise ValueError(f"its arrays declare more than {MAX_HEAD_BYTES // 2 ** 20} MB")
        with np.load(path, allow_pickle=False) as archive:
            header = json.loads(str(archive["header"]))
            weights, bias = archive["weights"], archive["bias"]
    except (OSError, ValueError, KeyError, EOFError, MemoryError, zipfile.BadZipFile, zlib.error) as error:
        raise _corrupt(path, f"{type(error).__name__}: {error}") from None
    version = header.get("format_version") if isinstance(header, dict) else None
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise MusicnnError(f"{path} is a head file of format {version}, written by a newer musicnn_lite; "
                           f"this version reads format {FORMAT_VERSION} and older: upgrade musicnn_lite")
    tags = header.get("tags") if isinstance(header, dict) else None
    if version != FORMAT_VERSION or not isinstance(tags, list) or len(tags) < 2 \
            or not all(isinstance(tag, str) for tag in tags) or len(set(tags)) != len(tags) \
            or not all(isinstance(header.get(key), str) for key in ("model", "feature")) \
            or weights.ndim != 2 or weights.shape[1] != len(tags) or bias.shape != (len(tags),) \
            or weights.dtype.kind != "f" or bias.dtype.kind != "f" \
            or not (np.isfinite(weights).all() and np.isfinite(bias).all()):
        raise _corrupt(path, "missing or inconsistent header, weights or bias")
    info = {key: value for key, value in header.items() if key not in ("format_version", "tags", "model", "feature")}
    return Head(path.stem, tuple(tags), header["model"], header["feature"], weights, bias, info)


def _corrupt(path: Path, reason: object) -> MusicnnError:
    return MusicnnError(f"{path} is not a valid head file ({reason}); train it again with "
                        "`python -m musicnn_lite.train EXAMPLES -o HEAD.npz`")


def train(examples: str | os.PathLike, model: str | os.PathLike | Tagger = "MSD_musicnn",
          feature: str = "max_pool", input_overlap: float | bool = False, jobs: int = 2,
          progress: bool = False) -> Head:
    """Learn a head from `examples`, a folder holding one folder per tag (nested folders allowed).

    model: the base model's name or weights path, or a Tagger already built (reused).
    feature: the layer whose per-patch embedding the head reads ("max_pool": 753 per patch).
    input_overlap: the step between patch starts in seconds, as in Tagger.tag; False: 3 s.
    jobs: audio decoding threads. progress: a progress bar on stderr (when it is a terminal),
    and a line there for each file that cannot be read. Such files are skipped and listed in
    the head's `skipped`; training goes on.
    Songs are cross-validated in up to 5 folds grouped by song (`Head.report()`); a tag with
    fewer than 2 songs leaves the head unmeasured but trained.
    """
    from .tagger import Tagger

    folders = _tag_folders(Path(examples))
    tagger = model if isinstance(model, Tagger) else Tagger(model)
    embeddings, skipped = _embed(tagger, folders, feature, input_overlap, jobs, progress)
    tags = sorted(folders)
    for tag in tags:
        if not embeddings[tag]:
            reason = next(reason for path, reason in skipped if path in folders[tag])
            raise MusicnnError(f"no readable audio in the folder of tag {tag!r}: none of its {len(folders[tag])} "
                               f"files could be read (e.g. {reason}); add audio files that play")
    songs = [(tags.index(tag), song) for tag in tags for song in embeddings[tag]]
    weights, bias = _fit(songs)
    from . import __version__

    info = {"songs_per_tag": {tag: len(embeddings[tag]) for tag in tags},
            "cross_validation": _cross_validate(songs, tags),
            "patch_step": float(input_overlap or 3), "files_skipped": len(skipped), "library_version": __version__}
    return Head(Path(examples).resolve().name, tuple(tags), tagger.model_name, feature, weights, bias, info,
                tuple(skipped))


def _tag_folders(examples: Path) -> dict[str, list[str]]:
    """Tag name -> audio files below its folder; at least two tags, each with audio files."""
    if not examples.is_dir():
        raise MusicnnError(f"{examples} is not a folder; give a folder that holds one folder of audio per tag")
    folders = {entry.name: audio_files([str(entry)]) for entry in sorted(examples.iterdir())
               if entry.is_dir() and not entry.name.startswith(".")}
    if len(folders) < 2:
        raise MusicnnError(f"{examples} holds {len(folders)} tag folder{'s' * (len(folders) != 1)}; a head needs "
                           "at least two: one folder of examples per tag, e.g. happy/ and sad/")
    for tag, files in folders.items():
        if not files:
            raise MusicnnError(f"the folder of tag {tag!r} ({examples / tag}) holds no audio files "
                               "(.wav, .mp3, .ogg, ...); add examples of that tag to it")
    return folders


def _embed(tagger: Tagger, folders: dict[str, list[str]], feature: str, input_overlap: float | bool,
           jobs: int, progress: bool) -> tuple[dict[str, list[np.ndarray]], list[tuple[str, str]]]:
    """Per tag, each readable song's patch embeddings (patches, dims); and (path, reason) of the rest."""
    from tqdm import tqdm

    tag_of = {path: tag for tag, paths in folders.items() for path in paths}
    embeddings: dict[str, list[np.ndarray]] = {tag: [] for tag in folders}
    skipped = []
    patch_step = input_overlap or 3
    audio_seconds, start = 0.0, time.monotonic()
    with tqdm(total=len(tag_of), unit="file", file=sys.stderr, disable=None if progress else True) as bar:
        for path, result in tagger.tag_many(list(tag_of), input_overlap=input_overlap, features=[feature],
                                            jobs=jobs):
            if isinstance(result, MusicnnError):
                reason = " ".join(str(result).split())
                skipped.append((path, reason))
                if progress:
                    bar.write(f"skipped: {reason if path in reason else f'{path}: {reason}'}", file=sys.stderr)
            else:
                embeddings[tag_of[path]].append(patch_embeddings(result.features[feature]))
                audio_seconds += len(result.taggram) * patch_step
            bar.set_postfix_str(f"{audio_seconds / (time.monotonic() - start):.0f} audio-s/s", refresh=False)
            bar.update()
    return embeddings, skipped


def _pipeline():
    """Standardisation, then logistic regression with class weights inversely proportional to the
    patches per tag (unbalanced folders): the best or tied-best pipeline in benchmarks/head_pipelines.py."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000))


def _patches(songs: list[tuple[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Stacked patch embeddings (patches, dims) and the tag index of each patch."""
    return (np.concatenate([patches for _, patches in songs]),
            np.concatenate([np.full(len(patches), tag) for tag, patches in songs]))


def _fit(songs: list[tuple[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Train the pipeline on every patch; return it as one affine map: weights (dims, tags), bias (tags,)."""
    pipeline = _pipeline().fit(*_patches(songs))
    scaler, classifier = pipeline[0], pipeline[-1]
    coef, intercept = classifier.coef_, classifier.intercept_
    if len(classifier.classes_) == 2:  # one logit z for the second tag; softmax([-z/2, z/2]) = sigmoid(z)
        coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-intercept[0], intercept[0]]) / 2
    weights = (coef / scaler.scale_).T
    return weights.astype(np.float32), (intercept - scaler.mean_ @ weights).astype(np.float32)


def _cross_validate(songs: list[tuple[int, np.ndarray]], tags: list[str]) -> dict[str, Any]:
    """Song-level accuracy and per-tag precision/recall of heads trained without the song, in up
    to FOLDS folds grouped by song (a song's patches never sit on both sides of a fold)."""
    from sklearn.metrics import precision_recall_fscore_support
    from sklearn.model_selection import StratifiedGroupKFold

    truth = np.array([tag for tag, _ in songs])
    counts = np.bincount(truth, minlength=len(tags))
    folds = min(FOLDS, int(counts.min()))
    if folds < 2:
        return {"folds": 0, "reason": f"tag {tags[counts.argmin()]!r} has {counts.min()} song; cross-validation "
                                      "needs at least 2 songs per tag (5 or more for 5 folds)"}
    X, y = _patches(songs)
    groups = np.concatenate([np.full(len(patches), song) for song, (_, patches) in enumerate(songs)])
    predicted = np.empty(len(songs), dtype=int)
    for train_patches, test_patches in StratifiedGroupKFold(folds, shuffle=True, random_state=0).split(X, y, groups):
        pipeline = _pipeline().fit(X[train_patches], y[train_patches])
        scores = pipeline.predict_proba(X[test_patches])
        for song in np.unique(groups[test_patches]):
            predicted[song] = pipeline.classes_[scores[groups[test_patches] == song].mean(axis=0).argmax()]
    precision, recall, _, _ = precision_recall_fscore_support(truth, predicted, labels=range(len(tags)),
                                                              zero_division=0)
    return {"folds": folds, "songs": len(songs), "accuracy": float((predicted == truth).mean()),
            "per_tag": {tag: {"precision": float(p), "recall": float(r)}
                        for tag, p, r in zip(tags, precision, recall)}}
