"""The public API's contracts and the command line, run as a user would run it."""

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from musicnn_lite import BUNDLED_MODELS, Tagger, get_tagger, top_tags

from conftest import CLIPS, MODELS, SURVEY_MODELS, run_cli

REPO = Path(__file__).resolve().parent.parent


def test_importing_the_package_does_not_import_tensorflow():
    code = "import sys, musicnn_lite; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_tagger_is_built_and_traced_once_for_many_songs():
    assert get_tagger("MTT_musicnn") is get_tagger("MTT_musicnn")
    tagger = Tagger("MTT_musicnn", runtime="keras")
    runner = tagger._runtime._runner(())
    traces = []
    original_step = runner.predict_step
    runner.predict_step = lambda data: traces.append(1) or original_step(data)
    rng = np.random.default_rng(0)
    for _ in range(10):
        tagger.tag(rng.uniform(-0.5, 0.5, 16000 * 7).astype(np.float32), sr=16000)
    assert len(traces) == 1


def test_save_tags_appends_musicnn_style_lines(tmp_path, capsys):
    out = tmp_path / "out.tags"
    top_tags(CLIPS["muddy"], save_tags=out)
    top_tags(CLIPS["muddy"], topN=2, input_overlap=1.5, save_tags=out, print_tags=False)
    assert out.read_text().splitlines() == [
        f"{CLIPS['muddy']},MTT_musicnn,input_length=3,input_overlap=False,guitar,piano,fast",
        f"{CLIPS['muddy']},MTT_musicnn,input_length=3,input_overlap=1.5,guitar,piano"]
    assert capsys.readouterr().out.splitlines() == [f"[{CLIPS['muddy']}] Top3 tags:", " - guitar", " - piano",
                                                    " - fast"]


def test_cli_prints_top_tags_from_any_working_directory(tmp_path):
    done = run_cli(str(CLIPS["joram"]), "--topN", "5", "--model", "MTT_musicnn", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == [" - techno", " - electronic", " - synth", " - fast", " - beat"]
    assert done.stderr == ""  # TensorFlow's start-up lines are not shown


def test_cli_help_and_model_list_answer_without_tensorflow():
    code = ("import sys, runpy; sys.argv = ['musicnn_lite', '--help']\n"
            "try: runpy.run_module('musicnn_lite', run_name='__main__')\n"
            "except SystemExit: print('tensorflow' in sys.modules)")
    help_run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "--topN" in help_run.stdout and help_run.stdout.strip().endswith("False")
    listed = run_cli("--list-models").stdout.splitlines()[1:]
    assert [line.split()[0] for line in listed] == list(BUNDLED_MODELS)
    assert BUNDLED_MODELS[:4] == ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg") and len(BUNDLED_MODELS) == 12


def test_cli_reports_errors_in_one_line_and_exits_non_zero(tmp_path):
    missing = run_cli(str(tmp_path / "nope.mp3"))
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1].startswith("error: no such file")
    assert "Traceback" not in missing.stderr
    bad_model = run_cli(str(CLIPS["joram"]), "--model", "nope")
    assert bad_model.returncode == 1 and "unknown model 'nope'" in bad_model.stderr
    assert "Traceback" not in bad_model.stderr
    assert run_cli().returncode == 2


def test_cli_tags_the_good_files_when_one_is_bad(tmp_path):
    done = run_cli(str(tmp_path / "nope.mp3"), str(CLIPS["muddy"]), "--save", str(tmp_path / "t.csv"))
    assert done.returncode == 1
    assert (tmp_path / "t.csv").read_text().endswith(",guitar,piano,fast\n")


def test_built_wheel_carries_the_weights(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(REPO)], check=True, cwd=tmp_path)
    wheel, = tmp_path.glob("musicnn_lite-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for model in (*MODELS, *SURVEY_MODELS):
        assert {f"musicnn_lite/weights/{model}.npz", f"musicnn_lite/weights/{model}.onnx"} <= set(names)
    assert {"musicnn_lite/weights/LICENSE", "musicnn_lite/weights/LICENSE-survey"} <= set(names)
    assert "musicnn_lite/weights/log_mel.npz" in names
    for page in ("index.html", "app.js", "style.css"):  # the tagging service's page
        assert f"musicnn_lite/service/static/{page}" in names
