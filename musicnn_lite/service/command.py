"""`musicnn-lite serve`: load the models (and the catalog), then serve the app on uvicorn.

Everything is loaded and checked before the port opens, so a bad option is one line on
stderr and exit status 2, and a server that answers is ready. SIGTERM or Ctrl-C stops taking
connections, finishes the requests in flight, then exits.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import ipaddress
import os
import sys
from pathlib import Path

from ..errors import MusicnnError
from ..runtimes import RUNTIMES
from ..validators import count_option

TOKEN_VARIABLE = "MUSICNN_TOKEN"


def _parse_args(argv: list[str]) -> argparse.Namespace:
    console_script = os.path.basename(sys.argv[0]) == "musicnn-lite"
    parser = argparse.ArgumentParser(
        prog=f"{'musicnn-lite' if console_script else 'python -m musicnn_lite'} serve",
        description="Serve the models over HTTP: a JSON API under /v1 for music servers and their plugins, "
                    "and a page at / to drop a song on and see its tags and taggram.",
        epilog="Without --token, anyone who can reach the port can use the server: keep it on the loopback "
               "address, or set a token.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for every "
                             "network this machine is on)")
    parser.add_argument("--port", type=int, default=8000, help="(default: 8000)")
    parser.add_argument("-mod", "--model", action="append", metavar="MODEL",
                        help="a bundled model name or a converted weights file to load; repeat for several; "
                             "the first is the default of requests (default: MTT_musicnn)")
    parser.add_argument("--library", type=Path, metavar="DIR",
                        help="a folder whose files requests may name with ?path=RELATIVE/PATH instead of "
                             "uploading them (for servers that share the disk)")
    parser.add_argument("--catalog", type=Path, metavar="RESULTS",
                        help="a .parquet, .jsonl or .npz result file written with --features penultimate: serves "
                             "/v1/similar and /v1/search, and is read again when it changes; its model is loaded too")
    parser.add_argument("--token", default=os.environ.get(TOKEN_VARIABLE),
                        help=f"every API call must send 'Authorization: Bearer TOKEN' (default: ${TOKEN_VARIABLE})")
    parser.add_argument("--max-upload", type=float, default=200, metavar="MB",
                        help="largest upload, in MB (10^6 bytes), refused while it arrives (default: 200)")
    parser.add_argument("--batch-size", type=count_option, default=4, metavar="N",
                        help="most patches run through the network at once, from any requests (default: 4)")
    parser.add_argument("-j", "--jobs", type=count_option, default=2, metavar="N",
                        help="audio decoding threads per model (default: 2)")
    parser.add_argument("--queue-size", type=count_option, default=64, metavar="N",
                        help="songs a model takes in at once, decoding or waiting for the network; more get "
                             "503 with Retry-After (default: 64)")
    parser.add_argument("--threads", type=count_option, metavar="N",
                        help="most CPU threads each model's network computes on (default: one per core)")
    parser.add_argument("--runtime", choices=RUNTIMES, default="auto", help="as for tagging (default: auto)")
    args = parser.parse_args(argv)
    if not 0 < args.max_upload < float("inf"):
        parser.error(f"--max-upload {args.max_upload:g}: give a positive number of MB")
    if not 0 <= args.port < 65536:
        parser.error(f"--port {args.port}: give a port from 0 to 65535")
    if args.library is not None and not args.library.is_dir():
        parser.error(f"--library {args.library}: no such folder")
    if args.token == "":
        parser.error(f"--token (or ${TOKEN_VARIABLE}) is empty: give a token, or leave both unset")
    return args


def main(argv: list[str]) -> int:
    """Run `serve ARGS` until stopped; returns the exit status."""
    args = _parse_args(argv)
    missing = [name for name in ("starlette", "uvicorn", "python_multipart") if importlib.util.find_spec(name) is None]
    if missing:
        print(f"error: serving needs {missing[0]}: pip install 'musicnn_lite[serve]'", file=sys.stderr)
        return 2
    import uvicorn

    from ..tagger import Tagger
    from ..zoo import BUNDLED_MODELS
    from .app import Service, create_app
    from .catalog import Catalog

    build = functools.partial(Tagger, batch_size=args.batch_size, runtime=args.runtime, threads=args.threads)
    try:
        catalog = Catalog(args.catalog) if args.catalog else None
        taggers = {}
        for name in args.model or ["MTT_musicnn"]:
            tagger = build(name)
            taggers.setdefault(tagger.model_name, tagger)
        if catalog is not None:
            songs = catalog.songs()
            if songs.model not in taggers:  # POST /v1/similar tags uploads with the catalog's model
                if songs.model not in BUNDLED_MODELS:
                    raise MusicnnError(f"the catalog {args.catalog} holds results of {songs.model}: load its "
                                       "weights file with --model FILE")
                taggers[songs.model] = build(songs.model)
            taggers[songs.model].plan(features=[songs.feature])
    except MusicnnError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    models = {name: tagger.scheduler(args.jobs, args.queue_size) for name, tagger in taggers.items()}
    service = Service(models, args.library, catalog, args.token, int(args.max_upload * 1e6))
    if args.token is None and not _loopback(args.host):
        print(f"warning: serving on {args.host} without --token: anyone who can reach port {args.port} can use it",
              file=sys.stderr)
    print(f"musicnn-lite: serving {', '.join(models)} on http://{args.host}:{args.port}/ (API under /v1)",
          file=sys.stderr, flush=True)
    uvicorn.run(create_app(service), host=args.host, port=args.port, log_level="info")
    return 0


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
