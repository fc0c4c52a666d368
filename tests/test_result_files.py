"""Result files are never a way to lose data: any file name round-trips, a damaged record stops a resume,
one run at a time, a full disk stops the run in one line, outputs are never inputs."""

import csv
import errno
import json
import os
import re
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


@pytest.mark.parametrize("suffix, fsyncs", [(".csv", 2), (".jsonl", 1), (".npz", 4), (".npz", 5)])
def test_a_full_disk_stops_the_run_in_one_line_with_the_resume_command(tmp_path, capsys, monkeypatch,
                                                                       suffix, fsyncs):
    clips = make_clips(tmp_path / "music", seconds=(3, 4))
    out = tmp_path / f"out{suffix}"
    args = [str(tmp_path / "music"), "-o", str(out), "--quiet"]
    with monkeypatch.context() as patch:
        # csv 2: the header and one record; npz: 3 to start the parts folder, then 2 for each part
        failing_fsync(patch, after=fsyncs)
        assert cli.main(args) == 3
    error, = capsys.readouterr().err.splitlines()
    assert error.startswith("error: the disk is full: cannot write ") and error.endswith(" --resume")
    assert not [path.name for path in tmp_path.rglob("*.tmp")]
    assert cli.main(args + ["--resume"]) == 0
    assert recorded_paths(out) == [str(clip) for clip in clips]


def recorded_paths(out: Path) -> list[str]:
    if out.suffix == ".parquet":
        import pyarrow.parquet as pq
        return pq.read_table(out).column("path").to_pylist()
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


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".npz", ".parquet"])
def test_a_folder_named_as_the_result_file_is_refused_before_anything_is_written(tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    out.mkdir()
    for resume in (False, True):
        with pytest.raises(MusicnnError, match=f"cannot write results to .* it is a folder; name a file, "
                                               f"for instance .*tags{suffix}"):
            open_writer(out, "MTT_musicnn", LABELS, resume=resume)
    assert [path.name for path in tmp_path.iterdir()] == [out.name]
    assert not any(out.iterdir())


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


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_two_names_of_one_file_share_one_lock(tmp_path, capsys, suffix):
    clip, = make_clips(tmp_path / "music", seconds=(3,))
    real, link = tmp_path / f"real{suffix}", tmp_path / f"link{suffix}"
    link.symlink_to(real.name)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITER, str(real)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert holder.stdout.readline() == "holding\n"
        assert cli.main([str(clip), "-o", str(link), "--quiet"]) == 3
        assert f"is being written by another musicnn_lite run (process {holder.pid})" in capsys.readouterr().err
    finally:
        holder.communicate("", timeout=60)
    assert cli.main([str(clip), "-o", str(link), "--quiet"]) == 0  # the file the link names is written
    assert link.is_symlink() and recorded_paths(real) == [str(clip)]
    assert sorted(path.name for path in tmp_path.iterdir()) == [link.name, "music", real.name]


def no_bytes_free(monkeypatch) -> None:
    """Make every write and fsync fail as on a disk with no byte free."""
    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "write", full)
    monkeypatch.setattr(os, "fsync", full)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".npz", ".parquet"])
def test_a_disk_with_no_byte_free_stops_the_run_in_one_line_leaving_nothing(tmp_path, capsys, monkeypatch, suffix):
    clip, = make_clips(tmp_path / "music", seconds=(3,))
    out = tmp_path / f"out{suffix}"
    shared_tagger("MTT_musicnn", batch_size=4)  # built before the disk is full
    with monkeypatch.context() as patch:
        no_bytes_free(patch)
        assert cli.main([str(clip), "-o", str(out), "--quiet"]) == 3
    error, = capsys.readouterr().err.splitlines()
    assert error.startswith("error: the disk is full: cannot write ")
    assert [path.name for path in tmp_path.iterdir()] == ["music"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".npz", ".parquet"])
