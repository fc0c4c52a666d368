"""Fault injection: a run writing .npz or .parquet parts is killed (SIGKILL) at every step that changes the disk,
then resumed: each song is in the result file exactly once, with the results of the run that made it."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from musicnn_lite import TagResult
from musicnn_lite.results import open_writer
from musicnn_lite.results.parquet_file import ParquetWriter

TAGS = ["rock", "jazz"]
WIDTHS = {"penultimate": 2}

# The run under test, in a process of its own: it counts the calls that change the disk (writes are made
# durable by os.fsync; names change through os.replace, os.rename, os.mkdir, os.unlink, os.rmdir) and kills
# itself with SIGKILL just before call number KILL_AT (0: never; it then prints how many calls it made).
KILLED_RUN = """
import os, signal, sys
sys.path[:0] = [sys.argv[1]]
import test_kills

steps = 0

def counted(call):
    def step(*args, **kwargs):
        global steps
        steps += 1
        if steps == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return call(*args, **kwargs)
    return step

out, kill_at, marker, resume = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5] == "resume"
for name in ("fsync", "replace", "rename", "mkdir", "unlink", "rmdir"):
    setattr(os, name, counted(getattr(os, name)))
test_kills.run(out, marker, sys.argv[6:], resume)
print(steps)
"""


def song(marker: float) -> TagResult:
    """A made-up result whose every value is `marker`, the number of the run that made it."""
    return TagResult(np.full((2, 2), marker, np.float32), TAGS, {"penultimate": np.full((2, 2), marker, np.float32)})


def writer(out: str, resume: bool):
    """A writer of `out` that writes a part for every song (Parquet's default is one per 1000)."""
    if out.endswith(".parquet"):
        return ParquetWriter(Path(out), "MTT_musicnn", TAGS, top_n=1, resume=resume, feature_widths=WIDTHS,
                             rows_per_part=1)
    return open_writer(out, "MTT_musicnn", TAGS, resume=resume, feature_widths=WIDTHS)


def run(out: str, marker: float, songs: list[str], resume: bool) -> list[str]:
    """Write the songs that `out` lacks, each with values `marker`; the songs it held already."""
    with writer(out, resume) as results:
        held = list(results.done)
        for name in songs:
            if name not in results.done:
                results.write(name, song(marker))
    return held


def killed_run(out, kill_at: int, marker: float, songs: list[str], resume: bool) -> subprocess.CompletedProcess:
    here = os.path.dirname(__file__)
    return subprocess.run([sys.executable, "-c", KILLED_RUN, here, str(out), str(kill_at), str(marker),
                           "resume" if resume else "fresh", *songs], capture_output=True, text=True, timeout=120)


def stored(out) -> list[tuple[str, float]]:
    """(path, value) of each record of the result file `out`, in order."""
    if out.suffix == ".parquet":
        table = pq.read_table(out)
        assert [row[0] for row in table.column("features.penultimate").to_pylist()] == table.column("rock").to_pylist()
        return list(zip(table.column("path").to_pylist(), table.column("rock").to_pylist()))
    with np.load(out) as archive:
        paths = archive["paths"].tolist()
        for index in range(len(paths)):
            assert archive[f"{index}/penultimate"][0, 0] == archive[f"{index}/taggram"][0, 0]
        return [(path, float(archive[f"{index}/taggram"][0, 0])) for index, path in enumerate(paths)]


FIRST, SECOND, THIRD = 1.0, 2.0, 3.0


@pytest.mark.parametrize("suffix", [".parquet", ".npz"])
@pytest.mark.parametrize("second_run_resumes", [False, True], ids=["fresh", "resumed"])
def test_a_run_killed_at_any_step_resumes_to_each_song_once_with_its_own_results(tmp_path, suffix,
                                                                                  second_run_resumes):
    """A first run finishes; a second (fresh, or resuming the first) is killed at step k; a third resumes.

    A resumed second run keeps the first run's records. A fresh one killed before it has done anything
    leaves the first run's file as it was, but its records are never mixed with the first run's, and
    once a kill leaves its mark, so does every later one. Each song's record is that of the run that
    wrote it: the first or the second for those the third found done, else the third.
    """
    first_songs, songs = ["a.wav", "b.wav"], ["a.wav", "b.wav", "c.wav", "d.wav"]

    def after_the_first_run(folder):
        folder.mkdir()
        run(str(folder / f"out{suffix}"), FIRST, first_songs, resume=False)
        return folder / f"out{suffix}"

    whole = killed_run(after_the_first_run(tmp_path / "whole"), 0, SECOND, songs, second_run_resumes)
    assert whole.returncode == 0, whole.stderr
    steps = int(whole.stdout)
    assert steps > 10
    fresh_run_took_effect = False
    for kill_at in range(1, steps + 1):
        out = after_the_first_run(tmp_path / f"killed-at-{kill_at}")
        killed = killed_run(out, kill_at, SECOND, songs, second_run_resumes)
        assert killed.returncode == -9, f"step {kill_at}: {killed.stderr}"
        held = run(str(out), THIRD, songs, resume=True)
        records = stored(out)
        assert sorted(path for path, _ in records) == songs, f"killed at step {kill_at} of {steps}"
        values = dict(records)
        first_kept = second_run_resumes or (not fresh_run_took_effect and FIRST in values.values())
        fresh_run_took_effect = not first_kept
        for path, value in values.items():
            if first_kept and path in first_songs:
                wanted = FIRST
            else:
                wanted = SECOND if path in held else THIRD
            assert value == wanted, f"{path}, killed at step {kill_at} of {steps}: {values}"
        assert [path.name for path in out.parent.iterdir()] == [out.name]
