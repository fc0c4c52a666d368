"""The beets plugin, run through beets' own command line on a real library in a temporary folder."""

import base64
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from contextlib import closing
from pathlib import Path

import mediafile
import numpy as np
import pytest
import soundfile

import musicnn_lite
from musicnn_lite import Tagger, heads

from conftest import CLIPS, golden

REPO = Path(__file__).resolve().parent.parent
PART_SECONDS = 6  # the clips cut from the reference songs: two 3-s patches each


def beets_env(library: Path) -> dict[str, str]:
    """The environment of a `beet` command on the library whose config.yaml is in `library`."""
    return {**os.environ, "BEETSDIR": str(library), "PYTHONPATH": str(REPO)}


def beet(library: Path, *args: str, status: int = 0) -> subprocess.CompletedProcess:
    """Run `beet ARGS` on the library whose config.yaml is in `library`; check its exit status."""
    done = subprocess.run([sys.executable, "-m", "beets", *args], capture_output=True, text=True,
                          env=beets_env(library), timeout=600)
    assert done.returncode == status, done.stderr
    return done


def make_library(root: Path, songs: dict[str, Path], **musicnn_config) -> Path:
    """A beets library in `root` (its own config and SQLite database) with `songs` (title -> file) imported."""
    incoming = root / "incoming"
    incoming.mkdir(parents=True)
    for title, source in songs.items():
        path = incoming / f"{title}{source.suffix}"
        shutil.copy(source, path)
        song = mediafile.MediaFile(path)
        song.title = title
        song.save()
    settings = "".join(f"\n  {key}: {value}" for key, value in musicnn_config.items())
    (root / "config.yaml").write_text(f"directory: {root / 'music'}\nlibrary: {root / 'library.db'}\n"
                                      f"plugins: [musicnn]\nimport:\n  copy: no\n  write: no\n"
                                      f"musicnn:{settings or ' {}'}\n")
    beet(root, "import", "-A", "-q", str(incoming))  # as-is: no autotagger, no network
    return root


def part(clip: str, start: float, folder: Path) -> Path:
    """A PART_SECONDS-long flac cut from a reference clip at `start` seconds."""
    waveform, sr = soundfile.read(CLIPS[clip])
    path = folder / f"{clip}_{start:g}.flac"
    soundfile.write(path, waveform[int(start * sr):int((start + PART_SECONDS) * sr)], sr)
    return path


def corrupt(source: Path, folder: Path) -> Path:
    """A copy of a flac file whose audio frames are replaced by random bytes; its header still reads."""
    data = bytearray(source.read_bytes())
    data[4096:] = np.random.default_rng(0).integers(0, 256, len(data) - 4096, dtype=np.uint8).tobytes()
    path = folder / "corrupt.flac"
    path.write_bytes(data)
    return path


def titles(library: Path, *query: str) -> list[str]:
    """The titles of the items that `beet ls QUERY` lists."""
    return beet(library, "ls", "-f", "$title", *query).stdout.split()


def stored_fields(library: Path) -> dict[str, dict[str, str]]:
    """title -> the item's flexible attributes starting with musicnn, read from the SQLite database."""
    with closing(sqlite3.connect(library / "library.db")) as db:
        rows = db.execute("SELECT items.title, item_attributes.key, item_attributes.value FROM items "
                          "JOIN item_attributes ON item_attributes.entity_id = items.id "
                          "WHERE item_attributes.key LIKE 'musicnn%'").fetchall()
    fields = {}
    for title, key, value in rows:
        fields.setdefault(title, {})[key] = value
    return fields


