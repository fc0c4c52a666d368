"""Shrink the reference outputs of musicnn 0.1.0 (../shared/reference) into tests/data/golden.

Run from the repository root: python tests/data/make_golden.py ../shared/reference
Taggrams are kept whole. Each feature is kept as a fingerprint small enough to commit:
1000 values at fixed random positions, the mean of every patch, and its largest magnitude.
The VGG models' `penultimate` (the input of their output layer) is musicnn's pool5, flattened.
"""

import sys
from pathlib import Path

import numpy as np

SAMPLES = 1000


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


if __name__ == "__main__":
    shrink(Path(sys.argv[1]), Path(__file__).parent / "golden")
