"""The survey's PyTorch checkpoints (Won et al. 2020: FCN, CRNN, musicnn) as musicnn_lite weights.

A checkpoint is a PyTorch state dict: the published `best_model.pth` (read through torch when it
is installed, `weights_only=True`, so nothing is unpickled but tensors), or the same dict saved as
an .npz of arrays under the same keys. `survey_weights` renames its variables to the layer names
of `musicnn_lite.networks` (fcn, crnn, musicnn_2020) in Keras' layouts, and takes the front-end
the model was trained with (front_end.DbMelFrontEnd): the stored mel filterbank
(`spec.mel_scale.fb`) and the chunk length.
"""

from pathlib import Path

import numpy as np

from .db_mel import periodic_hann
from .errors import MusicnnError
from .front_end import DECLARATION, DbMelFrontEnd
from .npz_archive import NpzArchive

SAMPLE_RATE, N_FFT, HOP_LENGTH, N_MELS = 16000, 512, 256, 96  # every survey model's torchaudio MelSpectrogram
CHUNK_SECONDS = {"fcn": 29, "crnn": 29, "musicnn_2020": 3}  # 464,000 and 48,000 samples
MAX_CHECKPOINT_BYTES = 512 * 2 ** 20

_TORCH_BATCH_NORM = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
                     "running_var": "moving_variance"}
# Each architecture's PyTorch modules -> this package's layer names, in the order they compute.
_CONV_BLOCKS = {"fcn": 5, "crnn": 4}
_MUSICNN_MODULES = {
    "layers.0": "timbral_67", "layers.1": "timbral_38",
    "layers.2": "temporal_129", "layers.3": "temporal_65", "layers.4": "temporal_33",
    "layer1": "midend_1", "layer2": "midend_2", "layer3": "midend_3",
}
_GRU_GATES = (1, 0, 2)  # PyTorch stacks a GRU's gates r, z, n; Keras z, r, h


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a PyTorch state dict: a `.pth` file (needs torch) or an .npz of the same keys."""
    path = Path(path)
    if not path.is_file():
        raise MusicnnError(f"{path} is not a file; pass a survey checkpoint (.pth) or its state dict (.npz)")
    if path.suffix == ".pth":
        return _read_pth(path)

    def invalid(reason: str) -> MusicnnError:
        return MusicnnError(f"{path} is not a state dict saved as .npz ({reason}); pass the checkpoint's .pth")

    with NpzArchive(path, MAX_CHECKPOINT_BYTES, invalid) as archive:
        return {name: archive.read(name) for name in archive.headers}


def _read_pth(path: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise MusicnnError(f"reading {path} needs PyTorch (pip install torch), or pass the checkpoint's "
                           "state dict saved as an .npz of arrays") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types (pickle, zip, its own) for a bad file
        raise MusicnnError(f"{path} is not a readable PyTorch checkpoint ({error})") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict) or not all(torch.is_tensor(value) for value in state.values()):
        raise MusicnnError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return {name: value.numpy() for name, value in state.items()}


def architecture_of(state: dict[str, np.ndarray]) -> str:
    """'fcn', 'crnn' or 'musicnn_2020', from the state dict's keys."""
    if "layers.0.conv.weight" in state:
        return "musicnn_2020"
    if "layer5.weight_ih_l0" in state:
        return "crnn"
    if "layer5.conv.weight" in state:
        return "fcn"
    raise MusicnnError("the checkpoint is not one of the survey's FCN, CRNN or musicnn models "
                       "(no layers.0.conv, layer5.weight_ih_l0 or layer5.conv weights)")


