"""Print the most likely tags of one song with their song-level likelihoods.

    python examples/tag_song.py song.mp3 --model MSD_musicnn --top 10
"""

import argparse
from pathlib import Path

from musicnn_lite import BUNDLED_MODELS, MusicnnError, Tagger

REFERENCE_CLIPS = Path(__file__).resolve().parent.parent / "tests/data/audio"
EXAMPLE_SONG = REFERENCE_CLIPS / "joram-moments_of_clarity-08-solipsism-59-88.mp3"
MODEL_HELP = f"{', '.join(BUNDLED_MODELS)}, or a converted weights file (default: %(default)s)"


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the most likely tags of one song.")
    parser.add_argument("song", nargs="?", type=Path, default=EXAMPLE_SONG, help="audio file (default: a test clip)")
    parser.add_argument("--model", default="MTT_musicnn", help=MODEL_HELP)
    parser.add_argument("--top", type=int, default=5, help="how many tags (default: %(default)s)")
    args = parser.parse_args()
    try:
        result = Tagger(args.model).tag(args.song)
    except MusicnnError as error:
        parser.exit(1, f"error: {error}\n")
    likelihoods = dict(zip(result.tags, result.likelihoods))
    for tag in result.top(args.top):
        print(f"{likelihoods[tag]:.3f}  {tag}")


if __name__ == "__main__":
    main()
