"""The plotting helpers, rendered headless to PNG: what they draw, where, and how it reads.

Taggrams are musicnn 0.1.0's own outputs (tests/data/golden); features are random arrays
with the shapes extractor returns. No model runs here.
"""

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest

from musicnn_lite import MusicnnError, plots
from musicnn_lite.tagger import TagResult

from conftest import golden

FRAME = 256 / 16000
GOLDEN = golden("joram", "MTT_musicnn")
TAGGRAM, TAGS = GOLDEN["taggram"], [str(tag) for tag in GOLDEN["tags"]]
FEATURE_SHAPES = {"timbral": (3, 187, 408), "cnn1": (3, 187, 64), "penultimate": (3, 200),
                  "max_pool": (3, 753), "pool1": (3, 92, 48, 128), "pool5": (3, 2, 128)}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def render(ax, tmp_path) -> np.ndarray:
    """Draw the figure, save it as PNG, and return the PNG's pixels (rows, columns, RGBA)."""
    path = tmp_path / "plot.png"
    ax.figure.savefig(path)
    pixels = matplotlib.image.imread(path)
    assert pixels.std() > 0.05, "the picture is blank"
    return pixels


def assert_apart(labels) -> None:
    """The visible, non-empty labels do not overlap one another."""
    boxes = [label.get_window_extent() for label in labels if label.get_visible() and label.get_text()]
    assert boxes
    for first, second in zip(boxes, boxes[1:]):
        assert not first.overlaps(second), "tick labels overlap"


def random_feature(name: str) -> np.ndarray:
    return np.random.default_rng(0).normal(size=FEATURE_SHAPES[name]).astype(np.float32)


