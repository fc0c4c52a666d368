"""The tagging service against the command line on the same files, in the same run; and the catalog's queries.

    python benchmarks/serve.py            # 32 requests per level at 1, 4 and 16 clients; catalogs of 10k, 100k, 1M
    python benchmarks/serve.py --quick    # smoke run: 4 requests per level, catalogs of 10k

Tagging: a 30-s clip (the joram mp3 of tests/data/audio) sent to `musicnn-lite serve` (default
options, 127.0.0.1) as the body of POST /v1/tag by 1, 4 and 16 client threads at once, each on
its own keep-alive connection, against `python -m musicnn_lite FOLDER` (printing the tags) on a
folder of as many copies. Throughput is audio seconds per wall second; latency is each request's, upload
to answer, at the client (p99 of 32 requests is close to their maximum). The command line runs
before and after the service and its two runs are averaged, as a shared machine's speed drifts;
its rate is given whole (start-up included) and without its start-up (the run of one copy
subtracted), which is what the service's rate, its models loaded already, compares with.
Peak RSS: the largest resident memory of each process (the server's over all its requests).

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
    args = parser.parse_args()
    requests = 4 if args.quick else 32
    levels = (1, 4, 16)
    sizes = (10_000,) if args.quick else (10_000, 100_000, 1_000_000)
    clip_seconds = soundfile.info(CLIP).duration
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "music"
        folder.mkdir()
        for copy in range(requests):
            (folder / f"{copy:03d}.mp3").write_bytes(CLIP.read_bytes())
        one = Path(scratch) / "one"
        one.mkdir()
        (one / "000.mp3").write_bytes(CLIP.read_bytes())
        cli = [command_line(folder), command_line(one)]
        served = serve(levels, requests, clip_seconds)
        cli += [command_line(folder), command_line(one)]
    load.append(os.getloadavg()[0])
    catalog = {size: catalog_queries(size) for size in sizes}

    whole = statistics.mean(wall for wall, _ in cli[0::2])
    start_up = statistics.mean(wall for wall, _ in cli[1::2])
    cli_rate = requests * clip_seconds / whole
    steady_rate = (requests - 1) * clip_seconds / (whole - start_up)
    print(f"{requests} requests of a {clip_seconds:.1f}-s mp3 per level; {os.cpu_count()} logical cores; "
          f"load average {load[0]:.1f} at start, {load[1]:.1f} at end\n")
    print("| run | audio s / wall s | vs command line | p50 latency s | p99 latency s | peak RSS MiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    cli_rss = max(rss for _, rss in cli)
    print(f"| command line, {requests} files (start-up included) | {cli_rate:.1f} | | | | {cli_rss:.0f} |")
    print(f"| command line, without its start-up ({start_up:.1f} s) | {steady_rate:.1f} | 1.00 | | | |")
    for clients, (rate, latencies) in served["levels"].items():
        p50, p99 = np.percentile(latencies, [50, 99])
        rss = f"{served['rss']:.0f}" if clients == levels[-1] else ""
        print(f"| serve, {clients} client{'s' * (clients > 1)} | {rate:.1f} | {rate / steady_rate:.2f} | "
              f"{p50:.2f} | {p99:.2f} | {rss} |")
    print(f"\nnetwork batches run by the service: {served['batches']} for {served['patches']} patches\n")
    print("| catalog songs | embeddings MiB | similar (n=10) ms | search (min=0.5, limit=50) ms |")
    print("| ---: | ---: | ---: | ---: |")
    for size, (similar_ms, search_ms) in catalog.items():
        print(f"| {size:,} | {size * 200 * 4 / 2**20:.0f} | {similar_ms:.2f} | {search_ms:.2f} |")


def command_line(folder: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of `python -m musicnn_lite FOLDER` in a fresh process."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "musicnn_lite", str(folder)], env=ENV,
                               stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    assert os.waitstatus_to_exitcode(status) == 0
    return wall, usage.ru_maxrss / 1024


def serve(levels: tuple[int, ...], requests: int, clip_seconds: float) -> dict:
    """Start the server, run each level of concurrent clients, read its peak RSS, stop it."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "musicnn_lite", "serve", "--port", str(port)], env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not ready(port):
            assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
            time.sleep(0.2)
        body = CLIP.read_bytes()
        tag_once(http.client.HTTPConnection(HOST, port), body)  # warm-up
        results = {}
        for clients in levels:
            results[clients] = run_level(port, body, clients, requests, clip_seconds)
        counts = health(port)["models"]["MTT_musicnn"]
        rss = peak_rss(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return {"levels": results, "rss": rss, "batches": counts["batches"], "patches": counts["patches"]}


def run_level(port: int, body: bytes, clients: int, requests: int, clip_seconds: float):
    """`requests` uploads by `clients` threads at once: (audio s per wall s, each request's latency)."""
    latencies, lock = [], threading.Lock()
    todo = iter(range(requests))

    def client():
        connection = http.client.HTTPConnection(HOST, port, timeout=600)
        while True:
            with lock:
                if next(todo, None) is None:
                    break
            start = time.perf_counter()
            tag_once(connection, body)
            with lock:
                latencies.append(time.perf_counter() - start)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    assert len(latencies) == requests
    return requests * clip_seconds / wall, latencies


def tag_once(connection: http.client.HTTPConnection, body: bytes) -> None:
    connection.request("POST", "/v1/tag", body=body)
    response = connection.getresponse()
    answer = response.read()
    assert response.status == 200, answer[:300]


def ready(port: int) -> bool:
    try:
        return health(port)["status"] == "ready"
    except OSError:
        return False


def health(port: int) -> dict:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    connection.request("GET", "/v1/health")
    return json.loads(connection.getresponse().read())


def peak_rss(pid: int) -> float:
    """The peak resident memory of process `pid` so far, MiB (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
