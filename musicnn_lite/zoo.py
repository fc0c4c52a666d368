"""The bundled models and the weights files behind them (pickle-free .npz)."""

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import MusicnnError

BUNDLED_MODELS = ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg")

# Installed, the weights live in the package (musicnn_lite/weights); in a source
# checkout they sit in the top-level weights/ folder beside the package.
_PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_DIR = next((d for d in (_PACKAGE_DIR / "weights", _PACKAGE_DIR.parent / "weights") if d.is_dir()),
                    _PACKAGE_DIR / "weights")


@dataclass(frozen=True)
class ModelWeights:
    """A model's inference variables, keyed `<layer>/<variable>`, with what it predicts."""

    name: str
    architecture: str  # "musicnn" or "vgg"
    labels: tuple[str, ...]
    arrays: dict[str, np.ndarray]


_MODEL_CHOICES = (f"use one of {', '.join(BUNDLED_MODELS)}, or the path of a weights file written by "
                  "`python -m musicnn_lite.convert`")


def model_id(model: str | os.PathLike) -> str:
    """`model` as a string: a bundled model name or the path of a weights file."""
    if not isinstance(model, (str, os.PathLike)):
        raise MusicnnError(f"model={model!r} is not a model name or path; {_MODEL_CHOICES}")
    return os.fspath(model)


def weights_path(model: str | os.PathLike) -> Path:
    """The weights file of a bundled model name, or `model` itself if it is a path to a file."""
    model = model_id(model)
    if model in BUNDLED_MODELS:
        return WEIGHTS_DIR / f"{model}.npz"
    path = Path(model)
    if path.is_file():
        return path
    raise MusicnnError(f"unknown model {model!r}; {_MODEL_CHOICES}")


def load_weights(model: str | os.PathLike) -> ModelWeights:
    """Read and check a weights file; never unpickles anything."""
    path = weights_path(model)
    try:
        if not zipfile.is_zipfile(path):  # np.load opens only .npz archives here, never .npy or pickles
            raise ValueError("not an .npz archive")
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise MusicnnError(f"{path} is not a valid musicnn_lite weights file ({error}); "
                           "write one with `python -m musicnn_lite.convert CHECKPOINT_FOLDER OUT.npz`") from None
    architecture = str(arrays.pop("architecture", ""))
    labels = arrays.pop("labels", np.array([]))
    if architecture not in ("musicnn", "vgg") or labels.ndim != 1 or labels.dtype.kind != "U" \
            or "logits/kernel" not in arrays or arrays["logits/kernel"].shape[-1] != len(labels):
        raise MusicnnError(f"{path} is not a valid musicnn_lite weights file (missing or inconsistent "
                           "architecture, labels or logits); re-convert it with `python -m musicnn_lite.convert`")
    name = str(model) if str(model) in BUNDLED_MODELS else path.stem
    return ModelWeights(name, architecture, tuple(labels.tolist()), arrays)
