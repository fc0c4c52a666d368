"""What benchmarks/run.py measures inside its child processes, one probe per process.

    python benchmarks/probes.py musicnn-tag FILE...                    musicnn 0.1.0's top_tags on each file
    python benchmarks/probes.py lite-tag [--precision P] [--runtime R] FILE...   musicnn_lite's Tagger.tag_many
    python benchmarks/probes.py network [--model M] [--precision P] [--runtime R] [--batch-sizes B...] [--patches N]
                                        [--repeats R]
    python benchmarks/probes.py matmul [--dtypes D...] [--size N] [--repeats R]

A probe prints what it measured as one line `RESULT {json}` on stdout; run.py ignores everything
else (musicnn and TensorFlow print a lot). Only the standard library is imported at module level
because the musicnn probe runs in musicnn's own virtual environment (numpy 1, TensorFlow 2.15).
"""

import argparse
import json
import math
import statistics
import time

MODEL = "MTT_musicnn"
PATCH_FRAMES = 187  # a 3-s patch: 187 spectrogram frames of 16 ms
N_MELS = 96


def musicnn_patch_flops(kernel_shapes: dict[str, tuple[int, ...]], n_frames: int = PATCH_FRAMES,
                        n_mels: int = N_MELS) -> dict[str, int]:
    """FLOPs (2 x multiply-adds) of each conv and dense layer of a musicnn network for one patch.

    kernel_shapes: "<layer>/kernel" -> kernel shape, as in a musicnn_lite weights file. A layer's
    multiply-adds are its kernel size times the number of output positions it is applied at:
    timbral convs are 'same' in time and 'valid' in frequency, temporal convs 'same' in both,
    mid-end 1-D convs 'same' in time, dense layers are applied once.
    """
    flops = {}
    for key, shape in kernel_shapes.items():
        layer = key.removesuffix("/kernel")
        if layer.startswith("timbral_"):
            positions = n_frames * (n_mels - shape[1] + 1)
        elif layer.startswith("temporal_"):
            positions = n_frames * n_mels
        elif layer.startswith("midend_"):
            positions = n_frames
        else:
            positions = 1
        flops[layer] = 2 * positions * math.prod(shape)
    return flops


def musicnn_tag(files: list[str]) -> dict:
    """Tag each file the way a musicnn 0.1.0 user tags a folder: top_tags per file, one process.

    tagging_s: the seconds of the loop alone, after the imports (musicnn builds its graph per file).
    """
    from musicnn.tagger import top_tags

    start = time.perf_counter()
    tags = [top_tags(path, model=MODEL, topN=3, print_tags=False) for path in files]
    return {"tags": tags, "tagging_s": time.perf_counter() - start}


def lite_tag(files: list[str], precision: str, runtime: str) -> dict:
    """Tag the files with one musicnn_lite Tagger (tag_many, as many decoding jobs as cores).

    tagging_s: the seconds of tag_many alone, after the model is built and traced on the first file.
    """
    import os

    from musicnn_lite import Tagger

    tagger = Tagger(MODEL, **_tagger_options(precision, runtime))
    tagger.tag(files[0])  # start-up: the graph is traced once
    tags = []
    start = time.perf_counter()
    for path, result in tagger.tag_many(files, jobs=os.cpu_count() or 1):
        if isinstance(result, Exception):
            raise RuntimeError(f"{path}: {result}")
        tags.append(result.top(3))
    return {"tags": tags, "tagging_s": time.perf_counter() - start}


def network(model: str, precision: str, runtime: str, batch_sizes: list[int], n_patches: int, repeats: int) -> dict:
    """Milliseconds per patch of the network alone (Tagger.predict on ready spectrogram patches of the
    model's own shape: 3-s log-mel patches for MTT_musicnn, a chunk's dB mel spectrogram for the survey's).

    For each batch size: a fresh Tagger, one warm-up batch (graph tracing), then the median of
    `repeats` timings of n_patches patches (rounded up to whole batches). The values are noise in
    0..4 (the cost of the network does not depend on them).
    """
    import numpy as np

    from musicnn_lite import Tagger

    rng = np.random.default_rng(0)
    ms_per_patch = {}
    for batch_size in batch_sizes:
        tagger = Tagger(model, batch_size=batch_size, **_tagger_options(precision, runtime))
        # versions before the front-end seam have no plan().input_shape, and MTT_musicnn only
        shape = (PATCH_FRAMES, N_MELS) if model == MODEL else tagger.plan().input_shape
        count = math.ceil(n_patches / batch_size) * batch_size
        patches = (4 * rng.random((count, *shape))).astype(np.float32)
        tagger.predict(patches[:batch_size])
        seconds = statistics.median(_timed(tagger.predict, patches) for _ in range(repeats))
        ms_per_patch[batch_size] = 1000 * seconds / count
    return {"ms_per_patch": ms_per_patch}


def matmul(dtypes: list[str], size: int, repeats: int) -> dict:
    """GFLOP/s of a size x size TensorFlow matmul in a tf.function, median of `repeats`, per dtype."""
    import tensorflow as tf

    @tf.function
    def product_sum(a, b):
        return tf.reduce_sum(tf.cast(tf.linalg.matmul(a, b), tf.float32))

    def product_value(a, b) -> float:
        return product_sum(a, b).numpy()

    gflops = {}
    for dtype in dtypes:
        a, b = (tf.cast(tf.random.normal((size, size), seed=seed), dtype) for seed in (1, 2))
        product_sum(a, b).numpy()
        seconds = statistics.median(_timed(product_value, a, b) for _ in range(repeats))
        gflops[dtype] = 2 * size ** 3 / seconds / 1e9
    return {"gflops": gflops}


def _tagger_options(precision: str, runtime: str) -> dict:
    """Tagger keywords; the defaults (float32, auto) pass nothing, so the probe runs on versions without them."""
    return {**({} if precision == "float32" else {"precision": precision}),
            **({} if runtime == "auto" else {"runtime": runtime})}


def _timed(call, *args) -> float:
    """Seconds that call(*args) takes."""
    start = time.perf_counter()
    call(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    probes = parser.add_subparsers(dest="probe", required=True)
    probes.add_parser("musicnn-tag").add_argument("files", nargs="+")
    lite = probes.add_parser("lite-tag")
    lite.add_argument("--precision", default="float32")
    lite.add_argument("--runtime", default="auto")
    lite.add_argument("files", nargs="+")
    net = probes.add_parser("network")
    net.add_argument("--model", default=MODEL)
    net.add_argument("--precision", default="float32")
    net.add_argument("--runtime", default="auto")
    net.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 32, 64])
    net.add_argument("--patches", type=int, default=64)
    net.add_argument("--repeats", type=int, default=5)
    mm = probes.add_parser("matmul")
    mm.add_argument("--dtypes", nargs="+", default=["float32"])
    mm.add_argument("--size", type=int, default=2048)
    mm.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    if args.probe == "musicnn-tag":
        result = musicnn_tag(args.files)
    elif args.probe == "lite-tag":
        result = lite_tag(args.files, args.precision, args.runtime)
    elif args.probe == "network":
        result = network(args.model, args.precision, args.runtime, args.batch_sizes, args.patches, args.repeats)
    else:
        result = matmul(args.dtypes, args.size, args.repeats)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
