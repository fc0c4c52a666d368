"""Log-mel and patching follow musicnn's conventions exactly."""

import numpy as np
import pytest

from musicnn_lite.spectrum import log_mel, patch_frames, step_frames, to_patches


def test_patch_and_step_lengths_in_frames_follow_librosa_time_to_frames():
    assert patch_frames(3) == 187
    assert patch_frames(5) == 312
    assert step_frames(False, 187) == 187
    assert step_frames(1, 187) == 61  # musicnn's "overlap" of 1 s: patch starts 61 frames apart


def test_patches_start_every_step_and_drop_the_short_tail():
    spectrogram = np.arange(1000 * 96, dtype=np.float32).reshape(1000, 96)
    patches = to_patches(spectrogram, 187, 61)
    assert patches.shape == (1 + (1000 - 187) // 61, 187, 96)
    np.testing.assert_array_equal(patches[3], spectrogram[3 * 61:3 * 61 + 187])
    assert patches.flags["C_CONTIGUOUS"]


def test_spectrogram_shorter_than_a_patch_is_repeated_to_fill_it():
    spectrogram = np.arange(50 * 96, dtype=np.float32).reshape(50, 96)
    patches = to_patches(spectrogram, 187, 187)
    assert patches.shape == (1, 187, 96)
    np.testing.assert_array_equal(patches[0, 50:100], spectrogram)
    np.testing.assert_array_equal(patches[0, 150:], spectrogram[:37])


def test_loud_audio_does_not_overflow_the_float16_mel():
    loud = np.sin(np.arange(16000 * 2) * 2 * np.pi * 440 / 16000).astype(np.float32)
    spectrogram = log_mel(loud)
    assert spectrogram.dtype == np.float32 and spectrogram.shape == (126, 96)
    assert np.isfinite(spectrogram).all() and spectrogram.max() > 5  # 10000 * mel exceeds float16's 65504


def test_mel_is_rounded_to_float16_before_the_log():
    import librosa

    audio = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    mel = librosa.feature.melspectrogram(y=audio, sr=16000, hop_length=256, n_fft=512, n_mels=96).T
    rounded = np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)
    np.testing.assert_array_equal(log_mel(audio), rounded)
    assert np.abs(log_mel(audio) - np.log10(10000 * mel + 1)).max() > 1e-5


@pytest.mark.parametrize("value", [True, "3", float("nan"), float("inf")])
def test_non_numeric_lengths_are_refused(value):
    from musicnn_lite import MusicnnError

    with pytest.raises(MusicnnError, match="positive number of seconds"):
        patch_frames(value)


def test_stored_mel_basis_and_window_are_librosas():
    import librosa

    from musicnn_lite.spectrum import _hann_window, _mel_basis

    np.testing.assert_array_equal(_mel_basis(), librosa.filters.mel(sr=16000, n_fft=512, n_mels=96))
    np.testing.assert_array_equal(_hann_window(), librosa.filters.get_window("hann", 512, fftbins=True))


def test_seconds_to_frames_follows_librosa():
    import librosa

    for seconds in [0.032, 0.033, 0.5, 1, 1.5, 2.9, 3, 3.1, 5, 7.77, 30, 600.25]:
        expected = librosa.time_to_frames(seconds, sr=16000, n_fft=512, hop_length=256)
        assert step_frames(seconds, 187) == expected
        assert patch_frames(seconds) == expected + 1
    assert patch_frames(0.016) == librosa.time_to_frames(0.016, sr=16000, n_fft=512, hop_length=256) + 1 == 1
