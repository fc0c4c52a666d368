"""Pieces the network definitions share: inference batch norm, the musicnn features, float32 outputs, loading
weights by layer name."""

import keras
import numpy as np
from keras import layers, ops

TORCH_EPSILON = 1e-5  # the batch-norm epsilon of PyTorch-trained networks (the survey's)


def batch_norm(name: str, epsilon: float = 1e-3) -> layers.BatchNormalization:
    """Inference batch normalisation with moving statistics; epsilon 1e-3 is musicnn's (TF1's)."""
    return layers.BatchNormalization(epsilon=epsilon, name=name)


def conv_blocks(spectrogram, weights: dict[str, np.ndarray], pools: tuple[tuple[int, int], ...], policy: str):
    """The survey's FCN and CRNN front: its input batch norm (spec_bn), then one of Choi et al.'s blocks
    per pool, as the survey trained them: 3x3 conv ('same') -> batch norm -> ReLU -> max pool.

    spectrogram is (batch, time, frequency); each pool is (time, frequency), floor-divided like
    PyTorch's. Returns the last block's output (batch, time, frequency, channels) and each block's,
    by name: pool1, pool2, ...
    """
    x = batch_norm("input_bn", TORCH_EPSILON)(ops.expand_dims(spectrogram, -1))
    outputs = {}
    for i, pool in enumerate(pools, start=1):
        x = layers.Conv2D(weights[f"block{i}_conv/kernel"].shape[-1], 3, padding="same", name=f"block{i}_conv",
                          dtype=policy)(x)
        x = ops.relu(batch_norm(f"block{i}_bn", TORCH_EPSILON)(x))
        outputs[f"pool{i}"] = x = layers.MaxPooling2D(pool, name=f"block{i}_pool")(x)
    return x, outputs


def musicnn_features(logits, timbral: list, temporal: list, midend: list, max_pool, mean_pool, penultimate) -> dict:
    """The named outputs of both musicnn networks (0.1.0's and the survey's), from their layers' tensors.

    timbral and temporal: the front-end's branches, joined on the filter axis; midend: the
    front-end's output then "cnn1" .. "cnn3".
    """
    return {
        "taggram": ops.sigmoid(logits),
        "timbral": ops.concatenate(timbral, axis=-1),
        "temporal": ops.concatenate(temporal, axis=-1),
        "cnn1": midend[1], "cnn2": midend[2], "cnn3": midend[3],
        "max_pool": max_pool, "mean_pool": mean_pool, "penultimate": penultimate,
    }


def float32_outputs(outputs: dict) -> dict:
    """Each named output cast to float32 (under a bfloat16 policy they would be bfloat16)."""
    return {name: ops.cast(tensor, "float32") for name, tensor in outputs.items()}


def load_weights(model: keras.Model, weights: dict[str, np.ndarray]) -> None:
    """Set each layer's variables from `weights`, keyed `<layer>/<variable>` (KeyError if one is missing)."""
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([weights[f"{layer.name}/{variable.name}"] for variable in layer.weights])
