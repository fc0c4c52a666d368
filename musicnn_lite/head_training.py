"""Learning a head from folders of examples: embeddings, a linear classifier, song-grouped cross-validation.

Training standardises the embeddings and fits a class-weighted logistic regression (chosen by
measurement: benchmarks/head_pipelines.py); both steps are affine, so the trained head is one
affine map (see head_file).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .embeddings import patch_embeddings
from .errors import MusicnnError, file_error_line, one_line
from .files import audio_files, readable_name
from .head_file import Head
from .plan import PatchPlan
from .progress import Progress
from .tagger import Tagger
from .version import __version__

FOLDS = 5  # cross-validation folds, fewer when a tag has fewer songs


def train(examples: str | os.PathLike, model: str | os.PathLike | Tagger = "MSD_musicnn",
          feature: str = "max_pool", input_overlap: float | bool = False, jobs: int = 2,
          progress: bool = False) -> Head:
    """Learn a head from `examples`, a folder holding one folder per tag (nested folders allowed).

    model: the base model's name or weights path, or a Tagger already built (reused).
    feature: the layer whose per-patch embedding the head reads ("max_pool": 753 per patch).
    input_overlap: the step between patch starts in seconds, as in Tagger.tag; False: one patch.
    jobs: audio decoding threads. progress: a progress bar on stderr (when it is a terminal),
    and a line there for each file that cannot be read. Such files are skipped and listed in
    the head's `skipped`; training goes on.
    Songs are cross-validated in up to 5 folds grouped by song (`Head.report()`); a tag with
    fewer than 2 songs leaves the head unmeasured but trained.
    """
    folders = _tag_folders(Path(examples))
    tagger = model if isinstance(model, Tagger) else Tagger(model)
    plan = tagger.plan(input_overlap=input_overlap, features=[feature])
    embeddings, skipped = _embed(tagger, folders, plan, jobs, progress)
    tags = sorted(folders)
    for tag in tags:
        if not embeddings[tag]:
            reason = next(reason for path, reason in skipped if path in folders[tag])
            raise MusicnnError(f"no readable audio in the folder of tag {tag!r}: none of its {len(folders[tag])} "
                               f"files could be read (e.g. {reason}); add audio files that play")
    songs = [(tags.index(tag), song) for tag in tags for song in embeddings[tag]]
    weights, bias = _fit(songs)
    info = {"songs_per_tag": {tag: len(embeddings[tag]) for tag in tags},
            "cross_validation": _cross_validate(songs, tags),
            "patch_step": float(input_overlap or plan.input_length), "files_skipped": len(skipped),
            "library_version": __version__}
    name = readable_name(Path(examples).resolve().name)
    return Head(name, tuple(tags), tagger.model_name, feature, weights, bias, info, tuple(skipped), tagger.model_sha256)


def _tag_folders(examples: Path) -> dict[str, list[str]]:
    """Tag name -> audio files below its folder; at least two tags, each with audio files.

    A tag is its folder's name, bytes that are not UTF-8 written as `\\xNN` (files.readable_name).
    """
    if not examples.is_dir():
        raise MusicnnError(f"{examples} is not a folder; give a folder that holds one folder of audio per tag")
    entries = [entry for entry in sorted(examples.iterdir()) if entry.is_dir() and not entry.name.startswith(".")]
    tags = [readable_name(entry.name) for entry in entries]
    twins = [(entry, tag) for entry, tag in zip(entries, tags) if tags.count(tag) > 1]
    if twins:
        raise MusicnnError(f"the folders {twins[0][0]} and {twins[1][0]} would both be the tag {twins[0][1]!r} (a "
                           "name that is not UTF-8 is read with its bytes as \\xNN); rename one of them")
    folders = {tag: audio_files([str(entry)]) for entry, tag in zip(entries, tags)}
    if len(folders) < 2:
        raise MusicnnError(f"{examples} holds {len(folders)} tag folder{'s' * (len(folders) != 1)}; a head needs "
                           "at least two: one folder of examples per tag, e.g. happy/ and sad/")
    for tag, files in folders.items():
        if not files:
            raise MusicnnError(f"the folder of tag {tag!r} ({examples / tag}) holds no audio files "
                               "(.wav, .mp3, .ogg, ...); add examples of that tag to it")
    return folders


def _embed(tagger: Tagger, folders: dict[str, list[str]], plan: PatchPlan, jobs: int,
           progress: bool) -> tuple[dict[str, list[np.ndarray]], list[tuple[str, str]]]:
    """Per tag, each readable song's patch embeddings (patches, dims); and (path, reason) of the rest."""
    tag_of = {path: tag for tag, paths in folders.items() for path in paths}
    embeddings: dict[str, list[np.ndarray]] = {tag: [] for tag in folders}
    skipped = []
    feature, = plan.features
    with Progress(len(tag_of), show=progress) as bar:
        for path, result in tagger.tag_many(list(tag_of), jobs=jobs, plan=plan):
            if isinstance(result, MusicnnError):
                skipped.append((path, one_line(result)))
                if progress:
                    bar.write(f"skipped: {file_error_line(path, result)}")
                bar.advance()
            else:
                embeddings[tag_of[path]].append(patch_embeddings(result.features[feature]))
                bar.advance(len(result.taggram) * plan.step_seconds)
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
