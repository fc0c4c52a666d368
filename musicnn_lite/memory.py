"""What a batch of patches costs in memory while the network runs, and whether this machine has it.

The cost grows with the patches in a batch and with their length: measured by
benchmarks/batch_memory.py (peak resident memory added by a batch of 32 or 128, taggram only),
ONNX Runtime takes up to 182 KB per spectrogram frame of a musicnn patch (33 MB per 3-s patch,
133 MB per 12-s one) and 142 KB per VGG frame; Keras on TensorFlow up to 125 KB.
PATCH_BYTES_PER_FRAME is the largest, rounded up. A batch is refused before anything runs when
it would take more than 3/4 of the machine's memory: the kernel would kill the run, with nothing
saved.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import MusicnnError

if TYPE_CHECKING:
    from .plan import PatchPlan

PATCH_BYTES_PER_FRAME = 192 * 2 ** 10  # 192 KB per frame: 35 MB per 3-s patch of musicnn 0.1.0's (187 frames)
MEMORY_SHARE = 0.75  # of the machine's memory, the most a batch may take
_CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")  # a container's limit (cgroup v2), "max" when none


def patch_bytes(frames: int) -> int:
    """Bytes one patch of `frames` spectrogram frames (the network's input) takes while it runs."""
    return frames * PATCH_BYTES_PER_FRAME


def machine_memory() -> int | None:
    """Bytes of memory this process can have: the physical memory, or its container's limit if lower;
    None where the system does not say (Windows)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    try:
        limit = _CGROUP_LIMIT.read_text().strip()
    except OSError:
        return memory
    return min(memory, int(limit)) if limit.isdigit() else memory


def check_batch(batch_size: int, plan: PatchPlan) -> None:
    """Raise MusicnnError if `batch_size` patches of `plan` would not fit in memory."""
    memory = machine_memory()
    if memory is None:
        return
    spare, per_patch = memory * MEMORY_SHARE, patch_bytes(plan.input_shape[0])
    if batch_size * per_patch <= spare:
        return
    spared = f"more than the {_gb(spare)} this machine can spare (3/4 of its {_gb(memory)})"
    fit = int(spare // per_patch)
    if fit:
        raise MusicnnError(f"batch_size={batch_size} patches of {plan.input_length:g} s need about "
                           f"{_gb(batch_size * per_patch)} while they run ({per_patch / 2 ** 20:.0f} MB each), "
                           f"{spared}; use batch_size={fit} or less")
    longest = int(plan.patch_seconds * spare / per_patch)  # the cost grows with the patch's length
    raise MusicnnError(f"a patch of input_length={plan.input_length:g} s needs about {_gb(per_patch)} while it "
                       f"runs, {spared}; use input_length={longest} or less (the model was trained on "
                       f"{plan.front_end.patch_seconds:g} s)")


def _gb(size: float) -> str:
    return f"{size / 2 ** 30:.1f} GB"
