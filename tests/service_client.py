"""The real tagging server in a subprocess, on a free loopback port, and a small HTTP client for it."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict

    @property
    def error(self) -> str:
        return self.body.get("error", "")


class Server:
    """`python -m musicnn_lite serve ARGS` on 127.0.0.1 and a free port; its log goes to `log`."""

    def __init__(self, args: list[str], folder: Path, env: dict[str, str] | None = None):
        self.port = _free_port()
        self.log = folder / f"server-{self.port}.log"
        self.temp = folder / f"server-{self.port}-tmp"  # its TMPDIR, which uploads must leave empty
        self.temp.mkdir()
        environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TMPDIR": str(self.temp), **(env or {})}
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "musicnn_lite", "serve", "--host", HOST, "--port", str(self.port), *args],
                stdout=log, stderr=subprocess.STDOUT, env=environment)
        self.token = (env or {}).get("MUSICNN_TOKEN")

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited ({self.process.returncode}):\n{self.log.read_text()}")
            with contextlib.suppress(OSError):
                if self.call("GET", "/v1/health").status == 200:
                    self.temp_files = self.left_in_temp()  # ONNX Runtime leaves a session file there
                    return
            time.sleep(0.2)
        raise AssertionError(f"the server did not start:\n{self.log.read_text()}")

    def left_in_temp(self) -> set[Path]:
        return set(self.temp.iterdir())

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(HOST, self.port, timeout=120)

    def call(self, method: str, route: str, body: bytes | None = None, headers: dict[str, str] | None = None,
             token: str | None = None, **query) -> Answer:
        """One request on a new connection; `token` (default: the server's) goes in Authorization."""
        headers = dict(headers or {})
        if token or self.token:
            headers.setdefault("Authorization", f"Bearer {token or self.token}")
        if query:
            route += "?" + urllib.parse.urlencode(query)
        connection = self.connection()
        try:
            connection.request(method, route, body=body, headers=headers)
            return read_answer(connection.getresponse())
        finally:
            connection.close()

    def tag(self, audio: bytes | Path, **query) -> Answer:
        return self.call("POST", "/v1/tag", Path(audio).read_bytes() if isinstance(audio, Path) else audio, **query)

    def health(self) -> dict:
        return self.call("GET", "/v1/health").body


def read_answer(response: http.client.HTTPResponse) -> Answer:
    data = response.read()
    headers = {name.lower(): value for name, value in response.getheaders()}
    assert headers.get("content-type", "").startswith("application/json"), data[:200]
    return Answer(response.status, headers, json.loads(data))


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body holding one file field, and its Content-Type header."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@contextlib.contextmanager
def running_server(args: list[str], folder: Path, env: dict[str, str] | None = None):
    server = Server(args, folder, env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]
