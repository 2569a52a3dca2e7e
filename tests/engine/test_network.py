"""Network: spec checking, parameter counts by formula, gradients end to end, save/load."""

import json
import zipfile

import numpy as np
import pytest

from engine.gradcheck import numerical_gradient, relative_error
from engine.losses import softmax_cross_entropy
from engine.network import (
    LayerInfo,
    ModelFileError,
    Network,
    NetworkSpecError,
    describe_spec,
)

W6 = [{"type": "conv", "filters": 8, "kernel": 3, "stride": 1, "padding": 1},
      {"type": "relu"},
      {"type": "maxpool", "size": 2, "stride": 2},
      {"type": "conv", "filters": 16, "kernel": 3, "stride": 1, "padding": 1},
      {"type": "relu"},
      {"type": "maxpool", "size": 2, "stride": 2},
      {"type": "flatten"},
      {"type": "dense", "units": 10}]

SMALL = [{"type": "conv", "filters": 3, "kernel": [3, 2], "stride": 2, "padding": 1},
         {"type": "batchnorm"},
         {"type": "tanh"},
         {"type": "maxpool", "size": 2, "stride": 1},
         {"type": "sigmoid"},
         {"type": "avgpool", "size": 2},
         {"type": "relu"},
         {"type": "flatten"},
         {"type": "dense", "units": 4}]


# ----------------------------------------------------------------- building and counting

def test_w6_parameter_counts_by_formula():
    net = Network(W6)
    conv1 = 8 * 1 * 3 * 3 + 8
    conv2 = 16 * 8 * 3 * 3 + 16
    dense = (16 * 7 * 7) * 10 + 10
    counts = [info.param_count for info in net.summary()]
    assert counts == [conv1, 0, 0, conv2, 0, 0, 0, dense]
    assert net.param_count == conv1 + conv2 + dense
    assert net.param_count == sum(p.size for p in net.parameters())


def test_conv_of_ten_3x3x3_kernels_has_280_parameters():
    net = Network([{"type": "conv", "filters": 10, "kernel": 3}, {"type": "flatten"},
                   {"type": "dense", "units": 2}], input_shape=(3, 8, 8))
    assert net.summary()[0].param_count == 280
    assert net.summary()[2].param_count == 10 * 6 * 6 * 2 + 2


def test_summary_names_types_and_shapes():
    net = Network(SMALL, input_shape=(2, 9, 8))
    # conv: floor((9 + 2 - 3) / 2) + 1 = 5, floor((8 + 2 - 2) / 2) + 1 = 5
    # maxpool 2 / 1: 4x4; avgpool 2 / 2: 2x2; 3 * 2 * 2 = 12 features
    expected = [(0, "conv1", "conv", (3, 5, 5), 3 * 2 * 3 * 2 + 3),
                (1, "batchnorm1", "batchnorm", (3, 5, 5), 6),
                (2, "tanh1", "tanh", (3, 5, 5), 0),
                (3, "maxpool1", "maxpool", (3, 4, 4), 0),
                (4, "sigmoid1", "sigmoid", (3, 4, 4), 0),
                (5, "avgpool1", "avgpool", (3, 2, 2), 0),
                (6, "relu1", "relu", (3, 2, 2), 0),
                (7, "flatten1", "flatten", (12,), 0),
                (8, "dense1", "dense", (4,), 12 * 4 + 4)]
    assert net.summary() == [LayerInfo(*row) for row in expected]
    assert [layer.name for layer in net.layers] == [row[1] for row in expected]
    assert net.num_classes == 4
    y = net.forward(np.zeros((3, 2, 9, 8), np.float32))
    assert y.shape == (3, 4) and y.dtype == np.float32


def test_describe_spec_matches_built_network_without_building_it():
    for spec, shape in [(W6, (1, 28, 28)), (SMALL, (2, 9, 8))]:
        assert describe_spec(spec, shape) == Network(spec, shape).summary()


def test_spec_with_defaults_filled_rebuilds_the_same_network():
    net = Network(SMALL, input_shape=(2, 9, 8), seed=3)
    again = Network(net.spec, input_shape=(2, 9, 8), seed=3)
    assert again.summary() == net.summary()
    for a, b in zip(net.parameters(), again.parameters(), strict=True):
        np.testing.assert_array_equal(a, b)
    json.dumps(net.spec)  # the spec is plain JSON


