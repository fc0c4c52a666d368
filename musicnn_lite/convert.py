"""Convert a musicnn TF1 checkpoint folder into a pickle-free weights file (.npz) and its ONNX graph.

Usage: python -m musicnn_lite.convert CHECKPOINT_FOLDER OUTPUT.npz [--labels MTT|MSD]
       python -m musicnn_lite.convert --onnx WEIGHTS.npz...   (the graph of existing weights files)

A musicnn checkpoint folder holds `.index` and `.data-00000-of-00001` (plus Adam
slots, which are dropped). The output holds the inference variables only, keyed
`<layer>/<variable>` with the layer names of `musicnn_lite.networks`, plus the
architecture name, the tag vocabulary and the front-end declaration. Layer sizes are not stored: they are
read back from the variable shapes, so wider models (MSD_musicnn_big) convert too.
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

from .errors import MusicnnError
from .front_end import musicnn_front_end
from .labels import LABELS_BY_DATASET

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


def _dataset_of(folder: Path) -> str:
    """'MTT' or 'MSD', from config.json's training index or else the folder name."""
    config = folder / "config.json"
    hints = [folder.name.upper()]
    if config.is_file():
        hints.insert(0, json.loads(config.read_text()).get("gt_train", "").upper())
    for hint in hints:
        for dataset in LABELS_BY_DATASET:
            if dataset in hint:
                return dataset
    raise MusicnnError(
        f"cannot tell whether {folder} was trained on MTT or MSD; pass --labels MTT or --labels MSD")


def convert_checkpoint(folder: str | Path, output: str | Path, dataset: str | None = None) -> Path:
    """Write the inference variables of a musicnn checkpoint folder to `output` (.npz)."""
    folder, output = Path(folder), Path(output)
    variables = _read_checkpoint(folder)
    architecture, layers = ("vgg", _VGG_LAYERS) if "1CNN/kernel" in variables else ("musicnn", _MUSICNN_LAYERS)
    dataset = (dataset or _dataset_of(folder)).upper()
    if dataset not in LABELS_BY_DATASET:
        raise MusicnnError(f"unknown label set {dataset!r}; use MTT or MSD")

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
    labels = LABELS_BY_DATASET[dataset]
    n_outputs = arrays["logits/bias"].shape[0]
    if n_outputs != len(labels):
        raise MusicnnError(f"{folder} has {n_outputs} outputs but the {dataset} vocabulary has {len(labels)} tags")

    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as file:
        np.savez(file, architecture=np.array(architecture), labels=np.array(labels),
                 front_end=np.array(musicnn_front_end(any_length=architecture == "musicnn").declaration()), **arrays)
    export_onnx(output)
    return output


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

        from . import networks

        network = networks.build_model(weights.architecture, weights.arrays)
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
        description="Convert a musicnn TF1 checkpoint folder into a musicnn_lite weights file and its ONNX graph, "
                    "or (--onnx) write the ONNX graph of existing weights files.")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="CHECKPOINT_FOLDER OUTPUT.npz: the folder holding .index and .data-00000-of-00001, "
                             "and the weights file to write; with --onnx: weights files")
    parser.add_argument("--labels", choices=sorted(LABELS_BY_DATASET),
                        help="tag vocabulary (default: read from config.json or the folder name)")
    parser.add_argument("--onnx", action="store_true",
                        help="write WEIGHTS.onnx beside each WEIGHTS.npz given (e.g. weights/*.npz)")
    args = parser.parse_args(argv)
    if not args.onnx and len(args.paths) != 2:
        parser.error("give a CHECKPOINT_FOLDER and an OUTPUT.npz (or --onnx WEIGHTS.npz...)")
    try:
        written = [export_onnx(path) for path in args.paths] if args.onnx \
            else [convert_checkpoint(*args.paths, args.labels)]
    except MusicnnError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(*written, sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
