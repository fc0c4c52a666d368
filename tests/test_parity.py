"""The bundled models reproduce musicnn 0.1.0's outputs on the reference clips, on every runtime."""

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from musicnn_lite import Tagger, extractor, top_tags

from conftest import CLIPS, MODELS, golden

TAGGRAM_TOLERANCE = 1e-5
FEATURE_TOLERANCE = 1e-4  # relative to the reference feature's largest magnitude


@functools.cache
def _tagger(model: str, runtime: str) -> Tagger:
    return Tagger(model, runtime=runtime)


@pytest.mark.parametrize("runtime", ["onnx", "keras"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("clip", CLIPS)
def test_taggram_and_features_match_musicnn(clip, model, runtime):
    expected = golden(clip, model)
    result = _tagger(model, runtime).tag(CLIPS[clip], features=True)
    taggram, tags, features = result.taggram, result.tags, result.features
    assert tags == expected["tags"].tolist()
    assert taggram.shape == expected["taggram"].shape
    assert np.abs(taggram - expected["taggram"]).max() <= TAGGRAM_TOLERANCE
    top10 = expected["taggram"].mean(axis=0).argsort()[-10:][::-1]
    assert (taggram.mean(axis=0).argsort()[-10:][::-1] == top10).all()
    for name in features:
        shape = tuple(expected[f"{name}.shape"])
        feature = features[name][:shape[0]]  # musicnn's VGG pool1/pool2 golden keep the first 2 patches
        assert feature.shape == shape, name
        scale = expected[f"{name}.absmax"]
        sampled = feature.reshape(-1)[expected[f"{name}.index"]]
        assert np.abs(sampled - expected[f"{name}.values"]).max() <= FEATURE_TOLERANCE * scale, name
        patch_mean = feature.reshape(shape[0], -1).mean(axis=1)
        assert np.abs(patch_mean - expected[f"{name}.patch_mean"]).max() <= FEATURE_TOLERANCE * scale, name


@pytest.mark.parametrize("model", ["MTT_musicnn", "MSD_musicnn"])
@pytest.mark.parametrize("clip", CLIPS)
def test_step_and_length_options_match_musicnn(clip, model):
    expected = golden(clip, model)
    hop1s, _ = extractor(CLIPS[clip], model=model, input_overlap=1, extract_features=False)
    len5s, _ = extractor(CLIPS[clip], model=model, input_length=5, extract_features=False)
    assert hop1s.shape == expected["taggram_hop1s"].shape
    assert np.abs(hop1s - expected["taggram_hop1s"]).max() <= TAGGRAM_TOLERANCE
    assert len5s.shape == expected["taggram_len5s"].shape
    assert np.abs(len5s - expected["taggram_len5s"]).max() <= TAGGRAM_TOLERANCE


def test_readme_examples_of_musicnn_reproduce():
    assert top_tags(CLIPS["joram"], topN=10, print_tags=False) == [
        "techno", "electronic", "synth", "fast", "beat", "drums", "no vocals", "no vocal", "dance", "ambient"]
    assert top_tags(CLIPS["muddy"], print_tags=False) == ["guitar", "piano", "fast"]


def test_keras_runtime_on_the_jax_backend_matches_musicnn():
    """Keras 3 runs the same model code on JAX: every bundled model's taggram within 1e-5 of musicnn's."""
    program = (
        "import json, sys\n"
        "from musicnn_lite import Tagger\n"
        "clip, models = sys.argv[1], sys.argv[2:]\n"
        "import keras\n"
        "print(json.dumps({'backend': keras.backend.backend(), 'taggrams': "
        "{m: Tagger(m, runtime='keras').tag(clip).taggram.tolist() for m in models}}))\n")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", program, str(CLIPS["joram"]), *MODELS], capture_output=True,
                          text=True, env=env, cwd=Path(__file__).parents[1], timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    output = json.loads(done.stdout.splitlines()[-1])
    assert output["backend"] == "jax"
    for model in MODELS:
        assert np.abs(np.array(output["taggrams"][model]) - golden("joram", model)["taggram"]).max() \
            <= TAGGRAM_TOLERANCE, model
