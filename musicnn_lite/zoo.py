"""The bundled models and their cards, what each architecture holds, and the weights files behind them."""

import difflib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bundled import WEIGHTS_DIR
from .errors import MusicnnError
from .files import readable_name
from .front_end import DECLARATION, FrontEnd, musicnn_front_end, parse_declaration
from .npz_archive import ArrayHeader, NpzArchive


@dataclass(frozen=True)
class ModelCard:
    """What a user picks a bundled model by: its training data, architecture and authors, and its
    published test-set scores (ROC-AUC, PR-AUC), None where the project's sources give none."""

    dataset: str
    architecture: str
    trained_by: str
    scores: tuple[float, float] | None


_MTT, _MSD, _JAMENDO = "MagnaTagATune", "Million Song Dataset", "MTG-Jamendo (top 50)"
_PONS, _WON = "Pons & Serra (musicnn 0.1.0)", "Won et al. 2020"
MODEL_CARDS = {
    "MTT_musicnn": ModelCard(_MTT, "musicnn", _PONS, (0.9067, 0.3831)),
    "MSD_musicnn": ModelCard(_MSD, "musicnn", _PONS, (0.8802, 0.2891)),
    "MTT_vgg": ModelCard(_MTT, "vgg", _PONS, (0.9030, 0.3823)),
    "MSD_vgg": ModelCard(_MSD, "vgg", _PONS, (0.8768, 0.2819)),
    "MTT_fcn": ModelCard(_MTT, "fcn", _WON, None),
    "MTT_crnn": ModelCard(_MTT, "crnn", _WON, None),
    "MTT_musicnn_2020": ModelCard(_MTT, "musicnn_2020", _WON, (0.9089, 0.4503)),
    "MSD_fcn": ModelCard(_MSD, "fcn", _WON, (0.8742, 0.2963)),
    "MSD_crnn": ModelCard(_MSD, "crnn", _WON, (0.8460, 0.2330)),
    "Jamendo_fcn": ModelCard(_JAMENDO, "fcn", _WON, None),
    "Jamendo_crnn": ModelCard(_JAMENDO, "crnn", _WON, None),
    "Jamendo_musicnn": ModelCard(_JAMENDO, "musicnn_2020", _WON, None),
}
BUNDLED_MODELS = tuple(MODEL_CARDS)

GRAPH_INPUT = "spectrogram"  # the name of every network's input: its front-end's patches (batch, frames, mels)

# The layer outputs each architecture returns besides the taggram (the networks/ modules build them by these names).
FEATURES = {
    "musicnn": ("timbral", "temporal", "cnn1", "cnn2", "cnn3", "mean_pool", "max_pool", "penultimate"),
    "vgg": ("pool1", "pool2", "pool3", "pool4", "pool5", "penultimate"),
    "fcn": ("pool1", "pool2", "pool3", "pool4", "pool5", "penultimate"),
    "crnn": ("pool1", "pool2", "pool3", "pool4", "gru1", "gru2", "penultimate"),
    "musicnn_2020": ("timbral", "temporal", "cnn1", "cnn2", "cnn3", "max_pool", "mean_pool", "penultimate"),
}

_BATCH_NORM = {variable: 1 for variable in ("gamma", "beta", "moving_mean", "moving_variance")}


def _layers(*names: str, kernel_rank: int = 0) -> dict[str, int]:
    """`<layer>/<variable>` -> rank: a batch norm's four vectors, or a kernel of `kernel_rank` and a bias."""
    variables = {"kernel": kernel_rank, "bias": 1} if kernel_rank else _BATCH_NORM
    return {f"{name}/{variable}": rank for name in names for variable, rank in variables.items()}


