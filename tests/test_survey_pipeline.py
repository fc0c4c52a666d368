"""Everything works with the survey's models: the API, the command line and its result files, heads,
plots, Ray and beets, on one model of each patch length (Jamendo_musicnn: 3 s; MTT_fcn: 29 s)."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from musicnn_lite import MusicnnError, Tagger, extractor, heads, plots, top_tags
from musicnn_lite.labels import JAMENDO_LABELS

from conftest import CLIPS, cut_clips, golden, run_cli


@pytest.fixture(scope="module")
def jamendo():
    return Tagger("Jamendo_musicnn")


def test_extractor_gives_the_models_tags_taggram_and_penultimate():
    taggram, tags, features = extractor(CLIPS["vibe_ace"], model="Jamendo_musicnn")
    expected = golden("vibe_ace", "Jamendo_musicnn")
    assert tags == list(JAMENDO_LABELS) == expected["labels"].tolist()
    assert taggram.shape == expected["taggram"].shape == (20, 50)  # 61.5 s in 3-s chunks
    assert features["penultimate"].shape == (20, 200)
    assert top_tags(CLIPS["vibe_ace"], model="Jamendo_musicnn", print_tags=False) == \
        [tags[i] for i in expected["taggram"].mean(axis=0).argsort()[-3:][::-1]]


def test_chunks_start_every_overlap_step_in_seconds(jamendo):
    result = jamendo.tag(CLIPS["joram"], input_overlap=1.5)
    assert len(result.taggram) == int((29.3 - 3) / 1.5) + 1
    np.testing.assert_allclose(result.timestamps, 1.5 * np.arange(len(result.taggram)))
    assert result.patch_seconds == 3


def test_a_29_s_model_takes_its_chunk_only_and_steps_by_the_overlap(clips):
    fcn = Tagger("MTT_fcn")
    result = fcn.tag(clips["vibe_ace"], input_overlap=10)
    np.testing.assert_allclose(result.timestamps, [0, 10, 20, 30])  # 61.5 s: chunks of 29 s every 10 s
    assert result.patch_seconds == 29 and fcn.tag(clips["vibe_ace"]).taggram.shape == (2, 50)
    with pytest.raises(MusicnnError, match="MTT_fcn takes 29-s patches only"):
        fcn.tag(clips["vibe_ace"], input_length=3)


def test_the_taggram_plot_spans_the_models_chunks(clips):
    import matplotlib

    matplotlib.use("Agg")
    result = Tagger("MTT_fcn").tag(clips["vibe_ace"], input_overlap=10)
    ax = plots.plot_taggram(result.taggram, result.tags, timestamps=result.timestamps,
                            patch_seconds=result.patch_seconds)
    assert ax.get_xlim() == pytest.approx((0, 30 + 29))


def test_every_result_file_holds_the_models_records(tmp_path):
    music = cut_clips(tmp_path / "music", seconds=7)
    for suffix in (".csv", ".jsonl", ".npz", ".parquet"):
        features = [] if suffix == ".csv" else ["--features", "penultimate"]
        done = run_cli(str(tmp_path / "music"), "--model", "Jamendo_musicnn", "--overlap", "2", "-o",
                       str(tmp_path / f"tags{suffix}"), "--quiet", *features)
        assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (tmp_path / "tags.jsonl").read_text().splitlines()]
    assert len(records) == len(music) and all(record["model"] == "Jamendo_musicnn" for record in records)
    assert set(records[0]["likelihoods"]) == set(JAMENDO_LABELS) and len(records[0]["features"]["penultimate"]) == 200
    assert records[0]["timestamps"] == [0.0, 2.0, 4.0]  # 7 s: 3-s chunks at 0, 2 and 4 s
    table = pq.read_table(tmp_path / "tags.parquet")
    assert table.num_rows == len(music) and "mood/theme---happy" in table.column_names
    with np.load(tmp_path / "tags.npz") as npz:
        assert npz["0/taggram"].shape == (3, 50) and npz["0/penultimate"].shape == (3, 200)
    assert (tmp_path / "tags.csv").read_text().splitlines()[0].endswith("mood/theme---relaxing")


def test_a_head_trains_on_the_models_penultimate_and_tags_with_it(tmp_path, jamendo):
    for tag, clip in (("electronic", "joram"), ("blues", "muddy")):
        cut_clips(tmp_path / "parts")  # the three clips' first 4 s; two of them are examples
        (tmp_path / "examples" / tag).mkdir(parents=True)
        (tmp_path / "parts" / f"{clip}-0.wav").rename(tmp_path / "examples" / tag / f"{clip}.wav")
    head = heads.train(tmp_path / "examples", jamendo, feature="penultimate")
    assert (head.model, head.feature, head.weights.shape) == ("Jamendo_musicnn", "penultimate", (200, 2))
    result = Tagger("Jamendo_musicnn", heads=[head]).tag(tmp_path / "examples" / "blues" / "muddy.wav")
    assert result.tags[-2:] == ["examples:blues", "examples:electronic"] and result.top_head_tags()


def test_ray_rows_equal_the_single_machine_results(tmp_path, jamendo):
    ray = pytest.importorskip("ray")
    import musicnn_lite.ray

    music = cut_clips(tmp_path / "music", seconds=4)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rows = musicnn_lite.ray.tag(str(tmp_path / "music"), model="Jamendo_musicnn").take_all()
    finally:
        ray.shutdown()
    expected = {str(path): jamendo.tag(path).likelihoods for path in music}
    assert len(rows) == len(music)
    for row in rows:
        got = np.array([row[tag] for tag in JAMENDO_LABELS])
        np.testing.assert_allclose(got, expected[row["path"]], atol=1e-6)
