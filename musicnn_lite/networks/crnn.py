"""The survey's CRNN (Choi et al. 2017, retrained by Won et al. 2020) as a Keras 3 functional model.

Four conv blocks (3x3 conv, batch norm, ReLU, max pool) shrink the dB mel spectrogram of a 29-s
chunk (batch, 1813, 96) to 18 steps of 128 channels; two stacked GRUs of 32 units summarise them,
and the last step of the second feeds the logits. The GRUs are PyTorch's formulation, which Keras
calls reset_after (the reset gate scales the recurrent product, bias included). Outputs: "taggram"
(batch, tags), "pool1" .. "pool4" (batch, time, frequency, channels), "gru1" and "gru2" (batch,
steps, 32) and "penultimate" (batch, 32), the last step of "gru2".
"""

import keras
import numpy as np
from keras import layers, ops

from ..spectrum import N_MELS
from ..zoo import GRAPH_INPUT
from .layers import conv_blocks, float32_outputs, load_weights

_POOLS = ((2, 2), (3, 3), (4, 4), (4, 4))  # (time, frequency): 96 mel bands -> 1


def build(weights: dict[str, np.ndarray], policy: str) -> keras.Model:
    """The CRNN with `weights` loaded; `policy` is the Keras dtype policy of its convolutions and GRUs."""
    spectrogram = keras.Input((None, N_MELS), name=GRAPH_INPUT)
    x, outputs = conv_blocks(spectrogram, weights, _POOLS, policy)
    x = ops.squeeze(x, axis=2)  # (batch, steps, 1, channels) -> (batch, steps, channels)
    for i in (1, 2):
        x = layers.GRU(weights[f"gru{i}/recurrent_kernel"].shape[0], return_sequences=True, reset_after=True,
                       name=f"gru{i}", dtype=policy)(x)
        outputs[f"gru{i}"] = x
    penultimate = x[:, -1]
    logits = layers.Dense(weights["logits/kernel"].shape[-1], name="logits", dtype=policy)(penultimate)
    model = keras.Model(spectrogram, float32_outputs(
        {"taggram": ops.sigmoid(logits), **outputs, "penultimate": penultimate}), name="crnn")
    load_weights(model, weights)
    return model
