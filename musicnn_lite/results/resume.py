"""Checks that a result file taken up by --resume was written by a run like this one."""

from __future__ import annotations

from pathlib import Path

from ..errors import MusicnnError


def check_model(path: Path, found: str, model: str) -> None:
    """Refuse to resume `path`, whose records model `found` wrote, with another `model`."""
    if found != model:
        raise MusicnnError(f"{path} holds results of model {found}, not {model}; "
                           f"resume with --model {found}, or write to another --output file")
