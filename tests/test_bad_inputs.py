"""The bad-input matrix: each case gets a MusicnnError naming the problem, or the result the README documents.

One test per row of the README's "What happens with bad input" table, in the same order.
Test audio is generated small, in tmp_path.
"""

import os
import pickle

import numpy as np
import pytest
import soundfile

from musicnn_lite import MusicnnError, Tagger, get_tagger
from musicnn_lite.audio import load_audio
from musicnn_lite.zoo import weights_path

FORMATS = {"wav": {}, "flac": {}, "ogg": {"subtype": "VORBIS"}, "mp3": {"subtype": "MPEG_LAYER_III"}}


@pytest.fixture(scope="module")
def tagger():
    return get_tagger("MTT_musicnn")


def _noise(seconds: float, sr: int = 16000, channels: int = 1) -> np.ndarray:
    """Uniform noise (samples, channels), float32, peak 0.5."""
    return np.random.default_rng(7).uniform(-0.5, 0.5, (max(1, int(seconds * sr)), channels)).astype(np.float32)


def _write(path, waveform: np.ndarray, sr: int = 16000, **options):
    soundfile.write(path, waveform, sr, **options)
    return path


def _assert_taggram(taggram: np.ndarray, patches: int) -> None:
    assert taggram.shape == (patches, 50)
    assert np.isfinite(taggram).all() and (taggram >= 0).all() and (taggram <= 1).all()


# Files

def test_missing_path_names_the_path(tmp_path):
    with pytest.raises(MusicnnError, match=r"no such file: .*missing\.mp3; check the path"):
        load_audio(tmp_path / "missing.mp3")


def test_folder_is_refused(tmp_path):
    with pytest.raises(MusicnnError, match="is a folder, not an audio file"):
        load_audio(tmp_path)


def test_unreadable_file_reports_permission_denied(tmp_path, monkeypatch):
    # Tests run as root here, where chmod 000 does not stop reading: deny through os.access instead.
    path = _write(tmp_path / "locked.wav", _noise(1))
    readable = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: os.fspath(p) != os.fspath(path) and readable(p, mode))
    with pytest.raises(MusicnnError, match=r"cannot read .*locked\.wav: permission denied"):
        load_audio(path)


def test_empty_file_is_refused(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(MusicnnError, match=r"empty\.wav is empty \(0 bytes\)"):
        load_audio(tmp_path / "empty.wav")


def _not_audio(name: str, tmp_path) -> bytes:
    """Random bytes, text, or the first 40 bytes of a real flac file (inside its header)."""
    if name == "noise.mp3":
        return np.random.default_rng(0).bytes(4000)
    if name == "text.ogg":
        return b"not audio at all\n" * 50
    return _write(tmp_path / "whole.flac", _noise(1)).read_bytes()[:40]


@pytest.mark.parametrize("name", ["noise.mp3", "text.ogg", "cut_in_header.flac"])
def test_file_that_is_not_audio_cannot_be_decoded(tmp_path, name):
    (tmp_path / name).write_bytes(_not_audio(name, tmp_path))
    with pytest.raises(MusicnnError, match=f"could not decode .*{name} as audio"):
        load_audio(tmp_path / name)


def test_file_with_a_header_but_no_samples_is_refused(tmp_path):
    path = _write(tmp_path / "no_samples.wav", np.zeros((0, 1), np.float32))
    with pytest.raises(MusicnnError, match="no_samples.wav holds no audio samples"):
        load_audio(path)


@pytest.mark.parametrize("extension", ["wav", "mp3", "ogg"])
def test_truncated_file_tags_exactly_the_part_before_the_cut(tmp_path, extension, tagger):
    whole = _write(tmp_path / f"whole.{extension}", _noise(8), **FORMATS[extension])
    cut = tmp_path / f"cut.{extension}"
    cut.write_bytes(whole.read_bytes()[:int(whole.stat().st_size * 0.6)])
    complete, part = load_audio(whole), load_audio(cut)
    assert 0.4 * len(complete) < len(part) < 0.8 * len(complete)
    np.testing.assert_array_equal(part, complete[:len(part)])
    _assert_taggram(tagger.tag(cut).taggram, patches=1)


def test_truncated_flac_is_refused(tmp_path):
    whole = _write(tmp_path / "whole.flac", _noise(4))
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole.read_bytes()[:int(whole.stat().st_size * 0.6)])
    with pytest.raises(MusicnnError, match=r"could not decode .*cut\.flac past sample \d+ .*truncated or corrupt"):
        load_audio(cut)


