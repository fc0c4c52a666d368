"""musicnn's text output: the printout of a song's top tags and the line `--save` appends."""

from __future__ import annotations

import os
from collections.abc import Callable


def top_tags_text(name: str, tags: list[str]) -> str:
    """musicnn's printout of a song's top tags: '[name] TopN tags:' then one ' - tag' line each."""
    return "\n".join([f"[{name}] Top{len(tags)} tags:", *(f" - {tag}" for tag in tags)])


def musicnn_tags_line(name: str, model: str, input_length: float, input_overlap: float | bool,
                      tags: list[str]) -> str:
    """musicnn's saved line 'file,model,input_length=..,input_overlap=..,tags...' (no newline)."""
    return ",".join([name, model, f"input_length={input_length}", f"input_overlap={input_overlap}", *tags])


def print_and_save(name: str, tags: list[str], model: str, input_length: float, input_overlap: float | bool,
                   show: Callable[[str], None] | None, save: str | os.PathLike | None) -> None:
    """What musicnn's top_tags does with a song's tags: `show` its printout, append its line to `save`."""
    if show:
        show(top_tags_text(name, tags))
    if save:
        with open(save, "a", encoding="utf-8") as file:
            print(musicnn_tags_line(name, model, input_length, input_overlap, tags), file=file)
