"""Draw docs/taggram.png, the README's picture, with the project's own plotting code.

    python docs/make_figure.py            # rewrites docs/taggram.png
    python docs/make_figure.py --out x.png

The twelve tags most likely over the whole song, ranked, as a taggram with a 3-s patch
starting every second, beside their song-level likelihoods.
"""

import argparse
from pathlib import Path

from matplotlib.figure import Figure

from musicnn_lite import extractor, plots

HERE = Path(__file__).resolve().parent
SONG = HERE.parent / "tests/data/audio/joram-moments_of_clarity-08-solipsism-59-88.mp3"
MODEL, STEP_SECONDS, N_TAGS = "MTT_musicnn", 1, 12


def main() -> None:
    parser = argparse.ArgumentParser(description="Draw the README's taggram picture.")
    parser.add_argument("--out", type=Path, default=HERE / "taggram.png", help="PNG file to write (default: %(default)s)")
    args = parser.parse_args()

    taggram, tags = extractor(SONG, model=MODEL, input_overlap=STEP_SECONDS, extract_features=False)
    ranked = taggram.mean(axis=0).argsort()[::-1][:N_TAGS]
    taggram, tags = taggram[:, ranked], [tags[i] for i in ranked]

    figure = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = figure.subplots(1, 2, sharey=True, width_ratios=[3, 1])
    plots.plot_taggram(taggram, tags, input_overlap=STEP_SECONDS, ax=left)
    plots.plot_tag_likelihoods(taggram, tags, top_n=3, ax=right)
    left.set_title(f"Taggram of the {N_TAGS} likeliest tags ({MODEL}, a 3-s patch every {STEP_SECONDS} s)")
    figure.savefig(args.out, dpi=120)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
