"""Which runtime runs a model, the committed ONNX graphs, and a quiet start for each runtime."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from musicnn_lite import MusicnnError, Tagger
from musicnn_lite.runtimes import OnnxRuntime
from musicnn_lite.zoo import FEATURES, WEIGHTS_DIR, load_weights, weights_digest

from conftest import CLIPS, MODELS

REPO = Path(__file__).parents[1]


def _run_python(program: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", program, *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=600)


def test_default_path_never_imports_tensorflow_or_keras():
    program = (
        "import sys\n"
        "import musicnn_lite\n"
        "from musicnn_lite import extractor, top_tags\n"
        "from musicnn_lite.cli import main\n"
        "top_tags(sys.argv[1], print_tags=False)\n"
        "extractor(sys.argv[1], model='MSD_vgg')\n"
        "assert main([sys.argv[1], '--quiet']) == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')))\n")
    done = _run_python(program, str(CLIPS["joram"]))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "[]"


def test_auto_picks_onnx_for_float32_and_keras_for_bfloat16():
    assert Tagger("MTT_musicnn").runtime == "onnx"
    assert Tagger("MTT_vgg", runtime="keras").runtime == "keras"
    assert Tagger("MTT_musicnn", precision="bfloat16").runtime == "keras"


def test_runtimes_agree_on_patches_of_any_length():
    patches = np.random.default_rng(0).uniform(0, 3, (3, 312, 96)).astype(np.float32)
    onnx, keras = Tagger("MSD_musicnn", runtime="onnx"), Tagger("MSD_musicnn", runtime="keras")
    names = ("penultimate", "cnn3")
    expected, got = keras.predict(patches, names), onnx.predict(patches, names)
    for name in ("taggram", *names):
        assert got[name].shape == expected[name].shape
        assert np.abs(got[name] - expected[name]).max() <= 1e-5 * np.abs(expected[name]).max(), name


def test_bad_runtime_choices_are_refused():
    with pytest.raises(MusicnnError, match="runtime='tflite' is not supported"):
        Tagger(runtime="tflite")
    with pytest.raises(MusicnnError, match="bfloat16.* Keras runtime only"):
        Tagger(precision="bfloat16", runtime="onnx")


def test_weights_without_their_graph_run_on_keras_or_say_how_to_export(tmp_path):
    weights = Path(shutil.copy(WEIGHTS_DIR / "MTT_vgg.npz", tmp_path / "mine.npz"))
    assert Tagger(weights).runtime == "keras"
    with pytest.raises(MusicnnError, match=r"no ONNX graph .*convert --onnx .*mine\.npz`"):
        Tagger(weights, runtime="onnx")


def test_a_graph_exported_from_other_weights_is_never_used(tmp_path):
    weights = Path(shutil.copy(WEIGHTS_DIR / "MTT_vgg.npz", tmp_path / "mine.npz"))
    shutil.copy(WEIGHTS_DIR / "MSD_vgg.onnx", tmp_path / "mine.onnx")
    assert Tagger(weights).runtime == "keras"
    with pytest.raises(MusicnnError, match="not exported from .*mine.npz"):
        Tagger(weights, runtime="onnx")


def test_an_unreadable_graph_is_a_clear_error(tmp_path):
    weights = Path(shutil.copy(WEIGHTS_DIR / "MTT_vgg.npz", tmp_path / "mine.npz"))
    (tmp_path / "mine.onnx").write_bytes(b"not a graph")
    with pytest.raises(MusicnnError, match="mine.onnx is not a valid ONNX graph"):
        Tagger(weights)


@pytest.mark.parametrize("model", MODELS)
def test_committed_graphs_are_up_to_date(model):
    """Each graph records the digest of its weights file, and computes what the Keras model of
    networks/ computes today (re-export with `python -m musicnn_lite.convert --onnx weights/*.npz`)."""
    weights = WEIGHTS_DIR / f"{model}.npz"
    assert OnnxRuntime(weights.with_suffix(".onnx")).weights_digest == weights_digest(weights)
    patches = np.random.default_rng(1).uniform(0, 3, (2, 187, 96)).astype(np.float32)
    names = FEATURES[load_weights(model).architecture]
    expected = Tagger(model, runtime="keras").predict(patches, names)
    got = Tagger(model, runtime="onnx").predict(patches, names)
    for name in ("taggram", *names):
        assert np.abs(got[name] - expected[name]).max() <= 1e-5 * np.abs(expected[name]).max(), name


def test_keras_runtime_starts_quietly_and_a_second_tagger_does_not_warn():
    program = (
        "import sys, numpy as np\n"
        "from musicnn_lite import Tagger\n"
        "for model in ('MTT_musicnn', 'MSD_musicnn', 'MTT_vgg'):\n"
        "    tagger = Tagger(model, runtime='keras', batch_size=8)\n"
        "    for n in (1, 2, 3, 5, 8):\n"
        "        tagger.predict(np.zeros((n, 187, 96), np.float32))\n"
        "print('ran')\n")
    done = _run_python(program, env=_without_tf_log_level())
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ran"
    assert done.stderr == ""


def _without_tf_log_level() -> dict:
    return {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}


def _noise_filter_program(after: str) -> str:
    return ("import os\n"
            "from musicnn_lite.tensorflow_noise import tensorflow_noise_filtered\n"
            "with tensorflow_noise_filtered():\n"
            "    os.write(2, b'I0000 00:00:1.2 3 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\\n')\n"
            "    os.write(2, b'E0000 00:00:1.2 3 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\\n')\n"
            "    os.write(2, b'F0000 something unexpected went wrong\\n')\n"
            f"    {after}\n")


def test_only_known_tensorflow_noise_is_filtered():
    done = _run_python(_noise_filter_program("pass"), env=_without_tf_log_level())
    assert done.returncode == 0
    assert done.stderr == "F0000 something unexpected went wrong\n"


def test_a_fatal_abort_during_start_up_leaves_its_message():
    done = _run_python(_noise_filter_program("os.abort()"), env=_without_tf_log_level())
    assert done.returncode != 0
    assert "F0000 something unexpected went wrong" in done.stderr


def test_tensorflow_logs_are_shown_when_the_user_sets_their_level():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}
    done = _run_python(_noise_filter_program("pass"), env=env)
    assert "failed call to cuInit" in done.stderr and "cpu_feature_guard" in done.stderr


def test_console_script_and_module_start_alike():
    """Both enter through musicnn_lite.__main__.main, which hides Keras' optional imports first."""
    program = ("import sys\n"
               "from musicnn_lite.__main__ import main\n"
               "sys.argv = ['musicnn-lite', '--list-models']\n"
               "status = main()\n"
               "print(status, sys.modules['sklearn'], sys.modules['matplotlib'])\n")
    done = _run_python(program)
    assert done.stdout.splitlines()[-1] == "0 None None"
    module = subprocess.run([sys.executable, "-m", "musicnn_lite", "--list-models"], capture_output=True,
                            text=True, cwd=REPO, timeout=600)
    assert module.returncode == 0 and module.stdout == "\n".join(done.stdout.splitlines()[:-1]) + "\n"
    setup = (REPO / "setup.py").read_text()
    assert '"musicnn-lite=musicnn_lite.__main__:main"' in setup


