"""Where a folder's CPU time goes: each stage of the pipeline alone, then the whole folder, in one run.

    python benchmarks/cpu_time.py              # 27 files (9 copies of the 3 reference clips)
    python benchmarks/cpu_time.py --copies 1   # a quick check

In one process, on the same folder: decoding and resampling every file, the log-mel spectrogram
and patches of the decoded audio, and the network on those patches (batch 4) are each timed
alone (CPU seconds of the process, all threads, from getrusage, and wall seconds); then
Tagger.tag_many tags the folder end to end under several settings (network threads, decoding
jobs, batch size), and finally the command line does, as a fresh process (CPU time from wait4).
Each setting runs `--rounds` times, interleaved; medians are printed.

    perf record -e cpu-clock -g python benchmarks/cpu_time.py --only folder   # profile one part alone
    perf record -e cpu-clock -g python benchmarks/cpu_time.py --only stages
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from run import REPO, build_folder

from musicnn_lite import Tagger
from musicnn_lite.audio import load_audio
from musicnn_lite.spectrum import log_mel, patch_frames, to_patches

MODEL = "MTT_musicnn"
FRAMES = patch_frames(3)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(work) -> tuple[float, float, object]:
    """(CPU seconds, wall seconds, result) of work()."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    result = work()
    return cpu_seconds() - cpu, time.perf_counter() - wall, result


def stages(paths: list[Path], tagger: Tagger) -> dict[str, tuple[float, float]]:
    """Each stage alone over the whole folder: (CPU s, wall s)."""
    decode_cpu, decode_wall, audio = timed(lambda: [load_audio(path) for path in paths])
    mel_cpu, mel_wall, patches = timed(lambda: [to_patches(log_mel(song), FRAMES, FRAMES) for song in audio])
    patches = np.concatenate(patches)
    network_cpu, network_wall, _ = timed(lambda: tagger.predict(patches))
    return {"decode + resample": (decode_cpu, decode_wall), "log-mel + patches": (mel_cpu, mel_wall),
            f"network, batch {tagger.batch_size}": (network_cpu, network_wall)}


def folder(paths: list[Path], tagger: Tagger, jobs: int) -> tuple[float, float]:
    cpu, wall, results = timed(lambda: list(tagger.tag_many(paths, jobs=jobs)))
    assert not any(isinstance(result, Exception) for _, result in results)
    return cpu, wall


def cli(folder_path: Path, extra: list[str]) -> tuple[float, float]:
    """CPU and wall seconds of `python -m musicnn_lite FOLDER -o OUT.csv` as a fresh process."""
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "musicnn_lite", folder_path, "-o", Path(scratch) / "t.csv",
                                    "--quiet", *extra], env={**os.environ, "PYTHONPATH": str(REPO)})
        _, status, usage = os.wait4(process.pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        return usage.ru_utime + usage.ru_stime, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=9, help="copies of each reference clip (default: 9)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each setting (default: 3)")
    parser.add_argument("--only", choices=("stages", "folder"),
                        help="run the stages alone or the default folder run once, nothing else (to profile it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder_path = Path(scratch) / "music"
        audio_s = build_folder(folder_path, args.copies)
        paths = sorted(folder_path.iterdir())
        if args.only:
            tagger = Tagger(MODEL)
            parts = stages(paths, tagger) if args.only == "stages" else {"folder": folder(paths, tagger, 2)}
            for name, (cpu, wall) in parts.items():
                print(f"{name}: {cpu:.1f} CPU s, {wall:.1f} s")
            return
        print(f"{len(paths)} files, {audio_s / 60:.1f} min of audio; {os.cpu_count()} CPUs; load average "
              f"{os.getloadavg()[0]:.2f}")
        settings = {  # name -> (Tagger options, decoding jobs)
            "default (network threads: one per core, 2 jobs, batch 4)": ({}, 2),
            "network threads 1": ({"threads": 1}, 2),
            "1 decoding job": ({}, 1),
            "batch 16": ({"batch_size": 16}, 2),
            "network threads 1, batch 16": ({"threads": 1, "batch_size": 16}, 2),
        }
        taggers = {name: Tagger(MODEL, **options) for name, (options, _) in settings.items()}
        measured: dict[str, list[tuple[float, float]]] = {}
        for _ in range(args.rounds):
            for name, stage in stages(paths, taggers[next(iter(settings))]).items():
                measured.setdefault(name, []).append(stage)
            for name, (_, jobs) in settings.items():
                measured.setdefault(f"folder: {name}", []).append(folder(paths, taggers[name], jobs))
            measured.setdefault("command line (fresh process)", []).append(cli(folder_path, []))
            measured.setdefault("command line, --threads 1", []).append(cli(folder_path, ["--threads", "1"]))
        print(f"{'':62} {'CPU s':>7} {'wall s':>7}")
        for name, runs in measured.items():
            cpu, wall = (statistics.median(values) for values in zip(*runs))
            print(f"{name:62} {cpu:7.1f} {wall:7.1f}")
        print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
