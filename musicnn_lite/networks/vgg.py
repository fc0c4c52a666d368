"""musicnn 0.1.0's VGG-like network as a Keras 3 functional model: five conv blocks, then the logits.

Every convolution is followed by ReLU and batch normalisation (epsilon 1e-3), then max pooling,
as in musicnn's models.py. Its back-end flattens a fixed-size map, so it takes 3-s patches only:
(batch, 187, 96) log-mel frames -> "taggram" (batch, tags), pool1 .. pool5 and penultimate
(pool5 flattened: the input of the output layer, 256 values).
"""

import keras
import numpy as np
from keras import layers, ops

from ..spectrum import N_MELS
from ..zoo import GRAPH_INPUT
from .layers import batch_norm, float32_outputs, load_weights

VGG_FRAMES = 187  # frames of a 3-s patch: the only length the flattened back-end fits

_VGG_POOLS = ((4, 1), (2, 2), (2, 2), (2, 2), (4, 4))
_VGG_STRIDES = ((2, 2), (2, 2), (2, 2), (2, 2), (4, 4))


def build(weights: dict[str, np.ndarray], policy: str) -> keras.Model:
    """The VGG network with `weights` loaded; `policy` is the Keras dtype policy of its convolutions."""
    model = _vgg(lambda name: weights[f"{name}/kernel"].shape, policy)
    load_weights(model, weights)
    return model


def _vgg(kernel_shape, policy: str) -> keras.Model:
    spectrogram = keras.Input((VGG_FRAMES, N_MELS), name=GRAPH_INPUT)
    x = batch_norm("input_bn")(ops.expand_dims(spectrogram, -1))
    outputs = {}
    for i, (pool, stride) in enumerate(zip(_VGG_POOLS, _VGG_STRIDES), start=1):
        x = layers.Conv2D(kernel_shape(f"conv{i}")[-1], 3, padding="same", activation="relu", name=f"conv{i}",
                          dtype=policy)(x)
        x = batch_norm(f"bn{i}")(x)
        x = layers.MaxPooling2D(pool, stride)(x)
        outputs[f"pool{i}"] = x
    penultimate = layers.Flatten()(x)  # the last hidden layer: pool5's (2, 1, filters) as one vector
    logits = layers.Dense(kernel_shape("logits")[-1], name="logits", dtype=policy)(penultimate)
    outputs["pool5"] = ops.squeeze(x, axis=2)  # (batch, 2, 1, filters) -> (batch, 2, filters), as musicnn
    outputs["penultimate"] = penultimate
    return keras.Model(spectrogram, float32_outputs({"taggram": ops.sigmoid(logits), **outputs}), name="vgg")
