"""Pieces every network definition shares: inference batch norm, float32 outputs, loading weights by layer name."""

import keras
import numpy as np
from keras import layers, ops

TORCH_EPSILON = 1e-5  # the batch-norm epsilon of PyTorch-trained networks (the survey's)


def batch_norm(name: str, epsilon: float = 1e-3) -> layers.BatchNormalization:
    """Inference batch normalisation with moving statistics; epsilon 1e-3 is musicnn's (TF1's)."""
    return layers.BatchNormalization(epsilon=epsilon, name=name)


def conv_block(x, filters: int, pool: tuple[int, int], name: str, policy: str):
    """Choi et al.'s block as the survey trained it: 3x3 conv ('same') -> batch norm -> ReLU -> max pool.

    x is (batch, time, frequency, channels); `pool` is (time, frequency), floor-divided like PyTorch's.
    """
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv", dtype=policy)(x)
    x = ops.relu(batch_norm(f"{name}_bn", TORCH_EPSILON)(x))
    return layers.MaxPooling2D(pool, name=f"{name}_pool")(x)


def float32_outputs(outputs: dict) -> dict:
    """Each named output cast to float32 (under a bfloat16 policy they would be bfloat16)."""
    return {name: ops.cast(tensor, "float32") for name, tensor in outputs.items()}


def load_weights(model: keras.Model, weights: dict[str, np.ndarray]) -> None:
    """Set each layer's variables from `weights`, keyed `<layer>/<variable>` (KeyError if one is missing)."""
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([weights[f"{layer.name}/{variable.name}"] for variable in layer.weights])
