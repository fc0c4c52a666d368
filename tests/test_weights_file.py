"""A weights file is checked from its zip headers before any array is decompressed, then for finite values."""

import zipfile

import numpy as np
import pytest

from musicnn_lite import MusicnnError, Tagger, zoo
from musicnn_lite.front_end import musicnn_front_end
from musicnn_lite.zoo import weights_path


def bundled_arrays(model: str = "MTT_musicnn") -> dict[str, np.ndarray]:
    with np.load(weights_path(model)) as archive:
        return {key: archive[key] for key in archive.files}


def changed_weights(folder, change, model: str = "MTT_musicnn"):
    """A weights file of `model` written to folder/bad.npz after change(arrays)."""
    arrays = bundled_arrays(model)
    change(arrays)
    np.savez(folder / "bad.npz", **arrays)
    return folder / "bad.npz"


def test_a_corrupt_deflate_stream_is_a_clear_error(tmp_path):
    path = tmp_path / "corrupt.npz"
    np.savez_compressed(path, **bundled_arrays())
    with zipfile.ZipFile(path) as archive:
        member = archive.getinfo("penultimate_dense/kernel.npy")
    data = bytearray(path.read_bytes())
    start = member.header_offset + 30 + len(member.filename) + len(member.extra) + 2000
    data[start:start + 200] = b"\xff" * 200  # no longer a valid deflate stream
    path.write_bytes(data)
    with pytest.raises(MusicnnError, match=r"corrupt\.npz is not a valid musicnn_lite weights file "
                                           r"\(.*'penultimate_dense/kernel.*Error -3 while decompressing"):
        Tagger(path)


def test_an_array_declaring_more_than_it_holds_is_refused_before_allocating(tmp_path):
    path, arrays = tmp_path / "huge.npz", bundled_arrays()
    del arrays["logits/bias"]
    np.savez(path, **arrays)
    with zipfile.ZipFile(path, "a") as archive:  # a 10^12-element array in a few bytes
        with archive.open("logits/bias.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False,
                                                          "shape": (10 ** 12,)})
    with pytest.raises(MusicnnError, match=r"huge\.npz is not a valid musicnn_lite weights file "
                                           r"\('logits/bias\.npy' is not a plain array of the size it declares\)"):
        Tagger(path)


def test_a_file_declaring_more_bytes_than_any_model_needs_is_refused(monkeypatch):
    monkeypatch.setattr(zoo, "MAX_WEIGHTS_BYTES", 2 ** 20)
    with pytest.raises(MusicnnError, match=r"MTT_musicnn\.npz is not a valid .* \(its arrays declare more than 1 MB\)"):
        Tagger("MTT_musicnn")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_are_refused(tmp_path, bad):
    arrays = bundled_arrays()
    arrays["midend_2_conv/kernel"][3, 2, 1] = bad
    np.savez(tmp_path / "nan.npz", **arrays)
    with pytest.raises(MusicnnError, match=r"the weights in .*nan\.npz hold NaN or infinite values "
                                           r"\(midend_2_conv/kernel\)"):
        Tagger(tmp_path / "nan.npz")


@pytest.mark.parametrize("change, problem", [
    (lambda arrays: arrays.update({"logits/kernel": arrays["logits/kernel"].astype(np.float64)}),
     "'logits/kernel' is float64 of shape \\(200, 50\\), not a 2-D float32 array"),
    (lambda arrays: arrays.update({"conv9/kernel": np.zeros(3, np.float32)}), "unexpected 'conv9/kernel'"),
    (lambda arrays: arrays.update({"labels": arrays["labels"][:10]}), "50 logits for 10 labels"),
])
def test_names_dtypes_and_ranks_are_checked_against_the_architecture(tmp_path, change, problem):
    bad = changed_weights(tmp_path, change)
    with pytest.raises(MusicnnError, match=rf"the weights in .*bad\.npz do not fit the musicnn network \({problem}\)"):
        zoo.load_weights(bad)


def test_model_info_reads_headers_only():
    assert zoo.model_info("MSD_vgg") == zoo.ModelInfo("MSD_vgg", "vgg", 50, musicnn_front_end(any_length=False), None)


@pytest.mark.parametrize("change, problem", [
    (lambda arrays: arrays.pop("front_end"), "a crnn model must declare its front-end"),
    (lambda arrays: arrays.pop("front_end/mel_filterbank"), "unsupported front-end declaration .*mel_filterbank"),
    (lambda arrays: arrays.update({"front_end/mel_filterbank": arrays["front_end/mel_filterbank"][:, :64]}),
     r"needs a float32 mel filterbank of \(257, 96\)"),
    (lambda arrays: arrays.update({"front_end/mel_filterbank": -arrays["front_end/mel_filterbank"]}),
     "the mel filterbank holds negative, NaN or infinite weights"),
    (lambda arrays: arrays.update({"front_end/window": np.ones(512, np.float32)}),
     "unsupported front-end declaration .*window"),
])
def test_a_survey_model_declares_its_whole_front_end(tmp_path, change, problem):
    bad = changed_weights(tmp_path, change, "MTT_crnn")
    with pytest.raises(MusicnnError, match=rf"bad\.npz is not a valid musicnn_lite weights file \(.*{problem}"):
        zoo.load_weights(bad)


def test_a_survey_model_front_end_is_read_whole():
    front_end = zoo.load_weights(zoo.WEIGHTS_DIR / "MTT_musicnn_2020.npz").front_end
    assert (front_end.kind, front_end.sample_rate, front_end.n_fft, front_end.hop_length, front_end.n_mels) == \
        ("db_mel", 16000, 512, 256, 96)
    assert (front_end.patch_seconds, front_end.any_length, front_end.patch_length(None)) == (3, True, 48_000)
    assert front_end.mel_filterbank.shape == (257, 96) and front_end.mel_filterbank.min() >= 0
    assert zoo.model_info(zoo.WEIGHTS_DIR / "MTT_fcn.npz").front_end.any_length is False
