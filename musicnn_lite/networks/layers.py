"""Pieces every network definition shares: inference batch norm, float32 outputs, loading weights by layer name."""

import keras
import numpy as np
from keras import layers, ops


def batch_norm(name: str) -> layers.BatchNormalization:
    """musicnn's batch normalisation (TF1's epsilon, 1e-3), used with its moving statistics."""
    return layers.BatchNormalization(epsilon=1e-3, name=name)


def float32_outputs(outputs: dict) -> dict:
    """Each named output cast to float32 (under a bfloat16 policy they would be bfloat16)."""
    return {name: ops.cast(tensor, "float32") for name, tensor in outputs.items()}


def load_weights(model: keras.Model, weights: dict[str, np.ndarray]) -> None:
    """Set each layer's variables from `weights`, keyed `<layer>/<variable>` (KeyError if one is missing)."""
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([weights[f"{layer.name}/{variable.name}"] for variable in layer.weights])
