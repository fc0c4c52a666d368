"""The HTTP API under /v1 and the page at /, as a Starlette (ASGI) application.

The routes check a request, call the library and turn its errors into status codes; they hold
no tagging logic of their own. Every song goes through its model's one TagScheduler, so the
patches of concurrent requests share network batches. Errors are JSON {"error": "..."}
carrying the library's one-line message: 400 a bad option, 401 a missing or wrong token,
403 a path out of the library, 404 nothing there, 409 a catalog of an unloaded model, 413 too
large, 422 unreadable audio, 503 a full queue (with Retry-After), 500 a bug (its traceback goes
to the server's log only).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..batch import QueueFull
from ..embeddings import song_embedding
from ..errors import MusicnnError, one_line
from ..results.jsonl_file import json_floats, song_record
from ..tag_result import TagResult
from ..tagger import TagScheduler
from ..validators import tag_count, whole_number
from .catalog import Catalog, Songs
from .uploads import library_file, request_audio

STATIC = Path(__file__).with_name("static")
RETRY_AFTER_SECONDS = 2  # what a 503 for a full queue tells the client to wait
MAX_LISTED = 10_000  # most songs one similar or search answer lists
log = logging.getLogger("musicnn_lite.service")


@dataclass(frozen=True)
class Service:
    """What the app serves.

    models: model name -> its scheduler (one Tagger each, shared by every request); the first is
    the default. library: the folder that path= names files in (None: uploads only). catalog: the
    result file behind similar and search (None: those answer 404). token: when set, every API
    call needs `Authorization: Bearer TOKEN`. max_upload: the largest request body, in bytes.
    """

    models: dict[str, TagScheduler]
    library: Path | None = None
    catalog: Catalog | None = None
    token: str | None = None
    max_upload: int = 200_000_000

    def scheduler(self, model: str | None) -> TagScheduler:
        """The scheduler of `model` (None: the default); 400 for a model this server has not loaded."""
        if model is None:
            return next(iter(self.models.values()))
        if model not in self.models:
            raise HTTPException(400, f"unknown model {model!r}; this server has {', '.join(self.models)} "
                                     "(start it with --model NAME for another)")
        return self.models[model]

    def songs(self) -> Songs:
        if self.catalog is None:
            raise HTTPException(404, "this server has no catalog; start it with --catalog RESULTS "
                                     "(a result file written with --features penultimate)")
        return self.catalog.songs()


def create_app(service: Service) -> Starlette:
    """The ASGI application serving `service`; at shutdown it finishes the songs in flight."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        for scheduler in service.models.values():
            await run_in_threadpool(scheduler.close)

    routes = [
        Route("/", page),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/v1/health", health),
        Route("/v1/models", models),
        Route("/v1/tag", tag, methods=["POST"]),
        Route("/v1/similar", similar, methods=["GET", "POST"]),
        Route("/v1/search", search),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: _error_answer, Exception: _unexpected_error})
    app.state.service = service
    return app


Handler = Callable[[Request, Service], Awaitable[Response]]


def api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """An API route: the token is checked first, when the server has one."""

    @functools.wraps(handler)
    async def route(request: Request) -> Response:
        service: Service = request.app.state.service
        if service.token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {service.token}".encode()):
                raise HTTPException(401, "missing or wrong token: send the header 'Authorization: Bearer TOKEN' "
                                         "with the server's --token", headers={"WWW-Authenticate": "Bearer"})
        return await handler(request, service)

    return route


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html")


@api
async def health(request: Request, service: Service) -> Response:
    """Ready (the models are loaded before the server listens), with what each scheduler holds and has run."""
    catalog = None
    if service.catalog is not None:
        songs = await run_in_threadpool(service.catalog.songs)
        catalog = {"songs": len(songs.paths), "model": songs.model, "feature": songs.feature, "tags": songs.tags}
    return JSONResponse({"status": "ready", "models": {name: scheduler.counts for name, scheduler in
                                                       service.models.items()}, "catalog": catalog})


@api
async def models(request: Request, service: Service) -> Response:
    """The loaded models, the default first: tags, features, patch step and runtime."""
    listed = []
    for name, scheduler in service.models.items():
        tagger = scheduler.tagger
        listed.append({"name": name, "default": not listed, "tags": tagger.tags, "features": list(tagger.feature_names),
                       "patch_seconds": tagger.plan().step_seconds, "runtime": tagger.runtime,
                       "batch_size": tagger.batch_size})
    return JSONResponse({"models": listed})


TAG_OPTIONS = ("model", "topN", "overlap", "features", "taggram", "path")


@api
async def tag(request: Request, service: Service) -> Response:
    """Tag the upload (or path=): the fields of a JSON Lines record, and the taggram if asked."""
    options = _options(request, TAG_OPTIONS)
    scheduler = service.scheduler(options.get("model"))
    tagger = scheduler.tagger
    with _bad_option():
        count = tag_count("topN", _number(options, "topN", int, 3), len(tagger.labels))
        plan = tagger.plan(input_overlap=_number(options, "overlap", float, False),
                           features=[name.strip() for name in options.get("features", "").split(",") if name.strip()])
    with_taggram = _flag(options, "taggram")
    name, result = await _tagged(request, service, scheduler, plan, options.get("path"))
    record = song_record(name, tagger.model_name, result, tagger.tags, count)
    if with_taggram:
        record["taggram"] = [json_floats(row) for row in result.taggram]  # (patches, tags), in the order of likelihoods
    return JSONResponse(record)


