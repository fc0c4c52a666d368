"""Does a folder cost less than the sum of its stages? Decoding against the network, on this machine.

    python benchmarks/overlap.py [--copies 4] [--rounds 3]

Tags COPIES copies of the three clips of tests/data/audio (MTT_musicnn, 3-s patches) with one
Tagger and times, per setting of ONNX Runtime's threads (how many, whether they spin), three
things: decoding and log-mel alone on the tag_many decoding workers, the network alone on the
very same patches, and the whole `Tagger.tag_many` run. Variants are interleaved round by round
(a shared machine is noisy); reported are medians of wall time and of process CPU time (user +
sys, all threads), the load average, whole run / sum of stages (below 1: they overlap), the floor
(the stages' CPU time spread over all cores: no schedule does better), and each whole run against
the baseline, the runtime's own setting, measured in the same run. A variant
swaps the Tagger's ONNX session for one built with its options.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from musicnn_lite import Tagger, zoo  # noqa: E402
from musicnn_lite.audio import stream_audio  # noqa: E402
from musicnn_lite.spectrum import stream_log_mel, stream_patches  # noqa: E402

MODEL = "MTT_musicnn"
JOBS = 2
BATCH_SIZE = 4
# name -> (intra-op threads, spinning); 0 threads: ONNX Runtime's default count, which pins them to cores
VARIANTS = {"ORT's default threads, pinned (the runtime's; baseline)": (0, False),
            "ORT's default threads, pinned, spinning": (0, True),
            "1 intra-op thread": (1, False),
            f"{os.cpu_count()} intra-op threads, unpinned": (os.cpu_count(), False)}


def session(threads: int, spinning: bool) -> onnxruntime.InferenceSession:
    """The runtime's session, with `threads` intra-op threads that spin between batches or not."""
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", str(int(spinning)))
    options.intra_op_num_threads = threads
    graph = zoo.weights_path(MODEL).with_suffix(".onnx")
    return onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


def timed(work) -> tuple[float, float]:
    """(wall s, process CPU s) of work()."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def patches_of(path: Path) -> np.ndarray:
    return np.concatenate(list(stream_patches(stream_log_mel(stream_audio(path)), 187, 187)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="copies of each reference clip (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="musicnn-overlap-"))
    try:
        paths = []
        for copy in range(args.copies):
            for clip in sorted((ROOT / "tests/data/audio").iterdir()):
                paths.append(folder / f"{copy:02d}_{clip.name}")
                shutil.copy(clip, paths[-1])
        tagger = Tagger(MODEL, batch_size=BATCH_SIZE, runtime="onnx")
        with ThreadPoolExecutor(JOBS) as pool:
            patches = np.concatenate(list(pool.map(patches_of, paths)))
        tagger.predict(patches[:BATCH_SIZE])  # warm-up
        print(f"{len(paths)} files, {len(patches)} patches; jobs={JOBS}, batch_size={BATCH_SIZE}, "
              f"{os.cpu_count()} CPUs", flush=True)

        def decode():
            with ThreadPoolExecutor(JOBS) as pool:
                list(pool.map(patches_of, paths))

        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        loads = [os.getloadavg()[0]]
        for round_ in range(args.rounds):
            times.setdefault(("decode", ""), []).append(timed(decode))
            for name, settings in VARIANTS.items():
                tagger._runtime._session = session(*settings)
                times.setdefault(("network", name), []).append(timed(lambda: tagger.predict(patches)))
                times.setdefault(("whole", name), []).append(timed(lambda: list(tagger.tag_many(paths, jobs=JOBS))))
            loads.append(os.getloadavg()[0])
            print(f"round {round_ + 1} done, load {loads[-1]:.1f}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(folder)

    def median(key, index):
        return statistics.median(t[index] for t in times[key])

    decode_wall, decode_cpu = median(("decode", ""), 0), median(("decode", ""), 1)
    baseline = median(("whole", next(iter(VARIANTS))), 0)
    print(f"\nmedians of {args.rounds} rounds; load average (1 min) {min(loads):.1f} to {max(loads):.1f} "
          f"on {os.cpu_count()} CPUs")
    print(f"decode + log-mel alone, {JOBS} workers: wall {decode_wall:.2f} s, CPU {decode_cpu:.2f} s\n")
    print("| variant | network wall / CPU s | sum of stages, wall s | whole run wall / CPU s "
          "| whole / sum of stages | floor s | whole vs baseline |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in VARIANTS:
        network_wall, network_cpu = median(("network", name), 0), median(("network", name), 1)
        whole_wall, whole_cpu = median(("whole", name), 0), median(("whole", name), 1)
        stages = decode_wall + network_wall
        floor = (decode_cpu + network_cpu) / os.cpu_count()
        print(f"| {name} | {network_wall:.2f} / {network_cpu:.2f} | {stages:.2f} | {whole_wall:.2f} / "
              f"{whole_cpu:.2f} | {whole_wall / stages:.2f} | {floor:.2f} | {baseline / whole_wall:.2f}x |")


if __name__ == "__main__":
    main()
