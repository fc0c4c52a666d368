"""Custom-tag heads: trained on the first part of each reference clip, checked on the rest."""

import csv
import hashlib
import io
import json
import os
import shutil
import stat
import sys
import zipfile

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import soundfile

from musicnn_lite import MusicnnError, Tagger, head_file, head_training, heads, plots, top_tags
from musicnn_lite.audio import SAMPLE_RATE, load_audio
from musicnn_lite.cli import main as tag_main
from musicnn_lite.results import open_writer
from musicnn_lite.train import main as train_main
from musicnn_lite.zoo import WEIGHTS_DIR

from conftest import CLIPS

TAGS = {"techno": "joram", "blues": "muddy", "funk": "vibe_ace"}  # tag -> reference clip
EXCERPT, TRAINED, HELD_OUT = 6, 3, (18, 27)  # seconds; excerpts per tag; held-out span (s)


def write_excerpt(path, audio, start, stop):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, audio[int(start * SAMPLE_RATE):int(stop * SAMPLE_RATE)], SAMPLE_RATE)
    return path


@pytest.fixture(scope="module")
def audio():
    return {tag: load_audio(CLIPS[clip]) for tag, clip in TAGS.items()}


@pytest.fixture(scope="module")
def examples(tmp_path_factory, audio):
    """examples/TAG/: three 6-s excerpts from the clip's first 18 s, as wav, flac and ogg, one in a subfolder."""
    folder = tmp_path_factory.mktemp("examples")
    for tag, waveform in audio.items():
        for i, name in enumerate(["a.wav", "b.flac", "nested/c.ogg"][:TRAINED]):
            write_excerpt(folder / tag / name, waveform, i * EXCERPT, (i + 1) * EXCERPT)
    return folder


@pytest.fixture(scope="module")
def tagger():
    return Tagger("MSD_musicnn")


@pytest.fixture(scope="module")
def head(examples, tagger):
    return heads.train(examples, tagger)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory, audio):
    """held_out/TAG.wav: seconds 18 to 27 of each clip (3 patches), which training never saw."""
    folder = tmp_path_factory.mktemp("held_out")
    return [write_excerpt(folder / f"{tag}.wav", audio[tag], *HELD_OUT) for tag in sorted(TAGS)]


@pytest.fixture(scope="module")
def head_files(head, tmp_path_factory):
    """The head saved as genre.npz, and a copy as style.npz: two heads."""
    folder = tmp_path_factory.mktemp("heads")
    head.save(folder / "genre.npz")
    shutil.copy(folder / "genre.npz", folder / "style.npz")
    return [folder / "genre.npz", folder / "style.npz"]


@pytest.fixture(scope="module")
def head_tagger(head_files):
    return Tagger("MSD_musicnn", heads=head_files)


def test_head_tags_held_out_excerpts_right(head, tagger, held_out):
    for path, result in tagger.tag_many(held_out, features=[head.feature]):
        patch_scores = head.patch_scores(result.features[head.feature])
        assert patch_scores.shape == (3, 3)
        np.testing.assert_allclose(patch_scores.sum(axis=1), 1, rtol=1e-6)
        song_scores = head.song_scores(result.features[head.feature])
        np.testing.assert_allclose(song_scores, patch_scores.mean(axis=0))
        assert head.tags[song_scores.argmax()] == path.stem
        assert song_scores.max() > 0.6


def test_head_records_base_model_and_examples(head):
    assert (head.model, head.feature, head.tags) == ("MSD_musicnn", "max_pool", ("blues", "funk", "techno"))
    assert head.weights.shape == (753, 3) and head.bias.shape == (3,)
    assert head.info["songs_per_tag"] == {"blues": 3, "funk": 3, "techno": 3}
    assert head.info["files_skipped"] == 0 and head.skipped == ()


def test_cross_validation_is_reported_by_song(head):
    cv = head.info["cross_validation"]
    assert (cv["folds"], cv["songs"]) == (3, 9)
    assert cv["accuracy"] >= 8 / 9
    for tag in head.tags:
        assert cv["per_tag"][tag]["precision"] >= 0.75 and cv["per_tag"][tag]["recall"] >= 2 / 3
    report = head.report().splitlines()
    assert report[0].startswith("cross-validated by song (3 folds, 9 songs): accuracy")
    assert [line.split()[:2] for line in report[2:]] == [[tag, "3"] for tag in head.tags]


