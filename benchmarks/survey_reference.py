"""The survey models' reference pipeline: librosa.load and the published PyTorch checkpoints, on CPU.

    python benchmarks/survey_reference.py tag --checkpoint CKPT FILE...         tag files, consecutive chunks
    python benchmarks/survey_reference.py network --checkpoint CKPT [--batch-size B] [--chunks N] [--repeats R]
    python benchmarks/survey_reference.py check [--sota DIR]     every checkpoint against the golden outputs

What a user of Won et al.'s code (minzwon/sota-music-tagging-models, SMC 2020) runs to tag a folder:
`librosa.load(path, sr=16000)`, consecutive chunks from sample 0 (29 s for FCN and CRNN, 3 s for
musicnn; the tail shorter than a chunk dropped, audio shorter than one chunk repeated with
numpy.resize), each file's chunks through the network in one batch, eval mode, no grad. The
networks are defined here from the architecture (FCN, CRNN, musicnn) and built from the shapes
of the checkpoint's state dict (`torch.load(..., weights_only=True)`); the spectrogram is the
one the checkpoints were trained with, computed with torch.stft and the filterbank stored in the
checkpoint: periodic Hann window (stored too), centred frames, reflect padding, power 2, then
10 log10(max(x, 1e-10)). `check` runs every checkpoint on the clips of the golden outputs and
fails unless each taggram is within 2e-4 of the original PyTorch code's (6e-5 but for one chunk:
see TAGGRAM_TOLERANCE).

A probe prints what it measured as one line `RESULT {json}` on stdout (see run.py). Needs torch
and librosa; CPU only.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import librosa
import numpy as np
import torch
from run import REPO, SOTA
from torch import nn

SAMPLE_RATE = 16000
N_FFT, HOP_LENGTH = 512, 256
AMIN = 1e-10  # the floor of the power before the dB conversion
CHUNK_SAMPLES = {"fcn": 464_000, "crnn": 464_000, "musicnn": 48_000}
TAGGRAM_TOLERANCE = 2e-4  # 1.2e-4 on one 3-s chunk (float32 STFT rounding in bins 100 dB down), else 6e-5

DATASET_DIRS = {"MTT": "mtat", "MSD": "msd", "Jamendo": "jamendo"}  # output file's model prefix -> checkpoint folder


class DbMel(nn.Module):
    """Waveform chunks (chunks, samples) -> dB mel spectrogram (chunks, 1, mel bands, frames)."""

    def __init__(self, window: torch.Tensor, filterbank: torch.Tensor):
        super().__init__()
        self.register_buffer("window", window)
        self.register_buffer("filterbank", filterbank)  # (FFT bins, mel bands)

    def forward(self, chunks: torch.Tensor) -> torch.Tensor:
        spectrum = torch.stft(chunks, N_FFT, HOP_LENGTH, window=self.window, center=True, pad_mode="reflect",
                              return_complex=True)
        mel = torch.matmul(spectrum.abs().pow(2).transpose(1, 2), self.filterbank).transpose(1, 2)
        return (10 * torch.log10(mel.clamp(min=AMIN))).unsqueeze(1)


class ConvPool2d(nn.Module):
    """3 x 3 convolution ('same'), batch norm, ReLU, max pooling: a block of FCN and CRNN."""

    def __init__(self, channels_in: int, channels_out: int, pooling: tuple[int, int]):
        super().__init__()
        self.conv = nn.Conv2d(channels_in, channels_out, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels_out)
        self.mp = nn.MaxPool2d(pooling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mp(torch.relu(self.bn(self.conv(x))))


def conv_pool_stack(state: dict, poolings: list[tuple[int, int]]) -> dict[str, ConvPool2d]:
    """layer1, layer2, ... with their channel counts read from the state dict."""
    return {f"layer{index}": ConvPool2d(*state[f"layer{index}.conv.weight"].shape[1::-1], pooling)
            for index, pooling in enumerate(poolings, start=1)}


class FCN(nn.Module):
    """Choi et al. 2016: five conv blocks down to one position, a dense layer. Penultimate: 64 values."""

    POOLINGS = [(2, 4), (2, 4), (2, 4), (3, 5), (4, 4)]

    def __init__(self, state: dict):
        super().__init__()
        for name, block in conv_pool_stack(state, self.POOLINGS).items():
            self.add_module(name, block)
        self.dense = nn.Linear(*state["dense.weight"].shape[::-1])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for index in range(1, len(self.POOLINGS) + 1):
            x = getattr(self, f"layer{index}")(x)
        penultimate = x.flatten(1)
        return torch.sigmoid(self.dense(penultimate)), penultimate


class CRNN(nn.Module):
    """Choi et al. 2017: four conv blocks down to one mel row, a 2-layer GRU over time, a dense layer on its
    last step. Penultimate: the GRU's last output (32 values)."""

    POOLINGS = [(2, 2), (3, 3), (4, 4), (4, 4)]

    def __init__(self, state: dict):
        super().__init__()
        for name, block in conv_pool_stack(state, self.POOLINGS).items():
            self.add_module(name, block)
        hidden, features = state["layer5.weight_ih_l0"].shape[0] // 3, state["layer5.weight_ih_l0"].shape[1]
        layers = sum(key.startswith("layer5.weight_ih_l") for key in state)
        self.layer5 = nn.GRU(features, hidden, layers, batch_first=True)
        self.dense = nn.Linear(*state["dense.weight"].shape[::-1])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for index in range(1, len(self.POOLINGS) + 1):
            x = getattr(self, f"layer{index}")(x)
        sequence, _ = self.layer5(x.squeeze(2).transpose(1, 2))  # (chunks, time, hidden)
        penultimate = sequence[:, -1]
        return torch.sigmoid(self.dense(penultimate)), penultimate


