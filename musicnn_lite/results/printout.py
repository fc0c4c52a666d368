"""musicnn's text output: the printout of a song's top tags and the line `--save` appends."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .durable import OutputError, write_failure


def top_tags_text(name: str, tags: list[str]) -> str:
    """musicnn's printout of a song's top tags: '[name] TopN tags:' then one ' - tag' line each."""
    return "\n".join([f"[{name}] Top{len(tags)} tags:", *(f" - {tag}" for tag in tags)])


def musicnn_tags_line(name: str, model: str, input_length: float, input_overlap: float | bool,
                      tags: list[str]) -> str:
    """musicnn's saved line 'file,model,input_length=..,input_overlap=..,tags...' (no newline)."""
    return ",".join([name, model, f"input_length={input_length}", f"input_overlap={input_overlap}", *tags])


def check_save_file(path: str | os.PathLike) -> None:
    """Raise OutputError unless lines can be appended to the --save file `path`; nothing is created."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write --save {path}: it is a folder; name a file")
    if not path.parent.is_dir():
        raise OutputError(f"cannot write --save {path}: there is no folder {path.parent}; create it, or name a "
                          "file in a folder that exists")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise OutputError(f"cannot write --save {path}: permission denied; name a file you may write to")


def print_and_save(name: str, tags: list[str], model: str, input_length: float, input_overlap: float | bool,
                   show: Callable[[str], None] | None, save: str | os.PathLike | None) -> None:
    """What musicnn's top_tags does with a song's tags: `show` its printout, append its line to `save`.

    A name that is not UTF-8 is saved as its own bytes, as in the result files. Raises OutputError
    if `save` cannot be written.
    """
    if show:
        show(top_tags_text(name, tags))
    if save:
        try:
            with open(save, "a", encoding="utf-8", errors="surrogateescape") as file:
                print(musicnn_tags_line(name, model, input_length, input_overlap, tags), file=file)
        except OSError as error:
            raise write_failure(Path(save), error) from None