def test_an_output_name_that_is_not_utf8_is_written_and_resumed(tmp_path, capsys, suffix):
    clip, = make_clips(tmp_path / "music", seconds=(3,))
    out = os.fsdecode(os.fsencode(tmp_path) + b"/out\xe9" + suffix.encode())
    sys.stderr.reconfigure(errors="backslashreplace")  # as a process's stderr is
    assert cli.main([str(clip), "-o", out, "--quiet"]) == 0
    assert cli.main([str(clip), "-o", out, "--resume"]) == 0
    assert "1 of 1 files are already in" in capsys.readouterr().err
    assert sorted(os.listdir(os.fsencode(tmp_path))) == [b"music", b"out\xe9" + suffix.encode()]


def killed_writer(out: Path, names: list[str]) -> None:
    """What a run killed outright leaves: its parts, one per song."""
    if out.suffix == ".parquet":
        from musicnn_lite.results.parquet_file import ParquetWriter
        writer = ParquetWriter(out, "MTT_musicnn", LABELS, top_n=3, resume=False, rows_per_part=1)
    else:
        writer = open_writer(out, "MTT_musicnn", LABELS)
    for name in names:
        writer.write(name, RESULT)
    writer._lock.release()  # as the next run takes over a dead run's lock file


def listing(folder: Path) -> list[tuple[str, bytes]]:
    return sorted((str(path.relative_to(folder)), path.read_bytes() if path.is_file() else b"")
                  for path in folder.rglob("*"))


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
@pytest.mark.parametrize("tamper", ["00000000_copy", "00000000 (copy)", "0", "000000001", "folder.tmp", "link",
                                    "notes.txt"])
def test_a_parts_folder_with_names_the_writer_never_makes_is_refused_naming_them(tmp_path, suffix, tamper):
    out = tmp_path / f"out{suffix}"
    killed_writer(out, ["a.wav", "b.wav"])
    parts = tmp_path / f"out{suffix}.parts"
    first = parts / f"00000000{suffix}"
    stranger = parts / (tamper if tamper in ("folder.tmp", "link", "notes.txt") else tamper + suffix)
    if tamper == "folder.tmp":
        stranger.mkdir()
    elif tamper == "link":
        stranger = parts / f"00000002{suffix}"
        stranger.symlink_to(first)
    else:
        stranger.write_bytes(first.read_bytes())
    before = listing(tmp_path)
    with pytest.raises(MusicnnError, match=f"cannot be resumed: {re.escape(str(stranger))} is not a name "
                                           f"musicnn_lite gives its parts .*move it out of {re.escape(str(parts))}"):
        open_writer(out, "MTT_musicnn", LABELS, resume=True)
    assert listing(tmp_path) == before
    stranger.unlink() if stranger.is_file() or stranger.is_symlink() else stranger.rmdir()
    with open_writer(out, "MTT_musicnn", LABELS, resume=True) as writer:
        assert writer.done == {"a.wav": "ok", "b.wav": "ok"}
    assert recorded_paths(out) == ["a.wav", "b.wav"]


def pickled_part(path: Path) -> None:
    np.savez(path, path=np.array(["a.wav"], dtype=object), model="MTT_musicnn", status="ok", error="")


