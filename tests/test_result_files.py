"""Result files are never a way to lose data: any file name round-trips, a damaged record stops a resume,
one run at a time, a full disk stops the run in one line, outputs are never inputs."""

import csv
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_folder_cli import make_clips, shared_tagger

from musicnn_lite import MusicnnError, Tagger, TagResult, cli
from musicnn_lite import tagger as tagger_module
from musicnn_lite.results import open_writer

LABELS = ["rock", "slow", "piano"]
RESULT = TagResult(np.array([[0.1, 0.5, 0.2], [0.3, 0.1, 0.4]], np.float32), LABELS)


@pytest.fixture(autouse=True)
def reuse_taggers(monkeypatch):
    """In-process `cli.main` runs share taggers instead of building a network each."""
    monkeypatch.setattr(tagger_module, "Tagger", shared_tagger)


def write_records(out: Path, names: list[str]) -> list[int]:
    """Write a record per name to `out`; where the header (if any) ends, then where each record ends."""
    with open_writer(out, "MTT_musicnn", LABELS) as writer:
        ends = [out.stat().st_size]
        for name in names:
            writer.write(name, RESULT)
            ends.append(out.stat().st_size)
    return ends


def test_file_names_with_carriage_returns_survive_every_cut_of_a_csv(tmp_path):
    names = ["a\rb.wav", "line\r\nend.wav", "\n\r.wav", 'cr at end "quoted"\r', "plain.wav"]
    out = tmp_path / "out.csv"
    ends = write_records(out, names)
    whole = out.read_bytes()
    for cut in range(len(whole) + 1):
        out.write_bytes(whole[:cut])
        kept = sum(end <= cut for end in ends[1:])
        with open_writer(out, "MTT_musicnn", LABELS, resume=True) as writer:
            assert list(writer.done) == names[:kept]
        assert out.read_bytes() == whole[:ends[kept]]


@pytest.mark.parametrize("suffix, damage", [
    (".csv", b"a\rb.wav,MTT_musicnn,ok,,rock,0.1,0.2,0.3\n"),  # a \r left unquoted, as earlier versions wrote
    (".csv", b"only,four,fields,here\n"),
    (".jsonl", b'{"path": "cut.wav", "model": "MTT\n'),
])
def test_a_damaged_record_before_the_last_stops_resume_naming_its_line(tmp_path, suffix, damage):
    out = tmp_path / f"out{suffix}"
    ends = write_records(out, ["first.wav", "last.wav"])
    whole = out.read_bytes()
    damaged = whole[:ends[1]] + damage + whole[ends[1]:]
    out.write_bytes(damaged)
    line = 3 if suffix == ".csv" else 2
    with pytest.raises(MusicnnError, match=f"cannot be resumed: line {line} .*the file is left as it was"):
        open_writer(out, "MTT_musicnn", LABELS, resume=True)
    assert out.read_bytes() == damaged


HOLD_WRITER = """
import sys
from musicnn_lite.results import open_writer
writer = open_writer(sys.argv[1], "MTT_musicnn", ["rock"])
print("holding", flush=True)
sys.stdin.read()
writer.close()
"""


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".npz"])
def test_a_second_run_on_the_same_output_is_refused_and_touches_nothing(tmp_path, capsys, suffix):
    clip, = make_clips(tmp_path / "music", seconds=(3,))
    out = tmp_path / f"out{suffix}"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITER, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert holder.stdout.readline() == "holding\n"
        before = sorted((path.name, path.read_bytes()) for path in tmp_path.rglob("out*") if path.is_file())
        assert cli.main([str(clip), "-o", str(out)]) == 3
        assert f"is being written by another musicnn_lite run (process {holder.pid})" in capsys.readouterr().err
        with pytest.raises(MusicnnError, match="another musicnn_lite run"):
            open_writer(out, "MTT_musicnn", ["rock"], resume=True)
        assert sorted((path.name, path.read_bytes()) for path in tmp_path.rglob("out*") if path.is_file()) == before
    finally:
        holder.communicate("", timeout=60)
    assert cli.main([str(clip), "-o", str(out)]) == 0


def failing_fsync(monkeypatch, after: int) -> None:
    """Make os.fsync fail as on a full disk from its call number `after` + 1 on."""
    calls, fsync = [], os.fsync

    def fsync_until_full(fd):
        calls.append(fd)
        if len(calls) > after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync_until_full)


