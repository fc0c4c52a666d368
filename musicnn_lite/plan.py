"""The patching plan: how songs are cut into patches and which layers a run returns.

Built once from the caller's options and the model's architecture, and checked
before any model, audio or output file is opened, so that a bad option costs nothing.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .errors import MusicnnError
from .spectrum import FRAME_SECONDS, patch_frames, patch_starts, step_frames
from .zoo import FEATURES

FeatureRequest = bool | str | Iterable[str] | None


@dataclass(frozen=True)
class PatchPlan:
    """Patches of `patch_frames` spectrogram frames starting every `step_frames` frames (16 ms each).

    input_length, input_overlap: the seconds they were built from, as musicnn takes them
    (input_overlap is the step between patch starts; False means one patch length).
    features: the names of the layer outputs to return besides the taggram.
    """

    architecture: str
    input_length: float
    input_overlap: float | bool
    patch_frames: int
    step_frames: int
    features: tuple[str, ...]

    @classmethod
    def build(cls, architecture: str, input_length: float = 3, input_overlap: float | bool = False,
              features: FeatureRequest = False, model_name: str = "") -> "PatchPlan":
        """Check the options against `architecture` ('musicnn' or 'vgg') and work out the frames.

        model_name, if given, names the model in error messages.
        """
        n_frames = patch_frames(input_length)
        step = step_frames(input_overlap, n_frames)
        if architecture == "vgg" and input_length != 3:
            raise MusicnnError(f"the VGG models take 3-s patches only, not input_length={input_length}; "
                               "set input_length=3 or use a musicnn model")
        names = _feature_names(architecture, features, model_name)
        return cls(architecture, input_length, input_overlap, n_frames, step, names)

    @property
    def step_seconds(self) -> float:
        """Seconds between the starts of consecutive patches."""
        return self.step_frames * FRAME_SECONDS

    def timestamps(self, n_patches: int) -> np.ndarray:
        """The start of each patch in seconds, shape (n_patches,)."""
        return patch_starts(n_patches, self.step_frames)


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
