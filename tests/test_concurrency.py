"""One Tagger shared by several threads gives the results of sequential calls."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from musicnn_lite import get_tagger

THREADS = 4
FEATURE_SETS = (False, ["cnn2"], ["temporal", "mean_pool"])  # the last two are first built by racing threads


def test_threads_sharing_a_tagger_get_the_sequential_results():
    tagger = get_tagger("MTT_musicnn")
    rng = np.random.default_rng(3)
    songs = [(rng.uniform(-0.5, 0.5, int(16000 * seconds)).astype(np.float32), FEATURE_SETS[i % 3])
             for i, seconds in enumerate((2, 4, 6.5, 3, 5, 2.5, 6, 4.5))]
    start_together = threading.Barrier(THREADS, timeout=60)  # each round of 4 songs starts at once

    def tag_in_step(song):
        start_together.wait()
        return tagger.tag(song[0], sr=16000, features=song[1])

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        in_threads = list(pool.map(tag_in_step, songs))
    in_sequence = [tagger.tag(waveform, sr=16000, features=features) for waveform, features in songs]
    for threaded, sequential in zip(in_threads, in_sequence):
        assert threaded.taggram.shape == sequential.taggram.shape
        np.testing.assert_allclose(threaded.taggram, sequential.taggram, atol=1e-6)
        assert threaded.features.keys() == sequential.features.keys()
        for name, values in sequential.features.items():
            np.testing.assert_allclose(threaded.features[name], values, atol=1e-5)
