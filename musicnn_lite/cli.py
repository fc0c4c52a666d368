"""Command line: python -m musicnn_lite PATH... [--model M] [--topN N] [--output FILE] [--resume] ...

A thin layer over Tagger.tag_many (or musicnn_lite.ray with --ray), files.audio_files and the
writers in outputs. Neither `--help`, `--list-models` nor tagging on the default runtime
imports TensorFlow. Errors a user can fix print one line on stderr, no traceback; a file that
fails is reported and the others are tagged.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shlex
import sys
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import zoo
from .cluster import CONNECT_SECONDS, address_option, check_reachable, joined_address, start_ray
from .embeddings import feature_widths
from .errors import MusicnnError, file_error_line, one_line
from .files import AUDIO_EXTENSIONS, audio_files
from .head_file import Head, base_model, load, load_heads
from .memory import check_batch, patch_bytes
from .plan import PatchPlan
from .progress import Progress
from .results import FORMATS, OutputError, ResultWriter, open_writer, output_paths
from .results.printout import check_save_file, print_and_save
from .runtimes import RUNTIMES
from .spectrum import patch_frames
from .tag_result import likeliest_head_tags
from .validators import count_option, not_url, tag_count

if TYPE_CHECKING:
    from .results.parquet_file import ParquetWriter
    from .tagger import Tagger

# Exit statuses: every file tagged; some failed (or the run stopped on an error); bad usage;
# the --output file, the --save file or standard output cannot be written; interrupted.
EXIT_OK, EXIT_FILES_FAILED, EXIT_USAGE, EXIT_OUTPUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    console_script = os.path.basename(sys.argv[0]) == "musicnn-lite"
    parser = argparse.ArgumentParser(
        prog="musicnn-lite" if console_script else "python -m musicnn_lite",
        description="Tag music with the pretrained musicnn models: prints the top tags of each file, "
                    "or writes every file's results to a .csv, .jsonl, .npz or .parquet file.",
        epilog=f"exit status: {EXIT_OK} every file tagged; {EXIT_FILES_FAILED} some files failed (each is "
               f"reported), an error stopped the run, or no audio files were found; {EXIT_USAGE} bad usage "
               f"(options, or an input that is the --output file); {EXIT_OUTPUT} the --output file, the --save "
               f"file or standard output cannot be written (disk full, another run writing it, no permission) "
               f"or was closed; {EXIT_INTERRUPTED} interrupted (Ctrl-C). The tagging service: `serve --help` "
               f"(a file named serve is tagged as ./serve)")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="audio files, folders (searched below for wav, flac, ogg, mp3, m4a, ... files) "
                             "or glob patterns such as 'music/**/*.mp3'")
    parser.add_argument("-mod", "--model",
                        help="bundled model name or path of a converted weights file (default: the model the "
                             "--head files were trained on, else MTT_musicnn)")
    parser.add_argument("-n", "--topN", type=int, default=3, help="how many top tags to give (default: 3)")
    parser.add_argument("-len", "--length", type=float,
                        help="seconds per patch (default: the length the model was trained on, 3 for musicnn "
                             "0.1.0's models; only its musicnn models take other lengths); a patch takes about "
                             f"{patch_bytes(patch_frames(1)) / 2 ** 20:.0f} MB of memory per second of it while "
                             "it runs")
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
    parser.add_argument("--list-models", action="store_true",
                        help="list the bundled models (dataset, architecture, published scores) and exit")
    parser.add_argument("--debug", action="store_true",
                        help="with each error, print its Python traceback (for reporting a bug)")
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
    many.add_argument("-j", "--jobs", type=count_option, default=2, metavar="N",
                      help="audio decoding workers (default: 2)")
    many.add_argument("--batch-size", type=count_option, default=4, metavar="N",
                      help=f"most patches run through the network at once; each 3-s patch takes about "
                           f"{patch_bytes(patch_frames(3)) / 2 ** 20:.0f} MB of memory while it runs, so a batch "
                           "that would take more than 3/4 of this machine's memory is refused; larger batches are "
                           "no faster on a CPU (default: 4)")
    many.add_argument("--threads", type=count_option, metavar="N",
                      help="most CPU threads the network computes on (default: one per core); the decoding "
                           "--jobs come on top")
    many.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                      help="float32 reproduces musicnn; bfloat16 is about twice as fast on CPUs with AMX "
                           "but approximate (default: float32)")
    many.add_argument("--runtime", choices=RUNTIMES, default="auto",
                      help="what runs the network: ONNX Runtime (fast start) or Keras (the reference; "
                           "TensorFlow unless KERAS_BACKEND names another backend); auto takes ONNX Runtime "
                           "whenever it can (default: auto)")
    many.add_argument("-q", "--quiet", action="store_true",
                      help="no progress bar (there is none either when stderr is not a terminal)")
    scale = parser.add_argument_group("Ray (pip install 'musicnn_lite[ray]')")
    scale.add_argument("--ray", action="store_true",
                       help="tag on Ray: on the cluster RAY_ADDRESS names if it is set, otherwise on a Ray "
                            "started on this machine for the run; needs an --output FILE ending in .parquet")
    scale.add_argument("--ray-address", metavar="ADDR", type=address_option,
                       help="tag on the Ray cluster whose head is at ADDR (host:port, or auto: the one `ray start` "
                            f"made on this machine); implies --ray; one that does not answer within "
                            f"{CONNECT_SECONDS} s is an error")
    args = parser.parse_args(argv)
    if not args.paths and not args.list_models:
        parser.error("give at least one audio file, folder or pattern (or --list-models)")
    suffix = os.path.splitext(args.output or "")[1].lower()
    if args.output is not None and suffix not in FORMATS:
        parser.error(f"--output {args.output}: name the file .csv, .jsonl, .npz or .parquet to choose its format")
    if args.resume and not args.output:
        parser.error("--resume needs the --output FILE to resume")
    if args.features and suffix not in (".jsonl", ".npz", ".parquet"):
        parser.error("--features needs an --output FILE ending in .jsonl, .npz or .parquet")
    args.ray = args.ray or bool(args.ray_address)
    if args.ray and suffix != ".parquet":
        parser.error("--ray writes Parquet: give an --output FILE ending in .parquet")
    return args


@dataclass(frozen=True)
class _Options:
    """What the command line asks for besides the paths and the patching plan."""

    model: str
    heads: tuple[Head, ...]
    top_n: int
    output: str | None
    resume: bool
    save: str | None
    print_tags: bool
    jobs: int
    batch_size: int
    threads: int | None
    precision: str
    runtime: str
    quiet: bool
    debug: bool
    ray: bool
    ray_address: str | None


def _options(args: argparse.Namespace) -> tuple[_Options, PatchPlan]:
    """The checked options and patching plan, from the model's file headers alone (no TensorFlow yet)."""
    for path in args.paths:
        not_url(path)
    if args.save:
        check_save_file(args.save)
    joined = joined_address(args.ray_address) if args.ray else None
    if joined:
        check_reachable(*joined)
    loaded = [load(path) for path in args.head]
    model_name = base_model(loaded, args.model)
    model = zoo.model_info(model_name)
    plan = PatchPlan.build(model.front_end, model.architecture, args.length, args.overlap, args.features, model.name)
    check_batch(args.batch_size, plan)
    heads = load_heads(loaded, model)
    options = _Options(model_name, heads, tag_count("--topN", args.topN, model.n_labels), args.output, args.resume,
                       args.save or None, args.print or not args.output, args.jobs, args.batch_size,
                       args.threads, args.precision, args.runtime, args.quiet, args.debug, args.ray, args.ray_address)
    return options, plan


