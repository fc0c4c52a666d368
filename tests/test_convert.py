"""The converter reads any musicnn-format TF1 checkpoint, including wider models than the bundled ones,
and the survey's PyTorch checkpoints (.pth through torch, or their state dicts as .npz)."""

import re
import sys

import numpy as np
import pytest

from musicnn_lite import MusicnnError, Tagger
from musicnn_lite.convert import convert_checkpoint, main
from musicnn_lite.labels import JAMENDO_LABELS
from musicnn_lite.runtimes import open_runtime
from musicnn_lite.survey_checkpoints import read_state_dict
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


def _crnn_state_dict(rng, channels: int = 8, units: int = 6) -> dict[str, np.ndarray]:
    """Random variables with the names and layouts of the survey's PyTorch CRNN, narrower."""
    state = {"spec.spectrogram.window": 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(512) / 512),
             "spec.mel_scale.fb": rng.uniform(0, 1, (257, 96))}
    sizes = {"spec_bn": 1}
    for i, (inputs, outputs) in enumerate([(1, channels)] + [(channels, channels)] * 3, start=1):
        state[f"layer{i}.conv.weight"] = rng.normal(0, 0.3, (outputs, inputs, 3, 3))
        state[f"layer{i}.conv.bias"] = rng.normal(0, 0.1, outputs)
        sizes[f"layer{i}.bn"] = outputs
    for module, size in sizes.items():
        state.update({f"{module}.weight": rng.uniform(0.5, 1.5, size), f"{module}.bias": rng.normal(0, 0.1, size),
                      f"{module}.running_mean": rng.normal(0, 0.1, size),
                      f"{module}.running_var": rng.uniform(0.5, 1.5, size), f"{module}.num_batches_tracked": 7})
    for layer, inputs in ((0, channels), (1, units)):
        state[f"layer5.weight_ih_l{layer}"] = rng.normal(0, 0.4, (3 * units, inputs))
        state[f"layer5.weight_hh_l{layer}"] = rng.normal(0, 0.4, (3 * units, units))
        state[f"layer5.bias_ih_l{layer}"] = rng.normal(0, 0.2, 3 * units)
        state[f"layer5.bias_hh_l{layer}"] = rng.normal(0, 0.2, 3 * units)
    state.update({"dense.weight": rng.normal(0, 0.3, (50, units)), "dense.bias": rng.normal(0, 0.1, 50)})
    return {name: np.asarray(value, np.int64 if name.endswith("tracked") else np.float32)
            for name, value in state.items()}


def _torch_gru(sequence: np.ndarray, state: dict[str, np.ndarray], layer: int) -> np.ndarray:
    """PyTorch's GRU equations, as its documentation writes them, in float64: (steps, in) -> (steps, units)."""
    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    w_ih, w_hh = (state[f"layer5.weight_{kind}_l{layer}"].astype(np.float64) for kind in ("ih", "hh"))
    b_ih, b_hh = (state[f"layer5.bias_{kind}_l{layer}"].astype(np.float64) for kind in ("ih", "hh"))
    h, outputs = np.zeros(w_hh.shape[1]), []
    for x in sequence:
        (i_r, i_z, i_n), (h_r, h_z, h_n) = np.split(w_ih @ x + b_ih, 3), np.split(w_hh @ h + b_hh, 3)
        r, z = sigmoid(i_r + h_r), sigmoid(i_z + h_z)
        n = np.tanh(i_n + r * h_n)
        h = (1 - z) * n + z * h
        outputs.append(h)
    return np.array(outputs)


@pytest.fixture(scope="module")
def converted_crnn(tmp_path_factory):
    """A narrow random CRNN state dict saved as .npz under jamendo/crnn/, converted by the command line."""
    folder = tmp_path_factory.mktemp("survey") / "jamendo" / "crnn"
    folder.mkdir(parents=True)
    state = _crnn_state_dict(np.random.default_rng(0))
    np.savez(folder / "state_dict.npz", **state)
    assert main([str(folder / "state_dict.npz"), str(folder / "mine.npz")]) == 0
    return state, folder / "mine.npz"


def test_survey_state_dict_is_stored_in_keras_layouts_with_its_front_end(converted_crnn):
    state, path = converted_crnn
    weights = load_weights(path)
    assert weights.architecture == "crnn" and weights.labels == JAMENDO_LABELS  # from the folder names
    assert weights.front_end.kind == "db_mel" and weights.front_end.patch_length(None) == 464_000
    assert weights.front_end.hop_length == 256 and weights.front_end.any_length  # a CRNN takes any length
    np.testing.assert_array_equal(weights.front_end.mel_filterbank, state["spec.mel_scale.fb"])
    np.testing.assert_array_equal(weights.arrays["block2_conv/kernel"],
                                  state["layer2.conv.weight"].transpose(3, 2, 1, 0))  # (time, frequency, in, out)
    np.testing.assert_array_equal(weights.arrays["input_bn/moving_variance"], state["spec_bn.running_var"])
    units = 6
    z_gate = state["layer5.weight_ih_l1"][units:2 * units]  # PyTorch's r, z, n -> Keras' z, r, h
    np.testing.assert_array_equal(weights.arrays["gru2/kernel"][:, :units], z_gate.T)
    np.testing.assert_array_equal(weights.arrays["gru2/bias"][1, units:2 * units], state["layer5.bias_hh_l1"][:units])
    np.testing.assert_array_equal(weights.arrays["logits/kernel"], state["dense.weight"].T)