def test_seed_controls_initialisation():
    a, b, c = Network(W6, seed=1), Network(W6, seed=1), Network(W6, seed=2)
    np.testing.assert_array_equal(a.parameters()[0], b.parameters()[0])
    assert not np.array_equal(a.parameters()[0], c.parameters()[0])


# ----------------------------------------------------------------- spec errors

def test_kernel_too_large_names_layer_and_reason():
    spec = [{"type": "conv", "filters": 4, "kernel": 3}, {"type": "relu"},
            {"type": "maxpool", "size": 2}, {"type": "conv", "filters": 4, "kernel": 3},
            {"type": "flatten"}, {"type": "dense", "units": 2}]
    with pytest.raises(NetworkSpecError) as info:
        Network(spec, input_shape=(1, 6, 6))  # 6 -> 4 -> 2, then a 3x3 kernel
    err = info.value
    assert str(err) == "layer 4 (conv): a 3x3 kernel does not fit a 2x2 input with padding 0"
    assert err.index == 3 and err.layer_type == "conv"
    assert [row.name for row in err.partial] == ["conv1", "relu1", "maxpool1"]
    assert isinstance(err, ValueError)


@pytest.mark.parametrize("spec, pattern", [
    ([], "no layers"),
    ([{"type": "convolution"}], r"layer 1 \(convolution\): unknown layer type"),
    ([{"type": "conv", "kernel": 3}], r"layer 1 \(conv\): the setting 'filters' is missing"),
    ([{"type": "conv", "filters": 2, "kernel": 3, "filter": 1}], "unknown setting 'filter'"),
    ([{"type": "conv", "filters": 0, "kernel": 3}], "at least 1"),
    ([{"type": "conv", "filters": 2.5, "kernel": 3}], "whole number"),
    ([{"type": "conv", "filters": 2, "kernel": 3, "stride": 0}], "stride"),
    ([{"type": "conv", "filters": 2, "kernel": 3, "padding": -1}], "padding"),
    ([{"type": "dense", "units": 3}], r"layer 1 \(dense\).*flatten"),
    ([{"type": "flatten"}, {"type": "maxpool"}], r"layer 2 \(maxpool\).*before flatten"),
    ([{"type": "conv", "filters": 2, "kernel": 3}], r"layer 1 \(conv\).*one score per class"),
    ([{"type": "maxpool", "size": 9}, {"type": "flatten"}], "pooling window does not fit"),
    (["relu"], "must be a dict"),
    ([{"type": ["conv"]}], "unknown layer type"),
    ([{"filters": 3}], "unknown layer type None"),
    ([{"type": "batchnorm", "momentum": 1.5}, {"type": "flatten"}], "momentum"),
    ([{"type": "flatten"}, {"type": "dense", "units": 2, "init": "zeros"}], "unknown init"),
])
def test_spec_errors(spec, pattern):
    with pytest.raises(NetworkSpecError, match=pattern):
        describe_spec(spec, (1, 8, 8))
    with pytest.raises(NetworkSpecError, match=pattern):
        Network(spec, (1, 8, 8))


def test_bad_input_shape():
    with pytest.raises(NetworkSpecError, match="input shape"):
        Network(W6, input_shape=(28, 28))


def test_forward_rejects_wrong_image_shape():
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        Network(W6).forward(np.zeros((2, 1, 27, 28), np.float32))


# ----------------------------------------------------------------- end-to-end gradients

def _float64_copy(net):
    for layer in net.layers:
        for key in layer.params:
            layer.params[key] = layer.params[key].astype(np.float64)
    return net


def test_network_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    net = _float64_copy(Network(SMALL, input_shape=(2, 7, 6), seed=1))
    x = rng.standard_normal((3, 2, 7, 6))
    labels = np.array([0, 3, 1])

    def loss_of(inputs):
        return np.array(softmax_cross_entropy(net.forward(inputs, training=True), labels)[0])

    loss, dlogits = softmax_cross_entropy(net.forward(x, training=True), labels)
    dx = net.backward(dlogits)
    grads = {(layer.name, k): g.copy() for layer in net.layers for k, g in layer.grads.items()}
    assert relative_error(dx, numerical_gradient(loss_of, x.copy(), np.array(1.0))) < 1e-6
    for layer in net.layers:
        for key, param in layer.params.items():
            numeric = numerical_gradient(lambda _p: loss_of(x), param, np.array(1.0))
            assert relative_error(grads[(layer.name, key)], numeric) < 1e-6, (layer.name, key)


