"""Checks of the numbers callers pass in, shared by every entry point (api, tagger, plots, audio, cli).

Each returns the value in the type the code uses, or raises a MusicnnError naming the
argument, the bad value and what to pass instead.
"""

import argparse
import math
import re

import numpy as np

from .errors import MusicnnError


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def whole_number(name: str, value, low: int, high: float = math.inf, hint: str = "") -> int:
    """`value` as an int, if it is a whole number (not a bool) from `low` to `high`."""
    if not _is_number(value) or not math.isfinite(value) or value != int(value) or not low <= value <= high:
        span = f"at least {low}" if high == math.inf else f"from {low} to {int(high)}"
        raise MusicnnError(f"{name}={value!r} must be a whole number {span}{hint}")
    return int(value)


def positive_int(name: str, value, example: str) -> int:
    """A count such as batch_size or jobs: a whole number, at least 1."""
    return whole_number(name, value, 1, hint=f", e.g. {example}")


def count_option(text: str) -> int:
    """A command-line count (--jobs, --batch-size): argparse's type for a whole number, at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def tag_count(name: str, value, n_tags: int, low: int = 1) -> int:
    """How many top tags to give: a whole number from `low` (1, or 0 where none may be asked) to n_tags."""
    return whole_number(name, value, low, n_tags)


def positive_seconds(name: str, value) -> float:
    """A duration in seconds: a finite number above 0."""
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise MusicnnError(f"{name}={value!r} must be a positive number of seconds, e.g. 3")
    return float(value)


def not_url(path: str) -> str:
    """`path`, unless it is a URL (scheme://...), which no entry point fetches."""
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", path):
        raise MusicnnError(f"{path}: URLs are not supported; download the file first")
    return path
