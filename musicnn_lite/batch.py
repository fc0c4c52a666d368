"""Many songs through one network: decoding on worker threads while the network runs.

Patches of consecutive songs share batches up to a fixed size. Each song's result is
emitted, in input order, as soon as its last patch is through the network. Memory is
bounded by the batch and a few decoded blocks per song in flight, not by the number
or the length of the songs. `run_songs` takes the songs of one iterator; a
`BatchScheduler` takes songs from any thread for as long as it lives (a server's
requests), with the same batches.
"""

import functools
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import MusicnnError

BLOCKS_AHEAD = 4  # patch blocks a decoding worker may hold ready for its song
_END = object()

PatchSource = Callable[[], Iterator[np.ndarray]]
RunBatch = Callable[[np.ndarray], dict[str, np.ndarray]]
RunNamedBatch = Callable[[np.ndarray, tuple[str, ...]], dict[str, np.ndarray]]  # patches, feature names


class QueueFull(MusicnnError):
    """A BatchScheduler holds as many songs as it may: try again once some are done."""


@dataclass(eq=False)
class _Song:
    key: Any
    names: tuple[str, ...] = ()  # the features a BatchScheduler runs for it, besides the taggram
    blocks: queue.Queue = field(default_factory=lambda: queue.Queue(BLOCKS_AHEAD))
    outputs: list = field(default_factory=list)
    queued: int = 0  # patches handed to the batcher
    done: int = 0  # patches through the network
    read_all: bool = False
    error: MusicnnError | None = None

    @property
    def complete(self) -> bool:
        return self.error is not None or (self.read_all and self.done == self.queued)

    def result(self) -> dict[str, np.ndarray] | MusicnnError:
        """The error, or each output that every batch of the song gave (batches shared with other
        songs of a BatchScheduler may have given more), joined over the song's patches."""
        if self.error is not None:
            return self.error
        return {name: np.concatenate([chunk[name] for chunk in self.outputs]) for name in self.outputs[0]
                if all(name in chunk for chunk in self.outputs)}


def run_songs(songs: Iterable[tuple[Any, PatchSource]], run_batch: RunBatch, batch_size: int,
              jobs: int) -> Iterator[tuple[Any, dict[str, np.ndarray] | MusicnnError]]:
    """Yield (key, outputs) for each (key, patch source) in order; outputs maps name -> (patches, ...).

    A patch source is called on a worker thread and yields blocks of patches
    (patches, frames, 96). A song whose source raises yields a MusicnnError instead,
    and the other songs go on. If `songs` itself raises, no song is started after that, the
    songs taken before it are finished and yielded, and then its exception is raised.
    """
    stop = threading.Event()
    pending: deque[tuple[_Song, np.ndarray]] = deque()  # patches waiting for the network, in order
    unreported: deque[_Song] = deque()
    songs = iter(songs)
    songs_failure: list[Exception] = []  # what `songs` raised, raised once the songs before it are out
    with ThreadPoolExecutor(jobs, thread_name_prefix="musicnn-decode") as pool:
        decoding: deque[_Song] = deque()

        def start_next() -> None:
            if songs_failure:
                return
            try:
                key, patch_source = next(songs)
            except StopIteration:
                return
            except Exception as error:  # the caller's iterable failed: its songs so far are not lost
                songs_failure.append(error)
                return
            song = _Song(key)
            pool.submit(_decode, song, patch_source, functools.partial(_put, song.blocks, stop))
            decoding.append(song)

        try:
            for _ in range(jobs + 1):
                start_next()
            while decoding:
                song = decoding.popleft()
                unreported.append(song)
                while not song.read_all and song.error is None:
                    item = song.blocks.get()
                    if item is _END:
                        song.read_all = True
                    elif isinstance(item, MusicnnError):
                        song.error = item
                    else:
                        pending.append((song, item))
                        song.queued += len(item)
                        while sum(len(patches) for _, patches in pending) >= batch_size:
                            _run_one_batch(pending, run_batch, batch_size)
                    yield from _report_complete(unreported)
                start_next()
            while pending:
                _run_one_batch(pending, run_batch, batch_size)
            yield from _report_complete(unreported)
            if songs_failure:
                raise songs_failure[0]
        finally:
            stop.set()
            pool.shutdown(cancel_futures=True)