def test_backward_pure_gives_the_same_gradients_and_changes_nothing():
    rng = np.random.default_rng(1)
    net = Network(SMALL, input_shape=(2, 9, 8))
    x = rng.standard_normal((2, 2, 9, 8)).astype(np.float32)
    dlogits = rng.standard_normal((2, 4)).astype(np.float32)
    logits, caches, acts = net.forward_pure(x, training=True)
    dx_pure, grads, deltas = net.backward_pure(dlogits, caches)
    assert [a.shape[1:] for a in acts] == [i.output_shape for i in net.summary()]
    assert [d.shape for d in deltas] == [a.shape for a in acts]
    stats = net.get_state()
    assert np.all(net.layers[1].buffers["running_var"] == 1)  # no running-stat update
    np.testing.assert_array_equal(net.forward(x, training=True), logits)
    dx = net.backward(dlogits)
    np.testing.assert_array_equal(dx, dx_pure)
    for layer, g in zip(net.layers, grads, strict=True):
        for key in g:
            np.testing.assert_array_equal(layer.grads[key], g[key])
    assert stats.keys() == net.get_state().keys()


def test_backward_without_the_input_gradient_gives_the_same_parameter_gradients():
    rng = np.random.default_rng(3)
    net = Network(SMALL, input_shape=(2, 9, 8))
    assert net.layers[0].type == "conv"  # the layer that skips its dx
    x = rng.standard_normal((3, 2, 9, 8)).astype(np.float32)
    dlogits = rng.standard_normal((3, 4)).astype(np.float32)
    net.forward(x, training=True)
    assert net.backward(dlogits).shape == x.shape
    full = [g.copy() for g in net.gradients()]
    net.forward(x, training=True)
    assert net.backward(dlogits, need_input_grad=False) is None
    for a, b in zip(full, net.gradients(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------- fused conv - ReLU - pool blocks

FUSABLE = [{"type": "conv", "filters": 7, "kernel": 3, "stride": 1, "padding": 1},
           {"type": "relu"},
           {"type": "maxpool", "size": 2, "stride": 2},       # fused with the two above
           {"type": "conv", "filters": 9, "kernel": [3, 2], "stride": 2, "padding": 1},
           {"type": "relu"},
           {"type": "maxpool", "size": 2},                    # fused (stride 2 by default)
           {"type": "conv", "filters": 4, "kernel": 1},
           {"type": "relu"},
           {"type": "maxpool", "size": 2, "stride": 1},       # not fused: stride 1
           {"type": "flatten"},
           {"type": "dense", "units": 5}]


def _layer_by_layer(net, x, dlogits):
    """Logits, input gradient and parameter gradients through each layer's own pair."""
    caches = []
    for layer in net.layers:
        x, cache = layer.forward_pure(x, True)
        caches.append(cache)
    logits, delta, grads = x, dlogits, {}
    for index in range(len(net.layers) - 1, -1, -1):
        layer = net.layers[index]
        delta, g = layer.backward_pure(delta, caches[index])
        grads.update({(layer.name, k): v for k, v in g.items()})
    return logits, delta, grads


def test_conv_relu_pool_blocks_are_found():
    net = Network(FUSABLE, input_shape=(2, 26, 24))
    assert sorted(net._blocks) == [0, 3]
    assert Network(W6)._blocks.keys() == {0, 3}
    assert not Network(SMALL, input_shape=(2, 9, 8))._blocks  # batch norm, tanh: none


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_blocks_train_exactly_as_the_layers_one_by_one(dtype):
    rng = np.random.default_rng(6)
    net = Network(FUSABLE, input_shape=(2, 26, 24), seed=2)
    if dtype == np.float64:  # float64 (gradient checks) runs layer by layer
        net = _float64_copy(net)
    x = rng.standard_normal((5, 2, 26, 24)).astype(dtype)
    dlogits = rng.standard_normal((5, 5)).astype(dtype)
    logits = net.forward(x, training=True)
    dx = net.backward(dlogits)
    want_logits, want_dx, want_grads = _layer_by_layer(net, x, dlogits)
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(logits, want_logits, **tol)
    np.testing.assert_allclose(dx, want_dx, **tol)
    for layer in net.layers:
        for key in layer.params:
            np.testing.assert_allclose(layer.grads[key], want_grads[(layer.name, key)], **tol)
    assert [block is not None for _, block in net._last_plan].count(True) == (
        2 if dtype == np.float32 else 0)


def test_a_fused_block_refuses_a_layer_backward_after_its_forward():
    net = Network(W6)
    net.forward(np.zeros((2, 1, 28, 28), np.float32), training=True)
    with pytest.raises(RuntimeError, match="before forward"):
        net.layers[2].backward(np.zeros((2, 8, 14, 14), np.float32))
    assert net.backward(np.zeros((2, 10), np.float32), need_input_grad=False) is None


def test_fused_training_matches_finite_differences():
    # float32 is what takes the fused path; a loss of small curvature keeps the
    # centred differences (step 1e-2) of float32 accurate enough
    rng = np.random.default_rng(7)
    net = Network(W6[:3] + [{"type": "flatten"}, {"type": "dense", "units": 3}],
                  input_shape=(1, 6, 6), seed=3)
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    labels = np.array([0, 2])
    _, dlogits = softmax_cross_entropy(net.forward(x, training=True), labels)
    net.backward(dlogits)
    w = net.layers[0].params["w"]
    analytic = net.layers[0].grads["w"].astype(np.float64)
    numeric = np.zeros_like(analytic)
    for index in np.ndindex(w.shape):
        saved = w[index]
        losses = []
        for step in (1e-2, -1e-2):
            w[index] = saved + step
            losses.append(softmax_cross_entropy(net.forward(x, training=True), labels)[0])
        w[index] = saved
        numeric[index] = (losses[0] - losses[1]) / 2e-2
    assert relative_error(analytic, numeric) < 1e-2


def test_predict_proba_and_predict():
    rng = np.random.default_rng(2)
    net = Network(SMALL, input_shape=(2, 9, 8))
    x = rng.standard_normal((7, 2, 9, 8)).astype(np.float32)
    p = net.predict_proba(x)
    assert p.shape == (7, 4)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(net.predict_proba(x, batch_size=3), p, rtol=1e-6)
    np.testing.assert_array_equal(net.predict(x), p.argmax(axis=1))


# ----------------------------------------------------------------- save / load

def _trained(spec=SMALL, shape=(2, 9, 8)):
    """A network whose parameters and running statistics are not the initial ones."""
    rng = np.random.default_rng(3)
    net = Network(spec, input_shape=shape, seed=5)
    for p in net.parameters():
        p += rng.standard_normal(p.shape).astype(np.float32) * 0.1
    net.forward(rng.standard_normal((4, *shape)).astype(np.float32), training=True)
    return net


def test_save_load_round_trip_gives_identical_predictions(tmp_path):
    net = _trained()
    path = tmp_path / "model.npz"
    net.save(path)
    loaded = Network.load(path)
    x = np.random.default_rng(4).standard_normal((5, 2, 9, 8)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict_proba(x), net.predict_proba(x))
    assert loaded.spec == net.spec and loaded.input_shape == net.input_shape
    for key, value in net.get_state().items():
        np.testing.assert_array_equal(loaded.get_state()[key], value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # no temp file left


def test_save_into_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFileError, match="cannot write"):
        _trained().save(tmp_path / "no" / "such" / "m.npz")


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "m.npz"
    Network(W6, seed=1).save(path)
    net = Network(W6, seed=2)
    net.save(path)
    np.testing.assert_array_equal(Network.load(path).parameters()[0], net.parameters()[0])


def test_saved_file_holds_plain_arrays_only(tmp_path):
    path = tmp_path / "m.npz"
    _trained().save(path)
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["__meta__"][()]))
        assert meta["input_shape"] == [2, 9, 8]
        assert "batchnorm1.running_mean" in data.files and "conv1.w" in data.files


