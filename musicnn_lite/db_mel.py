"""The survey's front-end in numpy: the waveform cut into chunks, then a dB mel spectrogram of each chunk.

It computes what torchaudio's `MelSpectrogram(sample_rate=16000, n_fft=512, hop_length=256,
n_mels=96)` followed by `AmplitudeToDB()` computed inside the survey's models: per chunk, centred
frames with reflect padding at the chunk's own edges, a periodic Hann window, power 2, the
checkpoint's stored mel filterbank, then 10 * log10(max(x, 1e-10)). numpy does this faster than
an ONNX graph around opset 17's STFT on ONNX Runtime: 12 against 20 ms per 29-s chunk, 0.7 against
1.6 ms per 3-s chunk (2 shared cores, benchmarks/db_mel_front_end.py).
"""

import functools
from dataclasses import dataclass

import numpy as np

from .errors import MusicnnError
from .spectrum import N_MELS, mel_bands

AMIN = 1e-10  # the smallest mel power before the log: -100 dB
_SIZES = ("sample_rate", "n_fft", "hop_length", "chunk_samples")


@dataclass(frozen=True, eq=False)
class DbMelFrontEnd:
    """One model's front-end: its rates and sizes, and the mel filterbank it was trained with."""

    sample_rate: int  # Hz
    n_fft: int  # samples per STFT window
    hop_length: int  # samples between frames
    chunk_samples: int  # samples per chunk: 48,000 (3 s) or 464,000 (29 s) at 16 kHz
    mel_filterbank: np.ndarray  # (n_fft // 2 + 1, 96) float32

    @classmethod
    def from_parameters(cls, parameters: dict[str, np.ndarray], source: str) -> "DbMelFrontEnd":
        """The front-end a weights file declares (zoo.ModelWeights.front_end), checked; `source` names the file."""
        sizes = {name: int(parameters[name]) for name in _SIZES}
        bins = sizes["n_fft"] // 2 + 1
        problem = next((f"{name} is {value}" for name, value in sizes.items() if value <= 0), None)
        if problem is None and sizes["chunk_samples"] <= sizes["n_fft"] // 2:
            problem = "its chunks are too short for reflect padding"  # numpy's reflect needs more samples
        if problem is None and parameters["mel_filterbank"].shape != (bins, N_MELS):
            problem = f"its mel filterbank is {parameters['mel_filterbank'].shape}, not ({bins}, {N_MELS})"
        if problem:
            raise MusicnnError(f"the front-end of {source} is invalid ({problem}); "
                               "re-convert the model with `python -m musicnn_lite.convert`")
        return cls(**sizes, mel_filterbank=parameters["mel_filterbank"])

    def parameters(self) -> dict[str, np.ndarray]:
        """The front-end as a weights file stores it: int64 sizes and the float32 filterbank, by field name."""
        sizes = {name: np.int64(getattr(self, name)) for name in _SIZES}
        return {**sizes, "mel_filterbank": np.asarray(self.mel_filterbank, np.float32)}

    @property
    def frames(self) -> int:
        """Spectrogram frames of one chunk (centred frames: one per hop, plus one)."""
        return self.chunk_samples // self.hop_length + 1

    @property
    def chunk_seconds(self) -> float:
        return self.chunk_samples / self.sample_rate

    @functools.cached_property
    def _bands(self) -> tuple[np.ndarray, np.ndarray]:
        bins, weights = mel_bands(self.mel_filterbank.T)
        return bins, weights.astype(np.float64)

    def chunks(self, audio: np.ndarray) -> np.ndarray:
        """Consecutive chunks of `audio` (samples,) from sample 0, (chunks, chunk_samples) float32.

        The tail shorter than a chunk is dropped; audio shorter than one chunk is repeated from
        its start until one chunk is full (`numpy.resize`), as the survey's outputs were made.
        """
        if len(audio) == 0:
            raise MusicnnError("the audio is empty: there is nothing to tag")
        if len(audio) < self.chunk_samples:
            audio = np.resize(audio, self.chunk_samples)
        count = len(audio) // self.chunk_samples
        return np.asarray(audio[:count * self.chunk_samples], np.float32).reshape(count, self.chunk_samples)

    def spectrogram(self, chunks: np.ndarray) -> np.ndarray:
        """The dB mel spectrogram of each chunk (chunks, samples): (chunks, frames, mel bands) float32.

        Computed in float64 and rounded once, as fast as float32 here (the FFTs are short). The
        reference's float32 FFT differs from it by up to 5e-3 dB in bins above -60 dB, and by up to
        0.2 dB in bins 100 dB and more below their frame's peak (its rounding noise).
        """
        half = self.n_fft // 2
        padded = np.pad(np.asarray(chunks, np.float64), ((0, 0), (half, half)), mode="reflect")
        frames = np.lib.stride_tricks.sliding_window_view(padded, self.n_fft, axis=-1)[:, ::self.hop_length]
        spectrum = np.fft.rfft(frames * _periodic_hann(self.n_fft), axis=-1)
        power = spectrum.real ** 2 + spectrum.imag ** 2
        bins, weights = self._bands
        mel = np.einsum("cfmk,mk->cfm", power[:, :, bins], weights)  # no BLAS: see spectrum._mel_projection
        return (10 * np.log10(np.maximum(mel, AMIN))).astype(np.float32)


def _periodic_hann(n: int) -> np.ndarray:
    """The Hann window torch.hann_window(n) computes (periodic: the window of n + 1 points, last one dropped)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