@pytest.mark.parametrize("damage", [
    lambda part: part.write_bytes(b"random bytes"),
    lambda part: part.write_bytes(part.read_bytes()[:len(part.read_bytes()) // 2]),  # cut
    lambda part: part.write_bytes(part.read_bytes().replace(b"MTT_musicnn", b"MTT_musicnm")[:-30] + b"\0" * 30),
    pickled_part,
    lambda part: np.savez(part.with_suffix(""), model="MTT_musicnn", status="ok", error=""),  # no path
    lambda part: np.savez(part.with_suffix(""), path="a.wav", model="MTT_musicnn", status="maybe", error=""),
    lambda part: np.savez(part.with_suffix(""), path=["a.wav", "b.wav"], model="MTT_musicnn", status="ok", error=""),
], ids=["random", "cut", "garbled", "pickle", "no path", "bad status", "two paths"])
def test_a_broken_npz_part_is_refused_in_one_line_naming_it(tmp_path, damage):
    out = tmp_path / "out.npz"
    killed_writer(out, ["a.wav", "b.wav"])
    part = tmp_path / "out.npz.parts" / "00000000.npz"
    damage(part)
    with pytest.raises(MusicnnError, match=f"cannot be resumed: {re.escape(str(part))} is not a part "
                                           r"musicnn_lite wrote \(.*\); move it out of") as error:
        open_writer(out, "MTT_musicnn", LABELS, resume=True)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("suffix", [".jsonl", ".npz"])
def test_resume_refuses_other_features_in_every_format(tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    with_features = TagResult(RESULT.taggram, LABELS, {"penultimate": np.ones((2, 4), np.float32)})
    with open_writer(out, "MTT_musicnn", LABELS, feature_widths={"penultimate": 4}) as writer:
        writer.write("a.wav", with_features)
        writer.write("bad.wav", MusicnnError("cannot read"))
    before = out.read_bytes()
    for other in ({}, {"max_pool": 753}, {"penultimate": 4, "max_pool": 753}):
        with pytest.raises(MusicnnError, match="holds the features penultimate, not .*; resume with --features "
                                               "penultimate"):
            open_writer(out, "MTT_musicnn", LABELS, resume=True, feature_widths=other)
    assert out.read_bytes() == before and [path.name for path in tmp_path.iterdir()] == [out.name]
    with open_writer(out, "MTT_musicnn", LABELS, resume=True, feature_widths={"penultimate": 4}) as writer:
        assert writer.done == {"a.wav": "ok", "bad.wav": "error"}


def test_the_command_line_refuses_to_resume_jsonl_with_other_features(tmp_path, capsys):
    clip, = make_clips(tmp_path / "music", seconds=(3,))
    out = tmp_path / "out.jsonl"
    assert cli.main([str(clip), "-o", str(out), "--quiet", "--features", "penultimate"]) == 0
    assert cli.main([str(clip), "-o", str(out), "--quiet", "--resume"]) == 1
    assert "holds the features penultimate, not none" in capsys.readouterr().err


def test_save_into_a_missing_folder_is_refused_before_the_first_file(tmp_path, capsys):
    clip, = make_clips(tmp_path / "music", seconds=(3,))
    assert cli.main([str(clip), "--save", str(tmp_path / "no" / "tags.txt")]) == 3
    out, err = capsys.readouterr()
    assert out == "" and err == f"error: cannot write --save {tmp_path / 'no' / 'tags.txt'}: there is no folder " \
                                f"{tmp_path / 'no'}; create it, or name a file in a folder that exists\n"
    odd_name = os.fsdecode(os.path.join(os.fsencode(tmp_path / "music"), b"caf\xe9.wav"))
    os.rename(clip, odd_name)
    assert cli.main([odd_name, "--save", str(tmp_path / "tags.txt")]) == 0
    assert (tmp_path / "tags.txt").read_bytes().startswith(os.fsencode(odd_name) + b",MTT_musicnn,")


def test_an_empty_folder_is_an_error_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no audio here")
    assert cli.main([str(tmp_path / "empty"), "-o", str(tmp_path / "out.csv")]) == 1
    assert capsys.readouterr().err.startswith(f"error: no audio files in {tmp_path / 'empty'} (a folder is searched")
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_standard_output_on_a_full_disk_is_one_line(tmp_path):
    clip, = make_clips(tmp_path / "music", seconds=(3,))
    with open("/dev/full", "w") as full:
        run = subprocess.run([sys.executable, "-m", "musicnn_lite", str(clip)], stdout=full, stderr=subprocess.PIPE,
                             text=True, timeout=300)
    assert (run.returncode, run.stderr) == (3, "error: cannot write to standard output: No space left on device\n")
    with open("/dev/full", "w") as full:
        run = subprocess.run([sys.executable, "-m", "musicnn_lite", "--list-models"], stdout=full,
                             stderr=subprocess.PIPE, text=True, timeout=300)
    assert (run.returncode, run.stderr) == (3, "error: cannot write to standard output: No space left on device\n")


def test_standard_output_closed_by_its_reader_ends_the_run_quietly(tmp_path):
    short, long = make_clips(tmp_path / "music", seconds=(3, 90))  # the reader is gone before the long one is done
    run = subprocess.Popen([sys.executable, "-m", "musicnn_lite", str(short), str(long), "--batch-size", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert run.stdout.readline() == f"[{short}] Top3 tags:\n".encode()
    run.stdout.close()  # as `| head -1` does
    assert run.wait(timeout=300) == 3
    assert run.stderr.read() == b""
