"""What a model hears: the front-end its weights file declares, from a waveform to the patches its network takes.

A weights file holds a JSON declaration, `front_end`: the kind of front-end and its numbers
(sample rate, STFT, mel bands, the patch length the model was trained on, whether other lengths
may be asked for). Everything downstream (resampling, patching, timestamps, the shape of a blank
patch, plots) reads them from the model's FrontEnd instead of module constants. Kinds:

- "log_mel" (musicnn 0.1.0's models): the log10(1 + 10000 mel) spectrogram of the whole song,
  float16-rounded, cut into patches of frames (see spectrum); patch lengths and steps in frames.
- "db_mel" (the survey's models, Won et al. 2020): the waveform cut into chunks, a dB mel
  spectrogram of each chunk with the filterbank of its checkpoint (see db_mel); patch lengths
  and steps in samples. The filterbank is stored beside the declaration, as `front_end/mel_filterbank`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields

import numpy as np

from . import db_mel, spectrum
from .errors import MusicnnError
from .validators import positive_seconds

DECLARATION = "front_end"  # the weights file's array holding the declaration (JSON text)


@dataclass(frozen=True)
class FrontEnd(ABC):
    """The numbers every front-end declares; a kind of front-end implements the methods.

    sample_rate: Hz the audio is resampled to. n_fft, hop_length: the STFT (samples). n_mels:
    mel bands, the last axis of every patch. patch_seconds: the patch length the model was
    trained on (the default input_length). any_length: whether another input_length may be asked.
    """

    sample_rate: int
    n_fft: int
    hop_length: int
    n_mels: int
    patch_seconds: float
    any_length: bool

    kind = ""

    def declaration(self) -> str:
        """The JSON text stored in a weights file: the kind and its numbers (its arrays are stored apart)."""
        numbers = {name: value for name, value in self._fields().items() if not isinstance(value, np.ndarray)}
        return json.dumps({"kind": self.kind, **numbers})

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays a weights file stores beside the declaration, as `front_end/<name>`."""
        return {name: value for name, value in self._fields().items() if isinstance(value, np.ndarray)}

    def _fields(self) -> dict:
        return {item.name: getattr(self, item.name) for item in fields(self)}

    @abstractmethod
    def patch_length(self, input_length: float | None, model_name: str = "") -> int:
        """A patch of `input_length` seconds (None: patch_seconds) in this front-end's units, checked
        (model_name, if given, names the model in the error)."""

    @abstractmethod
    def step(self, input_overlap: float | bool | None, patch_length: int) -> int:
        """Units between patch starts: musicnn's `input_overlap` in seconds, or a whole patch if False."""

    @property
    @abstractmethod
    def unit_seconds(self) -> float:
        """Seconds per unit of patch_length and step."""

    @abstractmethod
    def frames(self, patch_length: int) -> int:
        """Spectrogram frames in the network's input for a patch of `patch_length` units."""

    @abstractmethod
    def patches(self, blocks: Iterable[np.ndarray], patch_length: int, step: int) -> Iterator[np.ndarray]:
        """Patches (patches, frames, n_mels) float32 of consecutive mono blocks at sample_rate."""

    def _fixed_length(self, input_length: float | None, model_name: str) -> float:
        """input_length in seconds, refused where the model takes its own patch length only."""
        if input_length is None:
            return self.patch_seconds
        if not self.any_length and input_length != self.patch_seconds:
            raise MusicnnError(f"{model_name or 'this model'} takes {self.patch_seconds:g}-s patches only, not "
                               f"input_length={input_length}; leave input_length out (or set it to "
                               f"{self.patch_seconds:g})")
        return input_length


@dataclass(frozen=True)
class LogMelFrontEnd(FrontEnd):
    """musicnn 0.1.0's: log10(1 + 10000 mel) of the whole song, float16-rounded, patches of frames.

    spectrum implements it for the numbers musicnn trained with (16 kHz, n_fft 512, hop 256,
    96 mel bands, librosa's Slaney filterbank); a declaration with other numbers is refused.
    """

    kind = "log_mel"

    def __post_init__(self):
        implemented = (spectrum.SAMPLE_RATE, spectrum.N_FFT, spectrum.HOP_LENGTH, spectrum.N_MELS)
        if (self.sample_rate, self.n_fft, self.hop_length, self.n_mels) != implemented:
            raise ValueError("a log_mel front-end is musicnn's: 16 kHz, n_fft 512, hop 256, 96 mel bands")

    def patch_length(self, input_length: float | None, model_name: str = "") -> int:
        return spectrum.patch_frames(self._fixed_length(input_length, model_name))

    def step(self, input_overlap: float | bool | None, patch_length: int) -> int:
        return spectrum.step_frames(input_overlap, patch_length)

    @property
    def unit_seconds(self) -> float:
        return self.hop_length / self.sample_rate

    def frames(self, patch_length: int) -> int:
        return patch_length

    def patches(self, blocks: Iterable[np.ndarray], patch_length: int, step: int) -> Iterator[np.ndarray]:
        return spectrum.stream_patches(spectrum.stream_log_mel(blocks), patch_length, step)


