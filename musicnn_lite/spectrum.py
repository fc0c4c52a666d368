"""Log-mel spectrogram and 3-s patches, exactly as musicnn computed them for training."""

import functools
from collections.abc import Iterable, Iterator

import numpy as np

from .audio import SAMPLE_RATE
from .bundled import WEIGHTS_DIR
from .errors import MusicnnError
from .validators import positive_seconds

N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
FRAME_SECONDS = HOP_LENGTH / SAMPLE_RATE  # 16 ms between spectrogram frames


def log_mel(audio: np.ndarray) -> np.ndarray:
    """log10(1 + 10000 * mel) of a whole 16 kHz waveform, shape (frames, 96), float32."""
    return np.concatenate(list(stream_log_mel([audio])))


def stream_log_mel(blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """The log-mel spectrogram of consecutive 16 kHz waveform blocks, as consecutive frame blocks.

    Frames are those of `librosa.feature.melspectrogram(y, sr=16000, hop_length=256,
    n_fft=512, n_mels=96)` (centred, zero-padded by 256 samples at both ends), whatever
    the block boundaries. The mel power is rounded to float16 because the models were
    trained on float16 spectrograms; the log is then taken in float32 (in float16,
    10000 * mel overflows to inf under numpy 2's casting rules). Audio so loud that
    its mel power overflows float16 (a peak far above 1) raises MusicnnError.
    """
    pending = np.zeros(N_FFT // 2, np.float32)
    for block in blocks:
        pending = np.concatenate([pending, block])
        pending, frames = _take_frames(pending)
        if len(frames):
            yield frames
    _, frames = _take_frames(np.concatenate([pending, np.zeros(N_FFT // 2, np.float32)]))
    if len(frames):
        yield frames


def _take_frames(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel frames of every whole window in `samples`, and the samples the next frame needs."""
    if len(samples) < N_FFT:  # not one whole window yet (audio or block shorter than 16 ms)
        return samples, np.zeros((0, N_MELS), np.float32)
    count = (len(samples) - N_FFT) // HOP_LENGTH + 1
    windows = np.lib.stride_tricks.sliding_window_view(samples, N_FFT)[:count * HOP_LENGTH:HOP_LENGTH]
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below, in the user's terms
        # As librosa: the float64 Hann window makes the FFT float64; the spectrum is kept as complex64.
        spectrum = np.fft.rfft(windows * _hann_window(), axis=-1).astype(np.complex64)
        power = np.abs(spectrum) ** 2
        mel = _mel_projection(power).astype(np.float32).astype(np.float16)
    if not np.isfinite(mel).all():  # the models would return numbers that mean nothing
        raise MusicnnError(f"the audio is too loud for the models (peak amplitude {np.abs(samples).max():.6g}): "
                           "float samples belong in [-1, 1]; scale it down (integer PCM held as floats: "
                           "divide by 32768 for 16-bit)")
    log_mel = np.log10(10000 * mel.astype(np.float32) + 1)
    return samples[count * HOP_LENGTH:], log_mel


@functools.cache
def _hann_window() -> np.ndarray:
    """librosa.filters.get_window("hann", 512, fftbins=True), float64 (512,)."""
    return _log_mel_constants()["hann_window"]


def _mel_projection(power: np.ndarray) -> np.ndarray:
    """The mel power (frames, 96) float64 of a power spectrum (frames, 257).

    Each mel filter is nonzero over a short run of bins (15 at most), so each band is summed over
    its own run, in float64 and in a fixed order, so that the result does not depend on block
    sizes. numpy's einsum does it without BLAS: a BLAS matrix product (OpenBLAS, threaded) left
    its idle worker threads spinning after every block, about 12% of a folder's CPU time
    (benchmarks/cpu_time.py).
    """
    bins, weights = _mel_bands()
    return np.einsum("fmk,mk->fm", power.astype(np.float64)[:, bins], weights)


@functools.cache
def _mel_bands() -> tuple[np.ndarray, np.ndarray]:
    """The mel filterbank as bands: bins (96, width), the FFT bins each filter spans, and their
    weights (96, width), zero where a shorter filter's run ends."""
    basis = _mel_basis()
    spans = [np.flatnonzero(row) for row in basis]
    width = max(len(span) for span in spans)
    starts = np.minimum([span[0] for span in spans], basis.shape[1] - width)
    bins = starts[:, np.newaxis] + np.arange(width)
    return bins, np.take_along_axis(basis, bins, axis=1)


@functools.cache
def _mel_basis() -> np.ndarray:
    """librosa.filters.mel(sr=16000, n_fft=512, n_mels=96), as float64 (96, 257)."""
    return _log_mel_constants()["mel_basis"].astype(np.float64)


@functools.cache
def _log_mel_constants() -> dict[str, np.ndarray]:
    # Stored rather than computed: librosa's filters import numba, which costs about 1.5 s and
    # 200 MB at start-up. tests/test_spectrum.py checks the stored arrays equal librosa's.
    with np.load(WEIGHTS_DIR / "log_mel.npz", allow_pickle=False) as constants:
        return {name: constants[name] for name in constants.files}


def patch_frames(input_length: float) -> int:
    """Frames in a patch of `input_length` seconds (187 for 3 s), as musicnn counts them."""
    frames = _time_to_frames(positive_seconds("input_length", input_length)) + 1
    if frames < 1:
        raise MusicnnError(f"input_length={input_length} s is shorter than one spectrogram frame; "
                           "use at least 0.016 s (the models were trained on 3 s)")
    return frames


def step_frames(input_overlap: float | bool | None, n_frames: int) -> int:
    """Frames between patch starts: musicnn's `input_overlap` in seconds, or a whole patch if False."""
    if input_overlap is None or input_overlap is False or input_overlap == 0:
        return n_frames
    frames = _time_to_frames(positive_seconds("input_overlap", input_overlap))
    if frames < 1:
        raise MusicnnError(f"input_overlap={input_overlap} s is less than one frame between patches; "
                           "use at least 0.032 s, or False for back-to-back patches")
    return frames


def patch_starts(n_patches: int, step: int) -> np.ndarray:
    """The start of each of n_patches patches `step` frames apart, in seconds, shape (n_patches,)."""
    return np.arange(n_patches) * (step * FRAME_SECONDS)


def to_patches(spectrogram: np.ndarray, n_frames: int, step: int) -> np.ndarray:
    """Patches of a whole spectrogram, shape (patches, n_frames, 96); see `stream_patches`."""
    return np.concatenate(list(stream_patches([spectrogram], n_frames, step)))


def stream_patches(spectra: Iterable[np.ndarray], n_frames: int, step: int) -> Iterator[np.ndarray]:
    """Patches of `n_frames` frames starting every `step` frames, from consecutive spectrogram blocks.

    Yields arrays of shape (patches, n_frames, 96). As in musicnn, the tail shorter than
    a patch is dropped. A spectrogram shorter than one patch is repeat-padded to one
    patch, as the models saw in training.
    """
    pending = np.zeros((0, N_MELS), np.float32)
    next_start = 0  # index in `pending` of the next patch's first frame
    any_patch = False
    for block in spectra:
        pending = np.concatenate([pending, block])
        if len(pending) >= next_start + n_frames:
            count = (len(pending) - next_start - n_frames) // step + 1
            windows = np.lib.stride_tricks.sliding_window_view(pending[next_start:], n_frames, axis=0)
            yield np.ascontiguousarray(windows[:count * step:step].transpose(0, 2, 1))
            next_start += count * step
            any_patch = True
        done = min(next_start, len(pending))
        pending, next_start = pending[done:], next_start - done
    if not any_patch:  # the whole song is shorter than one patch
        yield pending[np.arange(n_frames) % len(pending)][np.newaxis]


def _time_to_frames(seconds: float) -> int:
    """librosa.time_to_frames(seconds, sr=16000, n_fft=512, hop_length=256), as musicnn counted frames."""
    return (int(seconds * SAMPLE_RATE) - N_FFT // 2) // HOP_LENGTH

