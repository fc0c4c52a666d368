"""Convert a checkpoint into a pickle-free weights file (.npz) and its ONNX graph.

Usage: python -m musicnn_lite.convert CHECKPOINT OUTPUT.npz [--labels MTT|MSD|Jamendo]
       python -m musicnn_lite.convert --onnx WEIGHTS.npz...   (the graph of existing weights files)

CHECKPOINT is a musicnn TF1 checkpoint folder, holding `.index` and `.data-00000-of-00001`
(plus Adam slots, which are dropped), or a checkpoint of the survey's FCN, CRNN or musicnn
(Won et al. 2020): its `best_model.pth` (read through PyTorch, which must then be installed)
or the same state dict saved as an .npz of arrays (see survey_checkpoints). The output holds
the inference variables only, keyed `<layer>/<variable>` with the layer names of
`musicnn_lite.networks`, the architecture name, the tag vocabulary and the front-end
declaration (see front_end; for the survey's models with the mel filterbank of their checkpoint).
Layer sizes are not stored: they are read back from the variable shapes, so wider models
(MSD_musicnn_big, the survey's MSD musicnn) convert too.
Beside it goes OUTPUT.onnx, the Keras model exported for ONNX Runtime (the default
runtime), with the taggram and every feature as named outputs; the bundled graphs in
weights/ are regenerated with `python -m musicnn_lite.convert --onnx weights/*.npz`.
"""

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from . import survey_checkpoints
from .errors import MusicnnError
from .front_end import DECLARATION, musicnn_front_end
from .labels import LABELS_BY_DATASET
from .zoo import WeightsMismatch, non_finite

_BN = ("gamma", "beta", "moving_mean", "moving_variance")
_DENSE = ("kernel", "bias")

# TF1 layer name (creation order in musicnn's models.py) -> musicnn_lite layer name.
_MUSICNN_LAYERS = {
    "batch_normalization": "input_bn",
    "conv2d": "timbral_38_conv", "batch_normalization_1": "timbral_38_bn",
    "conv2d_1": "timbral_67_conv", "batch_normalization_2": "timbral_67_bn",
    "conv2d_2": "temporal_128_conv", "batch_normalization_3": "temporal_128_bn",
    "conv2d_3": "temporal_64_conv", "batch_normalization_4": "temporal_64_bn",
    "conv2d_4": "temporal_32_conv", "batch_normalization_5": "temporal_32_bn",
    "conv2d_5": "midend_1_conv", "batch_normalization_6": "midend_1_bn",
    "conv2d_6": "midend_2_conv", "batch_normalization_7": "midend_2_bn",
    "conv2d_7": "midend_3_conv", "batch_normalization_8": "midend_3_bn",
    "batch_normalization_9": "pool_bn",
    "dense": "penultimate_dense", "batch_normalization_10": "penultimate_bn",
    "dense_1": "logits",
}
_VGG_LAYERS = {
    "batch_normalization": "input_bn",
    **{f"{i}CNN": f"conv{i}" for i in range(1, 6)},
    **{f"batch_normalization_{i}": f"bn{i}" for i in range(1, 6)},
    "dense": "logits",
}
_MIDEND_CONVS = ("midend_1_conv", "midend_2_conv", "midend_3_conv")
# How a folder or file name says which dataset a model was trained on (lowercase).
_DATASET_HINTS = {"MTT": ("mtt", "mtat", "magnatagatune"), "MSD": ("msd",), "Jamendo": ("jamendo",)}


def _read_checkpoint(folder: Path) -> dict[str, np.ndarray]:
    """All variables of a TF1 checkpoint whose files are named `.index`/`.data-*`."""
    import tensorflow as tf

    if not (folder / ".index").is_file():
        raise MusicnnError(
            f"{folder} is not a musicnn checkpoint folder (no '.index' file in it); "
            "pass the folder that holds .index and .data-00000-of-00001")
    # The prefix is the folder itself: the files are literally named ".index" etc.
    # tf.train.load_checkpoint(folder) would follow the 'checkpoint' file to a path
    # on the authors' machine, so open a reader on the prefix directly.
    reader = tf.compat.v1.train.NewCheckpointReader(str(folder) + "/")
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def _dataset_named(hints: list[str], checkpoint: Path) -> str:
    """The first dataset that one of `hints` (texts, most telling first) names."""
    for hint in hints:
        for dataset, names in _DATASET_HINTS.items():
            if any(name in hint.lower() for name in names):
                return dataset
    raise MusicnnError(f"cannot tell which dataset {checkpoint} was trained on; "
                       f"pass --labels {' or --labels '.join(LABELS_BY_DATASET)}")