# Every variable of each architecture and its number of axes. Sizes vary (MSD_musicnn_big is wider)
# and are checked by building the network; these are checked before anything is decompressed.
VARIABLES = {
    "musicnn": {
        **_layers("input_bn", "timbral_38_bn", "timbral_67_bn", "temporal_128_bn", "temporal_64_bn",
                  "temporal_32_bn", "midend_1_bn", "midend_2_bn", "midend_3_bn", "pool_bn", "penultimate_bn"),
        **_layers("timbral_38_conv", "timbral_67_conv", "temporal_128_conv", "temporal_64_conv",
                  "temporal_32_conv", kernel_rank=4),
        **_layers("midend_1_conv", "midend_2_conv", "midend_3_conv", kernel_rank=3),
        **_layers("penultimate_dense", "logits", kernel_rank=2),
    },
    "vgg": {
        **_layers("input_bn", *(f"bn{i}" for i in range(1, 6))),
        **_layers(*(f"conv{i}" for i in range(1, 6)), kernel_rank=4),
        **_layers("logits", kernel_rank=2),
    },
    "fcn": {
        **_layers("input_bn", *(f"block{i}_bn" for i in range(1, 6))),
        **_layers(*(f"block{i}_conv" for i in range(1, 6)), kernel_rank=4),
        **_layers("logits", kernel_rank=2),
    },
    "crnn": {
        **_layers("input_bn", *(f"block{i}_bn" for i in range(1, 5))),
        **_layers(*(f"block{i}_conv" for i in range(1, 5)), kernel_rank=4),
        **{f"gru{i}/{variable}": 2 for i in (1, 2) for variable in ("kernel", "recurrent_kernel", "bias")},
        **_layers("logits", kernel_rank=2),
    },
    "musicnn_2020": {
        **_layers("input_bn", "timbral_67_bn", "timbral_38_bn", "temporal_129_bn", "temporal_65_bn",
                  "temporal_33_bn", "midend_1_bn", "midend_2_bn", "midend_3_bn", "penultimate_bn"),
        **_layers("timbral_67_conv", "timbral_38_conv", kernel_rank=4),
        **_layers("temporal_129_conv", "temporal_65_conv", "temporal_33_conv", "midend_1_conv", "midend_2_conv",
                  "midend_3_conv", kernel_rank=3),
        **_layers("penultimate_dense", "logits", kernel_rank=2),
    },
}
# The architectures whose files were written before front-end declarations existed: musicnn 0.1.0's.
_UNDECLARED_FRONT_END = ("musicnn", "vgg")
# Most bytes a weights file may hold once decompressed: MSD_musicnn_big, the largest musicnn model, needs
# about 25 MB; the bound stops a small file that declares huge arrays before anything is allocated.
MAX_WEIGHTS_BYTES = 512 * 2 ** 20

@dataclass(frozen=True)
class ModelWeights:
    """A model's inference variables, keyed `<layer>/<variable>`, with what it predicts.

    sha256: the digest of a user's weights file, which its name (the file's stem) does not
    identify; None for a bundled model, which its name does.
    """

    name: str
    architecture: str  # a key of VARIABLES: "musicnn", "vgg", "fcn", "crnn" or "musicnn_2020"
    labels: tuple[str, ...]
    front_end: FrontEnd
    arrays: dict[str, np.ndarray]
    sha256: str | None


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
    by_lower_case = {name.lower(): name for name in BUNDLED_MODELS}
    alike = difflib.get_close_matches(model.lower(), by_lower_case, n=1)
    hint = f"did you mean {by_lower_case[alike[0]]}? " if alike else ""
    raise MusicnnError(f"unknown model {model!r}; {hint}{_MODEL_CHOICES}")


def load_weights(model: str | os.PathLike) -> ModelWeights:
    """Read and check a weights file; never unpickles anything.

    The archive's headers are checked first (names, dtypes, ranks against the architecture,
    declared sizes bounded by MAX_WEIGHTS_BYTES), then the arrays are read and must be finite.
    """
    path = weights_path(model)
    with _open_weights(path) as archive:
        architecture = archive.read_text("architecture")
        labels = archive.read_text("labels")
        if architecture.ndim != 0 or str(architecture) not in VARIABLES or labels.ndim != 1:
            raise _invalid(path, "missing or inconsistent architecture or labels")
        architecture = str(architecture)
        front_end = _front_end(path, archive, architecture)
        _check_variables(path, architecture, archive.headers, len(labels))
        arrays = {name: archive.read(name) for name in VARIABLES[architecture]}
    bad = non_finite(arrays)
    if bad is not None:
        raise MusicnnError(f"the weights in {path} hold NaN or infinite values ({bad}); "
                           "the file is damaged: re-convert it with `python -m musicnn_lite.convert`")
    return ModelWeights(_model_name(model, path), architecture, tuple(labels.tolist()), front_end, arrays,
                        _model_sha256(model, path))


@dataclass(frozen=True)
class ModelInfo:
    """What a model is, read from its weights file's headers without loading any weights (sha256: as in
    ModelWeights)."""

    name: str
    architecture: str  # a key of VARIABLES
    n_labels: int
    front_end: FrontEnd
    sha256: str | None


