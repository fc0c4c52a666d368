"""Tagger: a model loaded and compiled once, applied to any number of songs."""

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np

from . import zoo
from .audio import AudioSource, stream_audio
from .batch import run_songs
from .errors import MusicnnError
from .heads import HeadSource, heads_for
from .spectrum import patch_frames, step_frames, stream_log_mel, stream_patches

FeatureRequest = bool | str | Iterable[str]


@dataclass
class TagResult:
    """What a model says about one song.

    taggram: (patches, tags) tag likelihoods in [0, 1], one row per patch.
    tags: the label of each taggram column.
    features: layer name -> array whose first axis is the patch.
    heads: head name -> its tags, for a Tagger with heads: their scores follow the model's
    tags in the taggram, in columns named "HEAD:TAG"; a head's scores sum to 1 in each patch.
    """

    taggram: np.ndarray
    tags: list[str]
    features: dict[str, np.ndarray] = field(default_factory=dict)
    heads: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def likelihoods(self) -> np.ndarray:
        """Song-level likelihood of each tag, (tags,): the mean of the taggram over patches."""
        return self.taggram.mean(axis=0)

    def top(self, n: int = 3) -> list[str]:
        """The n most likely of the model's tags, most likely first (ties broken as musicnn does)."""
        model_tags = len(self.tags) - sum(map(len, self.heads.values()))
        return [self.tags[i] for i in self.likelihoods[:model_tags].argsort()[-n:][::-1]]

    def top_head_tags(self) -> list[str]:
        """The likeliest tag of each head, as "HEAD:TAG", in the order of the heads."""
        likelihoods = dict(zip(self.tags, self.likelihoods))
        return [max((f"{name}:{tag}" for tag in tags), key=likelihoods.get) for name, tags in self.heads.items()]


class Tagger:
    """One model, built and compiled once, for tagging many songs.

    model: a bundled model name (see `zoo.BUNDLED_MODELS`) or the path of a weights file.
    batch_size: most patches run through the network at once. Batches are padded to
    a power of two up to this size so that the graph is traced only a few times. On a
    CPU, 4 is as fast per patch as 64 (measured) and keeps memory low; a GPU wants more.
    precision: "float32" (exact, the default) or "bfloat16" (convolutions in bfloat16:
    about twice as fast on CPUs with AMX; approximate, see the README).
    heads: custom-tag heads (see `heads`), as Head objects or head file paths, trained on this
    model: each result then holds their tags too, after the model's (`tags` lists them all).
    The network runs once per patch whatever the number of heads.
    """

    def __init__(self, model: str | os.PathLike = "MTT_musicnn", batch_size: int = 4,
                 precision: str = "float32", heads: HeadSource | Iterable[HeadSource] = ()):
        _check_count("batch_size", batch_size, "a positive whole number, e.g. 32")
        if precision not in ("float32", "bfloat16"):
            raise MusicnnError(f"precision={precision!r} is not supported; use 'float32' or 'bfloat16'")
        weights = zoo.load_weights(model)
        from . import networks  # Keras, and with it TensorFlow, is imported only once a model is needed

        self.model_name = weights.name
        self.architecture = weights.architecture
        self.labels = list(weights.labels)
        self.feature_names = networks.FEATURES[weights.architecture]
        self.batch_size = int(batch_size)
        self.precision = precision
        self.heads = heads_for(self.model_name, self.feature_names, heads)
        self.tags = self.labels + [f"{head.name}:{tag}" for head in self.heads for tag in head.tags]
        try:
            self._network = networks.build_model(weights.architecture, weights.arrays, precision)
        except (KeyError, ValueError) as error:  # a variable missing or of the wrong shape
            raise MusicnnError(f"the weights in {model} do not fit the {weights.architecture} network ({error}); "
                               "re-convert them with `python -m musicnn_lite.convert`") from None
        self._runners = {}
        self._lock = threading.Lock()

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
        requested = self._feature_names(features)
        names = tuple(dict.fromkeys(requested + tuple(head.feature for head in self.heads)))

        def patch_source(source: AudioSource, sr: float | None):
            return lambda: stream_patches(stream_log_mel(stream_audio(source, sr)), n_frames, step)

        return self._results(run_songs(((key, patch_source(source, sr)) for key, source, sr in songs),
                                       lambda batch: self._run_batch(batch, names), self.batch_size, jobs),
                             requested)

    def _results(self, outputs: Iterator, requested: tuple[str, ...]
                 ) -> Iterator[tuple[AudioSource, TagResult | MusicnnError]]:
        for source, output in outputs:
            if isinstance(output, MusicnnError):
                yield source, output
            else:
                taggram = np.concatenate([output["taggram"], *(head.patch_scores(output[head.feature])
                                                               for head in self.heads)], axis=1)
                yield source, TagResult(taggram, list(self.tags), {name: output[name] for name in requested},
                                        {head.name: head.tags for head in self.heads})

    def _run_batch(self, patches: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Network outputs for at most batch_size patches, padded to a power of two (few traced shapes)."""
        padded = np.zeros((min(self.batch_size, 1 << (len(patches) - 1).bit_length()), *patches.shape[1:]),
                          np.float32)
        padded[:len(patches)] = patches
        with self._lock:  # one network call at a time: a Tagger may be shared by threads
            outputs = self._runner(names).predict_on_batch(padded)
        return {name: np.asarray(value)[:len(patches)] for name, value in outputs.items()}

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

    def _runner(self, names: tuple[str, ...]):
        """A compiled model with the taggram and the named features as outputs, built once per set."""
        if names not in self._runners:
            import keras

            outputs = {name: self._network.output[name] for name in ("taggram", *names)}
            runner = keras.Model(self._network.input, outputs)
            # XLA measured slower on CPU; other backends (JAX, PyTorch on GPU) choose for themselves.
            runner.compile(jit_compile=False if keras.backend.backend() == "tensorflow" else "auto")
            self._runners[names] = runner
        return self._runners[names]


def _check_count(name: str, value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise MusicnnError(f"{name}={value!r} must be {what}")
