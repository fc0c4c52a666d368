"""Command line: python -m musicnn_lite PATH... [--model M] [--topN N] [--output FILE] [--resume] ...

A thin layer over Tagger.tag_many, files.audio_files and the writers in outputs. `--help`
and `--list-models` answer without importing TensorFlow. Errors a user can fix print one
line on stderr, no traceback; a file that fails is reported and the others are tagged.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from typing import TYPE_CHECKING

from .errors import MusicnnError
from .files import audio_files
from .heads import Head
from .heads import load as load_head
from .outputs import FORMATS, ResultWriter, musicnn_tags_line, open_writer, top_tags_text
from .zoo import BUNDLED_MODELS

if TYPE_CHECKING:
    from .tagger import Tagger


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m musicnn_lite",
        description="Tag music with the pretrained musicnn models: prints the top tags of each file, "
                    "or writes every file's results to a .csv, .jsonl or .npz file.")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="audio files, folders (searched below for wav, flac, ogg, mp3, m4a, ... files) "
                             "or glob patterns such as 'music/**/*.mp3'")
    parser.add_argument("-mod", "--model",
                        help="bundled model name or path of a converted weights file (default: the model the "
                             "--head files were trained on, else MTT_musicnn)")
    parser.add_argument("-n", "--topN", type=int, default=3, help="how many top tags to give (default: 3)")
    parser.add_argument("-len", "--length", type=float, default=3.0,
                        help="seconds per patch; the models were trained on 3 (default: 3)")
    parser.add_argument("-ov", "--overlap", type=float, default=False,
                        help="as in musicnn: seconds between the starts of consecutive patches "
                             "(default: one patch length, no overlap)")
    parser.add_argument("-p", "--print", action="store_true",
                        help="print the tags (the default without --output; kept for musicnn compatibility)")
    parser.add_argument("-s", "--save", metavar="PATH", default=False,
                        help="append 'file,model,input_length=..,input_overlap=..,tags...' lines to PATH")
    parser.add_argument("--head", action="append", default=[], metavar="FILE",
                        help="a head file written by `python -m musicnn_lite.train`: its custom tags are given "
                             "too, after the model's, named HEAD:TAG (HEAD: the file name without .npz); "
                             "repeat for several heads")
    parser.add_argument("--list-models", action="store_true", help="list the bundled models and exit")
    many = parser.add_argument_group("many files")
    many.add_argument("-o", "--output", metavar="FILE",
                      help="write one record per file to FILE, by its extension: .csv (tag likelihoods), "
                           ".jsonl (likelihoods and song-level features) or .npz (taggrams and features)")
    many.add_argument("--features", nargs="+", metavar="NAME", default=[],
                      help="layers to store in a .jsonl or .npz output, e.g. max_pool penultimate "
                           "(give it after the paths)")
    many.add_argument("--resume", action="store_true",
                      help="keep the records already in --output and tag only the files missing there")
    many.add_argument("-j", "--jobs", type=_positive_int, default=2, metavar="N",
                      help="audio decoding workers (default: 2)")
    many.add_argument("--batch-size", type=_positive_int, default=4, metavar="N",
                      help="most 3-s patches run through the network at once; larger batches take more memory "
                           "and are no faster on a CPU (default: 4)")
    many.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                      help="float32 reproduces musicnn; bfloat16 is about twice as fast on CPUs with AMX "
                           "but approximate (default: float32)")
    many.add_argument("-q", "--quiet", action="store_true",
                      help="no progress bar (there is none either when stderr is not a terminal)")
    args = parser.parse_args(argv)
    if not args.paths and not args.list_models:
        parser.error("give at least one audio file, folder or pattern (or --list-models)")
    suffix = os.path.splitext(args.output or "")[1].lower()
    if args.output and suffix not in FORMATS:
        parser.error(f"--output {args.output}: name the file .csv, .jsonl or .npz to choose its format")
    if args.resume and not args.output:
        parser.error("--resume needs the --output FILE to resume")
    if args.features and suffix not in (".jsonl", ".npz"):
        parser.error("--features needs an --output FILE ending in .jsonl or .npz")
    return args


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 if any file failed, 130 if interrupted)."""
    args = _parse_args(argv)
    if args.list_models:
        print("\n".join(BUNDLED_MODELS))
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the CLI owns its process: hide TF's C++ info lines
    from .tagger import Tagger

    try:
        heads = tuple(load_head(path) for path in args.head)
        with _native_stderr_silenced():
            tagger = Tagger(args.model or _heads_model(heads), batch_size=args.batch_size,
                            precision=args.precision, heads=heads)
        _check_options(tagger, args)
        writer = open_writer(args.output, tagger.model_name, tagger.tags, args.topN, args.resume) \
            if args.output else None
        with writer or contextlib.nullcontext():
            return _tag_files(tagger, audio_files(args.paths), writer, args)
    except MusicnnError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        again = f"; the files done are in {args.output}: add --resume to go on" if args.output else ""
        print(f"interrupted{again}", file=sys.stderr)
        return 130


