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
from .outputs import FORMATS, ResultWriter, musicnn_tags_line, open_writer, top_tags_text
from .zoo import BUNDLED_MODELS

if TYPE_CHECKING:
    from .parquet import ParquetWriter
    from .tagger import Tagger


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m musicnn_lite",
        description="Tag music with the pretrained musicnn models: prints the top tags of each file, "
                    "or writes every file's results to a .csv, .jsonl or .npz file.")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="audio files, folders (searched below for wav, flac, ogg, mp3, m4a, ... files) "
                             "or glob patterns such as 'music/**/*.mp3'")
    parser.add_argument("-mod", "--model", default="MTT_musicnn",
                        help="bundled model name or path of a converted weights file (default: MTT_musicnn)")
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
    parser.add_argument("--list-models", action="store_true", help="list the bundled models and exit")
    many = parser.add_argument_group("many files")
    many.add_argument("-o", "--output", metavar="FILE",
                      help="write one record per file to FILE, by its extension: .csv (tag likelihoods), "
                           ".jsonl or .parquet (likelihoods and song-level features) or .npz (taggrams and "
                           "features)")
    many.add_argument("--features", nargs="+", metavar="NAME", default=[],
                      help="layers to store in a .jsonl, .npz or .parquet output, e.g. max_pool penultimate "
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
    scale = parser.add_argument_group("Ray (pip install 'musicnn_lite[ray]')")
    scale.add_argument("--ray", action="store_true",
                       help="tag on Ray: on the cluster RAY_ADDRESS names if it is set, otherwise on a Ray "
                            "started on this machine for the run; needs an --output FILE ending in .parquet")
    scale.add_argument("--ray-address", metavar="ADDR",
                       help="tag on the Ray cluster whose head is at ADDR (host:port); implies --ray")
    args = parser.parse_args(argv)
    if not args.paths and not args.list_models:
        parser.error("give at least one audio file, folder or pattern (or --list-models)")
    suffix = os.path.splitext(args.output or "")[1].lower()
    if args.output and suffix not in FORMATS:
        parser.error(f"--output {args.output}: name the file .csv, .jsonl, .npz or .parquet to choose its format")
    if args.resume and not args.output:
        parser.error("--resume needs the --output FILE to resume")
    if args.features and suffix not in (".jsonl", ".npz", ".parquet"):
        parser.error("--features needs an --output FILE ending in .jsonl, .npz or .parquet")
    args.ray = args.ray or bool(args.ray_address)
    if args.ray and suffix != ".parquet":
        parser.error("--ray writes Parquet: give an --output FILE ending in .parquet")
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
        with _native_stderr_silenced():
            tagger = Tagger(args.model, batch_size=args.batch_size, precision=args.precision)
        _check_options(tagger, args)
        writer = open_writer(args.output, tagger.model_name, tagger.labels, args.topN, args.resume,
                             _feature_widths(tagger, args)) if args.output else None
        with writer or contextlib.nullcontext():
            tag = _tag_on_ray if args.ray else _tag_files
            return tag(tagger, audio_files(args.paths), writer, args)
    except MusicnnError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        again = f"; the files done are in {args.output}: add --resume to go on" if args.output else ""
        print(f"interrupted{again}", file=sys.stderr)
        return 130


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


def _feature_widths(tagger: Tagger, args: argparse.Namespace) -> dict[str, int] | None:
    """The channels of each --features layer, which a Parquet output needs before its first row."""
    if not args.output.lower().endswith(".parquet"):
        return None
    from .parquet import feature_widths

    return feature_widths(tagger, args.features)


def _tag_files(tagger: Tagger, paths: list[str], writer: ResultWriter | None, args: argparse.Namespace) -> int:
    """Tag `paths`, skipping those `writer` already holds; report each; 1 if any file failed, else 0."""
    todo, failed = _files_to_tag(paths, writer, args)
    patch_step = args.overlap or args.length  # seconds of audio each taggram row stands for
    audio_seconds, start = 0.0, time.monotonic()
    with _progress_bar(todo, args) as bar:
        for path, result in tagger.tag_many(todo, input_length=args.length, input_overlap=args.overlap,
                                            features=args.features, jobs=args.jobs):
            if writer:
                writer.write(path, result)
            if isinstance(result, MusicnnError):
                failed += 1
                _report(bar, path, tagger.model_name, args, error=" ".join(str(result).split()))
            else:
                _report(bar, path, tagger.model_name, args, tags=result.top(args.topN))
                audio_seconds += len(result.taggram) * patch_step
            bar.set_postfix_str(f"{audio_seconds / (time.monotonic() - start):.0f} audio-s/s", refresh=False)
            bar.update()
    return 1 if failed else 0


def _tag_on_ray(tagger: Tagger, paths: list[str], writer: ParquetWriter, args: argparse.Namespace) -> int:
    """`_tag_files` on Ray (see musicnn_lite.ray): the actors' rows come back here, into `writer`."""
    todo, failed = _files_to_tag(paths, writer, args)
    if not todo:
        return 1 if failed else 0
    import ray

    from . import ray as on_ray

    started_here = not ray.is_initialized()
    if started_here:
        _start_ray(args.ray_address)
    try:
        rows = on_ray.tag(todo, args.model, features=args.features, top_n=args.topN, input_length=args.length,
                          input_overlap=args.overlap, batch_size=args.batch_size, precision=args.precision)
        with _progress_bar(todo, args) as bar:
            for batch in rows.iter_batches(batch_size=None, batch_format="pyarrow"):
                for row in batch.to_pylist():
                    writer.write_row(row)
                    failed += row["status"] == "error"
                    _report(bar, row["path"], tagger.model_name, args, error=row["error"], tags=row["top_tags"])
                    bar.update()
    finally:
        if started_here:
            ray.shutdown()
    return 1 if failed else 0


def _start_ray(address: str | None) -> None:
    """Join the cluster at `address` (or RAY_ADDRESS), or start Ray on this machine; Ray's own chatter hidden."""
    import logging

    import ray

    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address, **quiet)
    else:
        ray.init(include_dashboard=False, **quiet)
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    ray.data.DataContext.get_current().enable_progress_bars = False


def _files_to_tag(paths: list[str], writer: ResultWriter | None, args: argparse.Namespace) -> tuple[list[str], int]:
    """The paths `writer` does not hold yet, and how many of `paths` it holds as failed; says so on resume."""
    done = writer.done if writer else {}
    todo = [path for path in paths if path not in done]
    if len(todo) < len(paths) and not args.quiet:
        print(f"{len(paths) - len(todo)} of {len(paths)} files are already in {args.output}; "
              f"tagging the other {len(todo)}", file=sys.stderr)
    return todo, sum(done.get(path) == "error" for path in paths)


def _progress_bar(todo: list[str], args: argparse.Namespace):
    from tqdm import tqdm

    return tqdm(total=len(todo), unit="file", file=sys.stderr, disable=True if args.quiet else None)


def _report(bar, path: str, model: str, args: argparse.Namespace, error: str | None = None,
            tags: list[str] | None = None) -> None:
    """Say how file `path` went: its error on stderr, or its `tags` printed and saved as asked."""
    if error is not None:
        bar.write(f"error: {error if path in error else f'{path}: {error}'}", file=sys.stderr)
        return
    if args.print or not args.output:
        bar.write(top_tags_text(path, tags), file=sys.stdout)
    if args.save:
        with open(args.save, "a", encoding="utf-8") as file:
            print(musicnn_tags_line(path, model, args.length, args.overlap, tags), file=file)
