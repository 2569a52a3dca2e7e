"""CNN Explorer engine: numpy + Numba, no Qt.

The functional API works on NCHW arrays (float32 or float64 in, same dtype out)::

    y = conv2d_forward(x, w, b, stride=1, padding=0)
    dx, dw, db = conv2d_backward(dout, x, w, stride=1, padding=0)
    y, argmax = max_pool2d_forward(x, size=2, stride=2)
    dx = max_pool2d_backward(dout, argmax, input_shape)
    y = avg_pool2d_forward(x, size=2, stride=2)
    dx = avg_pool2d_backward(dout, input_shape, size=2, stride=2)

Names are resolved lazily (PEP 562), so ``import engine`` stays fast and loads a
module (and its compiled kernels from Numba's cache) only when it is first used.
See docs/ARCHITECTURE.md for the whole contract.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

from .geometry import (
    GeometryError,
    as_pair,
    check_conv,
    check_pool,
    output_size,
    output_size_formula,
)

# public name -> module below engine/ that defines it
_LAZY = {
    "conv2d_forward": "conv_forward",
    "conv2d_backward": "conv_backward",
    "max_pool2d_forward": "pooling",
    "max_pool2d_backward": "pooling",
    "avg_pool2d_forward": "pooling",
    "avg_pool2d_backward": "pooling",
    "dense_forward": "dense",
    "dense_backward": "dense",
    "numerical_gradient": "gradcheck",
    "relative_error": "gradcheck",
    "check_layer_gradients": "gradcheck",
    "Conv2D": "layers",
    "MaxPool2D": "layers",
    "AvgPool2D": "layers",
    "ReLU": "layers",
    "Sigmoid": "layers",
    "Tanh": "layers",
    "SpatialBatchNorm": "layers",
    "Flatten": "layers",
    "Dense": "layers",
    "softmax_cross_entropy": "losses",
    "mse": "losses",
    "SGD": "optim",
    "Momentum": "optim",
    "Adam": "optim",
    "make_optimizer": "optim",
    "Network": "network",
    "NetworkSpecError": "network",
    "ModelFileError": "network",
    "describe_spec": "network",
    "LayerInfo": "network",
    "DEFAULT_SPEC": "recipe",
    "DEFAULT_TRAINING": "recipe",
    "TrainingConfig": "training_loop",
    "TrainingRun": "training_loop",
    "Trainer": "training",
    "StepResult": "training",
    "EvalResult": "training",
    "Snapshot": "training",
    "conv2d_forward_trace": "trace",
    "conv2d_backward_trace": "trace",
    "max_pool2d_forward_trace": "trace",
    "avg_pool2d_forward_trace": "trace",
    "max_pool2d_backward_trace": "trace",
    "avg_pool2d_backward_trace": "trace",
    "DataFileError": "data",
    "KERNELS": "gallery",
}

__all__ = [
    "__version__",
    "GeometryError",
    "as_pair",
    "check_conv",
    "check_pool",
    "output_size",
    "output_size_formula",
    *_LAZY,
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
