"""The patching plan: how songs are cut into patches and which layers a run returns.

Built once from the caller's options and the model's front-end and architecture, and checked
before any model, audio or output file is opened, so that a bad option costs nothing.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .errors import MusicnnError
from .front_end import FrontEnd
from .zoo import FEATURES

FeatureRequest = bool | str | Iterable[str] | None


@dataclass(frozen=True)
class PatchPlan:
    """Patches of `patch_length` units starting every `step` units of the model's front-end
    (spectrogram frames for musicnn 0.1.0's models: 16 ms each).

    input_length, input_overlap: the seconds they were built from, as musicnn takes them
    (input_overlap is the step between patch starts; False means one patch length); an
    input_length left out is the model's own patch length.
    features: the names of the layer outputs to return besides the taggram.
    """

    front_end: FrontEnd
    architecture: str
    input_length: float
    input_overlap: float | bool
    patch_length: int
    step: int
    features: tuple[str, ...]

    @classmethod
    def build(cls, front_end: FrontEnd, architecture: str, input_length: float | None = None,
              input_overlap: float | bool = False, features: FeatureRequest = False,
              model_name: str = "") -> "PatchPlan":
        """Check the options against the model's front-end and architecture, and work out the patches.

        model_name, if given, names the model in error messages.
        """
        patch_length = front_end.patch_length(input_length, model_name)
        step = front_end.step(input_overlap, patch_length)
        names = _feature_names(architecture, features, model_name)
        seconds = front_end.patch_seconds if input_length is None else input_length
        return cls(front_end, architecture, seconds, input_overlap, patch_length, step, names)

    @property
    def step_seconds(self) -> float:
        """Seconds between the starts of consecutive patches."""
        return self.step * self.front_end.unit_seconds

    @property
    def patch_seconds(self) -> float:
        """Seconds of audio each patch spans."""
        return self.patch_length * self.front_end.unit_seconds

    @property
    def input_shape(self) -> tuple[int, int]:
        """(frames, mel bands) of each patch the network takes."""
        return self.front_end.frames(self.patch_length), self.front_end.n_mels

    def timestamps(self, n_patches: int) -> np.ndarray:
        """The start of each patch in seconds, shape (n_patches,)."""
        return np.arange(n_patches) * self.step_seconds


def _feature_names(architecture: str, features: FeatureRequest, model_name: str) -> tuple[str, ...]:
    available = FEATURES[architecture]
    if features is True:
        return available
    if features is False or features is None:
        return ()
    names = (features,) if isinstance(features, str) else tuple(features)
    unknown = [name for name in names if name not in available]
    if unknown:
        raise MusicnnError(f"{model_name or f'a {architecture} model'} has no feature {unknown[0]!r}; "
                           f"choose from {', '.join(available)}")
    return names
