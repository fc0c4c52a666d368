import os
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

DATA = Path(__file__).parent / "data"
AUDIO = DATA / "audio"
CLIPS = {
    "joram": AUDIO / "joram-moments_of_clarity-08-solipsism-59-88.mp3",
    "muddy": AUDIO / "TRWJAZW128F42760DD_test.mp3",
    "vibe_ace": AUDIO / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg",
}
MODELS = ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg")
# The survey's models (Won et al. 2020) and their reference clips: 10 s of Vibe Ace, shorter than a 29-s chunk, too.
SURVEY_MODELS = ("MTT_fcn", "MTT_crnn", "MTT_musicnn_2020", "MSD_fcn", "MSD_crnn", "Jamendo_fcn", "Jamendo_crnn",
                 "Jamendo_musicnn")
SURVEY_CLIPS = {**CLIPS, "vibe_ace_10s": DATA / "survey_audio" / "Vibe_Ace_10s_16k.wav"}  # shorter than 29 s


def golden(clip: str, model: str) -> dict[str, np.ndarray]:
    """The shrunk reference outputs of `clip` under `model`: musicnn 0.1.0's, or for SURVEY_MODELS the
    survey's PyTorch code's (see tests/data/make_golden.py)."""
    stem = SURVEY_CLIPS[clip].name.rsplit(".", 1)[0]
    with np.load(DATA / "golden" / f"{stem}.{model}.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def clips() -> dict[str, Path]:
    return CLIPS


@pytest.fixture
def write_wav(tmp_path):
    """Write a float waveform (samples,) or (samples, channels) to a wav file, return its path."""

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


def cut_clips(folder: Path, seconds: float = 4, copies: int = 1) -> list[Path]:
    """The first `seconds` of each test clip (at its own rate and channels), `copies` times, as wav files."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, clip in CLIPS.items():
        with soundfile.SoundFile(clip) as audio:
            samples = audio.read(int(seconds * audio.samplerate), dtype="float32")
            for copy in range(copies):
                paths.append(folder / f"{name}-{copy}.wav")
                soundfile.write(paths[-1], samples, audio.samplerate)
    return paths


def encode(path, codec: str, waveform: np.ndarray, rate: int, sample_format: str = "fltp", **options):
    """Write (channels, samples) `waveform` to `path` with PyAV's FFmpeg encoder `codec`."""
    layout = "stereo" if len(waveform) == 2 else "mono"
    with av.open(str(path), "w", **options) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(waveform), format=sample_format, layout=layout)
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return path
