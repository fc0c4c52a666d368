"""Print the most likely tags of one song with their song-level likelihoods.

    python examples/tag_song.py song.mp3 --model MSD_musicnn --top 10
"""

import argparse
from pathlib import Path

from musicnn_lite import BUNDLED_MODELS, MusicnnError, Tagger

EXAMPLE_SONG = Path(__file__).resolve().parent.parent / "tests/data/audio/joram-moments_of_clarity-08-solipsism-59-88.mp3"


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the most likely tags of one song.")
    parser.add_argument("song", nargs="?", type=Path, default=EXAMPLE_SONG, help="audio file (default: %(default)s)")
    parser.add_argument("--model", default="MTT_musicnn", help=f"one of {', '.join(BUNDLED_MODELS)} (default: %(default)s)")
    parser.add_argument("--top", type=int, default=5, help="how many tags (default: %(default)s)")
    args = parser.parse_args()
    try:
        result = Tagger(args.model).tag(args.song)
    except MusicnnError as error:
        parser.exit(1, f"error: {error}\n")
    for tag in result.top(args.top):
        print(f"{result.likelihoods[result.tags.index(tag)]:.3f}  {tag}")


if __name__ == "__main__":
    main()
