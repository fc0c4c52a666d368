"""The converter reads any musicnn-format TF1 checkpoint, including wider models than the bundled ones."""

import numpy as np
import pytest

from musicnn_lite import MusicnnError, Tagger
from musicnn_lite.convert import convert_checkpoint, main
from musicnn_lite.zoo import load_weights


def _musicnn_variables(midend: int, backend: int, rng) -> dict[str, np.ndarray]:
    """Random variables with musicnn's TF1 names and shapes (front-end as published)."""
    shapes = {"conv2d": (7, 38, 1, 204), "conv2d_1": (7, 67, 1, 204), "conv2d_2": (128, 1, 1, 51),
              "conv2d_3": (64, 1, 1, 51), "conv2d_4": (32, 1, 1, 51), "conv2d_5": (7, 561, 1, midend),
              "conv2d_6": (7, midend, 1, midend), "conv2d_7": (7, midend, 1, midend),
              "dense": (2 * (561 + 3 * midend), backend), "dense_1": (backend, 50)}
    variables = {}
    for name, shape in shapes.items():
        variables[f"{name}/kernel"] = rng.normal(0, 0.05, shape)
        variables[f"{name}/bias"] = rng.normal(0, 0.05, shape[-1])
    bn_sizes = [1, 204, 204, 51, 51, 51, midend, midend, midend, 2 * (561 + 3 * midend), backend]
    for i, size in enumerate(bn_sizes):
        name = "batch_normalization" + (f"_{i}" if i else "")
        variables[f"{name}/gamma"] = rng.uniform(0.5, 1.5, size)
        variables[f"{name}/beta"] = rng.normal(0, 0.1, size)
        variables[f"{name}/moving_mean"] = rng.normal(0, 0.1, size)
        variables[f"{name}/moving_variance"] = rng.uniform(0.5, 1.5, size)
    variables["dense/kernel/Adam"] = np.zeros(shapes["dense"])  # optimiser slots must be dropped
    return {name: value.astype(np.float32) for name, value in variables.items()}


def _write_checkpoint(folder, variables) -> None:
    """Save `variables` as a TF1 checkpoint named like musicnn's (folder/.index, folder/.data-*)."""
    import tensorflow as tf

    folder.mkdir()
    with tf.Graph().as_default():
        tf_variables = [tf.compat.v1.get_variable(name, initializer=value) for name, value in variables.items()]
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver(tf_variables).save(session, str(folder) + "/")


@pytest.fixture(scope="module")
def big_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints") / "MSD_musicnn_wide"
    variables = _musicnn_variables(midend=16, backend=12, rng=np.random.default_rng(0))
    _write_checkpoint(folder, variables)
    return folder, variables


def test_converted_file_holds_the_checkpoint_values_without_optimiser_slots(big_checkpoint, tmp_path):
    folder, variables = big_checkpoint
    weights = load_weights(convert_checkpoint(folder, tmp_path / "wide.npz"))
    assert weights.architecture == "musicnn" and weights.labels[0] == "rock"  # MSD, from the folder name
    np.testing.assert_array_equal(weights.arrays["timbral_67_conv/kernel"], variables["conv2d_1/kernel"])
    np.testing.assert_array_equal(weights.arrays["midend_2_conv/kernel"], variables["conv2d_6/kernel"][:, :, 0])
    np.testing.assert_array_equal(weights.arrays["penultimate_bn/moving_variance"],
                                  variables["batch_normalization_10/moving_variance"])
    assert not any("Adam" in key for key in weights.arrays)


def test_wider_model_builds_from_its_weights_and_tags_by_path(big_checkpoint, tmp_path):
    folder, _ = big_checkpoint
    path = tmp_path / "wide.npz"
    assert main([str(folder), str(path), "--labels", "MSD"]) == 0
    tagger = Tagger(path)
    assert tagger.runtime == "onnx" and path.with_suffix(".onnx").is_file()  # the converter wrote its graph
    result = tagger.tag(np.zeros(16000 * 4, np.float32), sr=16000, features=True)
    assert result.taggram.shape == (1, 50)
    assert result.features["cnn3"].shape == (1, 187, 16)
    assert result.features["penultimate"].shape == (1, 12)


def test_folder_that_is_not_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(MusicnnError, match="not a musicnn checkpoint folder"):
        convert_checkpoint(tmp_path, tmp_path / "out.npz")
    assert main([str(tmp_path), str(tmp_path / "out.npz")]) == 2


def test_invalid_weights_files_are_refused_without_unpickling(tmp_path):
    not_zip = tmp_path / "garbage.npz"
    not_zip.write_bytes(b"definitely not a zip archive")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, architecture=np.array("musicnn"), labels=np.array([{"x": 1}], dtype=object))
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, something=np.zeros(3))
    for path in (not_zip, pickled, wrong):
        with pytest.raises(MusicnnError, match="not a valid musicnn_lite weights file"):
            Tagger(path)
