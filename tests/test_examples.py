"""The scripts in examples/, run as a user runs them, on the reference clips."""

import csv
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from conftest import CLIPS, golden

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = {"tag_song.py", "tag_folder_to_csv.py", "save_taggram.py", "similar_songs.py", "custom_tags.py"}
README_FIGURE_OPTIONS = ["--overlap", "1", "--tags", "12", "--top", "3"]  # how docs/taggram.png was drawn


def run_script(script: str, *args: str, cwd: Path) -> tuple[subprocess.CompletedProcess, Path]:
    """Run a script of the repository in `cwd`; return how it ended and `cwd`, where it wrote its files."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, str(REPO / script), *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)
    return done, cwd


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every script started at once, two at a time, each in a folder of its own: name -> Future of run_script.

    A run spends most of its time importing TensorFlow and building a model on one core,
    so two at a time use both cores of a small machine.
    """
    music = tmp_path_factory.mktemp("music")
    for clip in ("joram", "muddy"):
        shutil.copy(CLIPS[clip], music)
    (music / "broken.mp3").write_bytes(b"not audio")
    (music / "notes.txt").write_text("not a song")
    jobs = {"tag_song": ["examples/tag_song.py"],
            "tag_folder_to_csv": ["examples/tag_folder_to_csv.py", str(music), "--out", "tags.csv"],
            "save_taggram": ["examples/save_taggram.py", *README_FIGURE_OPTIONS, "--out", "taggram.png"],
            "similar_songs": ["examples/similar_songs.py"],
            "custom_tags": ["examples/custom_tags.py", "--out", "genre.npz"]}
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield {name: pool.submit(run_script, *args, cwd=tmp_path_factory.mktemp(name)) for name, args in jobs.items()}


def song_level(clip: str) -> dict[str, float]:
    """musicnn 0.1.0's song-level likelihood of each MTT_musicnn tag for a reference clip."""
    reference = golden(clip, "MTT_musicnn")
    return dict(zip(map(str, reference["tags"]), reference["taggram"].mean(axis=0).tolist()))


def test_every_example_is_run_by_a_test():
    assert {path.name for path in (REPO / "examples").glob("*.py")} == EXAMPLES


def test_tag_song_prints_the_top_tags_with_their_likelihoods(runs):
    done, _ = runs["tag_song"].result()
    assert done.returncode == 0, done.stderr
    expected = sorted(song_level("joram").items(), key=lambda item: -item[1])[:5]
    printed = [line.split(maxsplit=1) for line in done.stdout.splitlines()]
    assert [tag for _, tag in printed] == [tag for tag, _ in expected]
    np.testing.assert_allclose([float(value) for value, _ in printed], [value for _, value in expected], atol=1e-3)


def test_tag_folder_writes_a_csv_row_per_song_and_names_files_it_cannot_read(runs):
    done, folder = runs["tag_folder_to_csv"].result()
    assert done.returncode == 1
    assert "broken.mp3" in done.stderr and "notes.txt" not in done.stderr
    with open(folder / "tags.csv", newline="", encoding="utf-8") as file:
        header, *rows = list(csv.reader(file))
    assert header[:2] == ["file", "top_tags"] and len(header) == 52
    assert sorted(row[0] for row in rows) == sorted([CLIPS["joram"].name, CLIPS["muddy"].name])
    for clip in ("joram", "muddy"):
        row = next(row for row in rows if row[0] == CLIPS[clip].name)
        expected = song_level(clip)
        np.testing.assert_allclose([float(value) for value in row[2:]], [expected[tag] for tag in header[2:]],
                                   atol=1e-5)
        assert row[1].split(";") == sorted(expected, key=lambda tag: -expected[tag])[:3]


def test_save_taggram_redraws_the_readme_picture(runs):
    done, folder = runs["save_taggram"].result()
    assert done.returncode == 0, done.stderr
    drawn, committed = (matplotlib.image.imread(path) for path in (folder / "taggram.png", REPO / "docs/taggram.png"))
    assert drawn.shape == committed.shape
    # Identical where matplotlib renders the same; a changed picture (e.g. --overlap 1.5) differs by 0.012.
    assert np.abs(drawn - committed).mean() < 0.003


def test_similar_songs_ranks_the_electronic_song_before_the_blues_one(runs):
    done, _ = runs["similar_songs"].result()
    assert done.returncode == 0, done.stderr
    header, *lines = done.stdout.splitlines()
    assert CLIPS["joram"].name in header
    ranked = [line.split(maxsplit=1) for line in lines]
    assert [name for _, name in ranked] == [CLIPS["vibe_ace"].name, CLIPS["muddy"].name]
    similarities = [float(value) for value, _ in ranked]
    assert similarities == sorted(similarities, reverse=True) and all(-1 <= value <= 1 for value in similarities)


def test_custom_tags_learns_genres_and_tags_the_unheard_parts_with_them(runs):
    done, folder = runs["custom_tags"].result()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("cross-validated by song (3 folds, 9 songs): accuracy")
    tagged = dict(line.split(": ", 1) for line in done.stdout.splitlines()[5:])
    assert sorted(tagged) == ["blues.wav", "funk.wav", "techno.wav"]
    for name, tags in tagged.items():
        assert tags.startswith(f"genre:{name.removesuffix('.wav')} (model: ")
    assert (folder / "genre.npz").is_file()