@api
async def similar(request: Request, service: Service) -> Response:
    """The catalog's songs nearest to one of its songs (GET ?path=) or to an upload (POST)."""
    options = _options(request, ("path", "n"))
    with _bad_option():
        count = whole_number("n", _number(options, "n", int, 10), 1, MAX_LISTED)
    songs = await run_in_threadpool(service.songs)
    if request.method == "GET":
        if "path" not in options:
            raise HTTPException(400, "GET /v1/similar needs ?path=, a song of the catalog (or POST a file)")
        row = songs.rows.get(options["path"])
        if row is None and service.library is not None:
            row = await run_in_threadpool(_library_song, songs, service.library, options["path"])
        if row is None:
            raise HTTPException(404, f"{options['path']} is not in the catalog; give its path as the result file "
                                     "names it (or under --library), or POST the file")
        nearest = await run_in_threadpool(songs.similar, songs.embeddings[row], count, row)
    else:
        if songs.model not in service.models:
            raise HTTPException(409, f"the catalog holds {songs.model} results, a model this server has not "
                                     f"loaded; restart it with --model {songs.model}")
        scheduler = service.models[songs.model]
        plan = scheduler.tagger.plan(features=[songs.feature])
        _, result = await _tagged(request, service, scheduler, plan, options.get("path"))
        nearest = await run_in_threadpool(songs.similar, song_embedding(result.features[songs.feature]), count)
    return JSONResponse({"model": songs.model, "feature": songs.feature,
                         "songs": [{"path": path, "similarity": value} for path, value in nearest]})


@api
async def search(request: Request, service: Service) -> Response:
    """The catalog's songs whose likelihood of `tag` is at least `min`, likeliest first."""
    options = _options(request, ("tag", "min", "limit"))
    songs = await run_in_threadpool(service.songs)
    tag_name = options.get("tag")
    if tag_name is None:
        raise HTTPException(400, "GET /v1/search needs ?tag=, e.g. ?tag=techno&min=0.5")
    if tag_name not in songs.tags:
        raise HTTPException(400, f"tag={tag_name!r} is not a tag of the catalog; use one of {', '.join(songs.tags)}")
    minimum = _number(options, "min", float, 0.5)
    if not 0 <= minimum <= 1:
        raise HTTPException(400, f"min={minimum!r} must be a likelihood from 0 to 1, e.g. 0.5")
    with _bad_option():
        limit = whole_number("limit", _number(options, "limit", int, 50), 1, MAX_LISTED)
    total, found = await run_in_threadpool(songs.search, tag_name, minimum, limit)
    return JSONResponse({"tag": tag_name, "min": minimum, "total": total,
                         "songs": [{"path": path, "likelihood": value} for path, value in found]})


async def _tagged(request: Request, service: Service, scheduler: TagScheduler, plan,
                  path: str | None) -> tuple[str | None, TagResult]:
    """The request's audio (its upload, or path=) tagged through `scheduler`: its name and result."""
    async with request_audio(request, service.library, service.max_upload, path) as audio:
        try:
            song = scheduler.submit(audio.source, plan=plan)
        except QueueFull as error:
            raise HTTPException(503, one_line(error), headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
        audio.tagged_by(song)
        try:
            return audio.name, await asyncio.wrap_future(song)
        except MusicnnError as error:
            raise HTTPException(422, audio.explain(error)) from None


def _library_song(songs: Songs, library: Path, given: str) -> int | None:
    """The catalog's row of the file that `given` names under the library, if the catalog holds it."""
    with contextlib.suppress(HTTPException):  # out of the library, or no such file: not in the catalog
        real = library_file(library, given)
        for name in (real, os.path.abspath(library / given)):
            if name in songs.rows_by_file:
                return songs.rows_by_file[name]
    return None


def _options(request: Request, known: tuple[str, ...]) -> dict[str, str]:
    """The query's options (the last of each name); 400 for a name the call does not take."""
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        raise HTTPException(400, f"unknown option {unknown[0]!r}; {request.url.path} takes {', '.join(known)}")
    return dict(request.query_params)


def _number(options: dict[str, str], name: str, kind: type, default):
    if name not in options:
        return default
    try:
        return kind(options[name])
    except ValueError:
        raise HTTPException(400, f"{name}={options[name]!r} is not a {'whole number' if kind is int else 'number'}"
                            ) from None


def _flag(options: dict[str, str], name: str) -> bool:
    value = options.get(name, "false").lower()
    if value not in ("true", "false"):
        raise HTTPException(400, f"{name}={options[name]!r} must be true or false")
    return value == "true"


@contextlib.contextmanager
def _bad_option():
    """The library's refusal of an option, as a 400."""
    try:
        yield
    except MusicnnError as error:
        raise HTTPException(400, one_line(error)) from None


async def _error_answer(request: Request, error: HTTPException) -> Response:
    return JSONResponse({"error": error.detail}, error.status_code, headers=error.headers)


async def _unexpected_error(request: Request, error: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return JSONResponse({"error": f"the server failed on this request ({type(error).__name__}); "
                                  "its log has the details"}, 500)