def test_converted_crnn_runs_pytorch_gru_equations_on_both_runtimes(converted_crnn):
    state, path = converted_crnn
    weights = load_weights(path)
    spectrogram = np.random.default_rng(1).normal(-20, 15, (2, 1813, 96)).astype(np.float32)
    names = ("pool4", "gru1", "gru2", "penultimate")
    onnx, keras = (open_runtime(weights, path, runtime, "float32", 2).run(spectrogram, names)
                   for runtime in ("onnx", "keras"))
    for name in ("taggram", *names):
        assert np.abs(onnx[name] - keras[name]).max() <= 1e-5 * np.abs(keras[name]).max(), name
    assert keras["pool4"].shape == (2, 18, 1, 8) and keras["penultimate"].shape == (2, 6)
    for chunk in range(2):
        gru1 = _torch_gru(keras["pool4"][chunk, :, 0], state, 0)
        gru2 = _torch_gru(gru1, state, 1)
        assert np.abs(keras["gru1"][chunk] - gru1).max() <= 1e-5
        assert np.abs(keras["penultimate"][chunk] - gru2[-1]).max() <= 1e-5
        logits = gru2[-1] @ state["dense.weight"].T + state["dense.bias"]
        assert np.abs(keras["taggram"][chunk] - 1 / (1 + np.exp(-logits))).max() <= 1e-5


def test_a_pth_checkpoint_is_read_through_torch_with_weights_only(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed")
    state = _crnn_state_dict(np.random.default_rng(2))
    torch.save({name: torch.from_numpy(value) for name, value in state.items()}, tmp_path / "best_model.pth")
    read = read_state_dict(tmp_path / "best_model.pth")
    assert read.keys() == state.keys()
    for name, value in state.items():
        np.testing.assert_array_equal(read[name], value)
    torch.save({"model": _NotATensor()}, tmp_path / "pickled.pth")  # weights_only=True refuses any object
    with pytest.raises(MusicnnError, match="pickled.pth is not a readable PyTorch checkpoint"):
        read_state_dict(tmp_path / "pickled.pth")


class _NotATensor:
    pass


def test_a_pth_checkpoint_without_torch_says_what_to_do(tmp_path, monkeypatch):
    (tmp_path / "best_model.pth").write_bytes(b"a checkpoint")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(MusicnnError, match=r"reading .*best_model.pth needs PyTorch \(pip install torch\)"):
        read_state_dict(tmp_path / "best_model.pth")


def test_other_state_dicts_and_unknown_datasets_are_refused(tmp_path):
    np.savez(tmp_path / "other.npz", **{"encoder.weight": np.zeros((3, 3), np.float32)})
    assert main([str(tmp_path / "other.npz"), str(tmp_path / "out.npz"), "--labels", "MTT"]) == 2
    with pytest.raises(MusicnnError, match="not one of the survey's FCN, CRNN or musicnn models"):
        convert_checkpoint(tmp_path / "other.npz", tmp_path / "out.npz", "MTT")
    np.savez(tmp_path / "crnn.npz", **_crnn_state_dict(np.random.default_rng(3)))
    with pytest.raises(MusicnnError, match="cannot tell which dataset .*crnn.npz was trained on; pass --labels"):
        convert_checkpoint(tmp_path / "crnn.npz", tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("damage, message", [
    (lambda state: state.update({"layer1.conv.weight": state["layer1.conv.weight"][..., :2]}),
     r"crnn.npz does not fit the crnn network its layer names say it is \(.*\); it cannot be converted"),
    (lambda state: state["layer1.conv.weight"].__setitem__((0, 0, 0, 0), np.nan),
     r"crnn.npz holds NaN or infinite weights \(.*\); it cannot be converted"),
])
def test_a_damaged_checkpoint_is_one_line_and_writes_nothing(tmp_path, capsys, damage, message):
    state = _crnn_state_dict(np.random.default_rng(4))
    damage(state)
    np.savez(tmp_path / "crnn.npz", **state)
    assert main([str(tmp_path / "crnn.npz"), str(tmp_path / "out.npz"), "--labels", "Jamendo"]) == 2
    assert re.fullmatch(f"error: .*{message}\n", capsys.readouterr().err)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["crnn.npz"]


def test_an_output_that_is_a_folder_is_refused_before_anything_is_written(tmp_path, capsys):
    np.savez(tmp_path / "crnn.npz", **_crnn_state_dict(np.random.default_rng(5)))
    (tmp_path / "out.npz").mkdir()
    assert main([str(tmp_path / "crnn.npz"), str(tmp_path / "out.npz"), "--labels", "Jamendo"]) == 2
    assert "out.npz is a folder; name the weights file to write" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["crnn.npz", "out.npz"]
