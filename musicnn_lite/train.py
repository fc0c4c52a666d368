"""Command line: python -m musicnn_lite.train EXAMPLES -o HEAD.npz [--model M] [--feature F] [--overlap S]

A thin layer over heads.train: EXAMPLES holds one folder of audio per tag. Prints the
cross-validated numbers and writes the head file, which `python -m musicnn_lite --head HEAD.npz`
uses to add the tags to its results. Errors a user can fix print one line on stderr.
"""

import argparse
import os
import sys
from pathlib import Path

from .errors import MusicnnError
from .validators import count_option


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m musicnn_lite.train",
        description="Learn custom tags from examples: EXAMPLES holds one folder of audio files per tag "
                    "(EXAMPLES/happy/*.mp3, EXAMPLES/sad/*.ogg, nested folders allowed). Writes a head file "
                    "that `python -m musicnn_lite --head FILE` tags with.")
    parser.add_argument("examples", metavar="EXAMPLES", help="folder holding one folder of examples per tag")
    parser.add_argument("-o", "--output", metavar="HEAD.npz", required=True,
                        help="the head file to write; its name (without .npz) prefixes its tags in results")
    parser.add_argument("-mod", "--model", default="MSD_musicnn",
                        help="base model whose embeddings the head reads (default: MSD_musicnn)")
    parser.add_argument("--feature", default="max_pool",
                        help="the model's layer the head reads, e.g. max_pool, penultimate (default: max_pool)")
    parser.add_argument("-ov", "--overlap", type=float, default=False,
                        help="seconds between the starts of consecutive 3-s patches (default: 3, no overlap); "
                             "a smaller step gives more patches from few examples")
    parser.add_argument("-j", "--jobs", type=count_option, default=2, metavar="N",
                        help="audio decoding workers (default: 2)")
    parser.add_argument("--batch-size", type=count_option, default=4, metavar="N",
                        help="most 3-s patches run through the network at once (default: 4)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar and no line per unreadable file (their count is still printed)")
    args = parser.parse_args(argv)
    if not args.output.lower().endswith(".npz"):
        parser.error(f"--output {args.output}: name the head file .npz")
    return args


EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130  # as the tagging command's


def main(argv: list[str] | None = None) -> int:
    """Train and write a head; returns the exit status (0 written, 1 on an error, 130 interrupted)."""
    args = _parse_args(argv)
    try:
        from . import heads
        from .tagger import Tagger

        _check_writable(Path(args.output))
        tagger = Tagger(args.model, batch_size=args.batch_size)
        head = heads.train(args.examples, tagger, args.feature, args.overlap, args.jobs, progress=not args.quiet)
        if head.skipped:
            print(f"skipped {len(head.skipped)} unreadable file{'s' * (len(head.skipped) > 1)}", file=sys.stderr)
        print(head.report())
        head.save(args.output)
    except MusicnnError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"interrupted: {args.output} was not written", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"wrote {args.output}: tags {', '.join(head.tags)} on {head.model} {head.feature}; "
          f"tag with it: python -m musicnn_lite MUSIC --head {args.output}")
    return EXIT_OK


def _check_writable(path: Path) -> None:
    """Fail before the long part when the head file could not be written."""
    folder = path.parent
    if path.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
        what = "is a folder" if path.is_dir() else "does not exist" if not folder.is_dir() else "is not writable"
        culprit = path if path.is_dir() else folder
        raise MusicnnError(f"cannot write the head file {path}: {culprit} {what}; choose another --output")


if __name__ == "__main__":
    sys.exit(main())