def test_cross_validation_keeps_each_song_on_one_side_of_a_fold():
    # Each song's patches lie close together, and tags are given to songs at random: only a
    # fold that splits a song's patches could predict them (accuracy near 1); grouped, it is chance.
    rng = np.random.default_rng(0)
    songs = [(i % 2, rng.normal(0, 1, 32) + rng.normal(0, 0.01, (6, 32))) for i in range(20)]
    assert head_training._cross_validate(songs, ["a", "b"])["accuracy"] < 0.75


def test_head_file_round_trip(head, tmp_path):
    head.save(tmp_path / "genre.npz")
    loaded = heads.load(tmp_path / "genre.npz")
    assert loaded.name == "genre"
    assert (loaded.tags, loaded.model, loaded.feature) == (head.tags, head.model, head.feature)
    np.testing.assert_array_equal(loaded.weights, head.weights)
    np.testing.assert_array_equal(loaded.bias, head.bias)
    assert loaded.info == head.info
    assert loaded.info["library_version"] and loaded.info["patch_step"] == 3.0


def _rewrite_header(path, **changes):
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    header = json.loads(str(arrays["header"]))
    arrays["header"] = np.array(json.dumps({**header, **changes}))
    np.savez(path, **arrays)


def test_head_file_of_newer_format_is_refused(head, tmp_path):
    path = tmp_path / "mood.npz"
    head.save(path)
    _rewrite_header(path, format_version=head_file.FORMAT_VERSION + 1)
    with pytest.raises(MusicnnError, match="newer musicnn_lite.*upgrade"):
        heads.load(path)


@pytest.mark.parametrize("damage", ["random bytes", "cut", "pickled object", "no header", "wrong shape", "huge array",
                                    "a .npy file"])
def test_corrupt_head_file_is_refused(head, tmp_path, damage):
    path = tmp_path / "mood.npz"
    head.save(path)
    if damage == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(2000))
    elif damage == "cut":
        path.write_bytes(path.read_bytes()[:1500])
    elif damage == "pickled object":
        np.savez(path, header=np.array([{"tags": ["a", "b"]}], dtype=object), weights=head.weights, bias=head.bias)
    elif damage == "no header":
        np.savez(path, weights=head.weights, bias=head.bias)
    elif damage == "wrong shape":
        _rewrite_header(path, tags=["a", "b"])
    elif damage == "huge array":  # the .npy header of weights declares 12 TB; the file holds 12 bytes
        with np.load(path) as archive:
            members = {f"{name}.npy": archive.zip.read(f"{name}.npy") for name in ("header", "bias")}
        huge = io.BytesIO()
        np.lib.format.write_array_header_1_0(huge, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 12, 3)})
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in {**members, "weights.npy": huge.getvalue() + bytes(12)}.items():
                archive.writestr(name, data)
    else:
        with open(path, "wb") as file:
            np.save(file, head.weights)
    with pytest.raises(MusicnnError, match="not a valid head file"):
        heads.load(path)


def test_missing_head_file_is_an_error(tmp_path):
    with pytest.raises(MusicnnError, match="no such head file"):
        heads.load(tmp_path / "nothing.npz")


def test_fewer_than_two_tags_is_an_error(tmp_path, audio, tagger):
    write_excerpt(tmp_path / "techno" / "a.wav", audio["techno"], 0, 3)
    with pytest.raises(MusicnnError, match="holds 1 tag folder; a head needs at least two"):
        heads.train(tmp_path, tagger)


def test_tag_folder_without_audio_files_is_an_error(tmp_path, audio, tagger):
    write_excerpt(tmp_path / "techno" / "a.wav", audio["techno"], 0, 3)
    (tmp_path / "blues").mkdir()
    (tmp_path / "blues" / "notes.txt").write_text("no audio here")
    with pytest.raises(MusicnnError, match="tag 'blues'.*holds no audio files"):
        heads.train(tmp_path, tagger)


def test_tag_folder_without_readable_audio_is_an_error(tmp_path, audio, tagger):
    write_excerpt(tmp_path / "techno" / "a.wav", audio["techno"], 0, 3)
    (tmp_path / "blues").mkdir()
    (tmp_path / "blues" / "broken.mp3").write_bytes(b"not audio" * 100)
    with pytest.raises(MusicnnError, match="no readable audio in the folder of tag 'blues'.*broken.mp3"):
        heads.train(tmp_path, tagger)