def survey_weights(state: dict[str, np.ndarray], labels: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays of a musicnn_lite weights file for a survey state dict with output units `labels`."""
    architecture = architecture_of(state)
    try:
        variables = {"input_bn": _batch_norm(state, "spec_bn"), **_network_variables(state, architecture)}
        mel_filterbank = state["spec.mel_scale.fb"].astype(np.float32)
        window = state.get("spec.spectrogram.window")
    except KeyError as error:
        raise MusicnnError(f"the {architecture} checkpoint lacks {error.args[0]!r}: it is not one of the "
                           "survey's models, or it was saved from another version of their code") from None
    if window is not None and (window.shape != (N_FFT,) or np.abs(window - periodic_hann(N_FFT)).max() > 1e-6):
        raise MusicnnError("the checkpoint's STFT window is not the periodic Hann window of 512 samples "
                           "the survey used")
    n_outputs = variables["logits"]["bias"].shape[0]
    if n_outputs != len(labels):
        raise MusicnnError(f"the checkpoint has {n_outputs} outputs but the vocabulary has {len(labels)} tags")
    try:  # the FCN's flattened back-end fits its own chunk length only
        front_end = DbMelFrontEnd(SAMPLE_RATE, N_FFT, HOP_LENGTH, N_MELS, CHUNK_SECONDS[architecture],
                                  any_length=architecture != "fcn", mel_filterbank=mel_filterbank)
    except ValueError as error:
        raise MusicnnError(f"the checkpoint's front-end does not fit the survey's ({error})") from None
    return {
        "architecture": np.array(architecture), "labels": np.array(labels),
        DECLARATION: np.array(front_end.declaration()),
        **{f"{DECLARATION}/{name}": value for name, value in front_end.arrays().items()},
        **{f"{layer}/{name}": np.ascontiguousarray(value, np.float32)
           for layer, layer_variables in variables.items() for name, value in layer_variables.items()},
    }


def _network_variables(state: dict[str, np.ndarray], architecture: str) -> dict[str, dict[str, np.ndarray]]:
    """layer name -> variable name -> array, in the layouts of the Keras layers."""
    if architecture == "musicnn_2020":
        variables = {}
        for module, layer in _MUSICNN_MODULES.items():
            variables[f"{layer}_conv"] = _conv(state, f"{module}.conv")
            variables[f"{layer}_bn"] = _batch_norm(state, f"{module}.bn")
        return {**variables, "penultimate_dense": _dense(state, "dense1"), "penultimate_bn": _batch_norm(state, "bn"),
                "logits": _dense(state, "dense2")}
    variables = {}
    for i in range(1, _CONV_BLOCKS[architecture] + 1):
        variables[f"block{i}_conv"] = _conv(state, f"layer{i}.conv")
        variables[f"block{i}_bn"] = _batch_norm(state, f"layer{i}.bn")
    if architecture == "crnn":
        variables.update(gru1=_gru(state, "layer5", 0), gru2=_gru(state, "layer5", 1))
    return {**variables, "logits": _dense(state, "dense")}


def _batch_norm(state: dict[str, np.ndarray], module: str) -> dict[str, np.ndarray]:
    return {keras_name: state[f"{module}.{torch_name}"] for torch_name, keras_name in _TORCH_BATCH_NORM.items()}


def _conv(state: dict[str, np.ndarray], module: str) -> dict[str, np.ndarray]:
    """A Conv2d kernel (out, in, frequency, time) as Keras' (time, frequency, in, out) on (time, frequency)
    inputs, or a Conv1d kernel (out, in, width) as Keras' (width, in, out)."""
    kernel = state[f"{module}.weight"]
    return {"kernel": kernel.transpose(tuple(reversed(range(kernel.ndim)))), "bias": state[f"{module}.bias"]}


def _dense(state: dict[str, np.ndarray], module: str) -> dict[str, np.ndarray]:
    return {"kernel": state[f"{module}.weight"].T, "bias": state[f"{module}.bias"]}


def _gru(state: dict[str, np.ndarray], module: str, layer: int) -> dict[str, np.ndarray]:
    """Layer `layer` of a PyTorch GRU as a Keras GRU(reset_after=True): the same equations, gates reordered.

    PyTorch's n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) is Keras' reset_after candidate, whose
    bias has two rows, the input one and the recurrent one.
    """
    def gates(array: np.ndarray) -> np.ndarray:  # (3 * units, ...) in r, z, n order -> z, r, n
        return np.concatenate([np.split(array, 3)[gate] for gate in _GRU_GATES])

    suffix = f"_l{layer}"
    return {
        "kernel": gates(state[f"{module}.weight_ih{suffix}"]).T,
        "recurrent_kernel": gates(state[f"{module}.weight_hh{suffix}"]).T,
        "bias": np.stack([gates(state[f"{module}.bias_ih{suffix}"]), gates(state[f"{module}.bias_hh{suffix}"])]),
    }
