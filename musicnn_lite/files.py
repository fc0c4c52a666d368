"""Which audio files a list of command-line paths means: files, folders and glob patterns."""

import glob
import os

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".m4a", ".aac", ".aiff", ".aif", ".au",
                              ".opus", ".wma"})


def audio_files(paths: list[str]) -> list[str]:
    """The files to tag, each once, in the order given.

    A file is taken as named, whatever its extension. A folder stands for the audio files
    (by extension, any case) anywhere below it, in sorted order, hidden names skipped. A glob
    pattern (`*`, `?`, `[...]`, `**` for any depth) is expanded here, so quoted patterns work too;
    what it matches is taken as a file or a folder would be. A path that neither exists nor
    matches anything is kept, so that tagging it reports it as missing.
    """
    found = {}
    for path in paths:
        for match in _matches(path):
            for file in _walk(match) if os.path.isdir(match) else [match]:
                found.setdefault(os.path.abspath(file), os.path.normpath(file))
    return list(found.values())


def _matches(path: str) -> list[str]:
    """What a glob pattern matches, sorted; `path` itself if it exists, is no pattern or matches nothing."""
    if os.path.exists(path) or not any(char in path for char in "*?["):
        return [path]
    return sorted(glob.glob(path, recursive=True)) or [path]


def _walk(folder: str) -> list[str]:
    """Audio files below `folder`, sorted folder by folder; names starting with '.' are skipped."""
    files = []
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        files += [os.path.join(root, name) for name in sorted(names)
                  if not name.startswith(".") and os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS]
    return files
