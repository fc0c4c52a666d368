"""Which audio files a list of command-line paths means: files, folders and glob patterns."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Iterator

from .errors import MusicnnError

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".m4a", ".aac", ".aiff", ".aif", ".au",
                              ".opus", ".wma"})


def audio_files(paths: list[str], exclude: Iterable[str | os.PathLike] = ()) -> list[str]:
    """The files to tag, each real file once (the first name it is reached by), in the order given.

    A file is taken as named, whatever its extension. A folder stands for the audio files
    (by extension, any case) anywhere below it, in sorted order, hidden names skipped. A glob
    pattern (`*`, `?`, `[...]`, `**` for any depth) is expanded here, so quoted patterns work too;
    what it matches is taken as a file or a folder would be. Symbolic links are followed, each
    real folder once, so that a link loop ends. A path that neither exists nor matches anything
    is kept, so that tagging it reports it as missing.

    exclude: files (and folders, with all below them) that are never taken, such as the result
    file: a folder or pattern skips them; naming one of them is a MusicnnError.
    """
    excluded = {os.path.realpath(path) for path in exclude}
    found = {}
    for path in paths:
        for match in _matches(path):
            for file in _walk(match) if os.path.isdir(match) else [match]:
                real = os.path.realpath(file)
                if _is_within(real, excluded):
                    if file == path:
                        raise MusicnnError(f"{path} is the result file (or beside it), so it cannot be tagged too; "
                                           "choose another --output file")
                    continue
                found.setdefault(real, os.path.normpath(file))
    return list(found.values())


def readable_name(name: str) -> str:
    """A name taken from the file system (a tag folder, a head or weights file's stem) as valid Unicode.

    The bytes of a name that are not UTF-8, which Python holds as surrogate escapes, become the
    text `\\xNN` (b"caf\\xe9" -> "caf\\xe9"); any other lone
    surrogate becomes `\\udNNN`. Such a name is then written by every output (CSV, JSON, Parquet,
    beets) as it is; valid names are unchanged.
    """
    return _SURROGATE.sub(lambda match: _surrogate_text(ord(match[0])), name)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate_text(code: int) -> str:
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def _is_within(real: str, excluded: set[str]) -> bool:
    return any(real == other or real.startswith(other + os.sep) for other in excluded)


def _matches(path: str) -> list[str]:
    """What a glob pattern matches, sorted; `path` itself if it exists, is no pattern or matches nothing."""
    if os.path.exists(path) or not _is_pattern(path):
        return [path]
    root, parts = os.path.splitdrive(path)[0], path.split(os.sep)
    if os.altsep:
        parts = [piece for part in parts for piece in part.split(os.altsep)]
    start = parts[0] + os.sep if parts[0] in ("", root) else ""  # an absolute pattern starts at its root
    if start:
        parts = parts[1:]
    return sorted(_expand(start, [part for part in parts if part], set())) or [path]


def _expand(folder: str, parts: list[str], seen: set[tuple[str, int]]) -> Iterator[str]:
    """The paths below `folder` ("" for the current one) that match the pattern components `parts`.

    `**` matches any number of folders; each real folder is entered once for each `**` of the
    pattern (`seen` holds (real folder, components left)), so link loops end.
    """
    if not parts:
        yield folder
        return
    head, rest = parts[0], parts[1:]
    if head == "**":
        visit = (os.path.realpath(folder or "."), len(parts))
        if visit in seen:
            return
        seen.add(visit)
        yield from _expand(folder, rest, seen)
        for name in _names(folder, "*"):
            if os.path.isdir(os.path.join(folder, name)):
                yield from _expand(os.path.join(folder, name), parts, seen)
    elif _is_pattern(head):
        for name in _names(folder, head):
            yield from _expand(os.path.join(folder, name), rest, seen)
    elif os.path.lexists(os.path.join(folder, head)):
        yield from _expand(os.path.join(folder, head), rest, seen)


def _names(folder: str, pattern: str) -> list[str]:
    """Names in `folder` that match one pattern component; hidden ones only if the pattern starts with '.'."""
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return []
    hidden_too = pattern.startswith(".")
    return sorted(name for name in fnmatch.filter(names, pattern) if hidden_too or not name.startswith("."))


def _is_pattern(path: str) -> bool:
    return any(char in path for char in "*?[")


def _walk(folder: str) -> list[str]:
    """Audio files below `folder`, sorted folder by folder; names starting with '.' are skipped.

    Links to folders are followed, each real folder once, so that a link loop ends.
    """
    files, seen = [], {os.path.realpath(folder)}
    for root, folders, names in os.walk(folder, followlinks=True):
        kept = []
        for name in sorted(folders):
            real = os.path.realpath(os.path.join(root, name))
            if not name.startswith(".") and real not in seen:
                seen.add(real)
                kept.append(name)
        folders[:] = kept
        files += [os.path.join(root, name) for name in sorted(names)
                  if not name.startswith(".") and os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS]
    return files