def _heads_model(heads: tuple[Head, ...]) -> str:
    """The model to tag with when --model is not given: the first head's base model, else MTT_musicnn."""
    return heads[0].model if heads else "MTT_musicnn"


@contextlib.contextmanager
def _native_stderr_silenced():
    """Drop what C++ code writes to stderr meanwhile: TensorFlow's start-up lines (oneDNN, CUDA
    probing) come before TF_CPP_MIN_LOG_LEVEL applies. Python errors are reported after it."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _check_options(tagger: Tagger, args: argparse.Namespace) -> None:
    """Raise MusicnnError for a bad --topN, --length, --overlap or --features before any file is read."""
    if not 1 <= args.topN <= len(tagger.labels):
        raise MusicnnError(f"--topN {args.topN} must be a whole number from 1 to {len(tagger.labels)}")
    # tag_many checks its options when called, before it reads anything: give it no files.
    tagger.tag_many([], input_length=args.length, input_overlap=args.overlap, features=args.features,
                    jobs=args.jobs)


def _tag_files(tagger: Tagger, paths: list[str], writer: ResultWriter | None, args: argparse.Namespace) -> int:
    """Tag `paths`, skipping those `writer` already holds; report each; 1 if any file failed, else 0."""
    from tqdm import tqdm

    done = writer.done if writer else {}
    todo = [path for path in paths if path not in done]
    failed = sum(done.get(path) == "error" for path in paths)
    if len(todo) < len(paths) and not args.quiet:
        print(f"{len(paths) - len(todo)} of {len(paths)} files are already in {args.output}; "
              f"tagging the other {len(todo)}", file=sys.stderr)
    print_tags = args.print or not args.output
    patch_step = args.overlap or args.length  # seconds of audio each taggram row stands for
    audio_seconds, start = 0.0, time.monotonic()
    with tqdm(total=len(todo), unit="file", file=sys.stderr, disable=True if args.quiet else None) as bar:
        for path, result in tagger.tag_many(todo, input_length=args.length, input_overlap=args.overlap,
                                            features=args.features, jobs=args.jobs):
            if writer:
                writer.write(path, result)
            if isinstance(result, MusicnnError):
                failed += 1
                message = " ".join(str(result).split())  # one line, whatever the error says
                bar.write(f"error: {message if path in message else f'{path}: {message}'}", file=sys.stderr)
            else:
                tags = result.top(args.topN) + result.top_head_tags()
                if print_tags:
                    bar.write(top_tags_text(path, tags), file=sys.stdout)
                if args.save:
                    with open(args.save, "a", encoding="utf-8") as file:
                        print(musicnn_tags_line(path, tagger.model_name, args.length, args.overlap, tags),
                              file=file)
                audio_seconds += len(result.taggram) * patch_step
            bar.set_postfix_str(f"{audio_seconds / (time.monotonic() - start):.0f} audio-s/s", refresh=False)
            bar.update()
    return 1 if failed else 0
