"""The command line over many files: paths, folders and patterns, result files, failures, resume after a crash."""

import csv
import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from musicnn_lite import MusicnnError, Tagger, TagResult, cli
from musicnn_lite import tagger as tagger_module
from musicnn_lite.files import audio_files
from musicnn_lite.labels import MTT_LABELS
from musicnn_lite.results import FORMATS, open_writer

shared_tagger = functools.cache(Tagger)  # one network per model and batch size for every in-process run


@pytest.fixture(autouse=True)
def reuse_taggers(monkeypatch):
    """In-process `cli.main` runs share taggers instead of building a network each."""
    monkeypatch.setattr(tagger_module, "Tagger", shared_tagger)


def make_clips(folder: Path, seconds=(3, 4, 5), sr=16000) -> list[Path]:
    """Distinct small wav clips (a chord of sines plus noise), one per duration."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(seconds))
    paths = []
    for index, duration in enumerate(seconds):
        t = np.arange(int(duration * sr)) / sr
        wave = sum(np.sin(2 * np.pi * f * (index + 1) * t) for f in (110, 220, 330)) / 6
        path = folder / f"clip{index}.wav"
        soundfile.write(path, (wave + rng.normal(0, 0.05, t.size)).astype(np.float32), sr)
        paths.append(path)
    return paths


def expected(path: Path, features=()):
    return shared_tagger("MTT_musicnn", batch_size=32).tag(path, features=list(features))


def assert_close(actual, wanted) -> None:
    """Equal up to float32 noise (tag_many batches songs together): within 1e-4 of the largest magnitude."""
    wanted = np.asarray(wanted)
    np.testing.assert_allclose(np.asarray(actual, np.float32), wanted, rtol=0, atol=1e-4 * np.abs(wanted).max())


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_folders_and_patterns_expand_to_audio_files_once_each(tmp_path, monkeypatch):
    for name in ("a/x.WAV", "a/sub/y.mp3", "a/sub/z.Flac", "a/.hidden.wav", "a/.git/h.wav", "a/notes.txt",
                 "b/v.ogg", "b/w.opus", "c.aiff", "d.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert audio_files(["a"]) == ["a/x.WAV", "a/sub/y.mp3", "a/sub/z.Flac"]
    assert audio_files(["a/**/*.mp3", "./b/*", "d.txt", "a/x.WAV", "a"]) == [
        "a/sub/y.mp3", "b/v.ogg", "b/w.opus", "d.txt", "a/x.WAV", "a/sub/z.Flac"]
    assert audio_files(["*.aiff", "missing.mp3", "nothing/*.wav"]) == ["c.aiff", "missing.mp3", "nothing/*.wav"]


def test_good_files_are_tagged_and_every_bad_one_is_listed(tmp_path, capsys):
    good = make_clips(tmp_path / "music")
    (tmp_path / "music" / "garbage.mp3").write_bytes(b"not audio at all" * 64)
    (tmp_path / "music" / "empty.wav").write_bytes(b"")
    out = tmp_path / "out.csv"
    assert cli.main([str(tmp_path / "music"), "--output", str(out), "--topN", "4"]) == 1
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    labels = list(MTT_LABELS)
    assert list(rows[0]) == ["path", "model", "status", "error", "top_tags", *labels]
    by_path = {row["path"]: row for row in rows}
    assert sorted(by_path) == sorted(str(path) for path in [*good, tmp_path / "music" / "garbage.mp3",
                                                             tmp_path / "music" / "empty.wav"])
    for path in good:
        row, result = by_path[str(path)], expected(path)
        assert (row["model"], row["status"], row["error"]) == ("MTT_musicnn", "ok", "")
        assert row["top_tags"].split(";") == result.top(4)
        assert_close([float(row[tag]) for tag in labels], result.likelihoods)
    errors = capsys.readouterr().err.strip().splitlines()
    for name, reason in (("garbage.mp3", "could not decode"), ("empty.wav", "is empty")):
        row = by_path[str(tmp_path / "music" / name)]
        assert row["status"] == "error" and reason in row["error"] and all(row[tag] == "" for tag in labels)
        assert [line for line in errors if name in line] == [f"error: {row['error']}"]


def test_jsonl_records_hold_likelihoods_top_tags_and_song_level_features(tmp_path, capsys):
    clips = make_clips(tmp_path / "music", seconds=(4, 7))
    out = tmp_path / "out.jsonl"
    assert cli.main([str(tmp_path / "music" / "*.wav"), "-o", str(out), "--features", "max_pool", "cnn1"]) == 0
    assert capsys.readouterr().out == ""  # with --output, tags are printed only on --print
    records = read_jsonl(out)
    assert [record["path"] for record in records] == [str(path) for path in clips]
    for record, path in zip(records, clips):
        result = expected(path, ["max_pool", "cnn1"])
        assert record["status"] == "ok" and record["top_tags"] == result.top(3)
        assert list(record["likelihoods"]) == result.tags
        assert_close(list(record["likelihoods"].values()), result.likelihoods)
        assert_close(record["features"]["max_pool"], result.features["max_pool"].mean(axis=0))
        assert_close(record["features"]["cnn1"], result.features["cnn1"].mean(axis=(0, 1)))


def test_npz_holds_each_files_taggram_and_features(tmp_path):
    clips = make_clips(tmp_path / "music", seconds=(3, 8))
    missing = tmp_path / "music" / "missing.ogg"
    out = tmp_path / "out.npz"
    assert cli.main([str(clips[0]), str(missing), str(clips[1]), "-o", str(out), "--features", "penultimate"]) == 1
    with np.load(out) as archive:
        assert archive["paths"].tolist() == [str(clips[0]), str(missing), str(clips[1])]
        assert archive["status"].tolist() == ["ok", "error", "ok"]
        assert "no such file" in archive["errors"][1] and archive["errors"][0] == ""
        assert archive["tags"].tolist() == list(MTT_LABELS) and archive["model"] == "MTT_musicnn"
        assert sorted(archive.files) == sorted(["model", "tags", "paths", "status", "errors", "0/taggram",
                                                "0/timestamps", "0/penultimate", "2/taggram", "2/timestamps",
                                                "2/penultimate"])
        for index, path in ((0, clips[0]), (2, clips[1])):
            result = expected(path, ["penultimate"])
            assert_close(archive[f"{index}/taggram"], result.taggram)
            assert_close(archive[f"{index}/penultimate"], result.features["penultimate"])
    assert not (tmp_path / "out.npz.parts").exists()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_resume_tags_only_the_files_missing_from_the_output(tmp_path, capsys, suffix):
    make_clips(tmp_path / "music", seconds=(3, 4))
    out = tmp_path / f"out{suffix}"
    assert cli.main([str(tmp_path / "music"), "-o", str(out)]) == 0
    before = out.read_bytes()
    later, = make_clips(tmp_path / "more", seconds=(5,))
    added = tmp_path / "music" / "clip9.wav"
    later.rename(added)
    assert cli.main([str(tmp_path / "music"), "-o", str(out), "--resume"]) == 0
    after = out.read_bytes()
    assert after.startswith(before)
    assert "2 of 3 files are already in" in capsys.readouterr().err
    paths = [line.split(b",")[0] if suffix == ".csv" else json.loads(line)["path"].encode()
             for line in after[len(before):].splitlines()]
    assert paths == [str(added).encode()]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_partial_last_record_is_cut_off_and_its_file_tagged_again(tmp_path, suffix):
    clips = make_clips(tmp_path / "music", seconds=(3, 4))
    out = tmp_path / f"out{suffix}"
    assert cli.main([str(clips[0]), "-o", str(out)]) == 0
    whole = out.read_bytes()
    with open_writer(tmp_path / f"scratch{suffix}", "MTT_musicnn", list(MTT_LABELS)) as writer:
        writer.write(str(clips[1]), expected(clips[1]))
    last_record = (tmp_path / f"scratch{suffix}").read_bytes().splitlines(keepends=True)[-1]
    out.write_bytes(whole + last_record[:len(last_record) // 2])  # what a crash mid-write leaves
    assert cli.main([str(tmp_path / "music"), "-o", str(out), "--resume"]) == 0
    after = out.read_text(encoding="utf-8")
    assert after.startswith(whole.decode())
    if suffix == ".csv":
        header, *rows = csv.reader(after.splitlines())
        assert all(len(row) == len(header) for row in rows)
        paths = [row[0] for row in rows]
    else:
        paths = [record["path"] for record in read_jsonl(out)]
    assert paths == [str(clips[0]), str(clips[1])]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_every_cut_of_a_result_file_resumes_to_its_whole_records(tmp_path, suffix):
    labels = ["rock", "slow", "piano"]
    result = TagResult(np.array([[0.1, 0.5, 0.2], [0.3, 0.1, 0.4]], np.float32), labels)
    records = [("a.wav", result), ('line\nbreak, "quoted".wav', result), ("bad.wav", MusicnnError("cannot\nread"))]
    out = tmp_path / f"out{suffix}"
    with open_writer(out, "MTT_musicnn", labels) as writer:
        ends = [out.stat().st_size]  # where the header (if any) ends, then where each record ends
        for name, outcome in records:
            writer.write(name, outcome)
            ends.append(out.stat().st_size)
    whole = out.read_bytes()
    for cut in range(len(whole) + 1):
        out.write_bytes(whole[:cut])
        kept = sum(end <= cut for end in ends[1:])
        with open_writer(out, "MTT_musicnn", labels, resume=True) as writer:
            assert list(writer.done) == [name for name, _ in records[:kept]]
        assert out.read_bytes() == whole[:ends[kept]]


def test_resume_refuses_a_file_that_another_model_wrote(tmp_path, capsys):
    clip, = make_clips(tmp_path / "music", seconds=(3,))
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"path": "x.wav", "model": "MSD_musicnn", "status": "ok"}) + "\n")
    assert cli.main([str(clip), "-o", str(out), "--resume"]) == 1
    assert "holds results of model MSD_musicnn, not MTT_musicnn" in capsys.readouterr().err
    (tmp_path / "other.csv").write_text("name,score\nx.wav,1\n")
    with pytest.raises(MusicnnError, match="not written by musicnn_lite"):
        open_writer(tmp_path / "other.csv", "MTT_musicnn", ["guitar"], resume=True)
    open_writer(tmp_path / "msd.npz", "MSD_musicnn", ["rock"]).close()
    with pytest.raises(MusicnnError, match="holds results of model MSD_musicnn"):
        open_writer(tmp_path / "msd.npz", "MTT_musicnn", ["guitar"], resume=True)
    assert not (tmp_path / "msd.npz.parts").exists()
    for suffix in FORMATS:
        with pytest.raises(MusicnnError, match="cannot write results to"):
            open_writer(tmp_path / "no" / "such" / f"folder{suffix}", "MTT_musicnn", ["guitar"])


def test_npz_resume_packs_the_parts_of_an_interrupted_run_with_the_rest(tmp_path):
    clips = make_clips(tmp_path / "music", seconds=(3, 4, 5))
    out = tmp_path / "out.npz"
    interrupted = open_writer(out, "MTT_musicnn", list(MTT_LABELS))
    interrupted.write(str(clips[0]), expected(clips[0]))  # never closed, as after a kill
    (tmp_path / "out.npz.parts" / "00000001.tmp").write_bytes(b"PK\x03\x04 half a part")  # killed mid-write
    assert not out.exists()
    assert cli.main([str(clips[0]), str(clips[1]), "-o", str(out), "--resume"]) == 0
    assert cli.main([str(tmp_path / "music"), "-o", str(out), "--resume"]) == 0
    with np.load(out) as archive:
        assert archive["paths"].tolist() == [str(path) for path in clips]
        for index, path in enumerate(clips):
            assert_close(archive[f"{index}/taggram"], expected(path).taggram)
    assert not (tmp_path / "out.npz.parts").exists()


def test_options_are_checked_before_any_file_is_tagged(tmp_path, capsys):
    clip, = make_clips(tmp_path / "music", seconds=(3,))
    for args in (["-o", "out.txt"], ["--resume"], ["-o", "out.csv", "--features", "penultimate"],
                 ["--jobs", "0"], ["--batch-size", "x"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([str(clip), *args])
        assert exit_info.value.code == 2
    assert cli.main([str(clip), "-o", str(tmp_path / "out.jsonl"), "--features", "pool9"]) == 1
    assert "MTT_musicnn has no feature 'pool9'; choose from timbral" in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()


def test_progress_bar_shows_on_a_terminal_unless_quiet(tmp_path, capsys, monkeypatch):
    clip, = make_clips(tmp_path / "music", seconds=(3,))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert cli.main([str(clip), "-o", str(tmp_path / "out.csv")]) == 0
    assert "1/1" in capsys.readouterr().err
    assert cli.main([str(clip), "-o", str(tmp_path / "out.csv"), "--quiet"]) == 0
    assert "1/1" not in capsys.readouterr().err


def test_a_killed_run_resumes_to_exactly_one_record_per_file(tmp_path):
    clips = make_clips(tmp_path / "music", seconds=(12, 15, 13, 15, 14, 15, 12, 15))
    out = tmp_path / "out.jsonl"
    # One patch per batch, so that songs finish one after another rather than all in one batch.
    run = subprocess.Popen([sys.executable, "-m", "musicnn_lite", str(tmp_path / "music"), "-o", str(out),
                            "--batch-size", "1", "--jobs", "1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    deadline = time.monotonic() + 120
    while run.poll() is None and time.monotonic() < deadline and not (out.exists() and b"\n" in out.read_bytes()):
        time.sleep(0.01)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    written = out.read_bytes().count(b"\n")
    assert 1 <= written < len(clips), "the run was not killed midway"
    assert cli.main([str(tmp_path / "music"), "-o", str(out), "--resume"]) == 0
    records = read_jsonl(out)
    assert sorted(record["path"] for record in records) == sorted(str(path) for path in clips)
    assert all(record["status"] == "ok" for record in records)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_file_names_that_are_not_utf8_are_written_and_resumed(tmp_path, suffix):
    folder = tmp_path / "music"
    clip, = make_clips(folder, seconds=(3,))
    odd_name = os.fsdecode(os.path.join(os.fsencode(folder), b"caf\xe9.wav"))
    os.rename(clip, odd_name)
    out = tmp_path / f"out{suffix}"
    assert cli.main([str(folder), "-o", str(out), "--quiet"]) == 0
    assert b"caf\xe9.wav" in out.read_bytes()
    assert cli.main([str(folder), "-o", str(out), "--quiet", "--resume"]) == 0
    assert out.read_bytes().count(b"caf\xe9.wav") == 1