def _decode(song: _Song, patch_source: PatchSource, put: Callable[[Any], bool]) -> None:
    """Worker: `put` each of the song's patch blocks, then _END or the error; stops when `put` says False."""
    try:
        for block in patch_source():
            if not put(block):
                return
        item = _END
    except MusicnnError as error:
        item = error
    except Exception as error:  # a batch run loses nothing: any failure is this song's alone
        name = song.key if isinstance(song.key, (str, bytes, os.PathLike)) else "a song"
        item = MusicnnError(f"could not process {name}: {type(error).__name__}: {error}")
        item.__cause__ = error  # as `raise ... from error`: the traceback of the bug is kept
    put(item)


def _put(blocks: queue.Queue, stop: threading.Event, item) -> bool:
    while not stop.is_set():
        try:
            blocks.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _run_one_batch(pending: deque, run_batch: RunBatch, batch_size: int) -> None:
    """Run the first `batch_size` waiting patches (fewer at the end) and hand each song its rows."""
    parts = _next_batch(pending, batch_size)
    if parts:
        _hand_back(parts, run_batch(np.concatenate([patches for _, patches in parts])))


def _next_batch(pending: deque, batch_size: int) -> list[tuple[_Song, np.ndarray]]:
    """Take up to `batch_size` waiting patches, first come first, of one patch shape; skip failed songs."""
    parts: list[tuple[_Song, np.ndarray]] = []
    taken = 0
    while pending and taken < batch_size:
        song, patches = pending.popleft()
        if song.error is not None:
            continue
        if parts and patches.shape[1:] != parts[0][1].shape[1:]:  # another model input: the next batch's
            pending.appendleft((song, patches))
            break
        head, rest = patches[:batch_size - taken], patches[batch_size - taken:]
        if len(rest):
            pending.appendleft((song, rest))
        parts.append((song, head))
        taken += len(head)
    return parts


def _hand_back(parts: list[tuple[_Song, np.ndarray]], outputs: dict[str, np.ndarray]) -> None:
    """Give each song of a batch its rows of the network's outputs."""
    start = 0
    for song, patches in parts:
        song.outputs.append({name: value[start:start + len(patches)] for name, value in outputs.items()})
        song.done += len(patches)
        start += len(patches)


def _report_complete(unreported: deque) -> Iterator:
    while unreported and unreported[0].complete:
        song = unreported.popleft()
        yield song.key, song.result()


