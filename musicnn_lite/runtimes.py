"""What runs a network: log-mel patches (batch, frames, 96) float32 in, named outputs out.

Two runtimes serve one interface, `Runtime.run(patches, names)`:
- "onnx": ONNX Runtime on the graph exported from the Keras model (weights/<model>.onnx).
  It imports in a tenth of a second and never imports TensorFlow; the default.
- "keras": the Keras model itself, the reference; TensorFlow by default, JAX or PyTorch
  through KERAS_BACKEND. Needed for bfloat16 and for weights that have no exported graph.
The rest of the pipeline does not know which one runs.
"""

import contextlib
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import MusicnnError
from .tensorflow_noise import hide_retracing_warnings, tensorflow_noise_filtered
from .zoo import GRAPH_INPUT, ModelWeights, WeightsMismatch, weights_digest

RUNTIMES = ("auto", "onnx", "keras")
WEIGHTS_DIGEST_KEY = "weights_sha256"  # ONNX metadata: the weights file the graph was exported from


class Runtime(Protocol):
    name: str

    def run(self, patches: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Outputs for patches (batch, frames, 96) float32: "taggram" (batch, tags) and each named feature."""


def open_runtime(weights: ModelWeights, weights_file: Path, runtime: str, precision: str,
                 batch_size: int, threads: int | None = None) -> Runtime:
    """The runtime asked for; "auto" is ONNX Runtime whenever it can serve the request, else Keras.

    ONNX Runtime serves float32 when the graph beside the weights file was exported from
    those very weights (its metadata holds their sha256). threads: the most CPU threads the
    network may compute on (None: the runtime's default, one per core).
    """
    if runtime not in RUNTIMES:
        raise MusicnnError(f"runtime={runtime!r} is not supported; use one of {', '.join(map(repr, RUNTIMES))}")
    if runtime == "keras" or (runtime == "auto" and precision != "float32"):
        return KerasRuntime(weights, weights_file, precision, batch_size, threads)
    if precision != "float32":
        raise MusicnnError(f"precision={precision!r} runs on the Keras runtime only; use runtime='keras' or 'auto'")
    graph = weights_file.with_suffix(".onnx")
    if not graph.is_file():
        problem = f"{weights_file} has no ONNX graph beside it ({graph.name})"
    else:
        onnx = OnnxRuntime(graph, threads)
        if onnx.weights_digest == weights_digest(weights_file):
            return onnx
        problem = f"{graph} was not exported from {weights_file} (weights digest differs)"
    if runtime == "auto":
        return KerasRuntime(weights, weights_file, precision, batch_size, threads)
    raise MusicnnError(f"{problem}; write it with `python -m musicnn_lite.convert --onnx {weights_file}`, "
                       "or use runtime='keras'")


class OnnxRuntime:
    """ONNX Runtime on the CPU; any batch size, and any number of frames for musicnn graphs.

    Its worker threads are told not to spin between batches: a busy-wait takes the cores from
    the audio decoding threads (a folder took 1.13x as long with spinning, benchmarks/overlap.py).
    Their number is ONNX Runtime's default; no other count measured faster on 2 cores.
    """

    name = "onnx"

    def __init__(self, graph: Path, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: the CPU provider's informational lines are noise here
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's default, one thread per core
        try:
            self._session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for unreadable graphs
            raise MusicnnError(f"{graph} is not a valid ONNX graph ({error}); re-export it with "
                               f"`python -m musicnn_lite.convert --onnx {graph.with_suffix('.npz')}`") from error

    @property
    def weights_digest(self) -> str | None:
        """The sha256 of the weights file the graph was exported from, as its metadata records it."""
        return self._session.get_modelmeta().custom_metadata_map.get(WEIGHTS_DIGEST_KEY)

    def run(self, patches: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        wanted = ("taggram", *names)
        outputs = self._session.run(wanted, {GRAPH_INPUT: np.ascontiguousarray(patches, np.float32)})
        return dict(zip(wanted, outputs))


class KerasRuntime:
    """The Keras model on the backend KERAS_BACKEND names (TensorFlow by default), compiled per output set.

    Batches are padded to a power of two up to batch_size so that the graph is traced
    only a few times. Start-up is as quiet as ONNX Runtime's (see `tensorflow_noise_filtered`).
    """

    name = "keras"

    def __init__(self, weights: ModelWeights, weights_file: Path, precision: str, batch_size: int,
                 threads: int | None = None):
        with tensorflow_noise_filtered():
            import keras

            if keras.backend.backend() == "tensorflow":
                hide_retracing_warnings()
            if threads:
                _limit_backend_threads(keras.backend.backend(), threads)
            self._network = keras_network(weights, weights_file, precision)
        self._batch_size = batch_size
        self._exact = _exact_float32 if precision == "float32" else contextlib.nullcontext
        self._runners = {}
        self._lock = threading.Lock()

    def run(self, patches: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        padded = np.zeros((min(self._batch_size, 1 << (len(patches) - 1).bit_length()), *patches.shape[1:]),
                          np.float32)
        padded[:len(patches)] = patches
        with self._lock, self._exact():  # the compiled models are built and called one thread at a time
            outputs = self._runner(names).predict_on_batch(padded)
        return {name: np.asarray(value)[:len(patches)] for name, value in outputs.items()}

    def _runner(self, names: tuple[str, ...]):
        """A compiled model with the taggram and the named features as outputs, built once per set."""
        if names not in self._runners:
            import keras

            outputs = {name: self._network.output[name] for name in ("taggram", *names)}
            runner = keras.Model(self._network.input, outputs)
            # XLA measured slower on CPU; other backends (JAX, PyTorch on GPU) choose for themselves.
            runner.compile(jit_compile=False if keras.backend.backend() == "tensorflow" else "auto")
            self._runners[names] = runner
        return self._runners[names]


def keras_network(weights: ModelWeights, weights_file: Path, precision: str = "float32"):
    """The Keras model of `weights` (see networks.build_model); WeightsMismatch where they do not fit it."""
    from . import networks

    try:
        return networks.build_model(weights.architecture, weights.arrays, precision)
    except (KeyError, ValueError) as error:  # a variable missing or of the wrong shape
        raise WeightsMismatch(weights_file, weights.architecture, str(error)) from None


def _limit_backend_threads(backend: str, threads: int) -> None:
    """Compute on at most `threads` CPU threads on the Keras backend, where it can be set for the process."""
    if backend == "tensorflow":
        import tensorflow as tf

        settings = tf.config.threading
        try:
            settings.set_intra_op_parallelism_threads(threads)
            settings.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow has started: its pools are made; fine if they are this size already
            if settings.get_intra_op_parallelism_threads() != threads:
                raise MusicnnError(f"threads={threads}: TensorFlow has already started in this process with "
                                   f"{settings.get_intra_op_parallelism_threads() or 'its default'} threads; give "
                                   "every Keras Tagger of a process the same threads, or use runtime='onnx'") from None
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)
    else:
        raise MusicnnError(f"threads= is not supported on Keras' {backend} backend; leave it out, "
                           "or use runtime='onnx'")


def _exact_float32():
    """A context in which float32 means float32 on the Keras backend in use.

    JAX on a GPU multiplies float32 matrices in TF32 by default: measured on an H200, the
    taggram then differs from musicnn's by up to 1.7e-3; at "highest" precision by 1.6e-6.
    TensorFlow on a CPU (and JAX on a CPU) compute in float32 anyway.
    """
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.default_matmul_precision("highest")
    return contextlib.nullcontext()
