"""Tagger: a model loaded and compiled once, applied to any number of songs."""

import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np

from . import runtimes, zoo
from .audio import AudioSource, stream_audio
from .batch import run_songs
from .errors import MusicnnError
from .spectrum import patch_frames, step_frames, stream_log_mel, stream_patches

FeatureRequest = bool | str | Iterable[str]


@dataclass
class TagResult:
    """What a model says about one song.

    taggram: (patches, tags) tag likelihoods in [0, 1], one row per patch.
    tags: the label of each taggram column.
    features: layer name -> array whose first axis is the patch.
    """

    taggram: np.ndarray
    tags: list[str]
    features: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def likelihoods(self) -> np.ndarray:
        """Song-level likelihood of each tag, (tags,): the mean of the taggram over patches."""
        return self.taggram.mean(axis=0)

    def top(self, n: int = 3) -> list[str]:
        """The n most likely tags, most likely first (ties broken as musicnn does)."""
        return [self.tags[i] for i in self.likelihoods.argsort()[-n:][::-1]]


class Tagger:
    """One model, built and compiled once, for tagging many songs.

    model: a bundled model name (see `zoo.BUNDLED_MODELS`) or the path of a weights file.
    batch_size: most patches run through the network at once. The Keras runtime pads
    batches to a power of two up to this size so that its graph is traced only a few
    times. On a CPU, 4 is as fast per patch as 64 (measured on TensorFlow) and keeps
    memory low; a GPU wants more.
    precision: "float32" (exact, the default) or "bfloat16" (convolutions in bfloat16:
    about twice as fast on CPUs with AMX; approximate, see the README).
    runtime: "auto" (ONNX Runtime whenever it can serve the request, else Keras), "onnx"
    or "keras" (the reference; TensorFlow unless KERAS_BACKEND names another backend).
    The `runtime` attribute says which one runs.
    """

    def __init__(self, model: str | os.PathLike = "MTT_musicnn", batch_size: int = 4,
                 precision: str = "float32", runtime: str = "auto"):
        _check_count("batch_size", batch_size, "a positive whole number, e.g. 32")
        if precision not in ("float32", "bfloat16"):
            raise MusicnnError(f"precision={precision!r} is not supported; use 'float32' or 'bfloat16'")
        weights = zoo.load_weights(model)
        self.model_name = weights.name
        self.architecture = weights.architecture
        self.labels = list(weights.labels)
        self.feature_names = runtimes.FEATURES[weights.architecture]
        self.batch_size = int(batch_size)
        self.precision = precision
        self._runtime = runtimes.open_runtime(weights, zoo.weights_path(model), runtime, precision, self.batch_size)
        self.runtime = self._runtime.name

    def tag(self, source: AudioSource, sr: float | None = None, input_length: float = 3,
            input_overlap: float | bool = False, features: FeatureRequest = False) -> TagResult:
        """Tag one song: a path, a file object, or a waveform array with its sample rate `sr`.

        input_length: seconds per patch (3, as the models were trained; VGG models take 3 only).
        input_overlap: as in musicnn, the step between patch starts in seconds; False = input_length.
        features: True for every layer, or the names of the layers to return.
        """
        (_, result), = self._tag_songs([(source, source, sr)], input_length, input_overlap, features, jobs=1)
        if isinstance(result, MusicnnError):
            raise result
        return result

    def tag_many(self, sources: Iterable[AudioSource], input_length: float = 3,
                 input_overlap: float | bool = False, features: FeatureRequest = False,
                 jobs: int = 2) -> Iterator[tuple[AudioSource, TagResult | MusicnnError]]:
        """Tag many songs; yields (source, result) in input order, each as soon as it is complete.

        A source is a path, a file object, or a (waveform array, sample rate) pair. Songs
        are decoded on `jobs` worker threads while the network runs, and patches of
        consecutive songs share batches. A song that fails yields (source, MusicnnError)
        in place of its result and the rest go on.
        """
        _check_count("jobs", jobs, "a positive whole number of decoding threads, e.g. 2")
        songs = ((source, *(source if isinstance(source, tuple) else (source, None))) for source in sources)
        return self._tag_songs(songs, input_length, input_overlap, features, int(jobs))

    def predict(self, patches: np.ndarray, features: Iterable[str] = ()) -> dict[str, np.ndarray]:
        """Run the network on log-mel patches (patches, frames, 96): "taggram" plus the named features."""
        names = tuple(features)
        chunks = [self._run_batch(patches[start:start + self.batch_size], names)
                  for start in range(0, len(patches), self.batch_size)]
        return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in ("taggram", *names)}

    def _tag_songs(self, songs: Iterable[tuple[Any, AudioSource, float | None]], input_length: float,
                   input_overlap: float | bool, features: FeatureRequest,
                   jobs: int) -> Iterator[tuple[AudioSource, TagResult | MusicnnError]]:
        n_frames = patch_frames(input_length)
        step = step_frames(input_overlap, n_frames)
        if self.architecture == "vgg" and input_length != 3:
            raise MusicnnError(f"the VGG models take 3-s patches only, not input_length={input_length}; "
                               "set input_length=3 or use a musicnn model")
        names = self._feature_names(features)

        def patch_source(source: AudioSource, sr: float | None):
            return lambda: stream_patches(stream_log_mel(stream_audio(source, sr)), n_frames, step)

        return self._results(run_songs(((key, patch_source(source, sr)) for key, source, sr in songs),
                                       lambda batch: self._run_batch(batch, names), self.batch_size, jobs))

    def _results(self, outputs: Iterator) -> Iterator[tuple[AudioSource, TagResult | MusicnnError]]:
        for source, output in outputs:
            if isinstance(output, MusicnnError):
                yield source, output
            else:
                yield source, TagResult(output.pop("taggram"), list(self.labels), output)

    def _run_batch(self, patches: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Network outputs for at most batch_size patches (patches, frames, 96)."""
        return self._runtime.run(patches, names)

    def _feature_names(self, features: FeatureRequest) -> tuple[str, ...]:
        if features is True:
            return self.feature_names
        if features is False or features is None:
            return ()
        names = (features,) if isinstance(features, str) else tuple(features)
        unknown = [name for name in names if name not in self.feature_names]
        if unknown:
            raise MusicnnError(f"{self.model_name} has no feature {unknown[0]!r}; "
                               f"choose from {', '.join(self.feature_names)}")
        return names


def _check_count(name: str, value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise MusicnnError(f"{name}={value!r} must be {what}")
