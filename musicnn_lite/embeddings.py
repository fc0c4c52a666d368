"""A layer's output as embeddings: one vector per patch, or one per song.

Every consumer of song or patch embeddings (result files, heads, the beets plugin, similarity
search) reduces a feature the same way: the mean over every axis but the patch axis and the
last (channels), then, for a song, the mean over its patches. A feature that already has one
vector per patch (`penultimate`, `max_pool`) is kept as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .tagger import Tagger


def patch_embeddings(feature: np.ndarray) -> np.ndarray:
    """(patches, channels) float32 from a feature (patches, ..., channels), e.g. cnn1's (patches, 187, 64)."""
    feature = np.asarray(feature, dtype=np.float32)
    return feature.reshape(len(feature), -1, feature.shape[-1]).mean(axis=1)


def song_embedding(feature: np.ndarray) -> np.ndarray:
    """(channels,) float32: the mean of `patch_embeddings` over the song's patches."""
    return patch_embeddings(feature).mean(axis=0)


def feature_widths(tagger: Tagger, features: Iterable[str]) -> dict[str, int]:
    """The channels of each of `features` (the width of its embeddings), measured on one blank patch."""
    features = tuple(features)
    if not features:
        return {}
    outputs = tagger.predict(np.zeros((1, *tagger.plan().input_shape), np.float32), features)
    return {name: outputs[name].shape[-1] for name in features}
