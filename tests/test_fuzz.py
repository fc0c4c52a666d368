"""Property-based tests of the array API: any waveform gives a taggram or a MusicnnError, nothing else.

Valid input (finite samples, a sample rate from 1 kHz to 1 MHz, not a square 2-D array) must
give one row per 3-s patch of the 16-kHz audio, 50 columns, values in [0, 1].
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from musicnn_lite import MusicnnError, get_tagger
from musicnn_lite.audio import load_audio
from musicnn_lite.spectrum import HOP_LENGTH, patch_frames

DTYPES = ("float32", "float64", "int16", "int32", "uint8")
COMMON_RATES = (8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000)
PATCH = patch_frames(3)


@pytest.fixture(scope="module")
def tagger():
    return get_tagger("MTT_musicnn")


@st.composite
def waveforms(draw) -> tuple[np.ndarray, int, str]:
    """(waveform, sr, what the library must do with it: "tag", "tag or too loud", or an error to match)."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    sr = draw(st.sampled_from(COMMON_RATES) | st.integers(8000, 192000))
    samples = draw(st.integers(1, 4 * sr))
    layout = draw(st.sampled_from(("1-D", "(samples, channels)", "(channels, samples)")))
    channels = 1 if layout == "1-D" else draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    shape = {"1-D": (samples,), "(samples, channels)": (samples, channels),
             "(channels, samples)": (channels, samples)}[layout]
    if dtype.kind == "f":
        amplitude = draw(st.sampled_from((0.0, 1e-4, 0.5, 1.0, 4.0, 1000.0)))
        waveform = (rng.uniform(-amplitude, amplitude, shape)).astype(dtype)
        expected = "tag" if amplitude <= 4 else "tag or too loud"
        if draw(st.booleans()):
            waveform.flat[draw(st.integers(0, waveform.size - 1))] = draw(st.sampled_from((np.nan, np.inf, -np.inf)))
            expected = "NaN or infinite"
    else:
        info = np.iinfo(dtype)
        waveform = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
        expected = "tag"
    if len(shape) == 2 and shape[0] == shape[1] and waveform.size > 1:
        expected = "square array"
    return waveform, sr, expected


def _patches(samples_16k: int) -> int:
    frames = 1 + samples_16k // HOP_LENGTH  # librosa's centred frames
    return max(1, (frames - PATCH) // PATCH + 1)


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=waveforms())
def test_any_waveform_gives_a_taggram_or_a_library_error(tagger, case):
    waveform, sr, expected = case
    if expected not in ("tag", "tag or too loud"):
        with pytest.raises(MusicnnError, match=expected):
            tagger.tag(waveform, sr=sr)
        return
    try:
        taggram = tagger.tag(waveform, sr=sr).taggram
    except MusicnnError as error:
        assert expected == "tag or too loud" and "too loud" in str(error)
        return
    samples_16k = len(load_audio(waveform, sr=sr))
    assert abs(samples_16k - max(waveform.shape) * 16000 / sr) <= 1
    assert taggram.shape == (_patches(samples_16k), 50)
    assert taggram.dtype == np.float32 and np.isfinite(taggram).all()
    assert (taggram >= 0).all() and (taggram <= 1).all()


@settings(max_examples=100, deadline=None)
@given(sr=st.integers() | st.floats() | st.sampled_from((np.int64(44100), np.float32(8000.0), True, "16000", None)))
def test_any_sample_rate_is_used_or_refused_as_documented(sr):
    waveform = np.full(50, 0.25, np.float32)
    usable = not isinstance(sr, (bool, str, type(None))) and 1000 <= sr <= 1_000_000 and sr == int(sr)
    if not usable:
        with pytest.raises(MusicnnError, match="sr="):
            load_audio(waveform, sr=sr)
        return
    audio = load_audio(waveform, sr=sr)
    assert audio.dtype == np.float32 and audio.ndim == 1 and np.isfinite(audio).all()
    assert abs(len(audio) - 50 * 16000 / int(sr)) <= 1