def test_file_cut_before_its_first_samples_is_refused(tmp_path):
    whole = _write(tmp_path / "whole.ogg", _noise(2), **FORMATS["ogg"])
    cut = tmp_path / "cut.ogg"
    cut.write_bytes(whole.read_bytes()[:int(whole.stat().st_size * 0.3)])  # vorbis headers, no audio page
    with pytest.raises(MusicnnError, match="holds no audio samples"):
        load_audio(cut)


@pytest.mark.parametrize("channels, extension", [(6, "wav"), (8, "flac")])
def test_many_channel_file_is_mixed_to_mono(tmp_path, channels, extension, tagger):
    waveform = _noise(3.5, channels=channels) * np.linspace(0.2, 1, channels, dtype=np.float32)
    path = _write(tmp_path / f"surround.{extension}", waveform, subtype="FLOAT" if extension == "wav" else None)
    stored = soundfile.read(path, dtype="float32")[0]
    np.testing.assert_allclose(load_audio(path), stored.mean(axis=1), atol=1e-7)
    _assert_taggram(tagger.tag(path).taggram, patches=1)


@pytest.mark.parametrize("sr", [8000, 192000])
def test_low_and_high_sample_rate_files_are_resampled_to_16k(tmp_path, sr, tagger):
    path = _write(tmp_path / f"{sr}.flac", _noise(3.2, sr), sr)
    audio = load_audio(path)
    assert len(audio) == int(np.ceil(3.2 * sr) * 16000 / sr)
    np.testing.assert_allclose(audio, load_audio(soundfile.read(path, dtype="float32")[0], sr=sr), atol=1e-6)
    _assert_taggram(tagger.tag(path).taggram, patches=1)


@pytest.mark.parametrize("sr", [500, 2_000_000])
def test_file_with_a_sample_rate_out_of_range_is_refused(tmp_path, sr):
    path = _write(tmp_path / "odd_rate.wav", _noise(0.01, sr), sr)
    with pytest.raises(MusicnnError, match=f"odd_rate.wav has a sample rate of {sr} Hz; resample it"):
        load_audio(path)


def test_path_with_spaces_and_unicode_works(tmp_path):
    path = _write(tmp_path / "my song – café ♫ 曲.wav", _noise(1))
    np.testing.assert_array_equal(load_audio(path), load_audio(str(path)))
    assert len(load_audio(path)) == 16000


def test_non_utf8_file_name_works_as_bytes_and_as_str(tmp_path):
    name = os.fsencode(tmp_path) + b"/caf\xe9.wav"  # Latin-1 "café": not valid UTF-8
    os.replace(_write(tmp_path / "plain.wav", _noise(1)), name)
    from_bytes = load_audio(name)
    np.testing.assert_array_equal(load_audio(os.fsdecode(name)), from_bytes)  # what os.listdir(str) gives
    assert len(from_bytes) == 16000
    with pytest.raises(MusicnnError, match="no such file"):
        load_audio(os.fsencode(tmp_path) + b"/na\xefve.wav")


def test_binary_file_object_works_and_text_mode_is_refused(tmp_path):
    path = _write(tmp_path / "clip.wav", _noise(1))
    with open(path, "rb") as binary:
        np.testing.assert_array_equal(load_audio(binary), load_audio(path))
    with open(path) as text, pytest.raises(MusicnnError, match=r"open in text mode; .*open\(path, 'rb'\)"):
        load_audio(text)


