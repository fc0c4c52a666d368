"""Checks that a result file taken up by --resume was written by a run like this one, and the errors that refuse it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..errors import MusicnnError


def check_model(path: Path, found: str, model: str) -> None:
    """Refuse to resume `path`, whose records model `found` wrote, with another `model`."""
    if found != model:
        raise MusicnnError(f"{path} holds results of model {found}, not {model}; "
                           f"resume with --model {found}, or write to another --output file")


def check_features(path: Path, found: Iterable[str], features: Iterable[str]) -> None:
    """Refuse to resume `path`, whose record holds the features `found`, with other `features` (--features)."""
    found, features = sorted(found), sorted(features)
    if found != features:
        held = f"the features {' '.join(found)}" if found else "no features"
        again = f"--features {' '.join(found)}" if found else "no --features"
        raise MusicnnError(f"{path} holds {held}, not {' '.join(features) or 'none'}; resume with {again}, "
                           "or write to another --output file")


def cannot_resume(path: Path, reason: str, advice: str = "choose another --output file") -> MusicnnError:
    """The error refusing to resume result file `path`, for `reason`, saying what to do instead."""
    return MusicnnError(f"{path} cannot be resumed: {reason}; {advice}")


def refused_part(path: Path, part: Path, reason: str) -> MusicnnError:
    """The error refusing to resume `path` for one of its parts (or anything else in its parts folder)."""
    return cannot_resume(path, f"{part} {reason}",
                         f"move it out of {part.parent} and resume again (the songs in it are tagged again)")
