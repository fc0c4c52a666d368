"""musicnn 0.1.0's musicnn network as a Keras 3 functional model (keras.layers / keras.ops only).

An inference port of musicnn's models.py: every convolution is followed by ReLU and then
batch normalisation (epsilon 1e-3, moving statistics). Layer sizes come from the weight
shapes, so wider variants such as MSD_musicnn_big build too. The model maps log-mel patches
(batch, frames, 96), any number of frames, to "taggram" (batch, tags) and every intermediate
feature by name.
"""

import keras
import numpy as np
from keras import layers, ops

from ..spectrum import N_MELS
from ..zoo import GRAPH_INPUT
from .layers import batch_norm, float32_outputs, load_weights, musicnn_features

_TIMBRAL_WIDTHS = (38, 67)      # int(0.4 * 96), int(0.7 * 96) mel bands
_TEMPORAL_LENGTHS = (128, 64, 32)  # frames


def build(weights: dict[str, np.ndarray], policy: str) -> keras.Model:
    """The musicnn network with `weights` loaded; `policy` is the Keras dtype policy of its convolutions."""
    model = _musicnn(lambda name: weights[f"{name}/kernel"].shape, policy)
    load_weights(model, _front_end_for_inference(weights))
    return model


class FrequencyMaxReluBatchNorm(layers.Layer):
    """ReLU, batch norm and max over frequency of a conv output, max first: (b, t, c).

    musicnn computes max_f(bn(relu(z))). Inference batch norm is a per-channel affine
    map with slope sign(gamma), and ReLU is monotone, so for gamma >= 0 this equals
    bn(relu(max_f z)), and for gamma < 0 it equals bn(relu(min_f z)) = bn(relu(-max_f(-z))).
    `build_model` negates the kernel and bias of the gamma < 0 channels, so the layer
    only needs a max and a sign: one pass over the largest tensors of the network
    instead of four, with the same result.
    """

    def __init__(self, frequency_axis: int, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.frequency_axis = frequency_axis
        self.epsilon = epsilon

    def build(self, input_shape):
        for name in ("gamma", "beta", "moving_mean", "moving_variance"):
            setattr(self, name, self.add_weight(shape=(input_shape[-1],), name=name, trainable=False))

    def call(self, z):
        sign = ops.where(self.gamma >= 0, 1.0, -1.0)
        scale = self.gamma * ops.rsqrt(self.moving_variance + self.epsilon)
        return ops.relu(sign * ops.max(z, axis=self.frequency_axis)) * scale + (self.beta - self.moving_mean * scale)


def _frequency_pooled_block(x, filters: int, kernel: tuple[int, int], padding: str, name: str, policy: str,
                            frequency_axis: int = 2):
    """musicnn's front-end block, conv -> ReLU -> batch norm -> max over frequency: (b, t, c)."""
    z = layers.Conv2D(filters, kernel, padding=padding, name=f"{name}_conv", dtype=policy)(x)
    return FrequencyMaxReluBatchNorm(frequency_axis, name=f"{name}_bn")(z)


def _front_end_for_inference(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Front-end kernels as this module's layers use them (same results as musicnn's).

    Channels whose batch-norm gamma is negative get their kernel and bias negated (see
    FrequencyMaxReluBatchNorm). Temporal kernels (t, 1, 1, c) become (1, t, 1, c): they
    run on the spectrogram transposed to (frequency, time), which oneDNN does faster and,
    in bfloat16, without a 1.4 GB scratch buffer.
    """
    prepared = dict(weights)
    for name in [key.removesuffix("_conv/kernel") for key in weights
                 if key.startswith(("timbral_", "temporal_")) and key.endswith("_conv/kernel")]:
        sign = np.where(weights[f"{name}_bn/gamma"] >= 0, 1, -1).astype(np.float32)
        kernel = weights[f"{name}_conv/kernel"] * sign
        prepared[f"{name}_conv/kernel"] = kernel.transpose(1, 0, 2, 3) if name.startswith("temporal_") else kernel
        prepared[f"{name}_conv/bias"] = weights[f"{name}_conv/bias"] * sign
    return prepared


def _musicnn(kernel_shape, policy: str) -> keras.Model:
    spectrogram = keras.Input((None, N_MELS), name=GRAPH_INPUT)
    x = batch_norm("input_bn")(ops.expand_dims(spectrogram, -1))

    # Front-end: timbral (7 x bands) and temporal (frames x 1) filters, each max-pooled over frequency.
    x_padded = layers.ZeroPadding2D(((3, 3), (0, 0)))(x)
    timbral = [_frequency_pooled_block(x_padded, kernel_shape(f"timbral_{w}_conv")[-1], (7, w), "valid",
                                       f"timbral_{w}", policy) for w in _TIMBRAL_WIDTHS]
    x_by_frequency = ops.transpose(x, (0, 2, 1, 3))  # (batch, 96, frames, 1)
    temporal = [_frequency_pooled_block(x_by_frequency, kernel_shape(f"temporal_{t}_conv")[-1], (1, t), "same",
                                        f"temporal_{t}", policy, frequency_axis=1) for t in _TEMPORAL_LENGTHS]
    front = ops.concatenate(timbral + temporal, axis=-1)

    # Mid-end: three width-7 1-D convolutions over time, the last two residual.
    midend = [front]
    for i in (1, 2, 3):
        filters = kernel_shape(f"midend_{i}_conv")[-1]
        h = layers.Conv1D(filters, 7, padding="same", activation="relu", name=f"midend_{i}_conv",
                          dtype=policy)(midend[-1])
        h = batch_norm(f"midend_{i}_bn")(h)
        midend.append(h if i == 1 else layers.Add()([h, midend[-1]]))
    dense_features = ops.concatenate(midend, axis=-1)

    # Back-end: max and mean over time, interleaved (max0, mean0, max1, ...) as musicnn flattens them.
    max_pool = ops.max(dense_features, axis=1)
    mean_pool = ops.mean(dense_features, axis=1)
    pooled = layers.Flatten()(ops.stack([max_pool, mean_pool], axis=-1))
    pooled = batch_norm("pool_bn")(pooled)
    units = kernel_shape("penultimate_dense")[-1]
    penultimate = batch_norm("penultimate_bn")(
        layers.Dense(units, activation="relu", name="penultimate_dense", dtype=policy)(pooled))
    logits = layers.Dense(kernel_shape("logits")[-1], name="logits", dtype=policy)(penultimate)

    outputs = musicnn_features(logits, timbral, temporal, midend, max_pool, mean_pool, penultimate)
    return keras.Model(spectrogram, float32_outputs(outputs), name="musicnn")