@pytest.mark.parametrize("source, type_name", [(None, "NoneType"), (3, "int"), ([0.1, 0.2], "list")])
def test_source_that_is_not_a_path_file_or_array_is_refused(source, type_name):
    for sr in (None, 16000):  # with sr=, it is still its type that is wrong
        with pytest.raises(MusicnnError, match=f"cannot read audio from a {type_name}; pass a file path"):
            load_audio(source, sr=sr)


# Length and content

@pytest.mark.parametrize("samples", [1, 1600, 8000, 16000 * 2])
def test_audio_shorter_than_a_patch_is_repeat_padded_to_one_patch(tmp_path, samples, tagger):
    path = _write(tmp_path / "short.wav", _noise(samples / 16000))
    assert len(load_audio(path)) == samples
    _assert_taggram(tagger.tag(path).taggram, patches=1)


def test_digital_silence_is_tagged(tmp_path, tagger):
    path = _write(tmp_path / "silence.flac", np.zeros((16000 * 7, 2), np.float32))
    _assert_taggram(tagger.tag(path).taggram, patches=2)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_an_array_is_refused(bad):
    waveform = _noise(1)[:, 0].astype(np.float64)
    waveform[100] = bad
    with pytest.raises(MusicnnError, match="the waveform array holds NaN or infinite samples"):
        load_audio(waveform, sr=16000)


def test_nan_in_a_float_file_is_refused(tmp_path, tagger):
    waveform = _noise(4)
    waveform[1000] = np.nan
    path = _write(tmp_path / "nan.wav", waveform, subtype="FLOAT")
    with pytest.raises(MusicnnError, match=r"nan\.wav holds NaN or infinite samples; clean or clip"):
        tagger.tag(path)


def test_float_audio_too_loud_for_the_models_is_refused(tagger):
    int16_values_as_floats = (_noise(4)[:, 0] * 65535).astype(np.float32)
    with pytest.raises(MusicnnError, match=r"too loud .*peak amplitude 3\d{4}\.?\d*\).*divide by 32768"):
        tagger.tag(int16_values_as_floats, sr=16000)
    _assert_taggram(tagger.tag(int16_values_as_floats / 32768, sr=16000).taggram, patches=1)


# Arrays

@pytest.mark.parametrize("dtype, scale, offset", [(np.int16, 2 ** 15, 0), (np.int32, 2 ** 31, 0),
                                                   (np.uint8, 2 ** 7, 2 ** 7)])
def test_integer_pcm_is_scaled_to_unit_range(dtype, scale, offset):
    pcm = np.random.default_rng(1).integers(np.iinfo(dtype).min, np.iinfo(dtype).max, 16000, dtype=dtype,
                                           endpoint=True)
    pcm[:2] = np.iinfo(dtype).min, np.iinfo(dtype).max
    audio = load_audio(pcm, sr=16000)
    np.testing.assert_allclose(audio, (pcm.astype(np.float64) - offset) / scale, atol=1e-6)
    assert audio.min() == -1 and audio.max() <= 1


def test_channels_are_the_shorter_axis_of_a_2d_array():
    stereo = _noise(2, 22050, channels=2)
    mono = load_audio(stereo.mean(axis=1), sr=22050)
    np.testing.assert_allclose(load_audio(stereo, sr=22050), mono, atol=1e-6)
    np.testing.assert_array_equal(load_audio(stereo.T.copy(), sr=22050), load_audio(stereo, sr=22050))
    eight = _noise(1, channels=8)
    np.testing.assert_allclose(load_audio(eight.T.copy(), sr=16000), eight.mean(axis=1), atol=1e-7)


