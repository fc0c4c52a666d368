"""The survey's FCN (Choi et al. 2016, retrained by Won et al. 2020) as a Keras 3 functional model.

Five conv blocks (3x3 conv, batch norm, ReLU, max pool) shrink a 29-s chunk's dB mel spectrogram
(batch, 1813, 96) to one 64-channel cell, whose 64 values feed the logits. The flattened back-end
fits that one length only. Outputs: "taggram" (batch, tags), "pool1" .. "pool5" (batch, time,
frequency, channels) and "penultimate" (batch, 64), the flattened fifth block.
"""

import keras
import numpy as np
from keras import layers, ops

from ..spectrum import N_MELS
from ..zoo import GRAPH_INPUT
from .layers import conv_blocks, float32_outputs, load_weights

FCN_FRAMES = 1813  # frames of a 29-s chunk (464,000 samples, hop 256, centred)
_POOLS = ((4, 2), (4, 2), (4, 2), (5, 3), (4, 4))  # (time, frequency): 1813 x 96 -> 1 x 1


def build(weights: dict[str, np.ndarray], policy: str) -> keras.Model:
    """The FCN with `weights` loaded; `policy` is the Keras dtype policy of its convolutions."""
    spectrogram = keras.Input((FCN_FRAMES, N_MELS), name=GRAPH_INPUT)
    x, outputs = conv_blocks(spectrogram, weights, _POOLS, policy)
    penultimate = layers.Flatten()(x)
    logits = layers.Dense(weights["logits/kernel"].shape[-1], name="logits", dtype=policy)(penultimate)
    model = keras.Model(spectrogram, float32_outputs(
        {"taggram": ops.sigmoid(logits), **outputs, "penultimate": penultimate}), name="fcn")
    load_weights(model, weights)
    return model