def test_threads_bound_the_threads_onnx_runtime_starts():
    program = (
        "import os\n"
        "from musicnn_lite import Tagger\n"
        "def started(**options):\n"
        "    before = len(os.listdir('/proc/self/task'))\n"
        "    tagger = Tagger('MTT_musicnn', **options)\n"
        "    return len(os.listdir('/proc/self/task')) - before, tagger\n"
        "first = started(threads=1)  # ONNX Runtime's own first start adds a thread of its own\n"
        "one, tagger_one = started(threads=1)\n"
        "three, tagger_three = started(threads=3)\n"
        "print(one, three)\n")
    done = _run_python(program)
    assert done.returncode == 0, done.stderr
    one, three = map(int, done.stdout.split())
    assert (one, three) == (0, 2)  # ONNX Runtime's pool: the caller's thread and threads - 1 workers


def test_threads_do_not_change_the_taggram(clips):
    default, single = Tagger("MTT_musicnn"), Tagger("MTT_musicnn", threads=1)
    np.testing.assert_array_equal(default.tag(clips["joram"]).taggram, single.tag(clips["joram"]).taggram)


def test_keras_threads_are_set_once_per_process():
    program = (
        "import tensorflow as tf\n"
        "from musicnn_lite import MusicnnError, Tagger\n"
        "Tagger('MTT_vgg', runtime='keras', threads=1)\n"
        "Tagger('MTT_vgg', runtime='keras', threads=1)\n"
        "print(tf.config.threading.get_intra_op_parallelism_threads())\n"
        "try:\n"
        "    Tagger('MTT_vgg', runtime='keras', threads=2)\n"
        "except MusicnnError as error:\n"
        "    print(error)\n")
    done = _run_python(program, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr
    threads, refusal = done.stdout.splitlines()
    assert threads == "1" and "threads=2: TensorFlow has already started in this process with 1 threads" in refusal