def train_style_head(folder: Path) -> Path:
    """A head file, style.npz, telling 'electronic' (parts of joram) from 'blues' (parts of muddy)."""
    for tag, clip, starts in (("electronic", "joram", (0, 18)), ("blues", "muddy", (6, 18))):
        (folder / "examples" / tag).mkdir(parents=True)
        for start in starts:
            part(clip, start, folder / "examples" / tag)
    heads.train(folder / "examples", Tagger("MTT_musicnn"), feature="penultimate").save(folder / "style.npz")
    return folder / "style.npz"


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A library of a whole reference song, three parts of songs, a corrupt file and a deleted one, tagged
    once, with the 'style' head."""
    root = tmp_path_factory.mktemp("beets")
    parts = root / "parts"
    parts.mkdir()
    songs = {"joram": CLIPS["joram"], "joram_part": part("joram", 12, parts), "muddy_part": part("muddy", 0, parts),
             "vibe_part": part("vibe_ace", 20, parts), "gone": part("muddy", 12, parts)}
    songs["corrupt"] = corrupt(songs["vibe_part"], parts)
    make_library(root, songs, heads=f"[{train_style_head(root)}]")
    (root / "incoming" / "gone.flac").unlink()
    return root, beet(root, "musicnn")


def test_tagging_stores_the_golden_likelihoods_top_tags_model_and_version(library):
    root, _ = library
    expected = golden("joram", "MTT_musicnn")
    likelihoods = expected["taggram"].mean(axis=0)
    fields = stored_fields(root)["joram"]
    for tag, value in zip(expected["tags"], likelihoods):
        field = "musicnn_" + tag.replace(" ", "_")
        assert abs(float(fields[field]) - value) <= 1e-5, field
    assert fields["musicnn_top"] == ", ".join(expected["tags"][likelihoods.argsort()[-3:][::-1]])
    assert fields["musicnn_model"] == "MTT_musicnn"
    assert fields["musicnn_version"] == musicnn_lite.__version__
    assert len(np.frombuffer(base64.b64decode(fields["musicnn_penultimate"]), "<f4")) == 200


def test_stored_fields_answer_beets_queries(library):
    root, _ = library
    assert sorted(titles(root, "musicnn_top:techno")) == ["joram", "joram_part", "vibe_part"]
    assert sorted(titles(root, "musicnn_techno:0.5..")) == ["joram", "joram_part"]
    assert titles(root, "musicnn_techno:..0.1") == ["muddy_part"]
    assert beet(root, "ls", "-f", "$genres", "musicnn_top::.").stdout.split() == []  # write is off by default


def test_head_tags_are_stored_and_answer_queries(library):
    root, _ = library
    for title, fields in stored_fields(root).items():
        blues, electronic = float(fields["musicnn_style_blues"]), float(fields["musicnn_style_electronic"])
        assert abs(blues + electronic - 1) <= 1e-5, title  # a head picks one of its tags
        assert fields["musicnn_style"] == ("blues" if blues > electronic else "electronic")
    blues = titles(root, "musicnn_style:blues")
    assert "muddy_part" in blues and not {"joram", "joram_part"} & set(blues)
    assert sorted(titles(root, "musicnn_style_blues:0.5..")) == sorted(blues)
    assert {"joram", "joram_part"} <= set(titles(root, "musicnn_style:electronic"))

def test_undecodable_and_missing_files_are_logged_skipped_and_left_unchanged(library):
    root, run = library
    assert "musicnn: skipped: could not decode " in run.stderr and "corrupt.flac" in run.stderr
    assert f"musicnn: skipped: no such file: {root / 'incoming' / 'gone.flac'}" in run.stderr
    assert "tagged 4 of 6 items" in run.stderr
    assert sorted(stored_fields(root)) == ["joram", "joram_part", "muddy_part", "vibe_part"]


def test_similar_lists_the_rest_of_the_same_song_first(library):
    root, _ = library
    lines = beet(root, "musicnn-similar", "-f", "$title", "title:joram_part").stdout.splitlines()
    ranked = [line.split() for line in lines]
    assert ranked[0][1] == "joram"
    assert sorted(title for _, title in ranked) == ["joram", "muddy_part", "vibe_part"]
    similarities = [float(similarity) for similarity, _ in ranked]
    assert similarities == sorted(similarities, reverse=True) and -1 <= similarities[-1] <= similarities[0] <= 1


def test_second_run_changes_nothing_and_force_tags_again(library):
    root, _ = library
    before = stored_fields(root)
    again = beet(root, "musicnn")
    assert stored_fields(root) == before
    assert "tagged 0 of 2 items" in again.stderr  # only the two files that failed are tried again
    assert "nothing to tag" in beet(root, "musicnn", "title:=joram").stderr

    beet(root, "modify", "-y", "title:joram_part", "musicnn_top=stale")
    forced = beet(root, "musicnn", "--force", "title:joram_part")
    assert "tagged 1 of 1 items" in forced.stderr
    after = stored_fields(root)
    assert after["joram_part"]["musicnn_top"] == before["joram_part"]["musicnn_top"]
    assert after["joram_part"].keys() == before["joram_part"].keys()
    # Batched with other songs or alone, the network's sums differ in the last bits.
    assert abs(float(after["joram_part"]["musicnn_techno"]) - float(before["joram_part"]["musicnn_techno"])) < 1e-5


def test_write_sets_genres_from_the_top_tags_into_the_file(library):
    root, _ = library
    beet(root, "musicnn", "--force", "--write", "title:=joram")
    assert mediafile.MediaFile(root / "incoming" / "joram.mp3").genres == ["Techno", "Electronic"]
    assert titles(root, "genres:Techno") == ["joram"]


def test_tagging_does_not_start_tensorflow(library):
    root, _ = library
    code = ("import sys\nfrom beets.ui import main\nmain(['musicnn', '--force', 'title:joram_part'])\n"
            "print(sorted({'tensorflow', 'keras'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], env=beets_env(root), capture_output=True, text=True,
                          timeout=600)
    assert "tagged 1 of 1 items" in done.stderr
    assert done.stdout.strip() == "[]"

@pytest.mark.parametrize("setting, message", [
    ("model: MTT_banjo", "error: musicnn: unknown model 'MTT_banjo'"),
    ("model: 5", "error: musicnn: model=5 is not a model name or path"),
    ("tags: [techno, banjo]", "error: musicnn: tags: MTT_musicnn and its heads have no tag 'banjo'"),
    ("embedding: pool5", "error: musicnn: MTT_musicnn has no feature 'pool5'"),
    ("embedding: 5", "configuration error: musicnn.embedding: must be a string"),
    ("heads: [nowhere.npz]", "error: musicnn: heads: no such head file: "),
    ("heads: [5]", "configuration error: musicnn.heads#0: must be a filename"),
    ("heads: [TMP/deep.npz]", "error: musicnn: heads: TMP/deep.npz is not a valid head file (its header nests too"),
    ("heads: [TMP/top.npz]", "error: musicnn: two results would be stored as musicnn_top; rename the head file"),
    # 'sad', a tag of MSD_musicnn, not of MTT_musicnn: its field holds numbers, not the head's likeliest tag
    ("heads: [TMP/sad.npz]", "error: musicnn: musicnn_sad holds the likelihood of the tag 'sad', a number, so it "
                             "cannot hold text too; rename the head file"),
    ("batch_size: 100000", "error: musicnn: batch_size=100000 patches of 3 s"),
    ("write: yes\n  genres: {techno: 5}", "configuration error: musicnn.genres.techno: must be a string"),
])
def test_a_bad_setting_is_one_error_line_and_changes_nothing(library, tmp_path, setting, message):
    root, _ = library
    before = stored_fields(root)
    for name in ("top", "sad"):  # heads whose likeliest tag would go to musicnn_top, musicnn_sad
        shutil.copy(root / "style.npz", tmp_path / f"{name}.npz")
    with np.load(root / "style.npz") as style:
        np.savez(tmp_path / "deep.npz", header=np.array("[" * 100_000 + "]" * 100_000), weights=style["weights"],
                 bias=style["bias"])
    (tmp_path / "bad.yaml").write_text(f"musicnn:\n  {setting.replace('TMP', str(tmp_path))}\n")
    failed = beet(root, "-c", str(tmp_path / "bad.yaml"), "musicnn", "--force", status=1)
    assert failed.stderr.splitlines()[-1].startswith(message.replace("TMP", str(tmp_path)))
    assert "Traceback" not in failed.stderr
    assert stored_fields(root) == before
    listed = beet(root, "-c", str(tmp_path / "bad.yaml"), "ls")  # the plugin loads whatever the setting
    assert "Traceback" not in listed.stderr and len(listed.stdout.splitlines()) == 6


def test_a_bad_auto_setting_is_one_error_line_on_import_and_the_plugin_still_loads(tmp_path):
    root = make_library(tmp_path, {"vibe": part("vibe_ace", 0, tmp_path)})
    (tmp_path / "bad.yaml").write_text("musicnn:\n  auto: 5\n")
    assert "Traceback" not in beet(root, "-c", str(tmp_path / "bad.yaml"), "ls").stderr
    (tmp_path / "more").mkdir()
    shutil.copy(part("muddy", 0, tmp_path), tmp_path / "more" / "muddy.flac")
    failed = beet(root, "-c", str(tmp_path / "bad.yaml"), "import", "-A", "-q", "-s", str(tmp_path / "more"),
                  status=1)
    assert failed.stderr.splitlines()[-1] == "configuration error: musicnn.auto: must be a bool, not int"


def test_a_store_that_fails_part_way_leaves_the_item_to_tag_again(tmp_path):
    """A database error while an item's results are written (here: after 20 attributes) stops the run with one
    line, and the item is not taken for tagged (musicnn_top is written last), for a first tagging and a forced one."""
    root = make_library(tmp_path, {"vibe": part("vibe_ace", 0, tmp_path)})
    failing = ("import sqlite3, sys\nfrom beets.dbcore import db\nfrom beets.ui import main\n"
               "mutate, written = db.Transaction.mutate, []\n"
               "def failing(self, statement, values=()):\n"
               "    if statement.startswith('INSERT') and str(values[1]).startswith('musicnn'):\n"
               "        written.append(values[1])\n"
               "        if len(written) > 20:\n"
               "            raise sqlite3.OperationalError('disk I/O error')\n"
               "    return mutate(self, statement, values)\n"
               "db.Transaction.mutate = failing\nmain(sys.argv[1:])\n")
    for force in ([], ["--force"]):
        done = subprocess.run([sys.executable, "-c", failing, "musicnn", *force], env=beets_env(root),
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert done.stderr.splitlines()[-1].startswith(
            f"error: musicnn: cannot store the results of {root / 'incoming' / 'vibe.flac'} in the library (disk "
            "I/O error); the 0 items stored before it are kept: run `beet musicnn` again once that is mended")
        fields = stored_fields(root)["vibe"]
        assert "musicnn_top" not in fields and len(fields) >= 20
        assert "tagged 1 of 1 items" in beet(root, "musicnn").stderr  # not skipped as tagged
        assert len(stored_fields(root)["vibe"]) == 54  # 50 tags, top, model, version, embedding


def test_a_head_of_tag_folders_whose_names_are_not_utf8_stores_them_with_their_bytes_as_xNN(tmp_path):
    head = train_style_head(tmp_path)  # tags blues and electronic; electronic's folder renamed to Latin-1
    os.rename(tmp_path / "examples" / "electronic", os.fsdecode(bytes(tmp_path) + b"/examples/electr\xf3nica"))
    heads.train(tmp_path / "examples", Tagger("MTT_musicnn"), feature="penultimate").save(head)
    songs = {"joram": part("joram", 0, tmp_path), "muddy": part("muddy", 0, tmp_path)}
    root = make_library(tmp_path / "library", songs, heads=f"[{head}]")
    beet(root, "musicnn")
    fields = stored_fields(root)
    assert (fields["joram"]["musicnn_style"], fields["muddy"]["musicnn_style"]) == ("electr\\xf3nica", "blues")
    assert titles(root, "musicnn_style_electr_xf3nica:0.5..") == ["joram"]


def test_an_interrupted_run_keeps_the_items_it_tagged(tmp_path):
    songs = {f"song{index}": CLIPS["vibe_ace"] for index in range(8)}  # 61 s each, about 0.3 s of work
    root = make_library(tmp_path, songs)
    run = subprocess.Popen([sys.executable, "-m", "beets", "musicnn"], env=beets_env(root), stderr=subprocess.PIPE,
                           text=True)
    while not stored_fields(root) and run.poll() is None:
        time.sleep(0.02)
    run.send_signal(signal.SIGINT)  # Ctrl-C, once the first item is in the database
    run.communicate(timeout=120)
    kept = len(stored_fields(root))
    assert 1 <= kept < len(songs)
    assert f"tagged {len(songs) - kept} of {len(songs) - kept} items" in beet(root, "musicnn").stderr
    assert len(stored_fields(root)) == len(songs)


def test_auto_tags_songs_on_import(tmp_path):
    root = make_library(tmp_path, {"vibe": part("vibe_ace", 0, tmp_path)}, auto="yes")
    assert stored_fields(root)["vibe"]["musicnn_model"] == "MTT_musicnn"


def test_wheel_installs_the_plugin_into_the_beetsplug_namespace(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(REPO)], check=True, cwd=tmp_path)
    wheel, = tmp_path.glob("musicnn_lite-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "beetsplug/musicnn.py" in names
    assert "beetsplug/__init__.py" not in names  # it would hide beets' own plugins


def test_a_survey_model_tags_the_library_with_its_own_vocabulary(tmp_path):
    root = make_library(tmp_path, {"vibe": part("vibe_ace", 20, tmp_path)}, model="Jamendo_musicnn")
    beet(root, "musicnn")
    fields = stored_fields(root)["vibe"]
    assert fields["musicnn_model"] == "Jamendo_musicnn"
    assert 0 <= float(fields["musicnn_mood_theme_happy"]) <= 1 and "musicnn_techno" not in fields
    assert len(fields["musicnn_top"].split(", ")) == 3
    assert titles(root, "musicnn_mood_theme_happy:0..1") == ["vibe"]  # typed as a number: range queries work
