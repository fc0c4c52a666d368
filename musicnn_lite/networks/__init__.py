"""The networks as Keras 3 functional models, one module per architecture: the one definition of each.

Each maps a batch of its front-end's patches (batch, frames, mel bands) to a dict of named
outputs: "taggram" (batch, tags) and every intermediate feature. The ONNX graphs are exported
from these models (see convert), and the Keras runtime runs them directly.
"""

import keras
import numpy as np

from . import crnn, fcn, musicnn, musicnn_2020, vgg

_BUILDERS = {"musicnn": musicnn.build, "vgg": vgg.build, "fcn": fcn.build, "crnn": crnn.build,
             "musicnn_2020": musicnn_2020.build}


def build_model(architecture: str, weights: dict[str, np.ndarray], precision: str = "float32") -> keras.Model:
    """A Keras model for `architecture` with `weights` (keyed `<layer>/<variable>`) loaded.

    precision "bfloat16" runs the convolutions and dense layers under Keras'
    "mixed_bfloat16" policy (bfloat16 inputs and products, float32 weights): faster on
    CPUs with AMX or AVX512-BF16, approximate. Batch norm, pooling and every output stay float32.
    """
    policy = "mixed_bfloat16" if precision == "bfloat16" else "float32"
    return _BUILDERS[architecture](weights, policy)