class Timbral(nn.Module):
    """musicnn's vertical filters: a (mel bands x 7) convolution, batch norm, ReLU, max over frequency."""

    def __init__(self, weight_shape: torch.Size):
        super().__init__()
        channels, _, height, width = weight_shape
        self.conv = nn.Conv2d(1, channels, (height, width), padding=(0, width // 2))
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x))).amax(dim=2)


class Temporal(nn.Module):
    """musicnn's horizontal filters: the mean over frequency, a 1-D convolution in time, batch norm, ReLU."""

    def __init__(self, weight_shape: torch.Size):
        super().__init__()
        channels, _, length = weight_shape
        self.conv = nn.Conv1d(1, channels, length, padding=length // 2)
        self.bn = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x.mean(dim=2))))


class MidEnd(nn.Module):
    """A 1-D convolution over time (7, 'same'), batch norm, ReLU: one of musicnn's three residual layers."""

    def __init__(self, weight_shape: torch.Size):
        super().__init__()
        channels_out, channels_in, length = weight_shape
        self.conv = nn.Conv1d(channels_in, channels_out, length, padding=length // 2)
        self.bn = nn.BatchNorm1d(channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class Musicnn(nn.Module):
    """Pons et al., as the survey retrained it: timbral and temporal filters side by side, three 1-D
    conv layers (the last two residual), max and mean over time of all of them, dense, batch norm,
    ReLU (the penultimate layer, 200 values), dense."""

    def __init__(self, state: dict):
        super().__init__()
        front_shapes = [state[f"layers.{index}.conv.weight"].shape
                        for index in range(sum(key.endswith(".conv.weight") and key.startswith("layers.")
                                                for key in state))]
        self.layers = nn.ModuleList(Timbral(shape) if len(shape) == 4 else Temporal(shape) for shape in front_shapes)
        for index in (1, 2, 3):
            self.add_module(f"layer{index}", MidEnd(state[f"layer{index}.conv.weight"].shape))
        self.dense1 = nn.Linear(*state["dense1.weight"].shape[::-1])
        self.bn = nn.BatchNorm1d(state["dense1.weight"].shape[0])
        self.dense2 = nn.Linear(*state["dense2.weight"].shape[::-1])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        front = torch.cat([layer(x) for layer in self.layers], dim=1)  # (chunks, channels, time)
        first = self.layer1(front)
        second = self.layer2(first) + first
        third = self.layer3(second) + second
        stacked = torch.cat([front, first, second, third], dim=1)
        pooled = torch.cat([stacked.amax(dim=2), stacked.mean(dim=2)], dim=1)
        penultimate = torch.relu(self.bn(self.dense1(pooled)))
        return torch.sigmoid(self.dense2(penultimate)), penultimate


ARCHITECTURES = {"fcn": FCN, "crnn": CRNN, "musicnn": Musicnn}


class Reference(nn.Module):
    """A checkpoint's whole model: waveform chunks -> (taggram (chunks, tags), penultimate (chunks, D))."""

    def __init__(self, checkpoint: Path):
        super().__init__()
        self.architecture = checkpoint.parent.name
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        self.spec = DbMel(state.pop("spec.spectrogram.window"), state.pop("spec.mel_scale.fb"))
        self.spec_bn = nn.BatchNorm2d(1)
        self.network = ARCHITECTURES[self.architecture](state)
        batch_norm = {key.removeprefix("spec_bn."): state.pop(key) for key in list(state) if key.startswith("spec_bn.")}
        self.spec_bn.load_state_dict(batch_norm)
        self.network.load_state_dict(state)  # strict: every remaining key of the checkpoint, and no other
        self.eval()

    @property
    def chunk_samples(self) -> int:
        return CHUNK_SAMPLES[self.architecture]

    def forward(self, chunks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.network(self.spec_bn(self.spec(chunks)))


def chunks_of(audio: np.ndarray, chunk_samples: int) -> np.ndarray:
    """Consecutive chunks (chunks, chunk_samples) from sample 0: the tail dropped, short audio repeated."""
    if len(audio) < chunk_samples:
        audio = np.resize(audio, chunk_samples)
    count = len(audio) // chunk_samples
    return audio[:count * chunk_samples].reshape(count, chunk_samples)


@torch.no_grad()
def tag_file(model: Reference, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(taggram, penultimate) of a file: librosa.load at 16 kHz, its chunks in one batch."""
    audio, _ = librosa.load(path, sr=SAMPLE_RATE)
    taggram, penultimate = model(torch.from_numpy(chunks_of(audio, model.chunk_samples)))
    return taggram.numpy(), penultimate.numpy()


def tag(checkpoint: Path, files: list[Path]) -> dict:
    """Tag every file; tagging_s is the loop alone (after the imports and the checkpoint's load)."""
    model = Reference(checkpoint)
    start = time.perf_counter()
    taggrams = [tag_file(model, path)[0] for path in files]
    return {"tagging_s": time.perf_counter() - start, "chunks": sum(len(taggram) for taggram in taggrams),
            "top3": [np.argsort(-taggram.mean(axis=0))[:3].tolist() for taggram in taggrams]}


@torch.no_grad()
def network(checkpoint: Path, batch_size: int, n_chunks: int, repeats: int) -> dict:
    """Milliseconds per chunk of the network alone, from the dB spectrogram on (spec_bn included): one
    warm-up batch, then the median of `repeats` timings of n_chunks chunks of noise, batch_size at a time."""
    model = Reference(checkpoint)
    noise = torch.from_numpy(np.random.default_rng(0).uniform(-0.5, 0.5, (batch_size, model.chunk_samples))
                             .astype(np.float32))
    spectrogram = model.spec(noise)
    batches = -(-n_chunks // batch_size)
    model.network(model.spec_bn(spectrogram))
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(batches):
            model.network(model.spec_bn(spectrogram))
        seconds.append(time.perf_counter() - start)
    return {"ms_per_chunk": 1000 * statistics.median(seconds) / (batches * batch_size), "batch_size": batch_size}


def check(sota: Path) -> dict:
    """Every golden output of `sota/outputs` recomputed from its checkpoint and clip: the largest taggram and
    penultimate (relative to its largest magnitude) differences per checkpoint ("mtat/fcn", ...); raises
    AssertionError if a taggram is off by more than TAGGRAM_TOLERANCE."""
    clips = {path.stem: path for folder in (REPO / "tests" / "data" / "audio", sota / "audio")
             for path in folder.iterdir()}
    differences: dict[str, dict[str, float]] = {}
    for output in sorted((sota / "outputs").glob("*.npz")):
        stem, model_name = output.stem.rsplit(".", 1)
        dataset, architecture = model_name.split("_")
        model = Reference(sota / "checkpoints" / DATASET_DIRS[dataset] / architecture / "best_model.pth")
        taggram, penultimate = tag_file(model, clips[stem])
        with np.load(output) as golden:
            found = differences.setdefault(f"{DATASET_DIRS[dataset]}/{architecture}",
                                           {"taggram": 0.0, "penultimate": 0.0})
            found["taggram"] = max(found["taggram"], float(np.abs(taggram - golden["taggram"]).max()))
            found["penultimate"] = max(found["penultimate"], float(np.abs(penultimate - golden["penultimate"]).max()
                                                                    / np.abs(golden["penultimate"]).max()))
    worst = max(found["taggram"] for found in differences.values())
    assert differences and worst <= TAGGRAM_TOLERANCE, f"taggrams off by {worst:.2g}: {differences}"
    return {"max_diff": differences}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    probes = parser.add_subparsers(dest="probe", required=True)
    tagging = probes.add_parser("tag")
    tagging.add_argument("--checkpoint", type=Path, required=True, help="<dataset>/<architecture>/best_model.pth")
    tagging.add_argument("files", type=Path, nargs="+")
    net = probes.add_parser("network")
    net.add_argument("--checkpoint", type=Path, required=True)
    net.add_argument("--batch-size", type=int, default=4)
    net.add_argument("--chunks", type=int, default=16)
    net.add_argument("--repeats", type=int, default=5)
    checking = probes.add_parser("check")
    checking.add_argument("--sota", type=Path, default=SOTA, help="the shared reference folder (default: %(default)s)")
    args = parser.parse_args()

    if args.probe == "tag":
        result = tag(args.checkpoint, args.files)
    elif args.probe == "network":
        result = network(args.checkpoint, args.batch_size, args.chunks, args.repeats)
    else:
        result = check(args.sota)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
