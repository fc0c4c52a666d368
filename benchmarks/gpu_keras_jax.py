"""The Keras runtime on JAX (a GPU when JAX has one): parity with musicnn and network throughput.

    KERAS_BACKEND=jax python benchmarks/gpu_keras_jax.py --out DIR [--batches 16 64 256] [--patches DIR]

For each bundled model it builds the library's Keras runtime (float32), checks its
taggram on musicnn's own input patches against musicnn 0.1.0's (tests/data/golden) at 1e-5,
when those patches are found (`<clip>.input.npz` of the shared reference data, --patches),
then times the network alone: patches per second and ms per patch at each batch size,
the median of --repeats timed calls after warm-up calls (which compile). Writes
DIR/gpu_keras_jax.json. It imports neither TensorFlow nor the audio libraries: only the
network modules of musicnn_lite are loaded, so it runs on a machine with JAX and Keras alone.
"""

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "data" / "golden"
PATCH_FOLDERS = (REPO / "shared" / "reference" / "outputs", REPO.parent / "shared" / "reference" / "outputs")
MODELS = ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg")
TAGGRAM_TOLERANCE = 1e-5
PATCH_FRAMES = 187  # 3-s patches, what every bundled model takes


def network_modules():
    """musicnn_lite.runtimes and .zoo (which loads .networks when asked), loaded without the package's __init__ (which
    imports the audio decoders), so that numpy, Keras and JAX are all this script needs."""
    package = types.ModuleType("musicnn_lite")
    package.__path__ = [str(REPO / "musicnn_lite")]
    sys.modules.setdefault("musicnn_lite", package)
    return (importlib.import_module(f"musicnn_lite.{name}") for name in ("runtimes", "zoo"))


def golden_patches(folder: Path | None) -> dict:
    """Clip stem -> musicnn's input patches (patches, 187, 96), from the first folder that has them."""
    import numpy as np

    folders = [folder] if folder else [path for path in PATCH_FOLDERS if path.is_dir()]
    for candidate in folders:
        found = {path.name.removesuffix(".input.npz"): np.load(path)["batch"]
                 for path in sorted(candidate.glob("*.input.npz"))}
        if found:
            return found
    return {}


def check_parity(predict, model: str, patches: dict) -> dict:
    """Largest |taggram - musicnn's| per clip, and whether all are within TAGGRAM_TOLERANCE."""
    import numpy as np

    diffs = {}
    for stem, batch in patches.items():
        expected = np.load(GOLDEN / f"{stem}.{model}.npz")["taggram"]
        diffs[stem] = float(np.abs(predict(batch) - expected).max())
    return {"max_abs_diff": diffs, "tolerance": TAGGRAM_TOLERANCE,
            "ok": bool(diffs) and max(diffs.values()) <= TAGGRAM_TOLERANCE}


def time_network(predict, batch_size: int, warmups: int, repeats: int) -> dict:
    """Median seconds of `repeats` calls on one batch, after `warmups` untimed ones."""
    import numpy as np

    batch = np.random.default_rng(0).uniform(0, 3, (batch_size, PATCH_FRAMES, 96)).astype(np.float32)
    for _ in range(warmups):
        predict(batch)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(batch)
        timings.append(time.perf_counter() - start)
    seconds = statistics.median(timings)
    return {"batch": batch_size, "patches_per_s": batch_size / seconds, "ms_per_patch": 1000 * seconds / batch_size,
            "median_batch_s": seconds, "repeats": repeats}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write gpu_keras_jax.json to")
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 64, 256], help="batch sizes to time")
    parser.add_argument("--warmups", type=int, default=3, help="untimed calls per batch size (compilation)")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per batch size")
    parser.add_argument("--patches", type=Path, help="folder of musicnn's <clip>.input.npz patches")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    args = parser.parse_args()
    if os.environ.get("KERAS_BACKEND") != "jax":
        parser.error("set KERAS_BACKEND=jax (this script measures the Keras runtime on JAX)")

    import jax
    import keras
    import numpy as np

    runtimes, zoo = network_modules()
    patches = golden_patches(args.patches)
    report = {"backend": keras.backend.backend(), "keras": keras.__version__, "jax": jax.__version__,
              "devices": [str(device) for device in jax.devices()], "python": platform.python_version(),
              "golden_patches": sorted(patches), "models": {}}
    for model in args.models:
        weights = zoo.load_weights(model)
        largest = max(args.batches)
        runtime = runtimes.KerasRuntime(weights, zoo.weights_path(model), "float32", largest)

        def predict(batch, runtime=runtime, largest=largest):
            return np.concatenate([runtime.run(batch[start:start + largest], ())["taggram"]
                                   for start in range(0, len(batch), largest)])

        entry = {"parity": check_parity(predict, model, patches) if patches else "no golden patches found",
                 "throughput": [time_network(predict, size, args.warmups, args.repeats) for size in args.batches]}
        report["models"][model] = entry
        print(model, json.dumps(entry), flush=True)
    assert "tensorflow" not in sys.modules, "TensorFlow was imported"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_keras_jax.json").write_text(json.dumps(report, indent=2))
    failed = [model for model, entry in report["models"].items()
              if isinstance(entry["parity"], dict) and not entry["parity"]["ok"]]
    if failed:
        print(f"taggram parity failed for {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