def _labels(dataset: str | None, hints: list[str], checkpoint: Path) -> tuple[str, ...]:
    """The vocabulary of `dataset` (any case), or of the dataset the hints name."""
    if dataset is None:
        return LABELS_BY_DATASET[_dataset_named(hints, checkpoint)]
    by_name = {name.upper(): labels for name, labels in LABELS_BY_DATASET.items()}
    if dataset.upper() not in by_name:
        raise MusicnnError(f"unknown label set {dataset!r}; use {', '.join(LABELS_BY_DATASET)}")
    return by_name[dataset.upper()]


def convert_checkpoint(checkpoint: str | Path, output: str | Path, dataset: str | None = None) -> Path:
    """Write the weights file of a checkpoint (see the module's docstring) to `output`, its graph beside it.

    dataset: "MTT", "MSD" or "Jamendo", the vocabulary of the model's outputs; by default read
    from the checkpoint's config.json or its folder and file names.
    """
    checkpoint, output = Path(checkpoint), Path(output)
    arrays = _survey_arrays(checkpoint, dataset) if checkpoint.is_file() else _musicnn_arrays(checkpoint, dataset)
    damaged = non_finite(arrays)
    if damaged:
        raise MusicnnError(f"{checkpoint} holds NaN or infinite weights ({damaged}); it cannot be converted")
    if output.is_dir():
        raise MusicnnError(f"{output} is a folder; name the weights file to write, e.g. {output / 'model.npz'}")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent) as scratch:  # nothing lands unless both files are whole
        staged = Path(scratch) / output.name
        with open(staged, "wb") as file:
            np.savez(file, **arrays)
        try:
            graph = export_onnx(staged)
        except WeightsMismatch as error:
            raise MusicnnError(f"{checkpoint} does not fit the {error.architecture} network its layer names say "
                               f"it is ({error.problem}); it cannot be converted") from None
        os.replace(graph, output.with_suffix(".onnx"))
        os.replace(staged, output)
    return output


def _survey_arrays(checkpoint: Path, dataset: str | None) -> dict[str, np.ndarray]:
    """The weights file's arrays for a survey checkpoint: `.../<dataset>/<arch>/best_model.pth` or .npz."""
    labels = _labels(dataset, list(reversed(checkpoint.parts)), checkpoint)
    return survey_checkpoints.survey_weights(survey_checkpoints.read_state_dict(checkpoint), labels)


def _musicnn_arrays(folder: Path, dataset: str | None) -> dict[str, np.ndarray]:
    """The weights file's arrays for a musicnn TF1 checkpoint folder; the dataset from config.json's
    training index or else the folder name."""
    variables = _read_checkpoint(folder)
    architecture, layers = ("vgg", _VGG_LAYERS) if "1CNN/kernel" in variables else ("musicnn", _MUSICNN_LAYERS)
    config = folder / "config.json"
    hints = [json.loads(config.read_text()).get("gt_train", "")] if config.is_file() else []
    labels = _labels(dataset, [*hints, folder.name], folder)

    arrays = {}
    for tf_name, layer in layers.items():
        params = _BN if tf_name.startswith("batch_normalization") else _DENSE
        for param in params:
            key = f"{tf_name}/{param}"
            if key not in variables:
                raise MusicnnError(f"{folder} lacks variable {key!r}: not a {architecture} checkpoint of musicnn")
            value = variables[key].astype(np.float32)
            if layer in _MIDEND_CONVS and param == "kernel":
                value = value[:, :, 0, :]  # (7, C, 1, F) 2-D conv over the full width == 1-D conv (7, C, F)
            arrays[f"{layer}/{param}"] = value
    n_outputs = arrays["logits/bias"].shape[0]
    if n_outputs != len(labels):
        raise MusicnnError(f"{folder} has {n_outputs} outputs but its vocabulary has {len(labels)} tags")
    front_end = musicnn_front_end(any_length=architecture == "musicnn")
    return {"architecture": np.array(architecture), "labels": np.array(labels),
            DECLARATION: np.array(front_end.declaration()), **arrays}