def _expect_model_error(path, pattern):
    with pytest.raises(ModelFileError, match=pattern) as info:
        Network.load(path)
    assert isinstance(info.value, ValueError)


def test_missing_file(tmp_path):
    _expect_model_error(tmp_path / "nope.npz", "no model file")


def test_non_npz_files(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("these are not weights")
    _expect_model_error(text, "not a model file")
    npy = tmp_path / "array.npy"
    np.save(npy, np.zeros(3))
    _expect_model_error(npy, "single array")
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    _expect_model_error(other, "not a CNN Explorer model")


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95])
def test_truncated_file(tmp_path, fraction):
    good = tmp_path / "good.npz"
    _trained().save(good)
    data = good.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[:int(len(data) * fraction)])
    _expect_model_error(cut, "model file|damaged|truncated")
    Network.load(good)  # the good file is still fine


def _rewrite(src, dst, change):
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    np.savez(dst, **arrays)


@pytest.mark.parametrize("change, pattern", [
    (lambda a: a.__setitem__("conv1.w", np.zeros((3, 2, 3, 3), np.float32)), "conv1.w has shape"),
    (lambda a: a.pop("dense1.b"), "missing dense1.b"),
    (lambda a: a.__setitem__("dense9.w", np.zeros(2)), "unexpected dense9.w"),
    (lambda a: a.__setitem__("dense1.b", np.full(4, np.nan, np.float32)), "not finite"),
    (lambda a: a.__setitem__("__meta__", np.array("{broken json")), "cannot be read"),
    (lambda a: a.__setitem__("__meta__", np.array(json.dumps(
        {"format": "cnn-explorer-model", "version": 1, "input_shape": [2, 9, 8],
         "spec": [{"type": "conv", "filters": 3, "kernel": 30}]}))), "not valid"),
])
def test_mismatched_file(tmp_path, change, pattern):
    good = tmp_path / "good.npz"
    _trained().save(good)
    bad = tmp_path / "bad.npz"
    _rewrite(good, bad, change)
    _expect_model_error(bad, pattern)


