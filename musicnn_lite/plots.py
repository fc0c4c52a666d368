"""Pictures of what a model says about a song: taggram, song-level tag likelihoods, layer outputs.

    from musicnn_lite import extractor, plots
    taggram, tags, features = extractor("song.mp3")
    plots.plot_taggram(taggram, tags).figure.savefig("taggram.png")

Each function draws on `ax` (a new figure when ax is None), returns that Axes, and takes
the arrays `extractor` returns as they are. matplotlib is imported only when a function
is called; nothing here picks a backend or calls plt.show(), so the functions work
headless (Agg) and in notebooks, where a new figure shows itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .errors import MusicnnError
from .spectrum import FRAME_SECONDS, patch_frames, patch_starts, step_frames
from .tag_result import top_indices
from .validators import tag_count, whole_number

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ROW_INCHES = 0.17  # height of one tag row in a new figure: room for a default-size label
TOP_COLOR, OTHER_COLOR = "tab:orange", "tab:blue"


def plot_taggram(taggram: np.ndarray, tags: Sequence[str], input_length: float = 3,
                 input_overlap: float | bool = False, ax: Axes | None = None, colorbar: bool = True,
                 timestamps: np.ndarray | None = None, patch_seconds: float | None = None) -> Axes:
    """Tag likelihoods over time: one row per tag (first tag on top), time in seconds across.

    taggram: (patches, tags) likelihoods as `extractor` returns them; tags: its column names.
    input_length, input_overlap: the values a musicnn 0.1.0 model's taggram was computed with.
    Patch i starts at i * step seconds and lasts input_length (patch_frames(input_length) frames
    of 16 ms).
    timestamps: (patches,) the start of each patch in seconds, as `TagResult.timestamps`;
    when given, input_overlap is not needed. patch_seconds: how long each patch lasts, as
    `TagResult.patch_seconds` (any model's: a 29-s chunk of FCN, say); when given,
    input_length is not needed. Each column reaches halfway to the
    neighbouring patches' centres, so back-to-back patches (input_overlap=False) are drawn
    exactly over their own seconds, and overlapping ones each over the stretch nearest their centre.
    """
    taggram = _check_taggram(taggram, tags)
    n_frames = patch_frames(input_length)
    if patch_seconds is None:
        patch_seconds = n_frames * FRAME_SECONDS
    if timestamps is None:
        timestamps = patch_starts(len(taggram), step_frames(input_overlap, n_frames))
    timestamps = np.asarray(timestamps, dtype=float)
    if timestamps.shape != (len(taggram),):
        raise MusicnnError(f"timestamps of shape {timestamps.shape} do not fit a taggram of {len(taggram)} "
                           "patches; pass the timestamps of the same result")
    if ax is None:
        ax = _new_axes(width=10, n_rows=len(tags))
    mesh = ax.pcolormesh(_time_edges(timestamps, patch_seconds),
                         np.arange(len(tags) + 1) - 0.5, taggram.T, vmin=0, cmap="viridis")
    _label_rows(ax, tags)
    ax.set_xlabel("time (s)")
    ax.set_title("Taggram")
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label="likelihood", pad=0.02, aspect=40)
    return ax


def plot_tag_likelihoods(taggram: np.ndarray, tags: Sequence[str], top_n: int = 10, ax: Axes | None = None) -> Axes:
    """Song-level likelihood of each tag (the taggram's mean over patches) as horizontal bars.

    taggram: (patches, tags), or song-level likelihoods (tags,). Tags keep the taggram's
    order, first on top, so the chart lines up beside `plot_taggram`. The top_n tags are
    marked: coloured bars, their rank beside the bar, and their names in bold.
    """
    likelihoods = _check_taggram(np.atleast_2d(taggram), tags).mean(axis=0)
    top_n = tag_count("top_n", top_n, len(tags), low=0)
    if ax is None:
        ax = _new_axes(width=5, n_rows=len(tags))
    top = [int(i) for i in top_indices(likelihoods, top_n)]
    colors = [TOP_COLOR if i in top else OTHER_COLOR for i in range(len(tags))]
    ax.barh(np.arange(len(tags)), likelihoods, height=0.8, color=colors)
    fontsize = _label_rows(ax, tags)
    ticks = ax.yaxis.get_major_ticks()
    for rank, i in enumerate(top, start=1):
        ax.text(likelihoods[i], i, f" {rank}", va="center", fontsize=fontsize, color=TOP_COLOR)
        ticks[i].label1.set_fontweight("bold")
    ax.set_xlim(0, 1.12 * max(float(likelihoods.max()), 1e-3))
    ax.set_xlabel("song-level likelihood")
    ax.set_title(f"Top {top_n} tags")
    return ax


def plot_feature(feature: np.ndarray, name: str | None = None, patch: int | None = None,
                 ax: Axes | None = None) -> Axes:
    """One layer's output, as in `extractor`'s features dict: patch on the first axis.

    Vectors, (patches, dims) such as penultimate (p, 200): an image of every dimension
    over the patches, or with `patch`, that patch's vector as a line.
    Maps, (patches, time, channels) such as timbral (p, 187, 408): the channels over the
    time steps of one `patch`, or their mean over all patches when patch is None.
    VGG maps, (patches, time, frequency, channels) such as pool1 (p, 92, 48, 128): the
    same with the channels averaged, leaving frequency over time.
    Image colours span the 1st to 99th percentile of the values shown.
    """
    feature = np.asarray(feature)
    label = name or "feature"
    if feature.ndim not in (2, 3, 4) or feature.size == 0:
        raise MusicnnError(f"{label} has shape {feature.shape}; pass one entry of extractor's features dict, "
                           "with the patch on the first axis, e.g. features['penultimate']")
    if patch is not None:
        patch = whole_number("patch", patch, 0, len(feature) - 1, hint=f" (a patch of {label}), "
                                                                       "or None for the mean over patches")
    if ax is None:
        ax = _new_axes(width=8, height=4.5)
    if feature.ndim == 2 and patch is not None:
        ax.plot(feature[patch], linewidth=0.8)
        ax.set(xlabel="dimension", ylabel="activation", xlim=(0, feature.shape[1] - 1))
        shown = f"patch {patch}"
    elif feature.ndim == 2:
        _draw_image(ax, feature.T, xlabel="patch", ylabel="dimension")
        shown = "all patches"
    else:
        maps = feature[patch] if patch is not None else feature.mean(axis=0)
        ylabel = "channel"
        if maps.ndim == 3:  # VGG: (time, frequency, channels)
            maps, ylabel = maps.mean(axis=-1), f"frequency (mean of {maps.shape[-1]} channels)"
        _draw_image(ax, maps.T, xlabel="time step", ylabel=ylabel)
        shown = f"patch {patch}" if patch is not None else f"mean of {len(feature)} patches"
    ax.set_title(f"{label} ({' × '.join(map(str, feature.shape[1:]))} per patch), {shown}")
    return ax


def _check_taggram(taggram: np.ndarray, tags: Sequence[str]) -> np.ndarray:
    taggram = np.asarray(taggram, dtype=float)
    if taggram.ndim != 2 or taggram.shape[0] == 0 or taggram.shape[1] != len(tags):
        raise MusicnnError(f"a taggram of shape {taggram.shape} does not fit {len(tags)} tags; pass the "
                           "(patches, tags) taggram and the tag list that extractor returned together")
    return taggram


def _time_edges(starts: np.ndarray, length: float) -> np.ndarray:
    """Where each taggram column begins and ends in seconds, (patches + 1,), for patches of `length` s."""
    return np.concatenate([starts[:1], (starts[:-1] + starts[1:] + length) / 2, [starts[-1] + length]])


def _draw_image(ax: Axes, image: np.ndarray, xlabel: str, ylabel: str) -> None:
    """image (rows, columns) with row 0 at the bottom, a colour bar, and whole-number column ticks.

    Colours span the 1st to 99th percentile: a few large activations would wash out the rest.
    """
    from matplotlib.ticker import MaxNLocator

    low, high = np.percentile(image, [1, 99])
    shown = ax.imshow(image, origin="lower", aspect="auto", interpolation="nearest", cmap="magma",
                      vmin=low, vmax=max(high, low + 1e-6))
    ax.figure.colorbar(shown, ax=ax, label="activation", pad=0.02, aspect=30, extend="both")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _new_axes(width: float, n_rows: int | None = None, height: float | None = None) -> Axes:
    """Axes on a new pyplot figure, tall enough for n_rows labels of the default size."""
    import matplotlib.pyplot as plt

    height = height if height is not None else max(4.8, ROW_INCHES * n_rows + 1.2)
    return plt.subplots(figsize=(width, height), layout="constrained")[1]


def _label_rows(ax: Axes, names: Sequence[str]) -> float:
    """Name every row, first on top, in the largest font up to the default that fits; return the size."""
    import matplotlib as mpl
    from matplotlib.font_manager import FontProperties

    default = FontProperties(size=mpl.rcParams["ytick.labelsize"]).get_size_in_points()
    height_points = ax.get_position().height * ax.figure.get_figheight() * 72
    fontsize = min(default, 0.8 * height_points / len(names))
    ax.set_yticks(np.arange(len(names)), list(names), fontsize=fontsize)
    ax.set_ylim(len(names) - 0.5, -0.5)
    return fontsize
