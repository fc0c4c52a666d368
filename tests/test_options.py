"""Options are checked once, by shared validators and the patching plan, before any model starts."""

import subprocess
import sys

import librosa
import numpy as np
import pytest

from musicnn_lite import MusicnnError, TagResult, get_tagger, top_tags
from musicnn_lite.audio import load_audio
from musicnn_lite.front_end import musicnn_front_end
from musicnn_lite.plan import PatchPlan
from musicnn_lite.spectrum import log_mel, to_patches

from conftest import CLIPS, run_cli

TAGS = [f"tag{i}" for i in range(5)]


@pytest.mark.parametrize("n", [0, -1, 6, 2.5, True, "3"])
def test_top_outside_one_to_the_number_of_tags_is_an_error(n):
    result = TagResult(np.random.default_rng(0).random((2, 5)), TAGS)
    with pytest.raises(MusicnnError, match=rf"n={n!r} must be a whole number from 1 to 5"):
        result.top(n)


MUSICNN, VGG = musicnn_front_end(), musicnn_front_end(any_length=False)


def test_top_ranks_every_tag_when_asked_for_all():
    result = TagResult(np.array([[0.1, 0.5, 0.2, 0.4, 0.3]]), TAGS)
    assert result.top(5) == ["tag1", "tag3", "tag4", "tag2", "tag0"]


@pytest.mark.parametrize("call, message", [
    (lambda: PatchPlan.build(MUSICNN, "musicnn", input_length=0), "input_length=0 must be a positive number"),
    (lambda: PatchPlan.build(MUSICNN, "musicnn", input_overlap=-1), "input_overlap=-1 must be a positive number"),
    (lambda: PatchPlan.build(VGG, "vgg", input_length=2, model_name="MTT_vgg"), "MTT_vgg takes 3-s patches only"),
    (lambda: PatchPlan.build(VGG, "vgg", features=["cnn1"], model_name="MSD_vgg"),
     "MSD_vgg has no feature 'cnn1'; choose from pool1"),
])
def test_plan_refuses_bad_options(call, message):
    with pytest.raises(MusicnnError, match=message):
        call()


def test_plan_frames_and_features():
    plan = PatchPlan.build(MUSICNN, "musicnn", 3, 1, True)
    assert (plan.patch_length, plan.step, plan.input_shape) == (187, 61, (187, 96))
    assert plan.features[-1] == "penultimate" and len(plan.features) == 8
    assert PatchPlan.build(VGG, "vgg", features="pool5").features == ("pool5",)


@pytest.mark.parametrize("overlap", [False, 1, 0.5, 2.2])
def test_timestamps_are_patch_starts_at_the_input_overlap_step(overlap):
    result = get_tagger("MTT_musicnn").tag(CLIPS["muddy"], input_overlap=overlap)
    step = librosa.time_to_frames(overlap or 3, sr=16000, n_fft=512, hop_length=256) + (0 if overlap else 1)
    assert result.timestamps.shape == (len(result.taggram),)
    np.testing.assert_allclose(result.timestamps, np.arange(len(result.taggram)) * step * 256 / 16000)


def test_predict_on_patches_gives_the_taggram_of_tag():
    tagger = get_tagger("MTT_musicnn")
    patches = to_patches(log_mel(load_audio(CLIPS["joram"])), 187, 187)
    outputs = tagger.predict(patches, features=["penultimate"])
    tagged = tagger.tag(CLIPS["joram"], features=["penultimate"])
    np.testing.assert_allclose(outputs["taggram"], tagged.taggram, atol=1e-6)
    assert outputs["penultimate"].shape == (len(patches), 200)
    with pytest.raises(MusicnnError, match="no feature 'pool1'"):
        tagger.predict(patches, features=["pool1"])


def test_cli_refuses_a_feature_typo_before_tensorflow_starts(tmp_path):
    code = ("import sys; from musicnn_lite import cli\n"
            "status = cli.main([sys.argv[1], '-o', sys.argv[2], '--features', 'penultimat'])\n"
            "print(status, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = tmp_path / "out.jsonl"
    done = subprocess.run([sys.executable, "-c", code, str(CLIPS["joram"]), str(out)], capture_output=True,
                          text=True)
    assert done.stdout.split() == ["1", "False", "False"]
    assert "MTT_musicnn has no feature 'penultimat'" in done.stderr
    assert not out.exists()


def test_top_n_range_is_one_check_for_api_and_cli():
    with pytest.raises(MusicnnError, match="topN=51 must be a whole number from 1 to 50"):
        top_tags(CLIPS["joram"], topN=51)
    done = run_cli(str(CLIPS["joram"]), "--topN", "0")
    assert done.returncode == 1 and done.stderr.strip() == "error: --topN=0 must be a whole number from 1 to 50"


def test_a_url_is_refused_with_a_hint():
    with pytest.raises(MusicnnError, match="URLs are not supported; download the file first"):
        top_tags("https://example.com/song.mp3")
    done = run_cli("https://example.com/song.mp3")
    assert done.stderr.strip() == "error: https://example.com/song.mp3: URLs are not supported; download the file first"


def test_list_models_gives_dataset_architecture_and_published_scores():
    lines = run_cli("--list-models").stdout.splitlines()
    assert lines[0].split() == ["model", "trained", "on", "architecture", "ROC-AUC", "PR-AUC"]
    assert lines[1].split() == ["MTT_musicnn", "MagnaTagATune", "musicnn", "0.9067", "0.3831"]
    assert lines[4].split() == ["MSD_vgg", "Million", "Song", "Dataset", "vgg", "0.8768", "0.2819"]


def test_console_script_usage_names_itself():
    code = "import sys; sys.argv = ['/venv/bin/musicnn-lite', '--help']; from musicnn_lite import cli; cli.main()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.startswith("usage: musicnn-lite ")
    assert run_cli("--help").stdout.startswith("usage: python -m musicnn_lite ")


def test_plot_taggram_places_each_patch_at_its_timestamp():
    import matplotlib

    matplotlib.use("Agg")
    from musicnn_lite import plots

    taggram = np.random.default_rng(1).random((4, 5))
    starts = np.array([0, 0.976, 1.952, 2.928])  # input_overlap=1: 61 frames of 16 ms apart
    patch = 187 * 0.016
    expected = [0, (0 + 0.976 + patch) / 2, (0.976 + 1.952 + patch) / 2, (1.952 + 2.928 + patch) / 2, 2.928 + patch]
    for ax in (plots.plot_taggram(taggram, TAGS, timestamps=starts),
               plots.plot_taggram(taggram, TAGS, input_overlap=1)):
        np.testing.assert_allclose(ax.collections[0].get_coordinates()[0, :, 0], expected, atol=1e-9)
    with pytest.raises(MusicnnError, match=r"timestamps of shape \(3,\) do not fit a taggram of 4 patches"):
        plots.plot_taggram(taggram, TAGS, timestamps=starts[:3])
