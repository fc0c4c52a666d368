"""What Ray costs on one machine: `--ray` (Ray Data in local mode) against the plain command line, same run.

    python benchmarks/ray_overhead.py             # 3 clips x 8 copies (24 files, 16 min of audio), 2 rounds
    python benchmarks/ray_overhead.py --copies 1 --rounds 1   # smoke run

Both write the same Parquet file from the same folder. Each measurement is a fresh process
timed from start to exit (interpreter, imports, Ray's start-up, actor start-up, model loads,
writing the results), the runs interleaved round by round because a shared machine's speed
drifts; the median wall time of each is reported, and Ray's overhead in percent of the plain
command line's. Ray's own start and shutdown are timed alone too, so that its fixed cost and
its cost per file can be told apart.
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

RAY_START_ALONE = """
import ray
ray.init(include_dashboard=False, log_to_driver=False)
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
        cli = [sys.executable, "-m", "musicnn_lite", str(folder), "--quiet", "-o"]
        tools = {
            "command line, -o out.parquet": [*cli, f"{scratch}/plain.parquet"],
            "command line, -o out.parquet --ray": [*cli, f"{scratch}/ray.parquet", "--ray"],
            "Ray start and shutdown alone": [sys.executable, "-c", RAY_START_ALONE],
        }
        times = {name: [] for name in tools}
        load_before = os.getloadavg()[0]
        for _ in range(args.rounds):
            for name, command in tools.items():
                times[name].append(timed(command))
        load_after = os.getloadavg()[0]
    wall = {name: statistics.median(runs) for name, runs in times.items()}
    plain, on_ray, ray_alone = wall.values()
    print(f"{len(CLIPS) * args.copies} files, {audio_seconds / 60:.1f} min of audio, {cpus} logical cores, "
          f"median of {args.rounds} rounds, load average {load_before:.1f} at start, {load_after:.1f} at end\n")
    print("| run | wall s | audio s / wall s | per core |")
    print("| --- | ---: | ---: | ---: |")
    for name in list(tools)[:2]:
        rate = audio_seconds / wall[name]
        print(f"| {name} | {wall[name]:.1f} | {rate:.1f} | {rate / cpus:.1f} |")
    print(f"| {list(tools)[2]} | {ray_alone:.1f} | | |")
    print(f"\nRay's overhead on one machine: {100 * (on_ray / plain - 1):+.0f} % of the plain command line's "
          f"wall time; {100 * ((on_ray - ray_alone) / plain - 1):+.0f} % without Ray's own start and shutdown.")


def make_folder(folder: Path, copies: int) -> float:
    """Copies of the reference clips (mp3 16 kHz mono, mp3 22 kHz stereo, ogg 44.1 kHz stereo); total seconds."""
    folder.mkdir()
    for copy in range(copies):
        for clip in CLIPS:
            (folder / f"{copy}-{clip.name}").write_bytes(clip.read_bytes())
    return copies * sum(soundfile.info(clip).duration for clip in CLIPS)


def timed(command: list[str]) -> float:
    """Wall seconds of a child process run to its end; raises if it fails."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - start
    if done.returncode:  # the folder has no bad file: any failure is the benchmark's
        raise SystemExit(f"{command[:3]} failed:\n{done.stderr[-3000:]}")
    return seconds


if __name__ == "__main__":
    main()
