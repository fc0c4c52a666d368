"""Tagging on Ray Data in local mode: one row per file, error rows, the single-machine numbers, worker death."""

import csv
import os
import signal

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

import musicnn_lite.ray as musicnn_ray
from musicnn_lite import MusicnnError, Tagger, cli
from musicnn_lite.head_file import Head
from musicnn_lite.labels import MTT_LABELS

from conftest import cut_clips


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()
    _, alive = psutil.wait_procs(psutil.Process().children(recursive=True), timeout=30)
    assert not alive, f"Ray processes left running: {alive}"


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> dict:
    """A folder of three short clips and one corrupt file, with the single-machine results of the clips."""
    folder = tmp_path_factory.mktemp("music")
    clips = cut_clips(folder)
    (folder / "corrupt.mp3").write_bytes(b"\xff\xfb\x90\x00" + b"not audio" * 200)
    results = dict(Tagger("MTT_musicnn").tag_many([str(clip) for clip in clips], features=["penultimate"]))
    return {"folder": folder, "results": results, "corrupt": str(folder / "corrupt.mp3")}


def assert_rows_match_single_machine(rows: list[dict], music: dict, features=("penultimate",)) -> None:
    by_path = {row["path"]: row for row in rows}
    assert len(rows) == len(by_path) == len(music["results"]) + 1
    corrupt = by_path.pop(music["corrupt"])
    assert corrupt["status"] == "error" and corrupt["error"]
    assert corrupt["top_tags"] is None and all(corrupt[tag] is None for tag in MTT_LABELS)
    assert by_path.keys() == music["results"].keys()
    for path, result in music["results"].items():
        row = by_path[path]
        assert (row["model"], row["status"], row["error"]) == ("MTT_musicnn", "ok", None)
        assert list(row["top_tags"]) == result.top(3)
        np.testing.assert_allclose([row[tag] for tag in MTT_LABELS], result.likelihoods, rtol=0, atol=1e-4)
        for name in features:
            np.testing.assert_allclose(row[f"features.{name}"], result.features[name].mean(axis=0),
                                       rtol=0, atol=1e-4 * np.abs(result.features[name]).max())


def test_a_folder_gives_one_parquet_row_per_file_equal_to_the_single_machine_results(local_ray, music, tmp_path):
    rows = musicnn_ray.tag(music["folder"], features=["penultimate"], files_per_batch=1, concurrency=2)
    rows.write_parquet(str(tmp_path / "tags.parquet"))
    table = pq.read_table(tmp_path / "tags.parquet")
    assert table.schema.names == ["path", "model", "status", "error", "top_tags", "timestamps", *MTT_LABELS,
                                  "features.penultimate"]
    penultimate = table.schema.field("features.penultimate").type
    assert pa.types.is_fixed_size_list(penultimate)
    assert (penultimate.list_size, penultimate.value_type) == (200, pa.float32())
    assert all(table.schema.field(tag).type == pa.float32() for tag in MTT_LABELS)
    assert_rows_match_single_machine(table.to_pylist(), music)


def test_a_dataset_of_file_contents_gives_the_same_rows(local_ray, music):
    contents = ray.data.read_binary_files(str(music["folder"]), include_paths=True)
    rows = musicnn_ray.tag(contents, features=["penultimate"], concurrency=1).take_all()
    assert_rows_match_single_machine(rows, music)


def test_a_killed_actor_is_restarted_and_every_file_still_gets_exactly_one_row(local_ray, tmp_path):
    clips = cut_clips(tmp_path / "music", seconds=3, copies=2)
    rows = iter(musicnn_ray.tag(clips, files_per_batch=1, concurrency=1).iter_rows())
    first = next(rows)  # the actor is up, with more batches queued on it
    actor, = [process for process in psutil.Process().children(recursive=True)
              if "MapWorker(MapBatches(_TagBatches))" in " ".join(process.cmdline())]
    os.kill(actor.pid, signal.SIGKILL)
    rows = [first, *rows]
    assert sorted(row["path"] for row in rows) == sorted(str(clip) for clip in clips)
    assert {row["status"] for row in rows} == {"ok"}
    assert not actor.is_running()


def test_bad_options_and_datasets_are_refused_before_ray_runs(local_ray, music):
    with pytest.raises(MusicnnError, match="no feature 'nope'"):
        musicnn_ray.tag(music["folder"], features=["nope"])
    with pytest.raises(MusicnnError, match="top_n=0"):
        musicnn_ray.tag(music["folder"], top_n=0)
    with pytest.raises(MusicnnError, match="no 'path'"):
        musicnn_ray.tag(ray.data.from_items([{"file": "a.mp3"}]))
    actors = actor_processes()
    with pytest.raises(MusicnnError, match="the Dataset's 'path' column holds int64, not strings"):
        musicnn_ray.tag(ray.data.from_items([{"path": 1}]))
    with pytest.raises(MusicnnError, match="the Dataset's 'bytes' column holds string, not bytes"):
        musicnn_ray.tag(ray.data.from_items([{"path": "a.mp3", "bytes": "not bytes"}]))
    for options, message in [  # the local cluster has 2 CPUs and no GPU
        ({"concurrency": 0}, r"concurrency=0 must be a number of actors, at least 1, or a \(min, max\) range"),
        ({"concurrency": (2, 1)}, r"concurrency=\(2, 1\) must be a number of actors"),
        ({"concurrency": 1.5}, r"concurrency=1.5 must be"),
        ({"num_cpus": -1}, r"num_cpus=-1 must be a number of at least 0"),
        ({"num_gpus": 1.5}, r"num_gpus=1.5 must be"),
        ({"num_cpus": 3}, r"num_cpus=3: the largest node of the Ray cluster has 2 CPU, fewer than one actor needs"),
        ({"num_gpus": 1}, r"num_gpus=1: the largest node of the Ray cluster has 0 GPU"),
        ({"concurrency": 3}, r"concurrency=3: 3 actors of num_cpus=1 need 3 CPU in all, and the Ray cluster has 2"),
        ({"concurrency": (3, 4), "num_cpus": 0.5}, None),  # fits: 1.5 CPUs
    ]:
        if message is None:
            musicnn_ray.tag(music["folder"], **options)
        else:
            with pytest.raises(MusicnnError, match=message):
                musicnn_ray.tag(music["folder"], **options)
    assert actor_processes() <= actors  # no actor was started


