"""Part files: a result file that cannot be appended to safely, staged as files in a folder beside it.

An .npz (a zip archive) or a .parquet file (readable only once its footer, written last, is
there) would be lost whole if a run were killed while writing it. Its records go instead to
numbered part files in OUT.parts/, each written under a temporary name, made durable and
renamed into place, so that a killed run leaves whole parts only. At the end the parts are
packed into the result file, again through a temporary file and a rename, and the folder is
removed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import BinaryIO, Callable

from .durable import fsync_path, sibling, write_failure


class PartFolder:
    """The parts of result file `output` (files ending in `extension`), in the order they were written.

    resume: keep the parts an earlier run left; otherwise start with none. Temporary files a
    killed run left are removed.
    """

    def __init__(self, output: Path, extension: str, resume: bool):
        self.output, self.path, self._extension = output, sibling(output, ".parts"), extension
        if not resume:
            shutil.rmtree(self.path, ignore_errors=True)
        try:
            self.path.mkdir(exist_ok=True)
        except OSError as error:
            raise write_failure(self.path, error) from None
        for leftover in self.path.glob("*.tmp"):
            leftover.unlink()
        self.parts = sorted(self.path.glob(f"*{extension}"))  # named by their write order

    def add(self, write: Callable[[BinaryIO], None]) -> None:
        """Write the next part: `write` fills the open file, which is then made durable and renamed into place."""
        number = int(self.parts[-1].stem) + 1 if self.parts else 0
        part = self.path / f"{number:08d}{self._extension}"
        temporary = part.with_suffix(".tmp")
        try:
            with open(temporary, "wb") as file:
                write(file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, part)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise write_failure(self.path, error) from None
        self.parts.append(part)

    def pack(self, write: Callable[[Path], None]) -> None:
        """Write the result file: `write` fills a temporary file, made durable and renamed into place; remove the parts."""
        temporary = sibling(self.output, ".tmp")
        try:
            write(temporary)
            fsync_path(temporary)
            os.replace(temporary, self.output)
            shutil.rmtree(self.path)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise write_failure(self.output, error) from None
