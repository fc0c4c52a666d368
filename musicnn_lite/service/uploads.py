"""The audio a request asks to tag: its body streamed to a temporary file, or a file under --library.

An upload is the raw request body, or the multipart field named `file`. It is counted while it
arrives and refused (413) as soon as it passes the server's limit. A raw body goes to an anonymous
temporary file, which has no name on disk, so it is gone when closed or when the process ends,
however it ends; a multipart field goes where Starlette spools it, memory up to 1 MB and then such
a file. Nothing else is written. The file stays open until the scheduler is done with the song.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from concurrent.futures import Future
from pathlib import Path
from typing import BinaryIO

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message, Receive

from ..errors import one_line


class Audio:
    """What a request asks to tag. source: what the Tagger reads (an open file, or a path);
    name: how the answer names it (the path given or the upload's file name; None if it has none)."""

    def __init__(self, source: str | BinaryIO, name: str | None, shown: str, read_as: str):
        self.source, self.name = source, name
        self._shown, self._read_as = shown, read_as
        self._song: Future | None = None

    def explain(self, error: Exception) -> str:
        """The library's one-line message about this audio, naming it as the client knows it."""
        return one_line(error).replace(self._read_as, self._shown)

    def tagged_by(self, song: Future) -> None:
        """The upload stays open until `song`, the scheduler's work on it, is done."""
        self._song = song

    def release(self) -> None:
        """Close the upload, now or once the scheduler is done with it."""
        if isinstance(self.source, str):
            return
        if self._song is None:
            self.source.close()
        else:
            self._song.add_done_callback(lambda _: self.source.close())


@contextlib.asynccontextmanager
async def request_audio(request: Request, library: Path | None, max_bytes: int,
                        path: str | None) -> AsyncIterator[Audio]:
    """The audio of `request`: the file `path` names under `library`, or else the upload."""
    request = Request(request.scope, _limited(request.receive, max_bytes))
    if path is not None:
        if await _has_body(request):
            raise HTTPException(400, "give the audio either as path= or as the request body, not both")
        real = library_file(library, path)
        yield Audio(real, path, path, real)
        return
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise _too_large(max_bytes)
    audio = await _upload(request)
    try:
        yield audio
    finally:
        audio.release()


def library_file(library: Path | None, given: str) -> str:
    """The real path of file `given` (relative) under the `library` folder; 403 for one that leads out of it."""
    if library is None:
        raise HTTPException(400, "this server has no --library folder: send the audio as the request body")
    if "\0" in given:
        raise HTTPException(400, "path= holds a NUL character")
    root = library.resolve()
    real = (root / given).resolve()
    if os.path.isabs(given) or not real.is_relative_to(root):
        raise HTTPException(403, f"{given} is outside the library folder; give a path relative to it")
    if not real.is_file():
        raise HTTPException(404, f"{given} is not a file in the library folder")
    return str(real)


async def _upload(request: Request) -> Audio:
    """The request's upload in a temporary file: the multipart field `file`, or else the whole body."""
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=10)
        field = form.get("file")
        if not isinstance(field, UploadFile):
            await form.close()
            raise HTTPException(400, "the multipart body has no file field named 'file': send the audio as "
                                     "-F file=@SONG, or as the raw request body")
        upload, name = field.file, field.filename or None
    else:
        upload, name = tempfile.TemporaryFile(), None
        try:
            async for chunk in request.stream():
                upload.write(chunk)
        except BaseException:
            upload.close()
            raise
    size = upload.seek(0, os.SEEK_END)
    upload.seek(0)
    if size == 0:
        upload.close()
        raise HTTPException(400, "the upload is empty: send an audio file as the request body (or give path=)")
    return Audio(upload, name, f"the upload {name}" if name else "the upload", "the file object")


async def _has_body(request: Request) -> bool:
    async for chunk in request.stream():
        if chunk:
            return True
    return False


def _limited(receive: Receive, max_bytes: int) -> Receive:
    """`receive` that refuses (413) a request body as soon as more than `max_bytes` of it have arrived,
    and ends the request (400, in the log's one line) if its client goes before the body is whole."""
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPException(400, "the client disconnected before its whole request had arrived")
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise _too_large(max_bytes)
        return message

    return limited


def _too_large(max_bytes: int) -> HTTPException:
    return HTTPException(413, f"the upload is larger than this server takes ({max_bytes / 1e6:g} MB, "
                              "its --max-upload); send a smaller file")
