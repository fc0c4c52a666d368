"""Files, arrays and options agree with each other; bad options raise MusicnnError with a useful message.

The matrix of bad and unusual audio inputs is in test_bad_inputs.py."""

import numpy as np
import pytest

from musicnn_lite import MusicnnError, extractor, get_tagger, top_tags


@pytest.fixture(scope="module")
def tagger():
    return get_tagger("MTT_musicnn")


def _noise(seconds: float, sr: int = 16000, channels: int = 0) -> np.ndarray:
    shape = (int(seconds * sr), channels) if channels else (int(seconds * sr),)
    return np.random.default_rng(1).uniform(-0.5, 0.5, shape).astype(np.float32)


def test_int16_array_tags_like_the_same_float_array():
    pcm = (_noise(3.5) * 2 ** 15).astype(np.int16)
    from_int = top_tags(pcm, sr=16000, print_tags=False, topN=5)
    from_float = top_tags(pcm / 2 ** 15, sr=16000, print_tags=False, topN=5)
    assert from_int == from_float


def test_wav_file_and_array_give_the_same_taggram(write_wav, tagger):
    waveform = _noise(7, 44100)
    from_file = tagger.tag(write_wav(waveform, 44100)).taggram
    from_array = tagger.tag(waveform, sr=44100).taggram
    np.testing.assert_allclose(from_file, from_array, atol=1e-4)  # the wav stores 16-bit PCM


def test_tagger_features_are_chosen_by_name(tagger):
    result = tagger.tag(_noise(6), sr=16000, features=["penultimate", "max_pool"])
    assert set(result.features) == {"penultimate", "max_pool"}
    assert result.features["penultimate"].shape == (2, 200)
    assert result.top(3) == [result.tags[i] for i in np.argsort(result.likelihoods)[::-1][:3]]


@pytest.mark.parametrize("kwargs, message", [
    ({"input_length": 0}, "input_length=0"),
    ({"input_length": -3}, "input_length=-3"),
    ({"input_length": 0.01}, "shorter than one spectrogram frame"),
    ({"input_overlap": 0.01}, "less than one frame"),
    ({"input_overlap": -1}, "input_overlap=-1"),
    ({"model": "MTT_vgg", "input_length": 5}, "MTT_vgg takes 3-s patches only"),
])
def test_bad_options_raise_library_error(kwargs, message):
    with pytest.raises(MusicnnError, match=message):
        extractor(_noise(4), sr=16000, **kwargs)


def test_bad_top_n_and_feature_names_raise_library_error(clips, tagger):
    with pytest.raises(MusicnnError, match="topN=0"):
        top_tags(clips["joram"], topN=0)
    with pytest.raises(MusicnnError, match="no feature 'pool1'"):
        tagger.tag(clips["joram"], features=["pool1"])
