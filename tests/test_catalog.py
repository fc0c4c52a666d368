"""The catalog behind /v1/similar and /v1/search: the same songs from each result format the CLI writes."""

import json
import os

import numpy as np
import pytest

from musicnn_lite import MusicnnError, Tagger, cli

from conftest import cut_clips

pytest.importorskip("starlette", reason="the service needs the serve extra: pip install '.[serve]'")
from musicnn_lite.service.catalog import Songs, read_catalog


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("catalog")
    clips = cut_clips(folder / "clips", seconds=7)
    written = {}
    for suffix in (".jsonl", ".parquet", ".npz"):
        written[suffix] = folder / f"tags{suffix}"
        args = [str(folder / "clips"), "-o", str(written[suffix]), "--features", "penultimate", "--quiet"]
        assert cli.main(args) == 0
    return clips, written


def test_every_format_gives_the_songs_of_tagger_tag(results):
    clips, written = results
    tagger = Tagger("MTT_musicnn")
    expected = {str(clip): tagger.tag(clip, features=["penultimate"]) for clip in clips}
    for suffix, path in written.items():
        songs = read_catalog(path)
        assert songs.model == "MTT_musicnn" and songs.feature == "penultimate", suffix
        assert sorted(songs.paths) == sorted(expected) and songs.tags == tagger.tags
        for row, song in enumerate(songs.paths):
            np.testing.assert_allclose(songs.likelihoods[row], expected[song].likelihoods, atol=1e-6)
            embedding = expected[song].features["penultimate"].mean(axis=0)
            np.testing.assert_allclose(songs.embeddings[row], embedding / np.linalg.norm(embedding), atol=1e-6)


def test_a_name_that_is_not_utf8_is_the_same_text_from_every_format(tmp_path, results):
    clips, _ = results
    folder = tmp_path / "music"
    folder.mkdir()
    (folder / os.fsdecode(b"caf\xe9.wav")).write_bytes(clips[0].read_bytes())
    for suffix in (".jsonl", ".parquet", ".npz"):
        out = tmp_path / f"tags{suffix}"
        assert cli.main([str(folder), "-o", str(out), "--features", "penultimate", "--quiet"]) == 0
        songs = read_catalog(out)
        assert songs.paths == [f"{folder}/caf\\xe9.wav"], suffix
        json.dumps(songs.paths, ensure_ascii=False).encode("utf-8")  # what an answer of the service holds


def test_results_without_embeddings_or_of_another_kind_are_refused(tmp_path, results):
    clips, _ = results
    plain = tmp_path / "plain.jsonl"
    assert cli.main([str(clips[0]), "-o", str(plain), "--quiet"]) == 0
    with pytest.raises(MusicnnError, match="has no song embeddings; write it with --features penultimate"):
        read_catalog(plain)
    two = tmp_path / "two.npz"
    assert cli.main([str(clips[0]), "-o", str(two), "--features", "max_pool", "cnn1", "--quiet"]) == 0
    with pytest.raises(MusicnnError, match="has only the features max_pool, cnn1"):
        read_catalog(two)
    (tmp_path / "tags.csv").write_text("path\n")
    with pytest.raises(MusicnnError, match="a .parquet, .jsonl or .npz result file"):
        read_catalog(tmp_path / "tags.csv")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(MusicnnError, match="cannot read the catalog"):
        read_catalog(tmp_path / "broken.npz")


def test_similar_and_search_rank_by_cosine_and_by_likelihood():
    embeddings = np.array([[1, 0], [0.8, 0.6], [0, 1], [-1, 0]], np.float32)
    songs = Songs("m", ["a", "b", "c", "d"], ["x", "y"], np.array([[0.9, 0], [0.2, 0], [0.6, 0], [0.6, 0]],
                  np.float32), "penultimate", embeddings)
    assert [path for path, _ in songs.similar(np.array([2.0, 0.0]), 2)] == ["a", "b"]
    assert songs.similar(np.array([1.0, 0.0]), 10, leave_out=0) == [("b", pytest.approx(0.8)), ("c", 0.0),
                                                                     ("d", -1.0)]
    total, found = songs.search("x", 0.5, 2)
    assert total == 3 and found == [("a", pytest.approx(0.9)), ("c", pytest.approx(0.6))]  # ties in file order