def actor_processes() -> set[int]:
    """The process ids of the running tagging actors."""
    return {process.pid for process in psutil.Process().children(recursive=True)
            if "_TagBatches" in " ".join(process.cmdline())}


def test_a_dataset_row_without_a_path_is_an_error_row_and_one_without_bytes_is_read_from_its_path(local_ray, music):
    first, second = sorted(music["results"])[:2]
    rows = ray.data.from_items([{"path": first, "bytes": open(first, "rb").read()},
                                {"path": None, "bytes": open(second, "rb").read()},
                                {"path": second, "bytes": None}])
    by_path = {row["path"]: row for row in musicnn_ray.tag(rows, concurrency=1).take_all()}
    assert by_path.keys() == {first, "", second}
    assert by_path[""]["status"] == "error" and "this row of the Dataset has no path" in by_path[""]["error"]
    for path in (first, second):
        assert by_path[path]["status"] == "ok" and list(by_path[path]["top_tags"]) == music["results"][path].top(3)


def test_a_head_that_does_not_fit_the_model_is_one_line_on_ray_too(local_ray, music, tmp_path, capsys):
    rng = np.random.default_rng(0)  # 100 values per patch, where MTT_musicnn's penultimate has 200
    Head("mood", ("calm", "wild"), "MTT_musicnn", "penultimate", rng.normal(size=(100, 2)), np.zeros(2)).save(
        tmp_path / "mood.npz")
    assert cli.main([str(music["folder"]), "-o", str(tmp_path / "tags.parquet"), "--ray", "--head",
                     str(tmp_path / "mood.npz")]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: the head 'mood' reads 100 values per patch, but this penultimate has 200: it comes from another "
        "model than MTT_musicnn; train the head again on it"]


@pytest.mark.parametrize("given_by", ["--ray-address", "RAY_ADDRESS"])
def test_a_ray_address_that_is_not_one_or_does_not_answer_is_one_line_before_ray_starts(
        tmp_path, capsys, monkeypatch, given_by):
    song, output = str(cut_clips(tmp_path / "music", seconds=1)[0]), str(tmp_path / "tags.parquet")
    for address, status, message in [
        ("nonsense", 2, "argument --ray-address: 'nonsense' is not a Ray cluster address; give the head node's "
                        "host:port, e.g. 10.0.0.1:6379, or auto"),
        ("127.0.0.1:1", 1, "error: cannot reach a Ray cluster at 127.0.0.1:1 (GIVEN): Connection refused; check "
                           "that its head node runs (`ray start --head`) and that the address is its host:port"),
    ]:
        if given_by == "RAY_ADDRESS":
            monkeypatch.setenv("RAY_ADDRESS", address)
            status = 1
            message = message.replace("argument --ray-address: ", "error: RAY_ADDRESS: ")
        arguments = ["--ray-address", address] if given_by == "--ray-address" else ["--ray"]
        try:
            assert cli.main([song, "-o", output, *arguments]) == status
        except SystemExit as exit:
            assert exit.code == status
        error = capsys.readouterr().err.splitlines()[-1]
        assert message.replace("GIVEN", given_by) in error
        assert not os.path.exists(output)


def test_the_command_line_on_ray_writes_the_plain_command_lines_numbers_with_heads_and_resumes(
        local_ray, music, tmp_path, capsys):
    csv_file, parquet_file, head_file = tmp_path / "plain.csv", tmp_path / "ray.parquet", tmp_path / "mood.npz"
    rng = np.random.default_rng(0)
    Head("mood", ("calm", "wild"), "MTT_musicnn", "penultimate", rng.normal(size=(200, 2)), np.zeros(2)).save(head_file)
    head = ["--head", str(head_file)]
    assert cli.main([str(music["folder"]), "-o", str(csv_file), "--quiet", *head]) == 1
    plain = {row["path"]: row for row in csv.DictReader(csv_file.open(encoding="utf-8"))}
    first_two = sorted(music["results"])[:2]
    assert cli.main([*first_two, "-o", str(parquet_file), "--ray", *head]) == 0
    assert cli.main([str(music["folder"]), "-o", str(parquet_file), "--ray", "--resume", *head]) == 1
    assert "2 of 4 files are already in" in capsys.readouterr().err
    rows = pq.read_table(parquet_file).to_pylist()
    columns = [*MTT_LABELS, "mood:calm", "mood:wild"]
    assert list(rows[0])[-2:] == columns[-2:]
    assert sorted(row["path"] for row in rows) == sorted(plain)
    for row in rows:
        wanted = plain[row["path"]]
        assert row["status"] == wanted["status"] and (row["error"] or "") == wanted["error"]
        if row["status"] == "ok":
            assert ";".join(row["top_tags"]) == wanted["top_tags"]
            np.testing.assert_allclose([row[tag] for tag in columns], [float(wanted[tag]) for tag in columns],
                                       rtol=0, atol=1e-4)
    assert not (tmp_path / "ray.parquet.parts").exists()
