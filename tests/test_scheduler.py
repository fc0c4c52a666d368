"""Songs from many threads through one network: batch.BatchScheduler and Tagger.scheduler."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from musicnn_lite import MusicnnError, Tagger
from musicnn_lite.batch import BatchScheduler, QueueFull

from conftest import cut_clips


def blocks_of(*values: float, patches: int = 1, queued: threading.Semaphore | None = None):
    """A patch source yielding one block of `patches` patches per value, each patch filled with it;
    it releases `queued` once its blocks are in the scheduler's queue (when it is asked for more)."""
    def source():
        for value in values:
            yield np.full((patches, 2, 3), value, np.float32)
        if queued is not None:
            queued.release()
    return source


class Network:
    """A stand-in network: each patch's taggram is its first value; records the size of every batch."""

    def __init__(self, hold: threading.Event | None = None):
        self.sizes, self.hold, self.running = [], hold, threading.Event()

    def __call__(self, patches: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        self.running.set()
        if self.hold is not None:
            assert self.hold.wait(timeout=10)
        self.sizes.append(len(patches))
        outputs = {"taggram": patches[:, 0, :1].copy()}
        outputs.update((name, patches[:, 0, :1] * 10) for name in names)
        return outputs


def test_each_song_gets_its_own_rows_and_features():
    network = Network()
    scheduler = BatchScheduler(network, batch_size=4, jobs=2, queue_size=8)
    futures = [scheduler.submit(blocks_of(song, song + 0.5, patches=3), names=("feature",) * (song % 2))
               for song in range(6)]
    for song, future in enumerate(futures):
        outputs = future.result(timeout=10)
        np.testing.assert_array_equal(outputs["taggram"][:, 0], [song] * 3 + [song + 0.5] * 3)
        assert ("feature" in outputs) == bool(song % 2)  # a feature only for the songs that asked for it
    scheduler.close()
    assert sum(network.sizes) == 36 and max(network.sizes) <= 4
    assert (scheduler.batches, scheduler.patches) == (len(network.sizes), 36)


def test_songs_waiting_together_share_a_batch_and_a_lone_song_is_not_held_back():
    hold = threading.Event()
    network = Network(hold)
    scheduler = BatchScheduler(network, batch_size=8, jobs=2, queue_size=16)
    queued = threading.Semaphore(0)
    first = scheduler.submit(blocks_of(0))  # the network holds its batch of one ...
    assert network.running.wait(timeout=10)
    others = [scheduler.submit(blocks_of(song, queued=queued)) for song in range(1, 6)]  # ... while these arrive
    for _ in others:
        assert queued.acquire(timeout=10)
    hold.set()
    for future in [first, *others]:
        future.result(timeout=10)
    assert network.sizes == [1, 5]
    alone = scheduler.submit(blocks_of(7))
    assert alone.result(timeout=10)["taggram"][0, 0] == 7  # run as soon as it was decoded, in a batch of one
    assert network.sizes == [1, 5, 1]
    scheduler.close()


def test_a_full_queue_refuses_songs_until_some_are_done():
    hold = threading.Event()
    scheduler = BatchScheduler(Network(hold), batch_size=2, jobs=1, queue_size=3)
    accepted = [scheduler.submit(blocks_of(song)) for song in range(3)]
    with pytest.raises(QueueFull, match="3 songs are waiting"):
        scheduler.submit(blocks_of(9))
    hold.set()
    for future in accepted:
        future.result(timeout=10)
    assert scheduler.submit(blocks_of(9)).result(timeout=10)["taggram"][0, 0] == 9
    scheduler.close()


def test_a_failing_song_or_batch_fails_alone_and_the_scheduler_goes_on():
    def broken_source():
        yield np.zeros((1, 2, 3), np.float32)
        raise MusicnnError("could not decode song 1")

    def network(patches, names):
        if (patches == 13).any():
            raise RuntimeError("the runtime broke")
        return {"taggram": patches[:, 0, :1]}

    scheduler = BatchScheduler(network, batch_size=1, jobs=2, queue_size=8)
    good, broken = scheduler.submit(blocks_of(1)), scheduler.submit(broken_source)
    with pytest.raises(MusicnnError, match="could not decode song 1"):
        broken.result(timeout=10)
    with pytest.raises(MusicnnError, match="the network failed on a batch: RuntimeError: the runtime broke"):
        scheduler.submit(blocks_of(13)).result(timeout=10)
    assert good.result(timeout=10)["taggram"][0, 0] == 1
    assert scheduler.submit(blocks_of(2)).result(timeout=10)["taggram"][0, 0] == 2
    scheduler.close()


def test_close_finishes_the_songs_accepted_then_refuses_more():
    scheduler = BatchScheduler(Network(), batch_size=2, jobs=1, queue_size=8)
    futures = [scheduler.submit(blocks_of(song, patches=5)) for song in range(4)]
    scheduler.close()
    assert all(future.done() for future in futures)
    with pytest.raises(MusicnnError, match="closed"):
        scheduler.submit(blocks_of(1))


def test_threads_submitting_to_a_tagger_scheduler_get_what_tag_gives(tmp_path):
    tagger = Tagger("MTT_musicnn", batch_size=8)
    clips = cut_clips(tmp_path, seconds=7)
    expected = {clip: tagger.tag(clip, features=["penultimate"]) for clip in clips}
    scheduler = tagger.scheduler(jobs=2, queue_size=16)
    plan = tagger.plan(features=["penultimate"])
    with ThreadPoolExecutor(6) as threads:
        results = list(threads.map(lambda clip: (clip, scheduler.submit(clip, plan=plan).result(timeout=60)),
                                   clips * 4))
    for clip, result in results:
        np.testing.assert_allclose(result.likelihoods, expected[clip].likelihoods, atol=1e-6)
        np.testing.assert_allclose(result.features["penultimate"], expected[clip].features["penultimate"],
                                   atol=1e-5)
        np.testing.assert_array_equal(result.timestamps, expected[clip].timestamps)
    assert scheduler.counts["patches"] == 12 * 2  # two 3-s patches in each 7-s clip
    scheduler.close()
