"""What Ray costs on one machine: Ray Data in local mode against the plain command line, same folder, same run.

    python benchmarks/ray_overhead.py             # 3 clips x 8 copies (24 files, 16 min of audio), 2 rounds
    python benchmarks/ray_overhead.py --copies 2 --rounds 1   # smoke run

Each measurement is a fresh process timed from start to exit (interpreter, imports, Ray's
start-up, actor start-up, model loads, writing the results), the tools interleaved round by
round because a shared machine's speed drifts; the median wall time per tool is reported with
its overhead over the command line in percent. The Ray processes also time Ray's own start
(`ray.init`) so that the fixed cost and the per-file cost can be told apart.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile

REPO = Path(__file__).resolve().parents[1]
CLIPS = sorted((REPO / "tests" / "data" / "audio").iterdir())

RAY_RUN = """
import sys, time
import ray
start = time.monotonic()
ray.init(num_cpus={cpus}, include_dashboard=False, log_to_driver=False)
ray.data.DataContext.get_current().enable_progress_bars = False
print("ray.init", time.monotonic() - start)
import musicnn_lite.ray
musicnn_lite.ray.tag(sys.argv[1], num_cpus={actor_cpus}, concurrency={concurrency}).write_parquet(sys.argv[2])
ray.shutdown()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8, help="copies of each reference clip (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per tool (default 2)")
    args = parser.parse_args()
    cpus = os.cpu_count()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "music"
        audio_seconds = make_folder(folder, args.copies)
        tools = {
            "command line (-o out.csv)": [sys.executable, "-m", "musicnn_lite", str(folder), "-o",
                                          f"{scratch}/out.csv", "--quiet"],
            f"Ray, {cpus} actors x 1 CPU": ray_command(folder, scratch, cpus, actor_cpus=1, concurrency=cpus),
            f"Ray, 1 actor x {cpus} CPUs": ray_command(folder, scratch, cpus, actor_cpus=cpus, concurrency=1),
        }
        times = {name: [] for name in tools}
        ray_starts = {name: [] for name in tools}
        load_before = os.getloadavg()[0]
        for _ in range(args.rounds):
            for name, command in tools.items():
                seconds, output = timed(command)
                times[name].append(seconds)
                ray_starts[name] += [float(line.split()[1]) for line in output.splitlines()
                                     if line.startswith("ray.init ")]
        load_after = os.getloadavg()[0]
    baseline = statistics.median(times["command line (-o out.csv)"])
    print(f"{len(CLIPS) * args.copies} files, {audio_seconds / 60:.1f} min of audio, {cpus} logical cores, "
          f"{args.rounds} rounds (median), load average {load_before:.1f} at start, {load_after:.1f} at end\n")
    print("| tool | wall s | audio s / wall s | overhead vs command line | of which ray.init s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, runs in times.items():
        wall = statistics.median(runs)
        start = f"{statistics.median(ray_starts[name]):.1f}" if ray_starts[name] else "n/a"
        print(f"| {name} | {wall:.1f} | {audio_seconds / wall:.1f} | {100 * (wall / baseline - 1):+.0f} % | {start} |")


def make_folder(folder: Path, copies: int) -> float:
    """Copies of the reference clips (mp3 16 kHz mono, mp3 22 kHz stereo, ogg 44.1 kHz stereo); total seconds."""
    folder.mkdir()
    for copy in range(copies):
        for clip in CLIPS:
            (folder / f"{copy}-{clip.name}").write_bytes(clip.read_bytes())
    return copies * sum(soundfile.info(clip).duration for clip in CLIPS)


def ray_command(folder: Path, scratch: str, cpus: int, actor_cpus: int, concurrency: int) -> list[str]:
    code = RAY_RUN.format(cpus=cpus, actor_cpus=actor_cpus, concurrency=concurrency)
    return [sys.executable, "-c", code, str(folder), f"{scratch}/out-{actor_cpus}.parquet"]


def timed(command: list[str]) -> tuple[float, str]:
    """Wall seconds of a child process run to its end, and its stdout; raises if it fails."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - start
    if done.returncode:
        raise SystemExit(f"{command[:3]} failed:\n{done.stderr[-3000:]}")
    return seconds, done.stdout


if __name__ == "__main__":
    main()