def export_onnx(weights_file: str | Path) -> Path:
    """Write the ONNX graph of a weights file beside it (same name, .onnx) and return its path.

    The graph is the Keras model of `musicnn_lite.networks` exported through tf2onnx: input
    "spectrogram" (batch, frames, mel bands), any number of frames where the model's front-end takes
    any patch length (musicnn models; VGG: 187), outputs "taggram" and every feature by name. Its metadata records the
    sha256 of the weights file, which the ONNX runtime checks before it uses the graph.
    """
    from . import runtimes, zoo
    from .tensorflow_noise import tensorflow_noise_filtered

    weights_file = Path(weights_file)
    weights = zoo.load_weights(weights_file)
    names = ("taggram", *zoo.FEATURES[weights.architecture])
    graph_file = weights_file.with_suffix(".onnx")
    with tensorflow_noise_filtered(), tempfile.TemporaryDirectory(dir=graph_file.parent) as scratch:
        import keras
        import onnx

        network = runtimes.keras_network(weights, weights_file)
        exportable = keras.Model(network.input, [network.output[name] for name in names])
        front_end = weights.front_end
        frames = None if front_end.any_length else front_end.frames(front_end.patch_length(None))
        exported = Path(scratch) / "graph.onnx"
        # tf2onnx reports its progress on stdout; Keras' numpy-2 patch of it warns about np.object
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            signature = [keras.InputSpec(shape=(None, frames, front_end.n_mels), dtype="float32")]
            exportable.export(str(exported), format="onnx", verbose=False, input_signature=signature)
        graph = onnx.load(str(exported))
        _name_graph_ports(graph.graph, zoo.GRAPH_INPUT, names)
        graph.metadata_props.add(key=runtimes.WEIGHTS_DIGEST_KEY, value=zoo.weights_digest(weights_file))
        onnx.save(graph, str(exported))
        os.replace(exported, graph_file)
    return graph_file


def _name_graph_ports(graph, input_name: str, output_names: tuple[str, ...]) -> None:
    """Rename the exported graph's input and outputs (tf2onnx numbers them) to the model's names."""
    renames = {graph.input[0].name: input_name, **{port.name: name for port, name in zip(graph.output, output_names)}}
    for port in (*graph.input, *graph.output):
        port.name = renames.get(port.name, port.name)
    for node in graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m musicnn_lite.convert",
        description="Convert a musicnn TF1 checkpoint folder, or a checkpoint of the survey's FCN, CRNN or musicnn "
                    "(.pth, or its state dict as .npz), into a musicnn_lite weights file and its ONNX graph, "
                    "or (--onnx) write the ONNX graph of existing weights files.")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="CHECKPOINT OUTPUT.npz: the folder holding .index and .data-00000-of-00001 or the "
                             "survey's .pth (or .npz state dict), and the weights file to write; "
                             "with --onnx: weights files")
    parser.add_argument("--labels", choices=list(LABELS_BY_DATASET),
                        help="tag vocabulary (default: read from config.json or the folder and file names)")
    parser.add_argument("--onnx", action="store_true",
                        help="write WEIGHTS.onnx beside each WEIGHTS.npz given (e.g. weights/*.npz)")
    args = parser.parse_args(argv)
    if not args.onnx and len(args.paths) != 2:
        parser.error("give a CHECKPOINT and an OUTPUT.npz (or --onnx WEIGHTS.npz...)")
    try:
        written = [export_onnx(path) for path in args.paths] if args.onnx \
            else [convert_checkpoint(*args.paths, args.labels)]
    except MusicnnError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        written = error.filename if args.onnx and error.filename else args.paths[-1]
        print(f"error: cannot write {written} ({error.strerror or error})", file=sys.stderr)
        return 3
    print(*written, sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
