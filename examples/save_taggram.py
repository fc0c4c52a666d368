"""Save a song's taggram, with its song-level likelihoods beside it, as a PNG picture.

    python examples/save_taggram.py song.mp3 --out taggram.png --overlap 1
"""

import argparse
from pathlib import Path

from matplotlib.figure import Figure

from musicnn_lite import BUNDLED_MODELS, MusicnnError, extractor, plots

EXAMPLE_SONG = Path(__file__).resolve().parent.parent / "tests/data/audio/joram-moments_of_clarity-08-solipsism-59-88.mp3"


def main() -> None:
    parser = argparse.ArgumentParser(description="Save a song's taggram as a PNG picture.")
    parser.add_argument("song", nargs="?", type=Path, default=EXAMPLE_SONG, help="audio file (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("taggram.png"), help="PNG file to write (default: %(default)s)")
    parser.add_argument("--model", default="MTT_musicnn", help=f"one of {', '.join(BUNDLED_MODELS)} (default: %(default)s)")
    parser.add_argument("--overlap", type=float, default=False,
                        help="seconds between patch starts (musicnn's input_overlap; default: one patch, 3 s)")
    args = parser.parse_args()
    try:
        taggram, tags = extractor(args.song, model=args.model, input_overlap=args.overlap, extract_features=False)
    except MusicnnError as error:
        parser.exit(1, f"error: {error}\n")

    # A plain Figure, not pyplot: the script needs no display and opens no window.
    figure = Figure(figsize=(14, 9.7), layout="constrained")
    left, right = figure.subplots(1, 2, sharey=True, width_ratios=[3, 1])
    plots.plot_taggram(taggram, tags, input_overlap=args.overlap, ax=left)
    plots.plot_tag_likelihoods(taggram, tags, top_n=5, ax=right)
    left.set_title(f"{args.song.name}, {args.model}")
    figure.savefig(args.out, dpi=100)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
