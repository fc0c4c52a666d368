"""The survey models' front-end in numpy: a dB mel spectrogram of each chunk of a waveform.

It computes what torchaudio's `MelSpectrogram(sample_rate=16000, n_fft=512, hop_length=256,
n_mels=96)` followed by `AmplitudeToDB()` computed inside the survey's models: per chunk, centred
frames with reflect padding at the chunk's own edges, a periodic Hann window, power 2, the
checkpoint's stored mel filterbank, then 10 * log10(max(x, 1e-10)). numpy does this faster than
an ONNX graph around opset 17's STFT on ONNX Runtime: 12 against 20 ms per 29-s chunk, 0.7 against
1.6 ms per 3-s chunk (2 shared cores, benchmarks/db_mel_front_end.py). front_end.DbMelFrontEnd
cuts the chunks and declares the numbers.
"""

import numpy as np

from .spectrum import mel_bands

AMIN = 1e-10  # the smallest mel power before the log: -100 dB


def db_mel(chunks: np.ndarray, mel_filterbank: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """The dB mel spectrogram of each chunk (chunks, samples): (chunks, frames, mel bands) float32.

    mel_filterbank: (n_fft // 2 + 1, mel bands). Frames: samples // hop_length + 1 per chunk.
    Computed in float64 and rounded once, as fast as float32 here (the FFTs are short). The
    reference's float32 FFT differs from it by up to 5e-3 dB in bins above -60 dB, and by up to
    0.2 dB in bins 100 dB and more below their frame's peak (its rounding noise).
    """
    half = n_fft // 2
    padded = np.pad(np.asarray(chunks, np.float64), ((0, 0), (half, half)), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop_length]
    spectrum = np.fft.rfft(frames * periodic_hann(n_fft), axis=-1)
    power = spectrum.real ** 2 + spectrum.imag ** 2
    bins, weights = mel_bands(mel_filterbank.T.astype(np.float64))
    mel = np.einsum("cfmk,mk->cfm", power[:, :, bins], weights)  # no BLAS: see spectrum._mel_projection
    return (10 * np.log10(np.maximum(mel, AMIN))).astype(np.float32)


def periodic_hann(n: int) -> np.ndarray:
    """The Hann window torch.hann_window(n) computes (periodic: of n + 1 points, the last one dropped), float64."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
