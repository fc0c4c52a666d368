"""Options are checked once, by shared validators and the patching plan, before any model starts."""

import subprocess
import sys

import librosa
import numpy as np
import pytest

from musicnn_lite import MusicnnError, Tagger, TagResult, cli, get_tagger, memory, top_tags
from musicnn_lite.audio import load_audio
from musicnn_lite.front_end import musicnn_front_end
from musicnn_lite.plan import PatchPlan
from musicnn_lite.spectrum import log_mel, patch_frames, to_patches

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


@pytest.mark.parametrize("output", ["out.xyz", "out.", "out", ""])
def test_an_output_name_without_a_known_format_is_a_usage_error(output, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main([str(CLIPS["joram"]), "-o", output])
    assert stopped.value.code == 2
    assert "name the file .csv, .jsonl, .npz or .parquet to choose its format" in capsys.readouterr().err


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


def test_list_models_gives_dataset_architecture_authors_patch_and_published_scores():
    lines = run_cli("--list-models").stdout.splitlines()
    assert lines[0].split() == ["model", "trained", "on", "architecture", "trained", "by", "patch", "ROC-AUC", "PR-AUC"]
    assert lines[1].split() == ["MTT_musicnn", "MagnaTagATune", "musicnn", "Pons", "&", "Serra", "(musicnn",
                                "0.1.0)", "3", "s", "0.9067", "0.3831"]
    assert lines[4].split()[-4:] == ["3", "s", "0.8768", "0.2819"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["MSD_fcn"].split()[-4:] == ["29", "s", "0.8742", "0.2963"]
    assert rows["Jamendo_crnn"].split()[1:4] == ["MTG-Jamendo", "(top", "50)"]
    assert rows["Jamendo_crnn"].split()[-4:] == ["not", "published", "not", "published"]


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


MEASURE_BATCH = """
import sys
import numpy as np
from musicnn_lite import Tagger
from musicnn_lite.spectrum import N_MELS, patch_frames


def peak():  # kB; the process's own peak (ru_maxrss would start at the parent's: Linux keeps it across exec)
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM")).split()[1])


frames, batch = patch_frames(float(sys.argv[1])), int(sys.argv[2])
tagger = Tagger("MTT_musicnn", runtime="onnx", batch_size=batch)
tagger.predict(np.zeros((1, frames, N_MELS), np.float32))
before = peak()
tagger.predict(np.zeros((batch, frames, N_MELS), np.float32))
print((peak() - before) * 1024 / (batch - 1))
"""


@pytest.mark.parametrize("seconds, batch", [(3, 64), (12, 16)])
def test_the_memory_a_patch_takes_while_it_runs_is_at_most_the_documented_cost(seconds, batch):
    """The peak memory a batch of musicnn patches adds on ONNX Runtime, the costliest runtime measured
    (benchmarks/batch_memory.py), stays within memory.patch_bytes, and not far below it."""
    done = subprocess.run([sys.executable, "-c", MEASURE_BATCH, str(seconds), str(batch)], capture_output=True,
                          text=True, timeout=300, check=True)
    per_patch = float(done.stdout.split()[-1])
    assert 0.7 * memory.patch_bytes(patch_frames(seconds)) < per_patch <= memory.patch_bytes(patch_frames(seconds))


def test_a_batch_no_machine_has_the_memory_for_is_refused():
    with pytest.raises(MusicnnError, match=r"batch_size=100000 patches of 3 s need about 3424.1 GB while they run "
                                           r"\(35 MB each\), more than the .* this machine can spare"):
        Tagger(batch_size=100000)


def test_batches_and_patches_that_do_not_fit_are_refused_before_anything_runs(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(memory, "machine_memory", lambda: 8 * 2 ** 30)
    with pytest.raises(MusicnnError, match=r"batch_size=256 patches of 3 s need about 8.8 GB while they run "
                                           r"\(35 MB each\), more than the 6.0 GB this machine can spare "
                                           r"\(3/4 of its 8.0 GB\); use batch_size=175 or less"):
        Tagger(batch_size=256)
    with pytest.raises(MusicnnError, match="batch_size=176 patches"):
        Tagger(batch_size=176)
    tagger = Tagger(batch_size=175)
    with pytest.raises(MusicnnError, match=r"a patch of input_length=600 s needs about 6.9 GB while it runs, more than "
                                           r"the 6.0 GB this machine can spare .*; use input_length=524 or less"):
        Tagger().tag(CLIPS["muddy"], input_length=600)
    Tagger(batch_size=1).plan(input_length=524)
    with pytest.raises(MusicnnError, match="batch_size=175 patches of 6 s"):
        tagger.tag_many([CLIPS["muddy"]], input_length=6)
    with pytest.raises(MusicnnError, match="batch_size=175 patches of 6 s"):
        tagger.tag_many([CLIPS["muddy"]], plan=Tagger(batch_size=1).plan(input_length=6))
    output = tmp_path / "tags.csv"
    for options in (["--batch-size", "176"], ["--length", "600"]):
        assert cli.main([str(CLIPS["muddy"]), "-o", str(output), *options]) == 1
        error, = capsys.readouterr().err.splitlines()
        assert error.startswith("error: batch_size=176 patches" if "--batch-size" in options else
                                "error: a patch of input_length=600 s")
        assert not list(tmp_path.iterdir())  # refused before the output is opened
