"""Training a custom-tag head against tagging the same songs, measured in one run.

    python benchmarks/head_training.py [--copies 2] [--rounds 5]

The songs: the three reference clips of tests/data/audio cut into 10-s excerpts (2, 2 and 6
per clip, a tag per clip), written as 16-kHz wav files, `--copies` times over. One Tagger
(MSD_musicnn, float32, batch 4, 2 decoding jobs), built and traced before any timing, then in
each round, one after the other, starting one step later each round (so that no step always
runs first or last while the load of a shared machine drifts):
  - tagging: Tagger.tag_many over the files, taggram only (what `python -m musicnn_lite` does);
  - embeddings: the same with the `max_pool` feature as well (what training reads);
  - training: heads.train on the folder (embeddings, 5-fold song-grouped cross-validation and
    the final fit);
  - tagging with the head: a second Tagger given the trained head, taggram and head tags.
Printed: the fastest of the rounds for each (the run least slowed by other jobs) and its
ratio to tagging.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import soundfile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from musicnn_lite import Tagger, heads  # noqa: E402
from musicnn_lite.audio import SAMPLE_RATE, load_audio  # noqa: E402
from musicnn_lite.files import audio_files  # noqa: E402

EXCERPT_SECONDS = 10


def write_examples(folder: Path, copies: int) -> list[str]:
    """folder/TAG/COPY-N.wav excerpts of each reference clip; returns the file paths."""
    size = EXCERPT_SECONDS * SAMPLE_RATE
    for clip in sorted((REPO / "tests" / "data" / "audio").iterdir()):
        audio = load_audio(clip)
        tag = folder / clip.name.split("-")[0].split("_")[0]
        tag.mkdir(parents=True)
        for copy in range(copies):
            for n, start in enumerate(range(0, len(audio) - size + 1, size)):
                soundfile.write(tag / f"{copy}-{n}.wav", audio[start:start + size], SAMPLE_RATE)
    return audio_files([str(folder)])


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tagger = Tagger("MSD_musicnn")
    with tempfile.TemporaryDirectory() as tmp:
        files = write_examples(Path(tmp), args.copies)
        with_head = Tagger("MSD_musicnn", heads=[heads.train(tmp, tagger)])
        for features in ([], ["max_pool"]):  # trace every batch shape before timing
            list(tagger.tag_many(files[:2], features=features))
        list(with_head.tag_many(files[:2]))
        runs = {
            "tagging (taggram)": lambda: list(tagger.tag_many(files)),
            "embeddings (taggram + max_pool)": lambda: list(tagger.tag_many(files, features=["max_pool"])),
            "training (heads.train)": lambda: heads.train(tmp, tagger),
            "tagging with the head": lambda: list(with_head.tag_many(files)),
        }
        seconds = {name: [] for name in runs}
        names = list(runs)
        for round_ in range(args.rounds):
            for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                seconds[name].append(timed(runs[name]))
    audio_seconds = len(files) * EXCERPT_SECONDS
    print(f"{len(files)} songs, {audio_seconds} s of audio, MSD_musicnn, fastest of {args.rounds} rounds\n")
    print("| step | s | audio s / s | vs tagging | all rounds, s |\n| --- | ---: | ---: | ---: | --- |")
    baseline = min(seconds["tagging (taggram)"])
    for name, values in seconds.items():
        print(f"| {name} | {min(values):.2f} | {audio_seconds / min(values):.0f} | {min(values) / baseline:.2f}x "
              f"| {' '.join(f'{value:.1f}' for value in values)} |")


if __name__ == "__main__":
    main()
