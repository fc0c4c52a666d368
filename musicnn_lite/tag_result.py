"""TagResult: what a model says about one song, and how tags are ranked."""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .spectrum import FRAME_SECONDS, patch_frames, patch_starts
from .validators import tag_count


def top_indices(likelihoods: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest of `likelihoods` (tags,), largest first, ties broken as musicnn does."""
    return likelihoods.argsort()[len(likelihoods) - n:][::-1]


@dataclass
class TagResult:
    """What a model says about one song.

    taggram: (patches, tags) tag likelihoods in [0, 1], one row per patch.
    tags: the label of each taggram column: the model's tags, then those of its heads.
    features: layer name -> array whose first axis is the patch.
    timestamps: (patches,) the start of each patch in the song, in seconds; when not
    given, those of back-to-back 3-s patches (the default input_length and input_overlap).
    heads: head name -> its tags, for a Tagger with heads: their scores follow the model's
    tags in the taggram, in columns named "HEAD:TAG"; a head's scores sum to 1 in each patch.
    patch_seconds: the seconds of audio each patch spans (2.992 for musicnn's 187-frame patches).
    """

    taggram: np.ndarray
    tags: list[str]
    features: dict[str, np.ndarray] = field(default_factory=dict)
    timestamps: np.ndarray | None = None
    heads: dict[str, tuple[str, ...]] = field(default_factory=dict)
    patch_seconds: float = patch_frames(3) * FRAME_SECONDS

    def __post_init__(self):
        if self.timestamps is None:
            self.timestamps = patch_starts(len(self.taggram), patch_frames(3))

    @property
    def likelihoods(self) -> np.ndarray:
        """Song-level likelihood of each tag, (tags,): the mean of the taggram over patches."""
        return self.taggram.mean(axis=0)

    @property
    def head_columns(self) -> list[str]:
        """The taggram's columns that hold heads' scores, "HEAD:TAG", in their order."""
        return [f"{name}:{tag}" for name, tags in self.heads.items() for tag in tags]

    def top(self, n: int = 3) -> list[str]:
        """The n most likely of the model's tags (n from 1 to their number), most likely first (ties broken as
        musicnn does). A head's tags are left out: see `top_head_tags`."""
        head_columns = set(self.head_columns)
        model_columns = [i for i, tag in enumerate(self.tags) if tag not in head_columns]
        ranked = top_indices(self.likelihoods[model_columns], tag_count("n", n, len(model_columns)))
        return [self.tags[model_columns[i]] for i in ranked]

    def top_head_tags(self) -> list[str]:
        """The likeliest tag of each head, as "HEAD:TAG", in the order of the heads."""
        return likeliest_head_tags(self.heads, dict(zip(self.tags, self.likelihoods)).get)

    def column_indices(self, columns: list[str]) -> list[int]:
        """Where each of `columns` (tag names) is in the taggram."""
        index = {tag: i for i, tag in enumerate(self.tags)}
        return [index[column] for column in columns]

    def likelihoods_of(self, columns: list[str]) -> np.ndarray:
        """The song-level likelihood of each of `columns`, float32, (columns,)."""
        return self.likelihoods.astype(np.float32)[self.column_indices(columns)]


def likeliest_head_tags(heads: dict[str, tuple[str, ...]], likelihood: Callable[[str], float]) -> list[str]:
    """The likeliest tag of each head (name -> its tags), as "HEAD:TAG", given the song-level
    likelihood of each "HEAD:TAG" column (a function of the column's name)."""
    return [max((f"{name}:{tag}" for tag in tags), key=likelihood) for name, tags in heads.items()]
