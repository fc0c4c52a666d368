"""Save a song's taggram, with its song-level likelihoods beside it, as a PNG picture.

    python examples/save_taggram.py song.mp3 --out taggram.png --overlap 1 --tags 12

The README's picture, docs/taggram.png, is drawn by
    python examples/save_taggram.py --overlap 1 --tags 12 --top 3 --out docs/taggram.png
"""

import argparse
from pathlib import Path

from matplotlib.figure import Figure

from musicnn_lite import BUNDLED_MODELS, MusicnnError, extractor, plots

REFERENCE_CLIPS = Path(__file__).resolve().parent.parent / "tests/data/audio"
EXAMPLE_SONG = REFERENCE_CLIPS / "joram-moments_of_clarity-08-solipsism-59-88.mp3"
MODEL_HELP = f"{', '.join(BUNDLED_MODELS)}, or a converted weights file (default: %(default)s)"


def main() -> None:
    parser = argparse.ArgumentParser(description="Save a song's taggram as a PNG picture.")
    parser.add_argument("song", nargs="?", type=Path, default=EXAMPLE_SONG, help="audio file (default: a test clip)")
    parser.add_argument("--out", type=Path, default=Path("taggram.png"), help="PNG file (default: %(default)s)")
    parser.add_argument("--model", default="MTT_musicnn", help=MODEL_HELP)
    parser.add_argument("--overlap", type=float, default=False,
                        help="seconds between patch starts (musicnn's input_overlap; default: one patch, 3 s)")
    parser.add_argument("--tags", type=int, help="draw only this many tags, the likeliest first (default: all)")
    parser.add_argument("--top", type=int, default=5, help="how many tags to mark as the top (default: %(default)s)")
    args = parser.parse_args()
    try:
        taggram, tags = extractor(args.song, model=args.model, input_overlap=args.overlap, extract_features=False)
        if args.tags is not None:
            likeliest = taggram.mean(axis=0).argsort()[::-1][:args.tags]
            taggram, tags = taggram[:, likeliest], [tags[i] for i in likeliest]
        # A plain Figure, not pyplot: the script needs no display and opens no window.
        figure = Figure(figsize=(10, 0.17 * len(tags) + 1.7), layout="constrained")
        left, right = figure.subplots(1, 2, sharey=True, width_ratios=[3, 1])
        plots.plot_taggram(taggram, tags, input_overlap=args.overlap, ax=left)
        plots.plot_tag_likelihoods(taggram, tags, top_n=min(args.top, len(tags)), ax=right)
    except MusicnnError as error:
        parser.exit(1, f"error: {error}\n")
    left.set_title(f"{args.song.name} ({args.model})")
    figure.savefig(args.out, dpi=120)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
