"""Random networks for the receptive-field and neuron tests (everything the builder allows:
1-4 conv blocks with any kernel, stride and padding, batch norm, max or average pooling,
an activation or none, a hidden dense layer; 1 or 3 input channels)."""

from __future__ import annotations

import numpy as np

from engine.network import Network, NetworkSpecError, describe_spec


def random_spec(rng: np.random.Generator, pools=("max", "avg", "none"),
                activations=("relu", "sigmoid", "tanh", "none"), input_hw=(12, 30)):
    """(spec, input_shape) of a network that builds, drawn at random."""
    while True:
        C = int(rng.choice([1, 3]))
        H = int(rng.integers(*input_hw))
        W = int(rng.integers(*input_hw))
        spec = []
        for _ in range(int(rng.integers(1, 5))):
            k = int(rng.integers(1, 6))
            spec.append({"type": "conv", "filters": int(rng.integers(1, 5)), "kernel": k,
                         "stride": int(rng.integers(1, 4)), "padding": int(rng.integers(0, k))})
            if rng.random() < 0.3:
                spec.append({"type": "batchnorm"})
            act = str(rng.choice(activations))
            if act != "none":
                spec.append({"type": act})
            pool = str(rng.choice(pools))
            if pool != "none":
                size = int(rng.integers(1, 4))
                spec.append({"type": f"{pool}pool", "size": size,
                             "stride": int(rng.integers(1, 4))})
        spec.append({"type": "flatten"})
        if rng.random() < 0.4:
            spec.append({"type": "dense", "units": int(rng.integers(2, 9))})
            spec.append({"type": str(rng.choice(["relu", "tanh", "sigmoid"]))})
        spec.append({"type": "dense", "units": int(rng.integers(2, 11))})
        try:
            describe_spec(spec, (C, H, W))
        except NetworkSpecError:
            continue
        return spec, (C, H, W)


def positive_network(spec, input_shape, seed: int) -> Network:
    """The network with every weight, bias and batch-norm scale positive, each filter's
    weights summing to 1 (values stay near the input's: nothing saturates), so no path
    from the input to any neuron can cancel or vanish by accident."""
    rng = np.random.default_rng(seed)
    net = Network(spec, input_shape=input_shape, seed=seed)
    for layer in net.layers:
        if layer.type == "conv":
            w = np.abs(layer.params["w"]) + 0.05
            layer.params["w"][...] = w / w.sum(axis=(1, 2, 3), keepdims=True)
            layer.params["b"][...] = rng.uniform(0.01, 0.1, layer.params["b"].shape)
        elif layer.type == "dense":
            w = np.abs(layer.params["w"]) + 0.05
            layer.params["w"][...] = w / w.sum(axis=0, keepdims=True)
            layer.params["b"][...] = rng.uniform(0.01, 0.1, layer.params["b"].shape)
        elif layer.type == "batchnorm":
            C = layer.channels
            layer.params["gamma"][...] = rng.uniform(0.5, 1.5, C)
            layer.params["beta"][...] = rng.uniform(0.5, 1.0, C)  # keeps relu inputs > 0
            layer.buffers["running_mean"][...] = rng.uniform(-0.1, 0.1, C)
            layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, C)
    return net


def random_network(seed: int, **kwargs) -> Network:
    """A random network (any signs) with random batch-norm statistics."""
    rng = np.random.default_rng(seed)
    spec, shape = random_spec(rng, **kwargs)
    net = Network(spec, input_shape=shape, seed=seed)
    for layer in net.layers:
        for key, value in {**layer.params, **layer.buffers}.items():
            if key == "running_var":
                value[...] = rng.uniform(0.5, 2.0, value.shape)
            elif key != "w":
                value[...] = rng.normal(0.0, 0.5, value.shape) + (key == "gamma")
    return net
