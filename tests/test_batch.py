"""Many songs: streaming decode, cross-song batches, results in order, failures in place."""

import threading

import librosa
import numpy as np
import pytest
import soundfile

from musicnn_lite import MusicnnError, Tagger
from musicnn_lite.audio import stream_audio
from musicnn_lite.batch import run_songs
from musicnn_lite.spectrum import log_mel, stream_log_mel, stream_patches, to_patches

from conftest import CLIPS


@pytest.fixture(scope="module")
def tagger():
    return Tagger("MTT_musicnn", batch_size=8)


@pytest.fixture(scope="module")
def long_flac(tmp_path_factory):
    """100 s of 44.1 kHz stereo FLAC made from a reference clip."""
    music, sr = librosa.load(CLIPS["vibe_ace"], sr=None, mono=False, duration=50)
    path = tmp_path_factory.mktemp("long") / "long.flac"
    soundfile.write(path, np.tile(music, 2).T, sr)
    return path


def test_block_decoding_gives_the_whole_file_patches(long_flac):
    whole, _ = librosa.load(long_flac, sr=16000)
    expected = to_patches(log_mel(whole), 187, 61)
    streamed = np.concatenate(list(stream_patches(stream_log_mel(stream_audio(long_flac, block_seconds=7.3)),
                                                  187, 61)))
    np.testing.assert_array_equal(streamed, expected)


def test_block_decoding_of_an_mp3_stays_within_one_sample_ulp():
    whole, _ = librosa.load(CLIPS["muddy"], sr=16000)
    streamed = np.concatenate(list(stream_audio(CLIPS["muddy"], block_seconds=2.1)))
    assert streamed.shape == whole.shape
    assert np.abs(streamed - whole).max() <= 3e-7  # libsndfile's mp3 decoder rounds blocks differently


def test_many_songs_come_back_in_order_with_failures_in_place(tagger, tmp_path):
    missing = tmp_path / "missing.wav"
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(b"\x00\xff" * 3000)
    sources = [CLIPS["joram"], missing, CLIPS["muddy"], corrupt, CLIPS["vibe_ace"]]
    results = list(tagger.tag_many(sources, jobs=2))
    assert [source for source, _ in results] == sources
    assert isinstance(results[1][1], MusicnnError) and isinstance(results[3][1], MusicnnError)
    for source, result in (results[0], results[2], results[4]):
        alone = tagger.tag(source)
        np.testing.assert_allclose(result.taggram, alone.taggram, atol=1e-6)


def test_features_of_songs_sharing_a_batch_stay_with_their_song(tagger):
    rng = np.random.default_rng(3)
    songs = [rng.uniform(-0.3, 0.3, int(16000 * seconds)).astype(np.float32) for seconds in (4, 13, 2, 7)]
    batched = [result for _, result in tagger.tag_many([(song, 16000) for song in songs], features=["penultimate"])]
    for song, result in zip(songs, batched):
        alone = tagger.tag(song, sr=16000, features=["penultimate"])
        assert result.taggram.shape == alone.taggram.shape
        np.testing.assert_allclose(result.features["penultimate"], alone.features["penultimate"], atol=1e-5)


def test_stopping_early_releases_the_workers(tagger):
    songs = tagger.tag_many([CLIPS["joram"]] * 20, jobs=2)
    first_source, first = next(songs)
    songs.close()
    assert first.taggram.shape == (9, 50)


def test_decoding_goes_on_while_the_network_runs():
    third_song_decoded = threading.Event()

    def source(number):
        def patches():
            if number == 2:
                third_song_decoded.set()
            yield np.full((1, 187, 96), number, np.float32)
        return patches

    def network(batch):  # holds the first batch until a later song has been decoded meanwhile
        assert third_song_decoded.wait(timeout=10), "no song was decoded while the network ran"
        return {"taggram": batch[:, 0, :1]}

    results = list(run_songs([(number, source(number)) for number in range(3)], network, batch_size=1, jobs=2))
    assert [(key, output["taggram"].item()) for key, output in results] == [(0, 0.0), (1, 1.0), (2, 2.0)]


def test_songs_taken_from_a_generator_that_fails_are_tagged_before_its_exception_is_raised(tagger):
    class Unreadable(Exception):
        pass

    def sources():
        yield str(CLIPS["joram"])
        yield str(CLIPS["muddy"])
        raise Unreadable("the catalogue's database went away")

    got = []
    with pytest.raises(Unreadable, match="went away"):
        for path, result in tagger.tag_many(sources(), jobs=2):
            got.append((path, result.top(3)))
    assert got == [(str(clip), tagger.tag(clip).top(3)) for clip in (CLIPS["joram"], CLIPS["muddy"])]


def test_bad_jobs_value_is_refused(tagger):
    with pytest.raises(MusicnnError, match="jobs=0"):
        tagger.tag_many([CLIPS["joram"]], jobs=0)


@pytest.mark.parametrize("model", ["MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg"])
def test_bfloat16_keeps_the_song_level_top5_on_the_reference_clips(model):
    from conftest import golden

    tagger = Tagger(model, precision="bfloat16")
    for clip in CLIPS:
        expected = golden(clip, model)["taggram"]
        taggram = tagger.tag(CLIPS[clip]).taggram
        assert np.abs(taggram - expected).max() < 5e-2  # measured: 9e-3 musicnn, 4e-2 VGG
        assert set(taggram.mean(axis=0).argsort()[-5:]) == set(expected.mean(axis=0).argsort()[-5:])
