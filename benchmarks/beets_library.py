"""How long `beet musicnn` takes on a library of N songs, against musicnn_lite's own folder tagging.

    python benchmarks/beets_library.py --songs 10 --minutes 3.5

Builds N songs of the given length (44.1 kHz stereo FLAC tiled from the reference clips, like
ripped CDs), imports them as-is into a fresh beets library in a temporary folder, then times,
in this one run, each as a fresh process from start to exit, the two alternating for --rounds:
  - baseline: `python -m musicnn_lite FOLDER -o tags.jsonl --features penultimate --quiet`
  - plugin:   `beet musicnn --force` (the same model and embedding, stored in the beets database)
and prints a Markdown table of the medians (wall and CPU time), with the load average of the machine before and after.
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

import librosa
import mediafile
import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[1]
CLIPS = sorted((REPO / "tests" / "data" / "audio").iterdir())
SR = 44100


def make_songs(folder: Path, count: int, minutes: float) -> None:
    """`count` FLAC songs of `minutes` each, cycling through the reference clips, each titled."""
    clips = [librosa.load(clip, sr=SR, mono=False)[0] for clip in CLIPS]
    clips = [np.atleast_2d(clip).repeat(2 // len(np.atleast_2d(clip)), axis=0).T for clip in clips]
    length = int(minutes * 60 * SR)
    for index in range(count):
        clip = clips[index % len(clips)]
        song = np.tile(clip, (length // len(clip) + 1, 1))[:length]
        path = folder / f"song{index:03d}.flac"
        soundfile.write(path, song, SR)
        tags = mediafile.MediaFile(path)
        tags.title = f"song {index}"
        tags.save()


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of a fresh process running `command`, which must succeed.

    On a shared machine the CPU time is the steadier of the two: it does not count the time
    the process waited for a core.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=3.5, help="length of each song")
    parser.add_argument("--rounds", type=int, default=2, help="timings of each command")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        music = root / "music"
        music.mkdir()
        make_songs(music, args.songs, args.minutes)
        (root / "config.yaml").write_text(f"directory: {root / 'library'}\nlibrary: {root / 'library.db'}\n"
                                          "plugins: [musicnn]\nimport:\n  copy: no\n  write: no\n")
        env = {**os.environ, "BEETSDIR": str(root), "PYTHONPATH": str(REPO)}
        beet = [sys.executable, "-m", "beets"]
        subprocess.run([*beet, "import", "-A", "-q", str(music)], env=env, check=True, capture_output=True)
        load_before = os.getloadavg()[0]
        baseline, plugin = [], []
        for _ in range(args.rounds):
            baseline.append(timed([sys.executable, "-m", "musicnn_lite", str(music), "-o", str(root / "tags.jsonl"),
                                   "--features", "penultimate", "--quiet"], env))
            plugin.append(timed([*beet, "musicnn", "--force"], env))
        baseline, plugin = [[statistics.median(run[i] for run in runs) for i in (0, 1)] for runs in (baseline, plugin)]
        load_after = os.getloadavg()[0]
    audio = args.songs * args.minutes * 60
    print(f"{args.songs} songs of {args.minutes:g} min ({audio / 60:.0f} min of 44.1 kHz stereo FLAC), "
          f"median of {args.rounds} runs each, {os.cpu_count()} CPUs, "
          f"load average {load_before:.1f} before and {load_after:.1f} after\n")
    print("| command | wall s | wall s per song | audio s / wall s | CPU s | CPU vs baseline |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    rows = (("python -m musicnn_lite FOLDER -o tags.jsonl --features penultimate", baseline),
            ("beet musicnn --force", plugin))
    for name, (wall, cpu) in rows:
        print(f"| `{name}` | {wall:.1f} | {wall / args.songs:.2f} | {audio / wall:.0f} | {cpu:.1f} | "
              f"{cpu / baseline[1]:.2f}x |")


if __name__ == "__main__":
    main()
