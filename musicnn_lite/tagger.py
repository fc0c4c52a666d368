"""Tagger: a model loaded and compiled once, applied to any number of songs."""

import functools
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from typing import Any

import numpy as np

from . import runtimes, zoo
from .audio import AudioSource, stream_audio
from .batch import BatchScheduler, run_songs
from .errors import MusicnnError
from .head_file import HeadOrPath, load_heads
from .memory import check_batch
from .plan import FeatureRequest, PatchPlan
from .tag_result import TagResult
from .validators import positive_int


class Tagger:
    """One model, built and compiled once, for tagging many songs.

    model: a bundled model name (see `zoo.BUNDLED_MODELS`) or the path of a weights file.
    batch_size: most patches run through the network at once. The Keras runtime pads
    batches to a power of two up to this size so that its graph is traced only a few
    times. On a CPU, 4 is as fast per patch as 64 (measured on TensorFlow) and keeps
    memory low; a GPU wants more. Each 3-s patch of a batch takes up to 34 MB while it runs
    (see memory): a batch that would take more than 3/4 of the machine's memory is refused.
    precision: "float32" (exact, the default) or "bfloat16" (convolutions in bfloat16:
    about twice as fast on CPUs with AMX; approximate, see the README).
    runtime: "auto" (ONNX Runtime whenever it can serve the request, else Keras), "onnx"
    or "keras" (the reference; TensorFlow unless KERAS_BACKEND names another backend).
    The `runtime` attribute says which one runs.
    heads: custom-tag heads (see `heads`), as Head objects or head file paths, trained on this
    model: each result then holds their tags too, after the model's (`tags` lists them all).
    The network runs once per patch whatever the number of heads.
    threads: the most CPU threads the network computes on (None: the runtime's default, one per
    core). Give it where several Taggers share a machine (a Ray actor per CPU, a server's workers),
    so that they do not start a thread per core each.

    Attributes: `labels`, the model's own tags, in the order of its outputs; `tags`, the columns
    of every result's taggram: the labels, then each head's tags as "HEAD:TAG"; `front_end`, what
    the model hears (sample rate, mel bands, the patch length it was trained on: see front_end);
    `model_name`; `model_sha256`, the digest of a user's weights file (None for a bundled model).
    """

    def __init__(self, model: str | os.PathLike = "MTT_musicnn", batch_size: int = 4,
                 precision: str = "float32", runtime: str = "auto", heads: HeadOrPath | Iterable[HeadOrPath] = (),
                 threads: int | None = None):
        positive_int("batch_size", batch_size, "32")
        if threads is not None:
            positive_int("threads", threads, "1")
        if precision not in ("float32", "bfloat16"):
            raise MusicnnError(f"precision={precision!r} is not supported; use 'float32' or 'bfloat16'")
        weights = zoo.load_weights(model)
        self.model_name = weights.name
        self.architecture = weights.architecture
        self.labels = list(weights.labels)
        self.front_end = weights.front_end
        self.feature_names = zoo.FEATURES[weights.architecture]
        self.batch_size = int(batch_size)
        self.plan()  # the model's own patches must fit in memory, batch_size at a time
        self.precision = precision
        self.model_sha256 = weights.sha256
        self.heads = load_heads(heads, weights)
        self.tags = self.labels + [f"{head.name}:{tag}" for head in self.heads for tag in head.tags]
        self.threads = threads
        self._runtime = runtimes.open_runtime(weights, zoo.weights_path(model), runtime, precision, self.batch_size,
                                              threads)
        self.runtime = self._runtime.name
        self._check_heads_fit()

    def plan(self, input_length: float | None = None, input_overlap: float | bool = False,
             features: FeatureRequest = False) -> PatchPlan:
        """The checked patching plan of these options for this model (see `tag`); its patches must fit in
        memory, batch_size at a time (see memory)."""
        plan = PatchPlan.build(self.front_end, self.architecture, input_length, input_overlap, features,
                               self.model_name)
        check_batch(self.batch_size, plan)
        return plan

    def tag(self, source: AudioSource, sr: float | None = None, input_length: float | None = None,
            input_overlap: float | bool = False, features: FeatureRequest = False) -> TagResult:
        """Tag one song: a path, a file object, or a waveform array with its sample rate `sr`.

        input_length: seconds per patch; left out, the length the model was trained on (3 s for
        musicnn 0.1.0's models; its musicnn models take other lengths, the others only their own).
        input_overlap: as in musicnn, the step between patch starts in seconds; False = input_length.
        features: True for every layer, or the names of the layers to return.
        """
        plan = self.plan(input_length, input_overlap, features)
        (_, result), = self._tag_songs([(source, source, sr)], plan, jobs=1)
        if isinstance(result, MusicnnError):
            raise result
        return result

    def tag_many(self, sources: Iterable[AudioSource], input_length: float | None = None,
                 input_overlap: float | bool = False, features: FeatureRequest = False,
                 jobs: int = 2, *, plan: PatchPlan | None = None,
                 ) -> Iterator[tuple[AudioSource, TagResult | MusicnnError]]:
        """Tag many songs; yields (source, result) in input order, each as soon as it is complete.

        A source is a path, a file object, or a (waveform array, sample rate) pair. Songs
        are decoded on `jobs` worker threads while the network runs, and patches of
        consecutive songs share batches. A song that fails yields (source, MusicnnError)
        in place of its result and the rest go on. If `sources` itself raises (a generator
        that fails), the songs taken from it before are tagged and yielded, then its exception
        is raised. Options are checked here, before any song is read. plan: a plan from
        `Tagger.plan`, in place of input_length, input_overlap and features (which are then
        ignored).
        """
        plan = self._own_plan(plan) if plan else self.plan(input_length, input_overlap, features)
        jobs = positive_int("jobs", jobs, "2 decoding threads")
        songs = ((source, *(source if isinstance(source, tuple) else (source, None))) for source in sources)
        return self._tag_songs(songs, plan, jobs)

    def scheduler(self, jobs: int = 2, queue_size: int = 64) -> "TagScheduler":
        """A scheduler for songs submitted from many threads (a server's requests), whose patches
        share this Tagger's network batches: see TagScheduler. jobs: decoding threads;
        queue_size: most songs accepted and not yet done."""
        return TagScheduler(self, positive_int("jobs", jobs, "2 decoding threads"),
                            positive_int("queue_size", queue_size, "64 songs"))

    def predict(self, patches: np.ndarray, features: FeatureRequest = ()) -> dict[str, np.ndarray]:
        """The network's outputs for patches as the model's front-end makes them (`front_end.patches`).

        patches: (patches, frames, mel bands) float32; for musicnn 0.1.0's models the log-mel
        patches of `spectrum.to_patches`. features: layer names (True for all).
        Returns "taggram" (patches, tags) and each named feature, patch on the first axis.
        """
        names = self.plan(features=features).features
        chunks = [self._run_batch(patches[start:start + self.batch_size], names)
                  for start in range(0, len(patches), self.batch_size)]
        return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in ("taggram", *names)}

    def _own_plan(self, plan: PatchPlan) -> PatchPlan:
        """`plan`, if it was built for this model's architecture and front-end, and its patches fit in memory
        batch_size at a time."""
        if plan.architecture != self.architecture or plan.front_end != self.front_end:
            raise MusicnnError(f"the plan is for a {plan.architecture} model, not {self.model_name}; "
                               "build it with this Tagger's plan()")
        check_batch(self.batch_size, plan)
        return plan

    def _tag_songs(self, songs: Iterable[tuple[Any, AudioSource, float | None]], plan: PatchPlan,
                   jobs: int) -> Iterator[tuple[AudioSource, TagResult | MusicnnError]]:
        names = self._output_names(plan)
        outputs = run_songs(((key, functools.partial(self._patches, plan, source, sr)) for key, source, sr in songs),
                            lambda batch: self._run_batch(batch, names), self.batch_size, jobs)
        for source, output in outputs:
            yield source, output if isinstance(output, MusicnnError) else self._result(output, plan)

    def _patches(self, plan: PatchPlan, source: AudioSource, sr: float | None) -> Iterator[np.ndarray]:
        """A song's patch blocks (patches, frames, mel bands), decoded as they are asked for (on a decoding thread)."""
        audio = stream_audio(source, sr, rate=self.front_end.sample_rate)
        return self.front_end.patches(audio, plan.patch_length, plan.step)

    def _output_names(self, plan: PatchPlan) -> tuple[str, ...]:
        """The features the network returns for `plan`: the plan's and the heads'."""
        return tuple(dict.fromkeys(plan.features + tuple(head.feature for head in self.heads)))

    def _result(self, output: dict[str, np.ndarray], plan: PatchPlan) -> TagResult:
        """The TagResult of a song from the network's outputs for its patches."""
        taggram = np.concatenate([output["taggram"], *(head.patch_scores(output[head.feature])
                                                       for head in self.heads)], axis=1)
        return TagResult(taggram, list(self.tags), {name: output[name] for name in plan.features},
                         plan.timestamps(len(taggram)), {head.name: head.tags for head in self.heads},
                         plan.patch_seconds)

    def _check_heads_fit(self) -> None:
        """Raise MusicnnError unless each head reads as many values per patch as its feature has here (a head
        named after this model may come from another model of that name), found on one blank patch."""
        if not self.heads:
            return
        plan = self.plan()
        outputs = self._run_batch(np.zeros((1, *plan.input_shape), np.float32), self._output_names(plan))
        for head in self.heads:
            head.patch_scores(outputs[head.feature])

    def _run_batch(self, patches: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Network outputs for at most batch_size patches (patches, frames, 96)."""
        return self._runtime.run(patches, names)


class TagScheduler:
    """Songs from many threads tagged together: their patches share one Tagger's network batches.

    Made by `Tagger.scheduler`. `submit` returns at once with a Future; decoding runs on the
    scheduler's threads and the network on its own, taking whatever patches are waiting as
    soon as it is free (see batch.BatchScheduler). `close` finishes the songs accepted.
    """

    def __init__(self, tagger: Tagger, jobs: int, queue_size: int):
        self.tagger = tagger
        self._batches = BatchScheduler(tagger._run_batch, tagger.batch_size, jobs, queue_size)

    def submit(self, source: AudioSource, sr: float | None = None, *,
               plan: PatchPlan | None = None) -> "Future[TagResult]":
        """Queue one song (as `Tagger.tag` takes it; plan: from `Tagger.plan`, by default its defaults).

        The Future gives its TagResult, or raises the MusicnnError that stopped it. Raises
        batch.QueueFull at once when queue_size songs are waiting.
        """
        tagger = self.tagger
        plan = tagger._own_plan(plan) if plan else tagger.plan()
        outputs = self._batches.submit(functools.partial(tagger._patches, plan, source, sr),
                                       tagger._output_names(plan), source)
        result: Future[TagResult] = Future()
        result.set_running_or_notify_cancel()
        outputs.add_done_callback(functools.partial(_make_result, result, tagger, plan))
        return result

    @property
    def counts(self) -> dict[str, int]:
        """What the scheduler holds and has run: songs waiting, network batches and patches run."""
        return {"waiting": self._batches.songs_waiting, "batches": self._batches.batches,
                "patches": self._batches.patches}

    def close(self) -> None:
        """Finish the songs accepted, then stop the scheduler's threads."""
        self._batches.close()


def _make_result(result: Future, tagger: Tagger, plan: PatchPlan, outputs: Future) -> None:
    """Settle `result` with the TagResult made of a song's network `outputs` (or their error)."""
    try:
        result.set_result(tagger._result(outputs.result(), plan))
    except Exception as error:  # the song's MusicnnError, or a failure making its result: the song's alone
        result.set_exception(error)
