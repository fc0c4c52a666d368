"""Unusual but valid inputs tag cleanly; bad inputs raise MusicnnError with a useful message."""

import numpy as np
import pytest

from musicnn_lite import MusicnnError, Tagger, extractor, top_tags
from musicnn_lite.audio import load_audio


@pytest.fixture(scope="module")
def tagger():
    return Tagger("MTT_musicnn")


def _noise(seconds: float, sr: int = 16000, channels: int = 0) -> np.ndarray:
    shape = (int(seconds * sr), channels) if channels else (int(seconds * sr),)
    return np.random.default_rng(1).uniform(-0.5, 0.5, shape).astype(np.float32)


def test_clip_shorter_than_a_patch_is_repeat_padded_to_one_patch(write_wav):
    taggram, tags = extractor(write_wav(_noise(2.7)), extract_features=False)
    assert taggram.shape == (1, 50)
    assert np.all((taggram >= 0) & (taggram <= 1))


def test_silent_clip_tags_without_error(write_wav):
    taggram, _ = extractor(write_wav(np.zeros(16000 * 4, np.float32)), extract_features=False)
    assert taggram.shape == (1, 50) and np.isfinite(taggram).all()


def test_stereo_array_in_either_layout_equals_its_mono_mix():
    stereo = _noise(4, 22050, channels=2)
    mono = extractor(stereo.mean(axis=1), sr=22050, extract_features=False)[0]
    samples_first = extractor(stereo, sr=22050, extract_features=False)[0]
    channels_first = extractor(stereo.T.copy(), sr=22050, extract_features=False)[0]
    np.testing.assert_allclose(samples_first, mono, atol=1e-6)
    np.testing.assert_array_equal(samples_first, channels_first)


@pytest.mark.parametrize("dtype, scale, offset", [(np.int16, 2 ** 15, 0), (np.int32, 2 ** 31, 0),
                                                   (np.uint8, 2 ** 7, 2 ** 7)])
def test_integer_pcm_is_scaled_to_unit_range(dtype, scale, offset):
    floats = _noise(1) * 1.8
    pcm = (floats * scale + offset).astype(dtype)
    np.testing.assert_allclose(load_audio(pcm, sr=16000), (pcm.astype(np.float64) - offset) / scale, atol=1e-6)


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
    ({"model": "MTT_musicnnn"}, "unknown model 'MTT_musicnnn'"),
    ({"input_length": 0}, "input_length=0"),
    ({"input_length": -3}, "input_length=-3"),
    ({"input_length": 0.01}, "shorter than one spectrogram frame"),
    ({"input_overlap": 0.01}, "less than one frame"),
    ({"input_overlap": -1}, "input_overlap=-1"),
    ({"model": "MTT_vgg", "input_length": 5}, "VGG models take 3-s patches only"),
])
def test_bad_options_raise_library_error(kwargs, message):
    with pytest.raises(MusicnnError, match=message):
        extractor(_noise(4), sr=16000, **kwargs)


@pytest.mark.parametrize("waveform, sr, message", [
    (np.zeros(0, np.float32), 16000, "empty"),
    (np.zeros((2, 0), np.float32), 16000, "empty"),
    (np.array([0.1, np.nan, 0.2] * 1000, np.float32), 16000, "NaN or infinite"),
    (np.array([0.1, np.inf] * 1000), 16000, "NaN or infinite"),
    (np.zeros((2, 3, 1000), np.float32), 16000, "1-D"),
    (np.zeros((4, 4), np.float32), 16000, "square array"),
    (np.array(["a", "b"]), 16000, "floats or integer PCM"),
    (np.zeros(1000, np.float32), None, "pass sr="),
    (np.zeros(1000, np.float32), -8000, "sr=-8000"),
    (np.zeros(1000, np.float32), 0, "sr=0"),
])
def test_bad_arrays_raise_library_error(waveform, sr, message):
    with pytest.raises(MusicnnError, match=message):
        extractor(waveform, sr=sr)


def test_bad_files_raise_library_error(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "noise.mp3").write_bytes(np.random.default_rng(0).bytes(4000))
    (tmp_path / "text.ogg").write_text("not audio at all\n" * 50)
    cases = {tmp_path / "missing.mp3": "no such file", tmp_path: "is a folder",
             tmp_path / "empty.wav": "is empty", tmp_path / "noise.mp3": "could not decode",
             tmp_path / "text.ogg": "could not decode"}
    for path, message in cases.items():
        with pytest.raises(MusicnnError, match=message):
            extractor(path)


def test_sr_with_a_file_is_refused(clips):
    with pytest.raises(MusicnnError, match="only for waveform arrays"):
        extractor(clips["joram"], sr=16000)


def test_bad_top_n_and_feature_names_raise_library_error(clips):
    with pytest.raises(MusicnnError, match="topN=0"):
        top_tags(clips["joram"], topN=0)
    with pytest.raises(MusicnnError, match="no feature 'pool1'"):
        Tagger("MTT_musicnn").tag(clips["joram"], features=["pool1"])