def test_importing_plots_imports_neither_matplotlib_nor_tensorflow():
    code = ("import sys, musicnn_lite.plots; "
            "print(sorted({'matplotlib', 'tensorflow', 'keras'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


def test_taggram_names_every_tag_first_on_top_and_time_in_seconds(tmp_path):
    ax = plots.plot_taggram(TAGGRAM, TAGS)
    render(ax, tmp_path)
    assert [label.get_text() for label in ax.get_yticklabels()] == TAGS
    assert ax.get_ylim() == (len(TAGS) - 0.5, -0.5)
    assert ax.get_xlabel() == "time (s)"
    assert_apart(ax.get_yticklabels())
    assert_apart(ax.get_xticklabels())


def test_taggram_draws_the_likelihoods_unchanged(tmp_path):
    ax = plots.plot_taggram(TAGGRAM, TAGS)
    render(ax, tmp_path)
    np.testing.assert_array_equal(np.asarray(ax.collections[0].get_array()).reshape(len(TAGS), -1), TAGGRAM.T)


@pytest.mark.parametrize("input_length, input_overlap, key, patch_frames, step_frames", [
    (3, False, "taggram", 187, 187), (5, False, "taggram_len5s", 312, 312), (3, 1, "taggram_hop1s", 187, 61)])
def test_taggram_columns_sit_where_their_patches_are(tmp_path, input_length, input_overlap, key, patch_frames,
                                                      step_frames):
    taggram = GOLDEN[key]
    ax = plots.plot_taggram(taggram, TAGS, input_length=input_length, input_overlap=input_overlap)
    render(ax, tmp_path)
    length, starts = patch_frames * FRAME, np.arange(len(taggram)) * step_frames * FRAME
    edges = ax.collections[0].get_coordinates()[0, :, 0]
    assert len(edges) == len(taggram) + 1
    np.testing.assert_allclose((edges[1:-2] + edges[2:-1]) / 2, starts[1:-1] + length / 2)  # inner columns: centred
    np.testing.assert_allclose([edges[0], edges[-1]], [0, starts[-1] + length])  # the whole song, no more
    if input_overlap is False:
        np.testing.assert_allclose(edges[:-1], starts)  # back-to-back patches: exactly their own seconds
    assert ax.get_xlim() == pytest.approx((0, starts[-1] + length))
    ticks = [tick for tick in ax.get_xticks() if 0 <= tick <= starts[-1] + length]
    assert 3 <= len(ticks) <= 12
    assert_apart(ax.get_xticklabels())


@pytest.mark.parametrize("n_patches", [1, 200])
def test_taggram_time_ticks_stay_few_and_apart_for_any_song_length(tmp_path, n_patches):
    taggram = np.resize(TAGGRAM, (n_patches, len(TAGS)))
    ax = plots.plot_taggram(taggram, TAGS)
    render(ax, tmp_path)
    end = n_patches * 187 * FRAME
    ticks = [tick for tick in ax.get_xticks() if 0 <= tick <= end]
    assert 3 <= len(ticks) <= 12 and ticks[-1] <= end
    assert_apart(ax.get_xticklabels())


def test_tag_labels_shrink_to_fit_a_small_axes(tmp_path):
    _, ax = plt.subplots(figsize=(6, 3))
    plots.plot_taggram(TAGGRAM, TAGS, ax=ax)
    render(ax, tmp_path)
    assert_apart(ax.get_yticklabels())


def test_likelihood_bars_equal_the_mean_of_the_taggram_in_tag_order(tmp_path):
    ax = plots.plot_tag_likelihoods(TAGGRAM, TAGS)
    render(ax, tmp_path)
    bars = ax.containers[0]
    np.testing.assert_allclose([bar.get_width() for bar in bars], TAGGRAM.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose([bar.get_y() + bar.get_height() / 2 for bar in bars], np.arange(len(TAGS)))
    assert [label.get_text() for label in ax.get_yticklabels()] == TAGS
    assert ax.get_xlabel() == "song-level likelihood"
    assert_apart(ax.get_yticklabels())


@pytest.mark.parametrize("top_n", [1, 5, 10])
def test_top_n_tags_are_marked_by_colour_rank_and_bold_name(tmp_path, top_n):
    ax = plots.plot_tag_likelihoods(TAGGRAM, TAGS, top_n=top_n)
    render(ax, tmp_path)
    top = TagResult(TAGGRAM, TAGS).top(top_n)
    coloured = [TAGS[i] for i, bar in enumerate(ax.containers[0])
                if bar.get_facecolor() == matplotlib.colors.to_rgba(plots.TOP_COLOR)]
    assert sorted(coloured) == sorted(top)
    ranks = {int(text.get_text()): TAGS[round(text.get_position()[1])] for text in ax.texts}
    assert ranks == {rank: tag for rank, tag in enumerate(top, start=1)}
    assert [label.get_text() for label in ax.get_yticklabels() if label.get_fontweight() == "bold"] == \
        [tag for tag in TAGS if tag in top]
    assert str(top_n) in ax.get_title()


def test_likelihoods_accept_song_level_values(tmp_path):
    ax = plots.plot_tag_likelihoods(TAGGRAM.mean(axis=0), TAGS, top_n=3)
    render(ax, tmp_path)
    np.testing.assert_allclose([bar.get_width() for bar in ax.containers[0]], TAGGRAM.mean(axis=0), rtol=1e-6)


@pytest.mark.parametrize("name", ["timbral", "cnn1", "pool5"])
def test_feature_map_shows_one_patch_or_the_mean_over_patches(tmp_path, name):
    feature = random_feature(name)
    one = plots.plot_feature(feature, name, patch=1)
    render(one, tmp_path)
    np.testing.assert_array_equal(one.images[0].get_array(), feature[1].T)
    assert (one.get_xlabel(), one.get_ylabel()) == ("time step", "channel")
    assert name in one.get_title() and "patch 1" in one.get_title()
    mean = plots.plot_feature(feature, name)
    render(mean, tmp_path)
    np.testing.assert_allclose(mean.images[0].get_array(), feature.mean(axis=0).T, rtol=1e-6)
    assert "mean of 3 patches" in mean.get_title()
    assert_apart(mean.get_xticklabels())


def test_vgg_feature_map_averages_the_channels(tmp_path):
    feature = random_feature("pool1")
    ax = plots.plot_feature(feature, "pool1", patch=0)
    render(ax, tmp_path)
    np.testing.assert_allclose(ax.images[0].get_array(), feature[0].mean(axis=-1).T, rtol=1e-6)
    assert ax.get_ylabel() == "frequency (mean of 128 channels)"


@pytest.mark.parametrize("name", ["penultimate", "max_pool"])
def test_feature_vectors_show_patches_by_dimensions_or_one_patch_as_a_line(tmp_path, name):
    feature = random_feature(name)
    image = plots.plot_feature(feature, name)
    render(image, tmp_path)
    np.testing.assert_array_equal(image.images[0].get_array(), feature.T)
    assert (image.get_xlabel(), image.get_ylabel()) == ("patch", "dimension")
    assert [tick for tick in image.get_xticks() if 0 <= tick <= 2] == [0, 1, 2]
    line = plots.plot_feature(feature, name, patch=2)
    render(line, tmp_path)
    np.testing.assert_array_equal(line.lines[0].get_ydata(), feature[2])
    assert (line.get_xlabel(), line.get_ylabel()) == ("dimension", "activation")


def test_plots_draw_on_the_given_axes_and_return_them(tmp_path):
    figure, axes = plt.subplots(1, 3, figsize=(15, 9))
    drawn = [plots.plot_taggram(TAGGRAM, TAGS, ax=axes[0]), plots.plot_tag_likelihoods(TAGGRAM, TAGS, ax=axes[1]),
             plots.plot_feature(random_feature("penultimate"), "penultimate", ax=axes[2])]
    assert drawn == list(axes)
    assert plt.get_fignums() == [figure.number]
    render(axes[0], tmp_path)


@pytest.mark.parametrize("call, named", [
    (lambda: plots.plot_taggram(TAGGRAM, TAGS[:10]), "(9, 50)"),
    (lambda: plots.plot_taggram(TAGGRAM[:0], TAGS), "(0, 50)"),
    (lambda: plots.plot_taggram(TAGGRAM, TAGS, input_overlap=-1), "input_overlap=-1"),
    (lambda: plots.plot_tag_likelihoods(TAGGRAM, TAGS, top_n=51), "top_n=51"),
    (lambda: plots.plot_feature(random_feature("timbral"), "timbral", patch=3), "patch=3"),
    (lambda: plots.plot_feature(np.zeros(200), "penultimate"), "(200,)"),
])
def test_bad_arguments_raise_musicnn_error_naming_the_value(call, named):
    with pytest.raises(MusicnnError, match=named.replace("(", r"\(").replace(")", r"\)")):
        call()
