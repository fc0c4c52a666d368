"""Convert a musicnn TF1 checkpoint folder into a pickle-free weights file (.npz).

Usage: python -m musicnn_lite.convert CHECKPOINT_FOLDER OUTPUT.npz [--labels MTT|MSD]

A musicnn checkpoint folder holds `.index` and `.data-00000-of-00001` (plus Adam
slots, which are dropped). The output holds the inference variables only, keyed
`<layer>/<variable>` with the layer names of `musicnn_lite.networks`, plus the
architecture name and the tag vocabulary. Layer sizes are not stored: they are
read back from the variable shapes, so wider models (MSD_musicnn_big) convert too.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .errors import MusicnnError
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
        np.savez(file, architecture=np.array(architecture), labels=np.array(labels), **arrays)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m musicnn_lite.convert",
        description="Convert a musicnn TF1 checkpoint folder into a musicnn_lite weights file.")
    parser.add_argument("checkpoint", help="folder holding .index and .data-00000-of-00001")
    parser.add_argument("output", help="weights file to write (.npz)")
    parser.add_argument("--labels", choices=sorted(LABELS_BY_DATASET),
                        help="tag vocabulary (default: read from config.json or the folder name)")
    args = parser.parse_args(argv)
    try:
        path = convert_checkpoint(args.checkpoint, args.output, args.labels)
    except MusicnnError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