@pytest.mark.parametrize("waveform, sr, message", [
    (np.zeros((4, 4), np.float32), 16000, r"square array of shape \(4, 4\)"),
    (np.zeros((2, 3, 1000), np.float32), 16000, r"must be 1-D .* not of shape \(2, 3, 1000\)"),
    (np.zeros(0, np.float32), 16000, r"empty \(shape \(0,\)\)"),
    (np.zeros((2, 0), np.float32), 16000, r"empty \(shape \(2, 0\)\)"),
    (np.zeros((0, 2), np.float32), 16000, r"empty \(shape \(0, 2\)\)"),
    (np.array(["a", "b"]), 16000, "floats or integer PCM, not <U1"),
    (np.zeros(100, np.complex64), 16000, "floats or integer PCM, not complex64"),
    (np.zeros(100, bool), 16000, "floats or integer PCM, not bool"),
    (np.zeros(1000, np.float32), None, "pass sr="),
    (np.zeros(1000, np.float32), -8000, "sr=-8000"),
    (np.zeros(1000, np.float32), 0, "sr=0"),
    (np.zeros(1000, np.float32), 44100.5, "sr=44100.5"),
    (np.zeros(1000, np.float32), float("nan"), "sr=nan"),
    (np.zeros(1000, np.float32), float("inf"), "sr=inf"),
    (np.zeros(1000, np.float32), 999, "sr=999 .* from 1000 to 1000000"),
    (np.zeros(1000, np.float32), 10 ** 18, "sr=1000000000000000000 "),
    (np.zeros(1000, np.float32), "44100", "sr='44100'"),
])
def test_bad_array_is_refused(waveform, sr, message):
    with pytest.raises(MusicnnError, match=message):
        load_audio(waveform, sr=sr)


def test_sr_with_a_file_is_refused(tmp_path):
    with pytest.raises(MusicnnError, match="only for waveform arrays"):
        load_audio(_write(tmp_path / "clip.wav", _noise(1)), sr=16000)


# Models

@pytest.mark.parametrize("model, message", [
    ("MTT_musicnnn", "unknown model 'MTT_musicnnn'; did you mean MTT_musicnn\\? use one of MTT_musicnn"),
    ("jamendo_FCN", "unknown model 'jamendo_FCN'; did you mean Jamendo_fcn\\? use one of MTT_musicnn"),
    ("banjo", "unknown model 'banjo'; use one of MTT_musicnn"),
    ("", "unknown model ''"),
    (None, "model=None is not a model name or path"),
    (3, "model=3 is not a model name or path"),
])
def test_unknown_model_is_refused(model, message):
    with pytest.raises(MusicnnError, match=message):
        Tagger(model)
    with pytest.raises(MusicnnError, match=message):
        get_tagger(model)


class _Trap:
    """Unpickling this creates the file `path`: proof that a pickle was loaded."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_file_that_is_not_weights_is_refused_without_unpickling(tmp_path):
    trap = tmp_path / "unpickled"
    candidates = {
        "pickle.npz": pickle.dumps(_Trap(trap)),
        "array.npy": None,
        "cut.npz": weights_path("MTT_musicnn").read_bytes()[:50000],
    }
    for name, content in candidates.items():
        if content is None:
            np.save(tmp_path / name, np.zeros(3))
        else:
            (tmp_path / name).write_bytes(content)
    np.savez(tmp_path / "objects.npz", architecture=np.array("musicnn"),
             labels=np.array([_Trap(trap)], dtype=object))
    for name in (*candidates, "objects.npz"):
        with pytest.raises(MusicnnError, match=f"{name} is not a valid musicnn_lite weights file"):
            Tagger(tmp_path / name)
    assert not trap.exists()


@pytest.mark.parametrize("change", ["a variable missing", "a variable of the wrong shape", "another architecture"])
def test_weights_that_do_not_fit_the_network_are_refused(tmp_path, change):
    with np.load(weights_path("MTT_musicnn")) as archive:
        arrays = {key: archive[key] for key in archive.files}
    if change == "a variable missing":
        del arrays["penultimate_dense/bias"]
    elif change == "a variable of the wrong shape":
        arrays["midend_2_conv/kernel"] = arrays["midend_2_conv/kernel"][:, :, :7]
    else:
        arrays["architecture"] = np.array("vgg")
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(MusicnnError, match=r"the weights in .*bad\.npz do not fit the (musicnn|vgg) network"):
        Tagger(tmp_path / "bad.npz")