@dataclass(frozen=True)
class DbMelFrontEnd(FrontEnd):
    """The survey's: the waveform cut into chunks of patch_seconds, the dB mel spectrogram of each.

    Each chunk's spectrogram is computed alone, reflect-padded at its own edges, with
    `mel_filterbank` ((n_fft // 2 + 1, n_mels) float32, the checkpoint's): see db_mel. Patch
    lengths and steps are in samples; a song shorter than one chunk is repeated from its start.
    """

    mel_filterbank: np.ndarray = field(compare=False, repr=False)

    kind = "db_mel"

    def __post_init__(self):
        filterbank = self.mel_filterbank
        if not isinstance(filterbank, np.ndarray) or filterbank.dtype != np.float32 \
                or filterbank.shape != (self.n_fft // 2 + 1, self.n_mels):
            raise ValueError(f"a db_mel front-end needs a float32 mel filterbank of ({self.n_fft // 2 + 1}, "
                             f"{self.n_mels}) (FFT bins, mel bands)")
        if not np.isfinite(filterbank).all() or (filterbank < 0).any():
            raise ValueError("the mel filterbank holds negative, NaN or infinite weights")
        if min(self.sample_rate, self.n_fft, self.hop_length) <= 0 \
                or round(self.patch_seconds * self.sample_rate) <= self.n_fft // 2:
            raise ValueError("a db_mel front-end needs a positive rate, STFT and hop, and chunks longer "
                             "than half an FFT window")

    def patch_length(self, input_length: float | None, model_name: str = "") -> int:
        seconds = self._fixed_length(input_length, model_name)
        samples = round(positive_seconds("input_length", seconds) * self.sample_rate)
        if samples <= self.n_fft // 2:  # reflect padding needs more samples than it pads
            raise MusicnnError(f"input_length={input_length} s is too short for {model_name or 'this model'}; "
                               f"use at least {(self.n_fft // 2 + 1) / self.sample_rate:g} s "
                               f"(it was trained on {self.patch_seconds:g})")
        return samples

    def step(self, input_overlap: float | bool | None, patch_length: int) -> int:
        if input_overlap is None or input_overlap is False or input_overlap == 0:
            return patch_length
        samples = round(positive_seconds("input_overlap", input_overlap) * self.sample_rate)
        if samples < 1:
            raise MusicnnError(f"input_overlap={input_overlap} s is less than one sample between chunks; "
                               "use a longer step, or False for back-to-back chunks")
        return samples

    @property
    def unit_seconds(self) -> float:
        return 1 / self.sample_rate

    def frames(self, patch_length: int) -> int:
        return patch_length // self.hop_length + 1

    def patches(self, blocks: Iterable[np.ndarray], patch_length: int, step: int) -> Iterator[np.ndarray]:
        for chunks in spectrum.stream_patches(blocks, patch_length, step):
            yield db_mel.db_mel(chunks, self.mel_filterbank, self.n_fft, self.hop_length)


_KINDS = {kind.kind: kind for kind in (LogMelFrontEnd, DbMelFrontEnd)}


def musicnn_front_end(any_length: bool = True) -> LogMelFrontEnd:
    """musicnn 0.1.0's front-end (any_length False for its VGG models, which take 3-s patches only)."""
    return LogMelFrontEnd(spectrum.SAMPLE_RATE, spectrum.N_FFT, spectrum.HOP_LENGTH, spectrum.N_MELS, 3,
                          any_length)


def parse_declaration(text: str, arrays: dict[str, np.ndarray] | None = None) -> FrontEnd:
    """The FrontEnd a weights file's declaration describes, with the arrays stored beside it;
    ValueError if it is not one this version runs."""
    try:
        numbers = json.loads(text)
        kind = _KINDS[numbers.pop("kind")]
        return kind(**numbers, **(arrays or {}))
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise ValueError(f"unsupported front-end declaration {text[:200]!r} ({error})") from None
