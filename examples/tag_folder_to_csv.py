"""Tag every audio file in a folder; write one CSV row per file: its top 3 tags and the likelihood of every tag.

    python examples/tag_folder_to_csv.py music/ --out tags.csv --model MSD_musicnn

Files that cannot be tagged are named on stderr and left out of the CSV; the rest are
tagged, and the exit status is then 1.
"""

import argparse
import csv
import sys
from pathlib import Path

from musicnn_lite import BUNDLED_MODELS, MusicnnError, Tagger

REFERENCE_CLIPS = Path(__file__).resolve().parent.parent / "tests/data/audio"
AUDIO_SUFFIXES = {".mp3", ".ogg", ".oga", ".opus", ".wav", ".flac", ".aif", ".aiff"}
MODEL_HELP = f"{', '.join(BUNDLED_MODELS)}, or a converted weights file (default: %(default)s)"


def main() -> None:
    parser = argparse.ArgumentParser(description="Tag every audio file in a folder into a CSV file.")
    parser.add_argument("folder", nargs="?", type=Path, default=REFERENCE_CLIPS, help="(default: the test clips)")
    parser.add_argument("--out", type=Path, default=Path("tags.csv"), help="CSV file (default: %(default)s)")
    parser.add_argument("--model", default="MTT_musicnn", help=MODEL_HELP)
    args = parser.parse_args()
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder; pass the folder that holds your audio files")
    songs = sorted(path for path in args.folder.iterdir() if path.suffix.lower() in AUDIO_SUFFIXES)
    try:
        tagger = Tagger(args.model)
    except MusicnnError as error:
        parser.exit(1, f"error: {error}\n")

    failures = 0
    with open(args.out, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["file", "top_tags", *tagger.labels])
        for song, result in tagger.tag_many(songs):
            if isinstance(result, MusicnnError):
                failures += 1
                print(f"skipped {song}: {result}", file=sys.stderr)
                continue
            writer.writerow([song.name, ";".join(result.top(3)), *(f"{value:.6f}" for value in result.likelihoods)])
    print(f"tagged {len(songs) - failures} of {len(songs)} files into {args.out}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
