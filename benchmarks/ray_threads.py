"""More Ray actors than cores: each actor's network threads bounded by its num_cpus, against unbounded.

    python benchmarks/ray_threads.py                          # 8 actors, 24 files (16 min of audio), 2 rounds
    python benchmarks/ray_threads.py --copies 1 --rounds 1    # smoke run

On a node of C cores, Ray runs C one-CPU actors; unbounded, each actor's ONNX Runtime starts a
thread per core, C x C threads in all. This machine has 2 cores, so the benchmark tells Ray it has
more: Ray is started with num_cpus = actors x N and musicnn_lite.ray.tag runs `actors` actors of
num_cpus=N each, on one folder, files_per_batch=1. Since each actor's network computes on
max(1, floor(num_cpus)) threads, N=1 is the bounded case (what a one-CPU actor runs now) and N=64
emulates what each actor of a 64-core node started before the bound (a thread per core of the
node). Only the network's threads differ: OMP_NUM_THREADS=1 in both, as Ray sets it for one-CPU
actors, so numpy's threads are the same.

Each run is a fresh process (Ray started and shut down in it), the two settings interleaved round
by round; a thread in that process samples every Ray worker process (psutil, every 0.2 s) for its
CPU seconds (user + sys) and threads. Printed: medians of the whole process's wall time, of the
tagging alone (tag() to the last row), of the workers' CPU seconds, and the most threads an
actor and all workers had at once.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from run import REPO, build_folder

SAMPLE_SECONDS = 0.2
EMULATED_CORES = 64  # the node the unbounded case stands for
TAGGING_ACTOR = "_TagBatches"  # in the process title of musicnn_lite.ray's actors


class WorkerSampler(threading.Thread):
    """Samples this process's Ray worker processes until stopped: CPU seconds and threads of each, by pid."""

    def __init__(self):
        super().__init__(daemon=True)
        self.cpu_s: dict[int, float] = {}
        self.threads: dict[int, int] = {}
        self.actors: set[int] = set()
        self.most_threads = 0
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            self.sample()
            self._stopped.wait(SAMPLE_SECONDS)

    def sample(self) -> None:
        import psutil

        threads_now = 0
        for process in psutil.Process().children(recursive=True):
            try:
                with process.oneshot():
                    title = " ".join(process.cmdline())
                    if not title.startswith("ray::") and "default_worker.py" not in title:
                        continue
                    times = process.cpu_times()
                    self.cpu_s[process.pid] = times.user + times.system
                    threads = process.num_threads()
            except psutil.Error:  # it ended between the listing and the reading
                continue
            self.threads[process.pid] = max(self.threads.get(process.pid, 0), threads)
            threads_now += threads
            if TAGGING_ACTOR in title:
                self.actors.add(process.pid)
        self.most_threads = max(self.most_threads, threads_now)

    def stop(self) -> None:
        self._stopped.set()
        self.join()
        self.sample()


def tag_on_ray(folder: Path, actors: int, cpus_per_actor: int) -> dict:
    """Tag `folder` on a local Ray of actors x cpus_per_actor CPUs with `actors` actors; what was measured."""
    import ray

    import musicnn_lite.ray

    ray.init(num_cpus=actors * cpus_per_actor, include_dashboard=False, log_to_driver=False)
    sampler = WorkerSampler()
    sampler.start()
    start = time.perf_counter()
    rows = musicnn_lite.ray.tag(str(folder), concurrency=actors, num_cpus=cpus_per_actor, files_per_batch=1)
    statuses = [row["status"] for row in rows.iter_rows()]
    tagging_s = time.perf_counter() - start
    sampler.stop()
    ray.shutdown()
    if set(statuses) != {"ok"}:
        raise SystemExit(f"some files were not tagged: {statuses}")
    return {"tagging_s": tagging_s, "files": len(statuses), "workers_cpu_s": sum(sampler.cpu_s.values()),
            "actors_cpu_s": sum(sampler.cpu_s[pid] for pid in sampler.actors), "actors": len(sampler.actors),
            "threads_per_actor": max((sampler.threads[pid] for pid in sampler.actors), default=0),
            "workers_threads": sampler.most_threads}


def timed_child(folder: Path, actors: int, cpus_per_actor: int) -> dict:
    """tag_on_ray in a fresh process, with the whole process's wall seconds added."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", str(cpus_per_actor), "--actors", str(actors),
                           str(folder)], env=env, capture_output=True, text=True, timeout=1800)
    wall_s = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"the run with num_cpus={cpus_per_actor} failed:\n{done.stderr[-3000:]}")
    result = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")][-1]
    return {"wall_s": wall_s, **json.loads(result.removeprefix("RESULT "))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=8, help="copies of each reference clip (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per setting (default 2)")
    parser.add_argument("--actors", type=int, default=8, help="Ray actors (default 8)")
    parser.add_argument("--child", type=int, metavar="N", help=argparse.SUPPRESS)  # one run: num_cpus=N per actor
    parser.add_argument("folder", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(tag_on_ray(args.folder, args.actors, args.child)), flush=True)
        return

    settings = {"bounded: num_cpus=1 per actor, 1 network thread each": 1,
                f"unbounded (a {EMULATED_CORES}-core node's default): {EMULATED_CORES} threads each": EMULATED_CORES}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "music"
        audio_s = build_folder(folder, args.copies)
        files = len(list(folder.iterdir()))
        load_before = os.getloadavg()[0]
        runs = {name: [] for name in settings}
        for _ in range(args.rounds):
            for name, cpus in settings.items():
                runs[name].append(timed_child(folder, args.actors, cpus))
        load_after = os.getloadavg()[0]
    print(f"{files} files, {audio_s / 60:.1f} min of audio, {args.actors} actors on "
          f"{os.cpu_count()} cores, median of {args.rounds} rounds, load average {load_before:.1f} at start, "
          f"{load_after:.1f} at end\n")
    print("| setting | wall s | tagging s | audio s / tagging s | workers' CPU s | actors' CPU s "
          "| threads per actor | threads of all workers |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, results in runs.items():
        def median(key: str, results=results) -> float:
            return statistics.median(result[key] for result in results)

        most = {key: max(result[key] for result in results) for key in ("threads_per_actor", "workers_threads")}
        print(f"| {name} | {median('wall_s'):.1f} | {median('tagging_s'):.1f} | {audio_s / median('tagging_s'):.1f} "
              f"| {median('workers_cpu_s'):.1f} | {median('actors_cpu_s'):.1f} | {most['threads_per_actor']} "
              f"| {most['workers_threads']} |")
    print("\nactors seen per run: " + ", ".join(f"{name.split(':')[0]} {[r['actors'] for r in results]}"
                                               for name, results in runs.items()))


if __name__ == "__main__":
    main()
