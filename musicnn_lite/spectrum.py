"""Log-mel spectrogram and 3-s patches, exactly as musicnn computed them for training."""

import librosa
import numpy as np

from .audio import SAMPLE_RATE
from .errors import MusicnnError

N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
PATCH_SECONDS = 3.0


def log_mel(audio: np.ndarray) -> np.ndarray:
    """log10(1 + 10000 * mel) of a 16 kHz waveform, shape (frames, 96), float32.

    The mel power is rounded to float16 first because the models were trained on
    float16 spectrograms; the log is then taken in float32 (in float16,
    10000 * mel overflows to inf under numpy 2's casting rules).
    """
    mel = librosa.feature.melspectrogram(
        y=audio, sr=SAMPLE_RATE, hop_length=HOP_LENGTH, n_fft=N_FFT, n_mels=N_MELS).T
    mel = mel.astype(np.float16).astype(np.float32)
    return np.log10(10000 * mel + 1)


def patch_frames(input_length: float) -> int:
    """Frames in a patch of `input_length` seconds (187 for 3 s), as musicnn counts them."""
    _check_seconds("input_length", input_length)
    frames = int(librosa.time_to_frames(input_length, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH)) + 1
    if frames < 1:
        raise MusicnnError(f"input_length={input_length} s is shorter than one spectrogram frame; "
                           "use at least 0.016 s (the models were trained on 3 s)")
    return frames


def step_frames(input_overlap: float | bool | None, n_frames: int) -> int:
    """Frames between patch starts: musicnn's `input_overlap` in seconds, or a whole patch if False."""
    if input_overlap is None or input_overlap is False or input_overlap == 0:
        return n_frames
    _check_seconds("input_overlap", input_overlap)
    frames = int(librosa.time_to_frames(input_overlap, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH))
    if frames < 1:
        raise MusicnnError(f"input_overlap={input_overlap} s is less than one frame between patches; "
                           "use at least 0.032 s, or False for back-to-back patches")
    return frames


def to_patches(spectrogram: np.ndarray, n_frames: int, step: int) -> np.ndarray:
    """Patches of `n_frames` starting every `step` frames, shape (patches, n_frames, 96).

    As in musicnn, the tail shorter than a patch is dropped. A spectrogram shorter
    than one patch is repeat-padded to one patch, as the models saw in training.
    """
    if spectrogram.shape[0] < n_frames:
        spectrogram = spectrogram[np.arange(n_frames) % spectrogram.shape[0]]
    windows = np.lib.stride_tricks.sliding_window_view(spectrogram, n_frames, axis=0)[::step]
    return np.ascontiguousarray(windows.transpose(0, 2, 1))


def _check_seconds(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value <= 0:
        raise MusicnnError(f"{name}={value!r} must be a positive number of seconds, e.g. 3")