@pytest.mark.parametrize("suffix, fsyncs", [(".csv", 2), (".jsonl", 1), (".npz", 1), (".npz", 2)])
def test_a_full_disk_stops_the_run_in_one_line_with_the_resume_command(tmp_path, capsys, monkeypatch,
                                                                       suffix, fsyncs):
    clips = make_clips(tmp_path / "music", seconds=(3, 4))
    out = tmp_path / f"out{suffix}"
    args = [str(tmp_path / "music"), "-o", str(out), "--quiet"]
    with monkeypatch.context() as patch:
        failing_fsync(patch, after=fsyncs)  # csv 2: the header and one record; npz 2: both parts, not the packing
        assert cli.main(args) == 3
    error, = capsys.readouterr().err.splitlines()
    assert error.startswith("error: the disk is full: cannot write ") and error.endswith(" --resume")
    assert not [path.name for path in tmp_path.rglob("*.tmp")]
    assert cli.main(args + ["--resume"]) == 0
    assert recorded_paths(out) == [str(clip) for clip in clips]


def recorded_paths(out: Path) -> list[str]:
    if out.suffix == ".npz":
        with np.load(out) as archive:
            return archive["paths"].tolist()
    if out.suffix == ".csv":
        return [row[0] for row in csv.reader(out.open(newline=""))][1:]
    return [json.loads(line)["path"] for line in out.read_text().splitlines()]


def test_an_output_named_as_an_input_is_refused(tmp_path, capsys):
    clip, audio_named_csv = make_clips(tmp_path / "music", seconds=(3, 4))
    audio_named_csv = audio_named_csv.rename(tmp_path / "music" / "x.csv")
    before = audio_named_csv.read_bytes()
    assert cli.main([str(audio_named_csv), str(clip), "-o", str(audio_named_csv)]) == 2
    assert "x.csv is the result file" in capsys.readouterr().err
    assert audio_named_csv.read_bytes() == before


def test_a_pattern_never_takes_the_result_file_it_writes(tmp_path):
    clips = make_clips(tmp_path / "music", seconds=(3, 4))
    out = tmp_path / "music" / "tags.csv"
    for _ in range(2):  # the second run finds the first run's tags.csv under the pattern
        assert cli.main([str(tmp_path / "music" / "*"), "-o", str(out), "--quiet"]) == 0
    assert recorded_paths(out) == [str(clip) for clip in clips]


def test_ctrl_c_says_the_npz_records_are_in_the_parts_folder(tmp_path, capsys, monkeypatch):
    clips = make_clips(tmp_path / "music", seconds=(3, 4))
    tag_many = Tagger.tag_many

    def interrupted_after_one(self, paths, **options):
        yield next(tag_many(self, paths, **options))
        raise KeyboardInterrupt
    monkeypatch.setattr(Tagger, "tag_many", interrupted_after_one)
    out = tmp_path / "out.npz"
    assert cli.main([*map(str, clips), "-o", str(out), "--quiet"]) == 130
    assert f"the files done are in {out}.parts{os.sep}: add --resume" in capsys.readouterr().err
    assert len(list((tmp_path / "out.npz.parts").glob("*.npz"))) == 1


def test_a_long_npz_name_is_written_and_resumed(tmp_path):
    out = tmp_path / ("n" * 251 + ".npz")  # 255 bytes: the most a name may have
    with open_writer(out, "MTT_musicnn", LABELS) as writer:
        writer.write("a.wav", RESULT)
    with open_writer(out, "MTT_musicnn", LABELS, resume=True) as writer:
        assert writer.done == {"a.wav": "ok"}
        writer.write("b.wav", RESULT)
    with np.load(out) as archive:
        assert archive["paths"].tolist() == ["a.wav", "b.wav"]
    assert [path.name for path in tmp_path.iterdir()] == [out.name]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".npz"])
def test_a_read_only_result_file_is_refused_and_kept(tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    with open_writer(out, "MTT_musicnn", LABELS) as writer:
        writer.write("a.wav", RESULT)
    before = out.read_bytes()
    out.chmod(0o444)
    for resume in (False, True):
        with pytest.raises(MusicnnError, match="cannot write results to .* it is read-only"):
            open_writer(out, "MTT_musicnn", LABELS, resume=resume)
    assert out.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == [out.name]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".npz"])
def test_the_caller_chooses_the_tag_columns_and_their_order(tmp_path, suffix):
    columns = ["piano", "rock"]  # another order, and not every tag of the result
    out = tmp_path / f"out{suffix}"
    with open_writer(out, "MTT_musicnn", columns) as writer:
        writer.write("a.wav", RESULT)
    wanted = RESULT.likelihoods[[2, 0]]
    if suffix == ".npz":
        with np.load(out) as archive:
            assert archive["tags"].tolist() == columns
            np.testing.assert_array_equal(archive["0/taggram"], RESULT.taggram[:, [2, 0]])
    elif suffix == ".csv":
        header, row = csv.reader(out.open(newline=""))
        assert header[5:] == columns
        np.testing.assert_array_equal(np.array(row[5:], np.float32), wanted)
    else:
        record, = (json.loads(line) for line in out.read_text().splitlines())
        assert list(record["likelihoods"]) == columns
        np.testing.assert_array_equal(np.array(list(record["likelihoods"].values()), np.float32), wanted)
