"""Parquet results: rows with the JSONL record's fields, part files that survive a crash, resume, packing."""

import csv
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicnn_lite import MusicnnError, TagResult, cli
from musicnn_lite.labels import MTT_LABELS
from musicnn_lite.results.parquet_file import ParquetWriter, result_row, result_schema

from conftest import cut_clips

TAGS = ["rock", "jazz", "female vocal"]
WIDTHS = {"penultimate": 4}


def song(seed: int) -> TagResult:
    """A made-up result: 5 patches of the three tags, and a (5, 4) penultimate feature."""
    rng = np.random.default_rng(seed)
    return TagResult(rng.random((5, 3), np.float32), TAGS, {"penultimate": rng.random((5, 4), np.float32)})


def writer(path, resume=False, model="MTT_musicnn", widths=WIDTHS, **options) -> ParquetWriter:
    return ParquetWriter(path, model, TAGS, top_n=2, resume=resume, feature_widths=widths, **options)


def paths_in(path) -> list[str]:
    return pq.read_table(path).column("path").to_pylist()


def test_rows_hold_the_records_fields_with_plain_arrow_types(tmp_path):
    out = tmp_path / "tags.parquet"
    with writer(out) as results:
        results.write("a.mp3", song(1))
        results.write("bad.mp3", MusicnnError("could not decode bad.mp3\nas audio"))
    table = pq.read_table(out)
    assert table.schema.names == ["path", "model", "status", "error", "top_tags", "timestamps", *TAGS,
                                  "features.penultimate"]
    ok, bad = table.to_pylist()
    result = song(1)
    assert (ok["path"], ok["model"], ok["status"], ok["error"]) == ("a.mp3", "MTT_musicnn", "ok", None)
    assert ok["top_tags"] == result.top(2) and ok["timestamps"] == result.timestamps.astype(np.float32).tolist()
    assert [ok[tag] for tag in TAGS] == result.likelihoods.astype(np.float32).tolist()
    assert ok["features.penultimate"] == result.features["penultimate"].mean(axis=0).tolist()
    assert (bad["status"], bad["error"]) == ("error", "could not decode bad.mp3 as audio")
    assert all(bad[column] is None for column in ["top_tags", "timestamps", *TAGS, "features.penultimate"])
    assert not (tmp_path / "tags.parquet.parts").exists()


def test_a_killed_run_keeps_its_finished_parts_and_resume_adds_only_missing_songs(tmp_path):
    out = tmp_path / "tags.parquet"
    killed = writer(out, rows_per_part=2)
    for index in range(5):
        killed.write(f"{index}.mp3", song(index))
    del killed  # killed outright: neither closed nor exited; the fifth row was not in a part yet
    assert not out.exists() and len(list((tmp_path / "tags.parquet.parts").glob("*.parquet"))) == 2
    with writer(out, resume=True) as resumed:
        assert resumed.done == {f"{index}.mp3": "ok" for index in range(4)}
        resumed.write("4.mp3", song(4))
    assert paths_in(out) == [f"{index}.mp3" for index in range(5)]
    with writer(out, resume=True) as again:  # a finished file is taken up too
        assert set(again.done) == {f"{index}.mp3" for index in range(5)}
        again.write("5.mp3", MusicnnError("no such file"))
    assert paths_in(out) == [f"{index}.mp3" for index in range(6)]
    assert pq.read_table(out).column("status").to_pylist() == ["ok"] * 5 + ["error"]


def test_a_run_stopped_by_an_exception_writes_what_it_holds_as_a_part(tmp_path):
    out = tmp_path / "tags.parquet"
    with pytest.raises(KeyboardInterrupt), writer(out) as results:
        results.write("a.mp3", song(1))
        raise KeyboardInterrupt
    assert writer(out, resume=True).done == {"a.mp3": "ok"}


def test_paths_that_are_not_utf8_are_stored_escaped_and_resumed_as_given(tmp_path):
    name = b"caf\xe9.wav".decode("utf-8", "surrogateescape")  # as os.listdir gives it
    out = tmp_path / "tags.parquet"
    with writer(out) as results:
        results.write(name, song(1))
    assert paths_in(out) == ["caf\\xe9.wav"]
    assert writer(out, resume=True).done == {name: "ok"}


def test_resume_refuses_a_file_of_another_model_or_other_features(tmp_path):
    out = tmp_path / "tags.parquet"
    with writer(out) as results:
        results.write("a.mp3", song(1))
    with pytest.raises(MusicnnError, match="model MTT_musicnn, not MSD_musicnn"):
        writer(out, resume=True, model="MSD_musicnn")
    with pytest.raises(MusicnnError, match="holds the features penultimate, not none; resume with --features "
                                           "penultimate"):
        writer(out, resume=True, widths={})
    with pytest.raises(MusicnnError, match="same --model, --features and --head"):
        writer(out, resume=True, widths={"penultimate": 5})
    (tmp_path / "notes.parquet").write_text("not parquet")
    with pytest.raises(MusicnnError, match="not a Parquet file"):
        writer(tmp_path / "notes.parquet", resume=True)


def test_a_row_is_the_same_whoever_makes_it(tmp_path):
    row = result_row("a.mp3", song(3), "MTT_musicnn", TAGS, 2)
    table = pa.Table.from_pylist([row], schema=result_schema(TAGS, WIDTHS))
    with writer(tmp_path / "tags.parquet") as results:
        results.write_row(row)
    assert pq.read_table(tmp_path / "tags.parquet").equals(table)


def test_the_command_line_writes_parquet_with_the_csv_numbers_and_resumes(tmp_path, capsys):
    clips = [str(clip) for clip in cut_clips(tmp_path / "music", seconds=3)]
    csv_file, out = tmp_path / "tags.csv", tmp_path / "tags.parquet"
    assert cli.main([*clips, "-o", str(csv_file), "--quiet"]) == 0
    assert cli.main([*clips[:2], "-o", str(out), "--features", "penultimate", "--quiet"]) == 0
    assert cli.main([*clips, "-o", str(out), "--features", "penultimate", "--resume"]) == 0
    assert "2 of 3 files are already in" in capsys.readouterr().err
    table = pq.read_table(out)
    assert table.column("path").to_pylist() == clips
    assert table.schema.field("features.penultimate").type.list_size == 200
    for row, wanted in zip(table.to_pylist(), csv.DictReader(csv_file.open(encoding="utf-8"))):
        assert row["top_tags"] == wanted["top_tags"].split(";")
        assert [row[tag] for tag in MTT_LABELS] == [np.float32(wanted[tag]) for tag in MTT_LABELS]


def test_every_name_round_trips_exactly_even_one_that_looks_like_an_escape(tmp_path):
    names = ["a\\x80.mp3",  # a backslash, x, 8, 0: a name that is UTF-8
             os.fsdecode(b"a\x80.mp3"),  # byte 0x80, as os.listdir gives it
             "C:\\music\\x5c.mp3", "\\\\server\\share\\x.mp3", "ends in \\", os.fsdecode(b"\\\x80\\x80")]
    out = tmp_path / "tags.parquet"
    with writer(out) as results:
        for name in names:
            results.write(name, song(1))
    stored = paths_in(out)
    assert len(set(stored)) == len(names)
    assert stored[0] == "a\\x5cx80.mp3" and stored[1] == "a\\x80.mp3" and stored[3] == "\\\\server\\share\\x5cx.mp3"
    assert list(writer(out, resume=True).done) == names
