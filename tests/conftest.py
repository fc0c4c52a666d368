import os
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
AUDIO = DATA / "audio"
CLIPS = {
    "joram": AUDIO / "joram-moments_of_clarity-08-solipsism-59-88.mp3",
    "muddy": AUDIO / "TRWJAZW128F42760DD_test.mp3",
    "vibe_ace": AUDIO / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg",
}
MODELS = ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg")


def golden(clip: str, model: str) -> dict[str, np.ndarray]:
    """The shrunk musicnn 0.1.0 outputs of `clip` under `model` (see tests/data/make_golden.py)."""
    stem = CLIPS[clip].name.rsplit(".", 1)[0]
    with np.load(DATA / "golden" / f"{stem}.{model}.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def clips() -> dict[str, Path]:
    return CLIPS


@pytest.fixture
def write_wav(tmp_path):
    """Write a float waveform (samples,) or (samples, channels) to a wav file, return its path."""
    import soundfile

    def write(waveform: np.ndarray, sr: int = 16000, name: str = "clip.wav") -> Path:
        path = tmp_path / name
        soundfile.write(path, waveform, sr)
        return path

    return write


def run_cli(*args: str, cwd: Path | None = None):
    """Run `python -m musicnn_lite ARGS` in a subprocess; return the CompletedProcess."""
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "musicnn_lite", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)
