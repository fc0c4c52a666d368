"""Path expansion ends on any tree and takes each real file once; odd files get messages that say what they are."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from musicnn_lite import MusicnnError
from musicnn_lite.audio import load_audio
from musicnn_lite.files import audio_files


def make_tree(root: Path, names: list[str]) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")


def test_a_link_loop_under_a_double_star_pattern_gives_each_file_once(tmp_path, monkeypatch):
    make_tree(tmp_path, ["music/a.mp3", "music/sub/b.mp3"])
    os.symlink(".", tmp_path / "music" / "loop")
    monkeypatch.chdir(tmp_path)
    assert audio_files(["music/**/*.mp3"]) == ["music/a.mp3", "music/sub/b.mp3"]
    assert audio_files(["music"]) == ["music/a.mp3", "music/sub/b.mp3"]


def test_two_link_loops_end(tmp_path):
    make_tree(tmp_path, ["music/a.mp3", "music/sub/b.mp3"])
    os.symlink(".", tmp_path / "music" / "loop1")
    os.symlink("..", tmp_path / "music" / "sub" / "loop2")
    code = "import sys; from musicnn_lite.files import audio_files; print(audio_files(sys.argv[1:]))"
    run = subprocess.run([sys.executable, "-c", code, "music/**/*.mp3", "music"], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": os.getcwd()}, capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "['music/a.mp3', 'music/sub/b.mp3']", run.stderr


def test_links_to_other_folders_and_files_are_followed_each_real_file_once(tmp_path, monkeypatch):
    make_tree(tmp_path, ["music/a.mp3", "elsewhere/c.flac"])
    os.symlink("../elsewhere", tmp_path / "music" / "linked")
    os.symlink("a.mp3", tmp_path / "music" / "b.mp3")  # a second name of a.mp3
    monkeypatch.chdir(tmp_path)
    assert audio_files(["music"]) == ["music/a.mp3", "music/linked/c.flac"]
    assert audio_files(["music/**/*.*", "elsewhere/c.flac"]) == ["music/a.mp3", "music/linked/c.flac"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_not_called_empty(tmp_path):
    os.mkfifo(tmp_path / "pipe.wav")
    with pytest.raises(MusicnnError, match="is not a regular file"):
        load_audio(tmp_path / "pipe.wav")


def test_a_link_to_itself_is_not_called_missing(tmp_path):
    os.symlink("self.wav", tmp_path / "self.wav")
    with pytest.raises(MusicnnError, match=r"cannot open .*self\.wav \(Too many levels of symbolic links\)"):
        load_audio(tmp_path / "self.wav")
