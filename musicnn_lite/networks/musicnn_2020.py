"""The survey's musicnn (Pons et al., as Won et al. 2020 reimplemented and retrained it), Keras 3 functional.

It differs from musicnn 0.1.0's network: batch norm comes before ReLU; the timbral filters span 7
frames by 67 and 38 mel bands and are max-pooled over frequency; the temporal filters (129, 65 and
33 frames) run on the spectrogram averaged over frequency; the back-end concatenates all max pools
before all mean pools. Layer sizes come from the weight shapes (the MSD model is wider). Input: dB
mel patches (batch, frames, 96), any number of frames (trained on 188, 3 s). Outputs: "taggram"
(batch, tags), "timbral" and "temporal" (batch, frames, filters), "cnn1" .. "cnn3" (batch, frames,
filters), "max_pool" and "mean_pool" (batch, features) and "penultimate" (batch, 200).
"""

import keras
import numpy as np
from keras import layers, ops

from ..spectrum import N_MELS
from ..zoo import GRAPH_INPUT
from .layers import TORCH_EPSILON, batch_norm, float32_outputs, load_weights, musicnn_features

TIMBRAL_BANDS = (67, 38)  # int(0.7 * 96), int(0.4 * 96) mel bands, by 7 frames
TEMPORAL_FRAMES = (129, 65, 33)


def build(weights: dict[str, np.ndarray], policy: str) -> keras.Model:
    """The survey's musicnn with `weights` loaded; `policy` is the Keras dtype policy of its convolutions."""
    def conv_bn_relu(convolution, x, name: str, kernel, **options):
        """convolution (Conv1D or Conv2D) `name`_conv, then batch norm `name`_bn, then ReLU."""
        z = convolution(weights[f"{name}_conv/kernel"].shape[-1], kernel, name=f"{name}_conv", dtype=policy,
                        **options)(x)
        return ops.relu(batch_norm(f"{name}_bn", TORCH_EPSILON)(z))

    spectrogram = keras.Input((None, N_MELS), name=GRAPH_INPUT)
    x = batch_norm("input_bn", TORCH_EPSILON)(ops.expand_dims(spectrogram, -1))

    # Front-end: timbral filters max-pooled over frequency, temporal filters on the frequency mean.
    x_padded = layers.ZeroPadding2D(((3, 3), (0, 0)))(x)
    timbral = [ops.max(conv_bn_relu(layers.Conv2D, x_padded, f"timbral_{bands}", (7, bands)), axis=2)
               for bands in TIMBRAL_BANDS]
    x_mean = ops.mean(x[..., 0], axis=2, keepdims=True)  # (batch, frames, 1)
    temporal = [conv_bn_relu(layers.Conv1D, x_mean, f"temporal_{frames}", frames, padding="same")
                for frames in TEMPORAL_FRAMES]
    front = ops.concatenate(timbral + temporal, axis=-1)

    # Mid-end: three width-7 1-D convolutions over time, the last two residual.
    midend = [front]
    for i in (1, 2, 3):
        h = conv_bn_relu(layers.Conv1D, midend[-1], f"midend_{i}", 7, padding="same")
        midend.append(h if i == 1 else layers.Add()([h, midend[-1]]))
    dense_features = ops.concatenate(midend, axis=-1)

    # Back-end: every max over time, then every mean, into one hidden layer and the logits.
    max_pool = ops.max(dense_features, axis=1)
    mean_pool = ops.mean(dense_features, axis=1)
    hidden = layers.Dense(weights["penultimate_dense/kernel"].shape[-1], name="penultimate_dense", dtype=policy)(
        ops.concatenate([max_pool, mean_pool], axis=-1))
    penultimate = ops.relu(batch_norm("penultimate_bn", TORCH_EPSILON)(hidden))
    logits = layers.Dense(weights["logits/kernel"].shape[-1], name="logits", dtype=policy)(penultimate)

    outputs = musicnn_features(logits, timbral, temporal, midend, max_pool, mean_pool, penultimate)
    model = keras.Model(spectrogram, float32_outputs(outputs), name="musicnn_2020")
    load_weights(model, weights)
    return model
