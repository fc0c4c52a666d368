"""The tagging service against the command line on the same files, in the same run; and the catalog's queries.

    python benchmarks/serve.py            # 32 requests per level at 1, 4 and 16 clients, 3 rounds;
                                          # catalogs of 10k, 100k and 1M songs
    python benchmarks/serve.py --quick    # smoke run: 4 requests per level, one round, a catalog of 10k

Tagging: a 30-s clip (the joram mp3 of tests/data/audio) sent to `musicnn-lite serve` (default
options, 127.0.0.1) as the body of POST /v1/tag by 1, 4 and 16 client threads at once, each on
its own keep-alive connection, against `python -m musicnn_lite FOLDER` (printing the tags) on a
folder of as many copies, and on a folder of one copy. The rounds interleave the runs, as a
shared machine's speed drifts, and the median of each is reported. Throughput is audio seconds
per wall second; the command line's is given whole (start-up included) and without its start-up
(the one-copy run subtracted), which is what the service's, its model loaded already, compares
with. CPU time is the tagging process's (the clients' threads, in this process, are not counted).
Latency is each request's, upload to answer, at the client, pooled over the rounds. Peak RSS: the
largest resident memory of each process (the server's over all its requests).

Catalog: `Songs.similar` (cosine similarity by one matrix-vector product, brute force) and
`Songs.search` on synthetic catalogs of random unit-length 200-value embeddings (the size of
`penultimate`) and 50 tag likelihoods, median of repeated queries.
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CLIP = REPO / "tests" / "data" / "audio" / "joram-moments_of_clarity-08-solipsism-59-88.mp3"
HOST = "127.0.0.1"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every measurement (default 3)")
    args = parser.parse_args()
    requests, rounds = (4, 1) if args.quick else (32, args.rounds)
    levels = (1, 4, 16)
    sizes = (10_000,) if args.quick else (10_000, 100_000, 1_000_000)
    clip_seconds = soundfile.info(CLIP).duration
    load = [os.getloadavg()[0]]
    runs = {"folder": [], "one": [], **{clients: [] for clients in levels}}
    with tempfile.TemporaryDirectory() as scratch, Server() as server:
        folders = {"folder": Path(scratch) / "music", "one": Path(scratch) / "one"}
        for name, copies in (("folder", requests), ("one", 1)):
            folders[name].mkdir()
            for copy in range(copies):
                (folders[name] / f"{copy:03d}.mp3").write_bytes(CLIP.read_bytes())
        for _ in range(rounds):  # interleaved: a shared machine's speed drifts
            for name, folder in folders.items():
                runs[name].append(command_line(folder))
            for clients in levels:
                runs[clients].append(server.run_level(clients, requests))
        counts, server_rss = server.health()["models"]["MTT_musicnn"], server.peak_rss()
    load.append(os.getloadavg()[0])
    catalog = {size: catalog_queries(size) for size in sizes}

    audio = requests * clip_seconds
    wall = {name: statistics.median(run.wall for run in measured) for name, measured in runs.items()}
    cpu = {name: statistics.median(run.cpu for run in measured) for name, measured in runs.items()}
    steady_rate = (requests - 1) * clip_seconds / (wall["folder"] - wall["one"])
    steady_cpu = (cpu["folder"] - cpu["one"]) / ((requests - 1) * clip_seconds / 60)
    print(f"{requests} requests of a {clip_seconds:.1f}-s mp3 per level, median of {rounds} interleaved rounds; "
          f"{os.cpu_count()} logical cores; load average {load[0]:.1f} at start, {load[1]:.1f} at end\n")
    print("| run | audio s / wall s | vs command line | CPU s per audio min | p50 latency s | p99 latency s "
          "| peak RSS MiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    cli_rss = max(run.rss for run in runs["folder"])
    print(f"| command line, {requests} files (start-up included) | {audio / wall['folder']:.1f} | | "
          f"{cpu['folder'] / (audio / 60):.2f} | | | {cli_rss:.0f} |")
    print(f"| command line, without its start-up ({wall['one'] - clip_seconds / steady_rate:.1f} s) | "
          f"{steady_rate:.1f} | 1.00 | {steady_cpu:.2f} | | | |")
    for clients in levels:
        rate = audio / wall[clients]
        p50, p99 = np.percentile([latency for run in runs[clients] for latency in run.latencies], [50, 99])
        rss = f"{server_rss:.0f}" if clients == levels[-1] else ""
        print(f"| serve, {clients} client{'s' * (clients > 1)} | {rate:.1f} | {rate / steady_rate:.2f} | "
              f"{cpu[clients] / (audio / 60):.2f} | {p50:.2f} | {p99:.2f} | {rss} |")
    print(f"\nnetwork batches run by the service: {counts['batches']} for {counts['patches']} patches\n")
    print("| catalog songs | embeddings MiB | similar (n=10) ms | search (min=0.5, limit=50) ms |")
    print("| ---: | ---: | ---: | ---: |")
    for size, (similar_ms, search_ms) in catalog.items():
        print(f"| {size:,} | {size * 200 * 4 / 2**20:.0f} | {similar_ms:.2f} | {search_ms:.2f} |")


@dataclass
class Run:
    wall: float  # seconds
    cpu: float  # seconds of CPU time of the tagging process (the clients' own are not counted)
    rss: float = 0.0  # MiB
    latencies: list[float] = field(default_factory=list)


def command_line(folder: Path) -> Run:
    """`python -m musicnn_lite FOLDER` in a fresh process, timed from start to exit."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "musicnn_lite", str(folder)], env=ENV,
                               stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return Run(time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


class Server:
    """`musicnn-lite serve` with its default options on a free loopback port, warmed up by one request."""

    def __enter__(self):
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen([sys.executable, "-m", "musicnn_lite", "serve", "--port", str(self.port)],
                                        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not self.ready():
            assert time.monotonic() < deadline and self.process.poll() is None, "the server did not start"
            time.sleep(0.2)
        self.body = CLIP.read_bytes()
        tag_once(http.client.HTTPConnection(HOST, self.port), self.body)
        return self

    def __exit__(self, *exception):
        self.process.terminate()
        self.process.wait(timeout=60)

    def run_level(self, clients: int, requests: int) -> Run:
        """`requests` uploads by `clients` threads at once, each on its own keep-alive connection."""
        latencies, lock = [], threading.Lock()
        todo = iter(range(requests))

        def client():
            connection = http.client.HTTPConnection(HOST, self.port, timeout=600)
            while True:
                with lock:
                    if next(todo, None) is None:
                        break
                start = time.perf_counter()
                tag_once(connection, self.body)
                with lock:
                    latencies.append(time.perf_counter() - start)
            connection.close()

        threads = [threading.Thread(target=client) for _ in range(clients)]
        cpu, start = self.cpu_seconds(), time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(latencies) == requests
        return Run(time.perf_counter() - start, self.cpu_seconds() - cpu, latencies=latencies)

    def ready(self) -> bool:
        try:
            return self.health()["status"] == "ready"
        except OSError:
            return False

    def health(self) -> dict:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=10)
        connection.request("GET", "/v1/health")
        return json.loads(connection.getresponse().read())

    def cpu_seconds(self) -> float:
        """User and system CPU time of the server process so far (all its threads)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss(self) -> float:
        """The server's peak resident memory so far, MiB (VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def tag_once(connection: http.client.HTTPConnection, body: bytes) -> None:
    connection.request("POST", "/v1/tag", body=body)
    response = connection.getresponse()
    answer = response.read()
    assert response.status == 200, answer[:300]


def catalog_queries(size: int) -> tuple[float, float]:
    """Median milliseconds of a similar-songs query and of a tag search on a synthetic catalog of `size` songs."""
    from musicnn_lite.service.catalog import Songs

    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((size, 200), dtype=np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    likelihoods = rng.uniform(0, 0.6, (size, 50)).astype(np.float32)
    songs = Songs("MTT_musicnn", [f"song{i}.mp3" for i in range(size)], [f"tag{i}" for i in range(50)],
                  likelihoods, "penultimate", embeddings)
    repeats = 30 if size < 1_000_000 else 10
    similar = timed(lambda: songs.similar(rng.standard_normal(200, dtype=np.float32), 10), repeats)
    search = timed(lambda: songs.search("tag7", 0.5, 50), repeats)
    return similar, search


def timed(query, repeats: int) -> float:
    query()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        query()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    main()
