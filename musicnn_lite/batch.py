"""Many songs through one network: decoding on worker threads while the network runs.

Patches of consecutive songs share batches up to a fixed size. Each song's result is
emitted, in input order, as soon as its last patch is through the network. Memory is
bounded by the batch and a few decoded blocks per song in flight, not by the number
or the length of the songs.
"""

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import MusicnnError

BLOCKS_AHEAD = 4  # patch blocks a decoding worker may hold ready for its song
_END = object()

PatchSource = Callable[[], Iterator[np.ndarray]]
RunBatch = Callable[[np.ndarray], dict[str, np.ndarray]]


@dataclass(eq=False)
class _Song:
    key: Any
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
        if self.error is not None:
            return self.error
        return {name: np.concatenate([chunk[name] for chunk in self.outputs]) for name in self.outputs[0]}


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
            pool.submit(_decode, song, patch_source, stop)
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


def _decode(song: _Song, patch_source: PatchSource, stop: threading.Event) -> None:
    """Worker: put the song's patch blocks on its queue, then _END or the error."""
    try:
        for block in patch_source():
            if not _put(song.blocks, block, stop):
                return
        item = _END
    except MusicnnError as error:
        item = error
    except Exception as error:  # a batch run loses nothing: any failure is this song's alone
        name = song.key if isinstance(song.key, (str, bytes, os.PathLike)) else "a song"
        item = MusicnnError(f"could not process {name}: {type(error).__name__}: {error}")
        item.__cause__ = error  # as `raise ... from error`: the traceback of the bug is kept
    _put(song.blocks, item, stop)


def _put(blocks: queue.Queue, item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            blocks.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _run_one_batch(pending: deque, run_batch: RunBatch, batch_size: int) -> None:
    """Run the first `batch_size` waiting patches (fewer at the end) and hand each song its rows."""
    parts: list[tuple[_Song, np.ndarray]] = []
    taken = 0
    while pending and taken < batch_size:
        song, patches = pending.popleft()
        if song.error is not None:
            continue
        head, rest = patches[:batch_size - taken], patches[batch_size - taken:]
        if len(rest):
            pending.appendleft((song, rest))
        parts.append((song, head))
        taken += len(head)
    if not parts:
        return
    outputs = run_batch(np.concatenate([patches for _, patches in parts]))
    start = 0
    for song, patches in parts:
        song.outputs.append({name: value[start:start + len(patches)] for name, value in outputs.items()})
        song.done += len(patches)
        start += len(patches)


def _report_complete(unreported: deque) -> Iterator:
    while unreported and unreported[0].complete:
        song = unreported.popleft()
        yield song.key, song.result()
