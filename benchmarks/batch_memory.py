"""Memory per patch in a batch: the peak resident memory a batch of N patches adds, per runtime and model.

    python benchmarks/batch_memory.py                  # ONNX Runtime and Keras, musicnn and VGG
    python benchmarks/batch_memory.py --batches 16 64  # other batch sizes

Each measurement is a fresh process: it builds a Tagger, runs one patch (so that the model, the
runtime's start-up and its first arena are in place), notes its peak resident memory (VmHWM in
/proc/self/status: Linux), runs a batch of N blank patches and notes the peak again; the cost per
patch is the difference over N - 1. Patches of 3 s (187 frames) unless --seconds says more: the
cost of a musicnn patch grows with its length. Taggram only, as without --features.
"""

import argparse
import json
import subprocess
import sys

CHILD = """
import json, sys
import numpy as np
from musicnn_lite import Tagger
from musicnn_lite.spectrum import N_MELS, patch_frames


def peak():  # kB; the process's own peak (ru_maxrss would start at the parent's: Linux keeps it across exec)
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM")).split()[1])


runtime, model, batch, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
tagger = Tagger(model, runtime=runtime, batch_size=batch)
frames = patch_frames(seconds)
tagger.predict(np.zeros((1, frames, N_MELS), np.float32))
before = peak()
tagger.predict(np.zeros((batch, frames, N_MELS), np.float32))
after = peak()
print(json.dumps({"before_mb": before / 1024, "after_mb": after / 1024}))
"""


def measure(runtime: str, model: str, batch: int, seconds: float) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, runtime, model, str(batch), str(seconds)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--runtimes", nargs="+", default=["onnx", "keras"])
    parser.add_argument("--models", nargs="+", default=["MTT_musicnn", "MTT_vgg"])
    args = parser.parse_args()
    print("runtime  model        patch s  batch  peak before  peak after  MB per patch")
    for runtime in args.runtimes:
        for model in args.models:
            if "vgg" in model and args.seconds != 3:
                continue
            for batch in args.batches:
                peaks = measure(runtime, model, batch, args.seconds)
                per_patch = (peaks["after_mb"] - peaks["before_mb"]) / (batch - 1)
                print(f"{runtime:<8} {model:<12} {args.seconds:>7g}  {batch:>5}  {peaks['before_mb']:>8.0f} MB"
                      f"  {peaks['after_mb']:>7.0f} MB  {per_patch:>12.1f}", flush=True)


if __name__ == "__main__":
    main()
