"""The survey models' dB mel front-end: numpy (musicnn_lite.db_mel) against an ONNX graph (opset 17 STFT).

    python benchmarks/db_mel_front_end.py                      # MTT_fcn's filterbank, 29-s and 3-s chunks
    python benchmarks/db_mel_front_end.py --weights weights/Jamendo_musicnn.npz

Both compute, per chunk, the same thing: reflect padding of n_fft / 2 at the chunk's edges, a periodic
Hann window, power 2, the checkpoint's mel filterbank, 10 * log10(max(x, 1e-10)). The ONNX graph is
built here with onnx.helper (Pad reflect -> STFT -> power -> MatMul -> Max -> Log) and run on ONNX
Runtime's CPU provider with the session options of musicnn_lite.runtimes (no spinning). Prints ms per
chunk (median of --rounds, each over --chunks chunks of a reference clip), and the largest dB and
relative-power difference between the two on that clip.
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from musicnn_lite.audio import load_audio
from musicnn_lite.db_mel import AMIN, db_mel, periodic_hann
from musicnn_lite.front_end import DbMelFrontEnd
from musicnn_lite.zoo import load_weights

REPO = Path(__file__).resolve().parent.parent
CLIP = REPO / "tests" / "data" / "audio" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"


def onnx_front_end(front_end: DbMelFrontEnd, chunk_samples: int) -> onnx.ModelProto:
    """An ONNX graph: waveform chunks (chunks, chunk_samples) float32 -> dB mel (chunks, frames, mels)."""
    half, n_fft = front_end.n_fft // 2, front_end.n_fft
    constants = {
        "pads": np.array([0, half, 0, half], np.int64),
        "step": np.array(front_end.hop_length, np.int64),
        "window": periodic_hann(n_fft).astype(np.float32),
        "length": np.array(n_fft, np.int64),
        "filterbank": front_end.mel_filterbank.astype(np.float32),
        "amin": np.array(AMIN, np.float32),
        "db": np.array(10 / np.log(10), np.float32),
        "real_axis": np.array([-1], np.int64),
    }
    nodes = [
        helper.make_node("Pad", ["chunks", "pads"], ["padded"], mode="reflect"),
        helper.make_node("Unsqueeze", ["padded", "real_axis"], ["signal"]),  # (chunks, samples, 1): real input
        helper.make_node("STFT", ["signal", "step", "window", "length"], ["stft"], onesided=1),
        helper.make_node("Mul", ["stft", "stft"], ["squares"]),
        helper.make_node("ReduceSum", ["squares", "real_axis"], ["power"], keepdims=0),  # (chunks, frames, bins)
        helper.make_node("MatMul", ["power", "filterbank"], ["mel"]),
        helper.make_node("Max", ["mel", "amin"], ["clamped"]),
        helper.make_node("Log", ["clamped"], ["log"]),
        helper.make_node("Mul", ["log", "db"], ["spectrogram"]),
    ]
    graph = helper.make_graph(
        nodes, "db_mel",
        [helper.make_tensor_value_info("chunks", TensorProto.FLOAT, ["chunks", chunk_samples])],
        [helper.make_tensor_value_info("spectrogram", TensorProto.FLOAT,
                                       ["chunks", front_end.frames(chunk_samples), front_end.n_mels])],
        [numpy_helper.from_array(value, name) for name, value in constants.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def session(model: onnx.ModelProto) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def median_ms(run, chunks: np.ndarray, rounds: int) -> float:
    run(chunks)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run(chunks)
        times.append((time.perf_counter() - start) * 1000 / len(chunks))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=str(REPO / "weights" / "MTT_fcn.npz"))
    parser.add_argument("--chunks", type=int, default=4, help="chunks per call")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    front_end = load_weights(args.weights).front_end
    audio = load_audio(CLIP)

    def numpy_run(batch):
        return db_mel(batch, front_end.mel_filterbank, front_end.n_fft, front_end.hop_length)

    for chunk_samples in (464_000, 48_000):
        chunks = np.resize(audio, args.chunks * chunk_samples).reshape(args.chunks, chunk_samples)
        graph = session(onnx_front_end(front_end, chunk_samples))

        def onnx_run(batch, graph=graph):
            return graph.run(["spectrogram"], {"chunks": batch})[0]

        ours, theirs = numpy_run(chunks), onnx_run(chunks)
        relative = np.abs(10 ** (ours / 10) - 10 ** (theirs / 10)).max() / 10 ** (ours.max() / 10)
        numpy_ms, onnx_ms = (median_ms(run, chunks, args.rounds) for run in (numpy_run, onnx_run))
        print(f"{chunk_samples / front_end.sample_rate:4.0f}-s chunks: numpy {numpy_ms:6.2f} ms, "
              f"ONNX Runtime {onnx_ms:6.2f} ms per chunk; "
              f"largest difference {np.abs(ours - theirs).max():.3g} dB, {relative:.2g} of the largest mel power")


if __name__ == "__main__":
    main()