def _models_table() -> str:
    """The bundled models, one per line: name, dataset, architecture, authors, patch length, published scores."""
    rows = [("model", "trained on", "architecture", "trained by", "patch", "ROC-AUC", "PR-AUC")]
    for name, card in zoo.MODEL_CARDS.items():
        scores = [f"{score:.4f}" for score in card.scores] if card.scores else ["not published"] * 2
        patch = f"{zoo.model_info(name).front_end.patch_seconds:g} s"
        rows.append((name, card.dataset, card.architecture, card.trained_by, patch, *scores))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (see EXIT_OK and the others)."""
    args = _parse_args(argv)
    writer = None
    try:
        if args.list_models:
            _print_out(_models_table())
            return EXIT_OK
        options, plan = _options(args)
        try:
            paths = audio_files(args.paths, exclude=output_paths(args.output) if args.output else ())
        except MusicnnError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_USAGE
        if not paths:
            raise MusicnnError(f"no audio files in {', '.join(args.paths)} (a folder is searched for "
                               f"{' '.join(sorted(AUDIO_EXTENSIONS))} files); give audio files, or folders or "
                               "patterns that hold some")
        from .tagger import Tagger

        tagger = Tagger(options.model, batch_size=options.batch_size, precision=options.precision,
                        runtime=options.runtime, heads=options.heads, threads=options.threads)
        writer = open_writer(options.output, tagger.model_name, tagger.tags, options.top_n, options.resume,
                             feature_widths(tagger, plan.features)) if options.output else None
        with writer or contextlib.nullcontext():
            tag = _tag_on_ray if options.ray else _tag_files
            return tag(tagger, paths, writer, options, plan)
    except OutputError as error:
        go_on = f"; the files done are kept: once that is mended, go on with {_resume_command(argv)}" \
            if writer else ""
        print(f"error: {error}{go_on}", file=sys.stderr)
        return EXIT_OUTPUT
    except _StdoutClosed:
        if writer:
            print(f"standard output was closed; the files done are in {_shown(writer.kept_in)}: add --resume to "
                  "go on", file=sys.stderr)
        return EXIT_OUTPUT
    except MusicnnError as error:
        return _report(error, args.debug)
    except KeyboardInterrupt:
        again = f"; the files done are in {_shown(writer.kept_in)}: add --resume to go on" if writer else ""
        print(f"interrupted{again}", file=sys.stderr)
        return EXIT_INTERRUPTED


class _StdoutClosed(Exception):
    """The reader of standard output has closed it (as `| head -1` does): the run stops, quietly."""


def _print_out(text: str, bar: Progress | None = None) -> None:
    """Print `text` on standard output (above `bar`, if given), now; a full disk or a closed pipe stops the run.

    Bytes of a file name that are not UTF-8 are shown as `\\xNN`, as on stderr.
    """
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    try:
        if bar:
            bar.write(text, file=sys.stdout)
        else:
            print(text)
        sys.stdout.flush()
    except OSError as error:
        with contextlib.suppress(OSError, ValueError):  # what is left in the buffer goes nowhere at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if isinstance(error, BrokenPipeError):
            raise _StdoutClosed from None
        raise OutputError(f"cannot write to standard output: {error.strerror or error}") from None


def _resume_command(argv: list[str] | None) -> str:
    """The command line that goes on with this run: the same arguments, with --resume."""
    args = sys.argv[1:] if argv is None else list(argv)
    return shlex.join(["python", "-m", "musicnn_lite", *args, *([] if "--resume" in args else ["--resume"])])


def _shown(path: os.PathLike) -> str:
    """`path` as a message names it: a folder ends in a separator."""
    return f"{path}{os.sep}" if os.path.isdir(path) else str(path)


def _report(error: MusicnnError, debug: bool) -> int:
    """Print a run-stopping error on one line (with --debug, its traceback first); the exit status."""
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    print(f"error: {error}", file=sys.stderr)
    return EXIT_FILES_FAILED


def _tag_files(tagger: Tagger, paths: list[str], writer: ResultWriter | None, options: _Options,
               plan: PatchPlan) -> int:
    """Tag `paths`, skipping those `writer` already holds; report each; 1 if any file failed, else 0."""
    todo, failed = _files_to_tag(paths, writer, options)
    with Progress(len(todo), show=not options.quiet) as bar:
        for path, result in tagger.tag_many(todo, jobs=options.jobs, plan=plan):
            if writer:
                writer.write(path, result)
            if isinstance(result, MusicnnError):
                failed += 1
                if options.debug:
                    bar.write("".join(traceback.format_exception(result)).rstrip())
                _report_file(bar, path, tagger.model_name, options, plan, error=one_line(result))
                bar.advance()
            else:
                _report_file(bar, path, tagger.model_name, options, plan,
                             tags=result.top(options.top_n) + result.top_head_tags())
                bar.advance(len(result.taggram) * plan.step_seconds)
    return EXIT_FILES_FAILED if failed else EXIT_OK


def _tag_on_ray(tagger: Tagger, paths: list[str], writer: ParquetWriter, options: _Options,
                plan: PatchPlan) -> int:
    """`_tag_files` on Ray (see musicnn_lite.ray): the actors' rows come back here, into `writer`."""
    todo, failed = _files_to_tag(paths, writer, options)
    if not todo:
        return EXIT_FILES_FAILED if failed else EXIT_OK
    try:
        started_here = start_ray(options.ray_address)
        import ray

        from . import ray as on_ray
    except ImportError:
        raise MusicnnError("--ray needs Ray: pip install 'musicnn_lite[ray]'") from None
    try:
        rows = on_ray.tag_with(tagger, options.model, plan, todo, top_n=options.top_n, schema=writer.schema)
        with Progress(len(todo), show=not options.quiet) as bar:
            for batch in rows.iter_batches(batch_size=None, batch_format="pyarrow"):
                for row in batch.to_pylist():
                    writer.write_row(row)
                    failed += row["status"] == "error"
                    head_tags = likeliest_head_tags({head.name: head.tags for head in tagger.heads}, row.get) \
                        if row["status"] == "ok" else []
                    _report_file(bar, row["path"], tagger.model_name, options, plan, error=row["error"],
                                 tags=(row["top_tags"] or []) + head_tags)
                    bar.advance()
    finally:
        if started_here:
            ray.shutdown()
    return EXIT_FILES_FAILED if failed else EXIT_OK


def _files_to_tag(paths: list[str], writer: ResultWriter | None, options: _Options) -> tuple[list[str], int]:
    """The paths `writer` does not hold yet, and how many of `paths` it holds as failed; says so on resume."""
    done = writer.done if writer else {}
    todo = [path for path in paths if path not in done]
    if len(todo) < len(paths) and not options.quiet:
        print(f"{len(paths) - len(todo)} of {len(paths)} files are already in {options.output}; "
              f"tagging the other {len(todo)}", file=sys.stderr)
    return todo, sum(done.get(path) == "error" for path in paths)


def _report_file(bar: Progress, path: str, model: str, options: _Options, plan: PatchPlan,
                 error: str | None = None, tags: list[str] | None = None) -> None:
    """Say how file `path` went: its one-line error on stderr, or its `tags` printed and saved as asked."""
    if error is not None:
        bar.write(f"error: {file_error_line(path, error)}")
        return
    print_and_save(path, tags, model, plan.input_length, plan.input_overlap,
                   functools.partial(_print_out, bar=bar) if options.print_tags else None, options.save)
