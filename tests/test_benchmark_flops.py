"""The benchmark's FLOP count per patch agrees with the network TensorFlow actually runs."""

import importlib.util
import math
from pathlib import Path

import tensorflow as tf

from musicnn_lite import networks, zoo

PROBES = Path(__file__).resolve().parents[1] / "benchmarks" / "probes.py"


def _musicnn_patch_flops():
    spec = importlib.util.spec_from_file_location("probes", PROBES)
    probes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probes)
    return probes.musicnn_patch_flops


def _traced_flops(graph: tf.Graph) -> int:
    """2 x multiply-adds of every convolution and matrix product in a graph with static shapes."""
    flops = 0
    for op in graph.get_operations():
        if op.type == "Conv2D":
            flops += 2 * math.prod(op.outputs[0].shape) * math.prod(op.inputs[1].shape[:-1])
        elif op.type == "MatMul":
            inner = op.inputs[0].shape[0 if op.get_attr("transpose_a") else 1]
            flops += 2 * math.prod(op.outputs[0].shape) * inner
    return flops


def test_flop_count_of_mtt_musicnn_matches_its_traced_graph():
    weights = zoo.load_weights("MTT_musicnn")
    counted = _musicnn_patch_flops()({key: array.shape for key, array in weights.arrays.items()
                                      if key.endswith("/kernel")})
    model = networks.build_model(weights.architecture, weights.arrays)
    one_patch = tf.TensorSpec((1, 187, 96), tf.float32)
    graph = tf.function(lambda patches: model(patches)["taggram"]).get_concrete_function(one_patch).graph

    assert sum(counted.values()) == _traced_flops(graph)
    assert 2.7e9 < sum(counted.values()) < 2.9e9  # the "about 2.8 GFLOP per patch"
