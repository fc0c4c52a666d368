"""Shrink the reference outputs (../shared/reference) into tests/data/golden.

Run from the repository root: python tests/data/make_golden.py ../shared/reference

musicnn 0.1.0's models (reference/outputs): taggrams are kept whole. Each feature is kept as a
fingerprint small enough to commit: 1000 values at fixed random positions, the mean of every
patch, and its largest magnitude. The VGG models' `penultimate` (the input of their output
layer) is musicnn's pool5, flattened.

The survey's models (reference/sota/outputs): the taggram, "penultimate", the labels and the
chunk length, whole, and of the dB mel spectrogram only the first and last EDGE_FRAMES frames of
each chunk, where reflect padding shows (spectrogram_edges: chunks, 2 * EDGE_FRAMES, 96). Files
are renamed to this package's model names (the survey's MTT musicnn is MTT_musicnn_2020 here).
"""

import sys
from pathlib import Path

import numpy as np

SAMPLES = 1000
SURVEY_KEPT = ("taggram", "penultimate", "labels", "chunk_samples")
SURVEY_NAMES = {"MTT_musicnn": "MTT_musicnn_2020"}
EDGE_FRAMES = 4


def shrink(reference: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng, derived_rng = np.random.default_rng(0), np.random.default_rng(1)
    for path in sorted((reference / "outputs").glob("*.npz")):
        if path.name.endswith(".input.npz"):
            continue
        data = np.load(path)
        kept = {key: data[key] for key in data.files if not key.startswith("feature_")}
        for key in (k for k in data.files if k.startswith("feature_")):
            kept.update(fingerprint(key.removeprefix("feature_"), data[key], rng))
        if "feature_pool5" in data.files:
            pool5 = data["feature_pool5"]
            kept.update(fingerprint("penultimate", pool5.reshape(len(pool5), -1), derived_rng))
        np.savez_compressed(out / path.name, **kept)


def fingerprint(name: str, value: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    index = np.sort(rng.choice(value.size, size=min(SAMPLES, value.size), replace=False)).astype(np.int64)
    return {f"{name}.shape": np.array(value.shape), f"{name}.index": index, f"{name}.values": value.reshape(-1)[index],
            f"{name}.patch_mean": value.reshape(len(value), -1).mean(axis=1), f"{name}.absmax": np.abs(value).max()}


def shrink_survey(reference: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted((reference / "sota" / "outputs").glob("*.npz")):
        stem, model = path.name.removesuffix(".npz").rsplit(".", 1)
        with np.load(path) as data:
            kept = {key: data[key] for key in SURVEY_KEPT}
            spectrogram = data["spectrogram"].transpose(0, 2, 1)  # (chunks, frames, 96), as the networks take it
            kept["spectrogram_edges"] = np.concatenate([spectrogram[:, :EDGE_FRAMES], spectrogram[:, -EDGE_FRAMES:]], 1)
        np.savez_compressed(out / f"{stem}.{SURVEY_NAMES.get(model, model)}.npz", **kept)


if __name__ == "__main__":
    golden = Path(__file__).parent / "golden"
    shrink(Path(sys.argv[1]), golden)
    shrink_survey(Path(sys.argv[1]), golden)
