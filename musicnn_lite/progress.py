"""The progress bar of long runs (tagging, training, the beets plugin): files done and audio-seconds per second."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """A bar on stderr counting files, with the seconds of audio tagged per second of the run.

    show: False hides it; True shows it when stderr is a terminal (tqdm's own choice).
    `write` prints a line above the bar without breaking it.
    """

    def __init__(self, total: int, show: bool, unit: str = "file"):
        from tqdm import tqdm

        self._bar = tqdm(total=total, unit=unit, file=sys.stderr, disable=None if show else True)
        self._audio_seconds, self._start = 0.0, time.monotonic()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exception) -> None:
        self._bar.close()

    def write(self, line: str, file: TextIO | None = None) -> None:
        """Print `line` (to stderr unless `file` says otherwise) above the bar."""
        self._bar.write(line, file=file or sys.stderr)

    def advance(self, audio_seconds: float = 0.0) -> None:
        """One more file done, which held `audio_seconds` of audio (0 for one that failed or is not timed)."""
        self._audio_seconds += audio_seconds
        if self._audio_seconds:
            rate = self._audio_seconds / (time.monotonic() - self._start)
            self._bar.set_postfix_str(f"{rate:.0f} audio-s/s", refresh=False)
        self._bar.update()