def test_unreadable_files_are_skipped_and_few_songs_train_unmeasured(tmp_path, audio, tagger, capsys, monkeypatch):
    write_excerpt(tmp_path / "techno" / "a.wav", audio["techno"], 0, 3)
    for i in range(2):
        write_excerpt(tmp_path / "blues" / f"{i}.wav", audio["blues"], 3 * i, 3 * i + 3)
    (tmp_path / "blues" / "broken.ogg").write_bytes(b"not audio" * 100)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    head = heads.train(tmp_path, tagger, progress=True)
    progress = capsys.readouterr().err
    assert "skipped: could not decode" in progress and "broken.ogg" in progress
    assert "4/4" in progress and "audio-s/s" in progress  # the tagging command's bar
    assert head.info["songs_per_tag"] == {"blues": 2, "techno": 1}
    assert head.info["files_skipped"] == 1 and head.skipped[0][0].endswith("broken.ogg")
    assert head.info["cross_validation"]["folds"] == 0
    assert head.report() == ("not cross-validated: tag 'techno' has 1 song; cross-validation needs at least "
                             "2 songs per tag (5 or more for 5 folds)")
    assert head.weights.shape == (753, 2)


def test_train_command_writes_a_head_and_prints_the_table(examples, tmp_path, capsys):
    assert train_main([str(examples), "-o", str(tmp_path / "genre.npz"), "--overlap", "1.5", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "cross-validated by song (3 folds, 9 songs)" in out and "wrote" in out
    head = heads.load(tmp_path / "genre.npz")
    assert head.tags == ("blues", "funk", "techno") and head.info["patch_step"] == 1.5


def test_train_command_refuses_an_output_it_cannot_write(examples, tmp_path, capsys):
    assert train_main([str(examples), "-o", str(tmp_path / "missing" / "genre.npz")]) == 1
    assert "cannot write the head file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main([str(examples), "-o", str(tmp_path / "genre.csv")])
    assert "name the head file .npz" in capsys.readouterr().err


def test_saving_into_a_missing_folder_is_an_error(head, tmp_path):
    with pytest.raises(MusicnnError, match="cannot write the head file"):
        head.save(tmp_path / "missing" / "mood.npz")


def test_tagger_with_heads_adds_their_tags_after_the_models(head_tagger, tagger, held_out):
    head_tags = ["genre:blues", "genre:funk", "genre:techno", "style:blues", "style:funk", "style:techno"]
    assert head_tagger.tags == tagger.labels + head_tags
    plain = dict(tagger.tag_many(held_out))
    for path, result in head_tagger.tag_many(held_out):
        assert result.tags == head_tagger.tags and result.taggram.shape == (3, 56)
        assert result.features == {}  # the heads' feature is computed for them, not returned
        np.testing.assert_allclose(result.taggram[:, :50], plain[path].taggram, atol=1e-6)
        assert result.top(3) == plain[path].top(3)
        np.testing.assert_allclose(result.taggram[:, 50:53].sum(axis=1), 1, rtol=1e-6)
        assert result.top_head_tags() == [f"genre:{path.stem}", f"style:{path.stem}"]


def test_network_runs_once_per_patch_whatever_the_number_of_heads(head_tagger, held_out, monkeypatch):
    patches_run = []
    run_batch = head_tagger._run_batch
    monkeypatch.setattr(head_tagger, "_run_batch",
                        lambda patches, names: patches_run.append(len(patches)) or run_batch(patches, names))
    head_tagger.tag(held_out[0])
    assert sum(patches_run) == 3


def test_head_of_another_base_model_or_feature_is_refused(head, head_files):
    with pytest.raises(MusicnnError, match="trained on MSD_musicnn's max_pool embeddings, not on MTT_musicnn's"):
        Tagger("MTT_musicnn", heads=head_files[:1])
    with pytest.raises(MusicnnError, match="trained on MSD_musicnn's max_pool"):
        Tagger("MSD_vgg", heads=[head])
    with pytest.raises(MusicnnError, match="reads 753 values per patch, but this max_pool has 500"):
        head.patch_scores(np.zeros((2, 500), np.float32))
    narrow = head_file.Head("narrow", head.tags, "MSD_musicnn", "max_pool", head.weights[:500], head.bias)
    with pytest.raises(MusicnnError, match="'narrow' reads 500 values per patch, but this max_pool has 753"):
        Tagger("MSD_musicnn", heads=[narrow])  # found when the Tagger is built, before any song is read


def test_two_heads_of_one_name_are_refused(head_files):
    with pytest.raises(MusicnnError, match="two heads are named 'genre'"):
        Tagger("MSD_musicnn", heads=[head_files[0], head_files[0]])


def _user_weights(folder, bundled):
    """A user's weights file folder/mine.npz (with its ONNX graph): a copy of a bundled model's."""
    folder.mkdir()
    for suffix in (".npz", ".onnx"):
        shutil.copy(WEIGHTS_DIR / f"{bundled}{suffix}", folder / f"mine{suffix}")
    return folder / "mine.npz"


def test_a_head_on_a_weights_file_records_its_digest_and_fits_that_file_only(tmp_path, audio, held_out, capsys):
    mine, other = _user_weights(tmp_path / "a", "MTT_musicnn"), _user_weights(tmp_path / "b", "MSD_musicnn")
    for tag in ("techno", "blues"):
        write_excerpt(tmp_path / "examples" / tag / "a.wav", audio[tag], 0, 3)
    heads.train(tmp_path / "examples", Tagger(mine), feature="penultimate").save(tmp_path / "style.npz")
    head = heads.load(tmp_path / "style.npz")
    assert (head.model, head.model_sha256) == ("mine", hashlib.sha256(mine.read_bytes()).hexdigest())
    assert Tagger(mine, heads=[head]).tags[-2:] == ["style:blues", "style:techno"]
    with pytest.raises(MusicnnError, match=r"trained on the weights file mine \(sha256 [0-9a-f]{12}\.\.\.\), "
                                           r"not on the weights file mine \(sha256 [0-9a-f]{12}"):
        Tagger(other, heads=[head])  # same name, other weights
    with pytest.raises(MusicnnError, match="trained on mine's penultimate embeddings, not on MTT_musicnn's"):
        Tagger("MTT_musicnn", heads=[head])
    song = str(held_out[0])
    assert tag_main([song, "--head", str(tmp_path / "style.npz")]) == 1  # the model is not known by its name
    assert capsys.readouterr().err.splitlines() == [
        f"error: the head 'style' was trained on the weights file mine (sha256 {head.model_sha256[:12]}...), not on "
        "a bundled model: give that file as the model (--model PATH/mine.npz, Tagger(model=PATH))"]
    assert tag_main([song, "--head", str(tmp_path / "style.npz"), "--model", str(mine)]) == 0


def test_a_head_on_a_bundled_model_fits_it_and_copies_of_its_file_but_no_other_file_of_its_name(head, tmp_path):
    assert head.model_sha256 is None  # the bundled model's name says which weights
    copy = _user_weights(tmp_path / "copy", "MSD_musicnn").rename(tmp_path / "copy" / "MSD_musicnn.npz")
    assert Tagger(copy, heads=[head]).model_sha256 is None  # the very weights of the bundled model
    np.savez(tmp_path / "MSD_musicnn.npz", **{**dict(np.load(copy)), "logits/bias": np.ones(50, np.float32)})
    with pytest.raises(MusicnnError, match="trained on the bundled MSD_musicnn, not on the weights file MSD_musicnn"):
        Tagger(tmp_path / "MSD_musicnn.npz", heads=[head])


def test_a_deeply_nested_header_is_a_corrupt_head_file(head, tmp_path):
    path = tmp_path / "deep.npz"
    head.save(path)
    np.savez(path, header=np.array("[" * 100_000 + "]" * 100_000), weights=head.weights, bias=head.bias)
    with pytest.raises(MusicnnError, match="deep.npz is not a valid head file .its header nests too deeply"):
        heads.load(path)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_head_file_is_written_with_the_permissions_the_umask_leaves(head, tmp_path, umask):
    old = os.umask(umask)
    try:
        head.save(tmp_path / "mood.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "mood.npz").stat().st_mode) == 0o666 & ~umask


def test_ctrl_c_during_training_is_one_line_exit_130_and_writes_nothing(examples, tmp_path, capsys, monkeypatch):
    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt
        yield

    monkeypatch.setattr(Tagger, "tag_many", interrupted)
    assert train_main([str(examples), "-o", str(tmp_path / "genre.npz"), "--quiet"]) == 130
    assert capsys.readouterr().err.splitlines() == [f"interrupted: {tmp_path / 'genre.npz'} was not written"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".npz", ".parquet"])
def test_names_that_are_not_utf8_become_tags_and_head_names_with_their_bytes_as_xNN(
        tmp_path, audio, held_out, tagger, suffix):
    examples = tmp_path / "examples"
    write_excerpt(examples / "blues" / "a.wav", audio["blues"], 0, 3)
    write_excerpt(examples / "techno" / "a.wav", audio["techno"], 0, 3)
    os.rename(examples / "techno", os.fsdecode(bytes(examples) + b"/electr\xf3nica"))  # a Latin-1 name
    head_path = os.fsdecode(bytes(tmp_path) + b"/g\xe9nero.npz")
    heads.train(examples, tagger).save(head_path)
    head = heads.load(head_path)
    assert (head.name, head.tags) == ("g\\xe9nero", ("blues", "electr\\xf3nica"))
    head_tagger = Tagger("MSD_musicnn", heads=[head])
    output = tmp_path / f"tags{suffix}"
    assert tag_main([str(held_out[0]), "-o", str(output), "-q", "--head", head_path]) == 0
    columns = head_tagger.tags[-2:]
    assert columns == ["g\\xe9nero:blues", "g\\xe9nero:electr\\xf3nica"]
    if suffix == ".csv":
        assert output.read_text(encoding="utf-8").splitlines()[0].endswith(",".join(columns))
    elif suffix == ".jsonl":
        assert list(json.loads(output.read_text(encoding="utf-8"))["likelihoods"])[-2:] == columns
    elif suffix == ".npz":
        with np.load(output) as archive:
            assert list(archive["tags"])[-2:] == columns
    else:
        import pyarrow.parquet as pq

        assert pq.read_schema(output).names[-2:] == columns


def test_tag_folders_that_would_be_one_tag_are_refused(tmp_path, audio, tagger):
    for folder in (b"caf\xe9", b"caf\\xe9"):  # a byte that is not UTF-8, and the text that stands for it
        write_excerpt(tmp_path / "new" / "a.wav", audio["techno"], 0, 3)
        os.rename(tmp_path / "new", os.fsdecode(bytes(tmp_path) + b"/" + folder))
    with pytest.raises(MusicnnError, match=r"would both be the tag 'caf\\\\xe9'.*rename one of them"):
        heads.train(tmp_path, tagger)


def test_top_tags_adds_the_likeliest_tag_of_each_head(head_files, held_out, capsys):
    tags = top_tags(held_out[1], model="MSD_musicnn", topN=2, heads=head_files[0])
    assert len(tags) == 3 and tags[2] == "genre:funk" and ":" not in tags[0] + tags[1]
    assert " - genre:funk" in capsys.readouterr().out


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".npz"])
def test_result_files_hold_a_column_per_head_tag(head_tagger, held_out, tmp_path, suffix):
    results = dict(head_tagger.tag_many(held_out))
    with open_writer(tmp_path / f"tags{suffix}", head_tagger.model_name, head_tagger.tags) as writer:
        for path, result in results.items():
            writer.write(str(path), result)
    saved = {}
    if suffix == ".csv":
        with open(tmp_path / "tags.csv", newline="", encoding="utf-8") as file:
            for row in csv.DictReader(file):
                saved[row["path"]] = {tag: float(row[tag]) for tag in head_tagger.tags}
    elif suffix == ".jsonl":
        for line in (tmp_path / "tags.jsonl").read_text().splitlines():
            record = json.loads(line)
            saved[record["path"]] = record["likelihoods"]
    else:
        with np.load(tmp_path / "tags.npz") as archive:
            assert list(archive["tags"]) == head_tagger.tags
            saved = {path: dict(zip(head_tagger.tags, archive[f"{i}/taggram"].mean(axis=0)))
                     for i, path in enumerate(archive["paths"])}
    for path, result in results.items():
        assert max(["genre:blues", "genre:funk", "genre:techno"], key=saved[str(path)].get) == f"genre:{path.stem}"
        np.testing.assert_allclose([saved[str(path)][tag] for tag in head_tagger.tags], result.likelihoods,
                                   rtol=1e-5)


def test_tag_command_with_a_head_writes_its_columns_with_the_heads_model(head_files, held_out, tmp_path):
    output = tmp_path / "tags.csv"
    assert tag_main([str(held_out[0].parent), "--head", str(head_files[0]), "-o", str(output), "-q"]) == 0
    with open(output, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert {row["model"] for row in rows} == {"MSD_musicnn"}
    for row in rows:
        likeliest = max(["blues", "funk", "techno"], key=lambda tag: float(row[f"genre:{tag}"]))
        assert row["path"].endswith(f"{likeliest}.wav")


def test_plot_taggram_draws_a_row_per_head_tag(head_tagger, held_out):
    result = head_tagger.tag(held_out[2])
    ax = plots.plot_taggram(result.taggram, result.tags)
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert labels[-6:] == head_tagger.tags[-6:] and len(labels) == 56
