"""Command line: python -m musicnn_lite FILE... [--model M] [--topN N] [--length S] [--overlap S] [--save PATH]

A thin layer over the Python API. `--help` and `--list-models` answer without
importing TensorFlow. Errors a user can fix print one line on stderr, no traceback.
"""

import argparse
import os
import sys

from .errors import MusicnnError
from .zoo import BUNDLED_MODELS


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m musicnn_lite",
        description="Tag music with the pretrained musicnn models: prints the top tags of each file.")
    parser.add_argument("files", nargs="*", metavar="FILE", help="audio file(s) to tag (wav, flac, ogg, mp3, ...)")
    parser.add_argument("-mod", "--model", default="MTT_musicnn",
                        help="bundled model name or path of a converted weights file (default: MTT_musicnn)")
    parser.add_argument("-n", "--topN", type=int, default=3, help="how many tags to print (default: 3)")
    parser.add_argument("-len", "--length", type=float, default=3.0,
                        help="seconds per patch; the models were trained on 3 (default: 3)")
    parser.add_argument("-ov", "--overlap", type=float, default=False,
                        help="as in musicnn: seconds between the starts of consecutive patches "
                             "(default: one patch length, no overlap)")
    parser.add_argument("-p", "--print", action="store_true",
                        help="print the tags (the default; kept for musicnn compatibility)")
    parser.add_argument("-s", "--save", metavar="PATH", default=False,
                        help="append 'file,model,input_length=..,input_overlap=..,tags...' lines to PATH")
    parser.add_argument("--list-models", action="store_true", help="list the bundled models and exit")
    args = parser.parse_args(argv)
    if not args.files and not args.list_models:
        parser.error("give at least one audio FILE (or --list-models)")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 if any file failed)."""
    args = _parse_args(argv)
    if args.list_models:
        print("\n".join(BUNDLED_MODELS))
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the CLI owns its process: hide TF's C++ info lines
    from .api import top_tags

    failed = 0
    for path in args.files:
        try:
            top_tags(path, model=args.model, topN=args.topN, input_length=args.length,
                     input_overlap=args.overlap, print_tags=True, save_tags=args.save)
        except MusicnnError as error:
            print(f"error: {error}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0
