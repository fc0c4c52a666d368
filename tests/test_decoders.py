"""Formats libsndfile lacks decode through PyAV; decoder chatter and internal bugs reach the user as they should."""

import shutil

import numpy as np
import pytest
import soundfile
import soxr

from musicnn_lite import MusicnnError, cli, get_tagger, spectrum
from musicnn_lite.audio import load_audio, stream_audio

from conftest import CLIPS, encode, run_cli


@pytest.fixture(scope="module")
def reference():
    """Five seconds of the stereo 44.1 kHz reference clip, (channels, samples) float32."""
    waveform, rate = soundfile.read(CLIPS["vibe_ace"], frames=44100 * 5, dtype="float32")
    return waveform.T.copy(), rate


def test_random_bytes_named_mp3_print_one_line_and_no_decoder_notes(tmp_path):
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(np.random.default_rng(0).bytes(20000))
    done = run_cli(str(junk))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [f"error: could not decode {junk} as audio (Invalid data found when "
                                        "processing input); convert it to wav, flac, ogg or mp3 and try again"]


@pytest.mark.parametrize("name, codec, rate", [("song.m4a", "aac", 44100), ("song.opus", "libopus", 48000)])
def test_aac_and_opus_files_tag_without_a_system_ffmpeg(tmp_path, monkeypatch, reference, name, codec, rate):
    waveform, source_rate = reference
    path = encode(tmp_path / name, codec, soxr.resample(waveform.T, source_rate, rate).T.copy(), rate)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("ffmpeg") is None
    decoded, original = load_audio(path), load_audio(waveform, sr=source_rate)
    # Lossy codecs add a few ms of encoder delay: the decoded audio is the original shifted by a lag.
    similarity = [np.corrcoef(decoded[lag:lag + 64000], original[:64000])[0, 1] for lag in range(1024)]
    assert max(similarity) > 0.99
    taggram = get_tagger("MTT_musicnn").tag(path).taggram
    assert taggram.shape == (1, 50) and ((0 <= taggram) & (taggram <= 1)).all()


def test_ffmpeg_decoding_in_blocks_equals_one_block(tmp_path, reference):
    path = encode(tmp_path / "song.m4a", "aac", *reference)
    whole = np.concatenate(list(stream_audio(path, block_seconds=100)))
    np.testing.assert_array_equal(np.concatenate(list(stream_audio(path, block_seconds=0.3))), whole)
    with open(path, "rb") as file:
        np.testing.assert_array_equal(load_audio(file), whole)


def test_m4a_at_500_hz_is_refused(tmp_path):
    path = encode(tmp_path / "low.m4a", "alac", np.zeros((1, 2000), np.int16), 500, sample_format="s16p")
    with pytest.raises(MusicnnError, match=r"low\.m4a has a sample rate of 500 Hz; resample it"):
        load_audio(path)


def test_nan_in_a_file_ffmpeg_decodes_is_refused(tmp_path):
    waveform = np.zeros((1, 16000), np.float32)
    waveform[0, 100] = np.nan
    path = encode(tmp_path / "nan.mka", "pcm_f32le", waveform, 16000, sample_format="flt")
    with pytest.raises(MusicnnError, match=r"nan\.mka holds NaN or infinite samples"):
        load_audio(path)


def _bug(_blocks):
    raise ZeroDivisionError("an internal bug")


def test_a_bug_on_a_decode_thread_keeps_its_traceback_with_debug(monkeypatch, capsys):
    monkeypatch.setattr(spectrum, "stream_log_mel", _bug)
    assert cli.main([str(CLIPS["joram"]), "--quiet"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: could not process {CLIPS['joram']}: ZeroDivisionError: an internal bug"]
    assert cli.main([str(CLIPS["joram"]), "--quiet", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert 'in _bug\n    raise ZeroDivisionError("an internal bug")' in err
    assert "The above exception was the direct cause of the following exception" in err
    assert err.rstrip().endswith(f"error: could not process {CLIPS['joram']}: ZeroDivisionError: an internal bug")