class BatchScheduler:
    """Songs submitted from any thread share one network's batches; each gets its own outputs back.

    The long-lived form of `run_songs`, for a server: each song is decoded on one of `jobs`
    worker threads, its patch blocks join one queue with every other song's, and a network
    thread runs the queue in batches of up to `batch_size` patches, first come first. It
    takes whatever is waiting as soon as the network is free, so a lone song is never held
    back for company while songs arriving together fill batches. At most `queue_size` songs
    are accepted and not yet done: one more is refused with QueueFull. Decoders wait while
    the queue holds BLOCKS_AHEAD batches' worth of patches, so memory stays bounded.
    `batches` and `patches` count what the network has run.
    """

    def __init__(self, run_batch: RunNamedBatch, batch_size: int, jobs: int, queue_size: int):
        self.batch_size, self.queue_size = batch_size, queue_size
        self.batches = self.patches = 0
        self._run_batch = run_batch
        self._pending: deque[tuple[_Song, np.ndarray]] = deque()
        self._futures: dict[_Song, Future] = {}  # the songs accepted and not yet done
        self._changed = threading.Condition()
        self._closing = False
        self._decoders = ThreadPoolExecutor(jobs, thread_name_prefix="musicnn-decode")
        self._network = threading.Thread(target=self._run, name="musicnn-network", daemon=True)
        self._network.start()

    @property
    def songs_waiting(self) -> int:
        """Songs accepted and not yet done."""
        return len(self._futures)

    def submit(self, patch_source: PatchSource, names: tuple[str, ...] = (), key: Any = None) -> Future:
        """Queue a song; returns at once. Its Future gives the network's outputs for its patches,
        name -> (patches, ...): "taggram" and `names` (perhaps more, asked for by the songs it
        shared batches with), or raises the song's MusicnnError. key names the song in errors.
        """
        with self._changed:
            if self._closing:
                raise MusicnnError("the scheduler is closed; make a new one")
            if len(self._futures) >= self.queue_size:
                raise QueueFull(f"{len(self._futures)} songs are waiting for the network, as many as the queue "
                                "holds; try again in a moment")
            song, future = _Song(key, names), Future()
            future.set_running_or_notify_cancel()  # a song taken in runs to its end: it cannot be cancelled
            self._futures[song] = future
        self._decoders.submit(_decode, song, patch_source, functools.partial(self._add, song))
        return future

    def close(self) -> None:
        """Finish the songs accepted, then stop the threads; submit() refuses songs from now on."""
        with self._changed:
            self._closing = True
            self._changed.wait_for(lambda: not self._futures)
            self._changed.notify_all()
        self._network.join()
        self._decoders.shutdown()

    def _add(self, song: _Song, item) -> bool:
        """Decoding worker: a block of the song's patches joins the queue (once there is room), or its end
        or error. False once the song has failed: its decoding stops."""
        with self._changed:
            if song.error is not None:
                return False
            if isinstance(item, np.ndarray):
                room = BLOCKS_AHEAD * self.batch_size
                self._changed.wait_for(lambda: sum(len(patches) for _, patches in self._pending) < room)
                self._pending.append((song, item))
                song.queued += len(item)
            elif isinstance(item, MusicnnError):
                song.error = item
            else:
                song.read_all = True
            done = self._take_done([song])
            self._changed.notify_all()
        _settle(done)
        return True

    def _run(self) -> None:
        """The network thread: run whatever is waiting, up to a batch, until closed with nothing left."""
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or (self._closing and not self._futures))
                if not self._pending:
                    return
                parts = _next_batch(self._pending, self.batch_size)
                self._changed.notify_all()  # room in the queue for the decoders
            if parts:
                self._run_parts(parts)

    def _run_parts(self, parts: list[tuple[_Song, np.ndarray]]) -> None:
        names = tuple(dict.fromkeys(name for song, _ in parts for name in song.names))
        try:
            outputs = self._run_batch(np.concatenate([patches for _, patches in parts]), names)
        except Exception as error:  # a failure of the network is the batch's songs' alone; the thread goes on
            failure = MusicnnError(f"the network failed on a batch: {type(error).__name__}: {error}")
            failure.__cause__ = error
            outputs = None
        with self._changed:
            if outputs is None:
                for song, _ in parts:
                    song.error = song.error or failure
            else:
                _hand_back(parts, outputs)
                self.batches += 1
                self.patches += sum(len(patches) for _, patches in parts)
            done = self._take_done(song for song, _ in parts)
            self._changed.notify_all()
        _settle(done)

    def _take_done(self, songs: Iterable[_Song]) -> list[tuple[Future, dict[str, np.ndarray] | MusicnnError]]:
        """Of `songs`, those now complete: their futures, taken from the accepted, with their results."""
        return [(self._futures.pop(song), song.result()) for song in dict.fromkeys(songs)
                if song.complete and song in self._futures]


def _settle(done: list[tuple[Future, dict[str, np.ndarray] | MusicnnError]]) -> None:
    """Give each future its result (outside the scheduler's lock: their callbacks run here)."""
    for future, result in done:
        if isinstance(result, MusicnnError):
            future.set_exception(result)
        else:
            future.set_result(result)