def model_info(model: str | os.PathLike) -> ModelInfo:
    """The name, architecture and number of tags of a model, for checking options before it is loaded."""
    path = weights_path(model)
    with _open_weights(path) as archive:
        architecture = str(archive.read_text("architecture"))
        headers = archive.headers
        if architecture not in VARIABLES or len(headers.get("labels", ((),))[0]) != 1:
            raise _invalid(path, "missing or inconsistent architecture or labels")
        front_end = _front_end(path, archive, architecture)
    return ModelInfo(_model_name(model, path), architecture, headers["labels"][0][0], front_end,
                     _model_sha256(model, path))


def non_finite(arrays: dict[str, np.ndarray]) -> str | None:
    """The name of the first float array holding NaN or infinity, None if there is none."""
    return next((name for name, array in arrays.items() if array.dtype.kind == "f" and not np.isfinite(array).all()),
                None)


def weights_digest(weights_file: Path) -> str:
    """sha256 of a weights file: what identifies a user's model (and what its ONNX graph records)."""
    return hashlib.sha256(Path(weights_file).read_bytes()).hexdigest()


def _model_name(model: str | os.PathLike, path: Path) -> str:
    return str(model) if str(model) in BUNDLED_MODELS else readable_name(path.stem)


def _model_sha256(model: str | os.PathLike, path: Path) -> str | None:
    """None for a bundled model (by its name, or a file holding its very weights), else the file's digest."""
    if str(model) in BUNDLED_MODELS:
        return None
    digest = weights_digest(path)
    return None if path.stem in BUNDLED_MODELS and digest == weights_digest(weights_path(path.stem)) else digest


class WeightsMismatch(MusicnnError):
    """A weights file's variables do not fit the network its architecture names (missing, extra, wrong shape)."""

    def __init__(self, path: Path, architecture: str, problem: str):
        super().__init__(f"the weights in {path} do not fit the {architecture} network ({problem}); "
                         "re-convert them with `python -m musicnn_lite.convert`")
        self.architecture, self.problem = architecture, problem


def _invalid(path: Path, reason: str) -> MusicnnError:
    return MusicnnError(f"{path} is not a valid musicnn_lite weights file ({reason}); "
                        "write one with `python -m musicnn_lite.convert CHECKPOINT OUT.npz`")


def _open_weights(path: Path) -> NpzArchive:
    return NpzArchive(path, MAX_WEIGHTS_BYTES, lambda reason: _invalid(path, reason))


def _front_end(path: Path, archive: NpzArchive, architecture: str) -> FrontEnd:
    """The front-end the file declares, with the arrays it stores as `front_end/<name>`; a file written
    before declarations existed is musicnn 0.1.0's."""
    if DECLARATION not in archive.headers:
        if architecture not in _UNDECLARED_FRONT_END:
            raise _invalid(path, f"a {architecture} model must declare its front-end")
        return musicnn_front_end(any_length=architecture == "musicnn")
    arrays = {name.removeprefix(f"{DECLARATION}/"): archive.read(name) for name in archive.headers
              if name.startswith(f"{DECLARATION}/")}
    try:
        return parse_declaration(str(archive.read_text(DECLARATION)), arrays)
    except ValueError as error:
        raise _invalid(path, str(error)) from None


def _check_variables(path: Path, architecture: str, headers: dict[str, ArrayHeader], n_labels: int) -> None:
    """The variables are those of `architecture`, float32, of the right ranks, with one logit per label."""
    expected = VARIABLES[architecture]
    names = {name for name in headers if name.split("/")[0] not in ("architecture", "labels", DECLARATION)}
    problem = None
    if names != set(expected):
        missing, extra = sorted(set(expected) - names), sorted(names - set(expected))
        problem = f"missing {missing[0]!r}" if missing else f"unexpected {extra[0]!r}"
    else:
        for name, rank in expected.items():
            shape, dtype = headers[name]
            if dtype != np.float32 or len(shape) != rank:
                problem = f"{name!r} is {dtype} of shape {shape}, not a {rank}-D float32 array"
                break
        if problem is None and headers["logits/kernel"][0][-1] != n_labels:
            problem = f"{headers['logits/kernel'][0][-1]} logits for {n_labels} labels"
    if problem:
        raise WeightsMismatch(path, architecture, problem)