def test_set_state_checks_everything_before_changing_anything():
    net = _trained()
    before = net.get_state()
    state = {k: v + 1 for k, v in before.items()}
    state["dense1.w"] = np.zeros((3, 3), np.float32)  # one bad array among good ones
    with pytest.raises(ValueError, match="dense1.w"):
        net.set_state(state)
    for key, value in net.get_state().items():
        np.testing.assert_array_equal(value, before[key])


def test_zip_of_wrong_content(tmp_path):
    path = tmp_path / "z.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "hi")
    _expect_model_error(path, "model")


# ----------------------------------------------------------------- runaway specs (issue 9, 12)

def _relus(n):
    return [{"type": "relu"} for _ in range(n)] + [{"type": "flatten"},
                                                   {"type": "dense", "units": 10}]


def test_the_layer_count_is_capped_with_a_sentence():
    from engine.network import MAX_LAYERS

    describe_spec(_relus(MAX_LAYERS - 2))  # exactly the cap: accepted
    for spec in (_relus(MAX_LAYERS - 1), _relus(40_000)):
        with pytest.raises(NetworkSpecError, match=r"more than this app builds \(1,000\)"):
            describe_spec(spec)
    import itertools
    endless = itertools.repeat({"type": "relu"})  # never ends: must not be read to the end
    with pytest.raises(NetworkSpecError, match="more than 1,000 layers"):
        describe_spec(endless)


def _lines_executed(call):
    """How many lines of engine/network.py and engine/layers.py ``call()`` executes."""
    import sys

    import engine.layers
    import engine.network
    watched = {engine.network.__file__, engine.layers.__file__}
    count = [0]

    def local(frame, event, arg):
        if event == "line":
            count[0] += 1
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code.co_filename in watched else None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(previous)
    return count[0]


@pytest.mark.parametrize("bad_last", [False, True])
def test_checking_a_spec_takes_linear_work(bad_last):
    # counted in executed lines, not seconds: doubling the layers doubles the work
    # (checking 20,000 ReLUs used to take 20 s, 40,000 took 88 s: quadratic)
    def check(n):
        spec = _relus(n)
        if bad_last:  # the error's partial summary is assembled once, at the end
            spec[-1] = {"type": "dense", "units": 0}

        def run():
            try:
                describe_spec(spec, (1, 2, 2))
            except NetworkSpecError as err:
                assert bad_last and len(err.partial) == n + 1
        return _lines_executed(run)

    small, large = check(300), check(600)
    assert large < 2.2 * small, (small, large)
