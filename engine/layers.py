"""Layers: each a forward/backward pair that holds its parameters and their gradients.

The Layer protocol (docs/ARCHITECTURE.md)::

    y = layer.forward(x, training=False)     # remembers what backward needs
    dx = layer.backward(dout)                # fills layer.grads (same keys as layer.params)
    layer.params, layer.grads                # dict[str, ndarray], e.g. "w", "b", "gamma", "beta"
    layer.output_shape(in_shape)             # per sample, no N: (C, H, W) or (D,)
    layer.param_count, layer.spec, layer.name

Under ``forward``/``backward`` every layer has a *stateless* pair, used by the
Trainer's snapshots so that looking at a probe image never disturbs training::

    y, cache = layer.forward_pure(x, training)   # changes nothing on the layer
    dx, grads = layer.backward_pure(dout, cache)  # changes nothing on the layer

The heavy work is done by the fast functional kernels (conv2d_*, *_pool2d_*,
dense_*, relu_*); sigmoid, tanh and batch normalisation are numpy elementwise
operations.
Every layer keeps the dtype of its input (float32 in training, float64 for
gradient checks); parameters are float32 unless a gradient check swaps in float64
copies, which is why a layer always reads its arrays from ``self.params``.

Each layer class also describes itself from a spec without allocating anything
(:meth:`Layer.describe`), which the network builder uses to check a spec live.
"""

from __future__ import annotations

import math

import numpy as np

from ._arrays import real_array
from .activations import relu_backward, relu_forward
from .conv_backward import conv2d_backward
from .conv_forward import conv2d_forward
from .dense import dense_backward, dense_forward
from .geometry import GeometryError, as_pair, check_conv, check_pool
from .i18n import tr, tr_noop
from .init import INITIALISERS, initialise
from .pooling import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

__all__ = [
    "Layer",
    "Conv2D",
    "MaxPool2D",
    "AvgPool2D",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "SpatialBatchNorm",
    "Flatten",
    "Dense",
    "LAYER_TYPES",
]

_REQUIRED = object()  # marks a spec key without a default


class Layer:
    """Base class. Subclasses set ``type`` and ``SETTINGS`` and write the pure pair.

    ``SETTINGS`` maps every spec key of the type to its default (or ``_REQUIRED``).
    """

    type = "layer"
    SETTINGS: dict = {}

    def __init__(self, name: str | None = None):
        self.name = name or self.type
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}  # non-trained state (batch-norm running stats)
        self._cache = None

    # ---------------------------------------------------------------- protocol
    def forward(self, x, training: bool = False) -> np.ndarray:
        """Output for a batch; remembers what :meth:`backward` needs."""
        y, self._cache = self.forward_pure(x, training)
        return y

    def backward(self, dout, need_dx: bool = True) -> np.ndarray | None:
        """Gradient with respect to the last forward input; stores parameter gradients.

        ``need_dx=False`` lets a layer skip computing dx (the network's first layer:
        nothing needs the gradient of the input image) and return None instead.
        """
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward() called before forward()")
        dx, grads = self.backward_pure(dout, self._cache, need_dx)
        self.grads.update(grads)
        return dx

    def forward_pure(self, x, training: bool = False):
        """``(y, cache)`` without changing the layer."""
        raise NotImplementedError

    def backward_pure(self, dout, cache, need_dx=True):
        """``(dx, grads)`` from a cache of :meth:`forward_pure`, without changing the layer.

        Layers for which dx is costly skip it when ``need_dx`` is False (dx is then None).
        """
        raise NotImplementedError

    def output_shape(self, in_shape) -> tuple[int, ...]:
        """Per-sample output shape for a per-sample ``in_shape``; raises GeometryError."""
        return self.describe(in_shape, **self.settings())[0]

    @property
    def param_count(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    @property
    def spec(self) -> dict:
        """The plain-dict spec that rebuilds this layer (JSON-compatible)."""
        return {"type": self.type, **self.settings()}

    def settings(self) -> dict:
        """Spec keys and their values (without "type")."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args}) name={self.name!r}"

    # ---------------------------------------------------------------- specs
    @classmethod
    def describe(cls, in_shape, **settings) -> tuple[tuple[int, ...], int]:
        """``(output_shape, param_count)`` for a per-sample ``in_shape``, allocating nothing.

        Raises GeometryError (or ValueError) with a readable reason.
        """
        return tuple(int(s) for s in in_shape), 0

    @classmethod
    def from_settings(cls, in_shape, rng, name=None, **settings) -> Layer:
        """Build the layer for inputs of per-sample shape ``in_shape``."""
        return cls(name=name, **settings)


# -------------------------------------------------------------------- helpers

def _image_shape(in_shape, what: str) -> tuple[int, int, int]:
    """``what`` is the layer type ("conv", "maxpool", ...), a name in every language."""
    shape = tuple(int(s) for s in in_shape)
    if len(shape) != 3:
        raise GeometryError(tr(
            "a {what} layer needs image maps (channels, height, width), but its input is a flat "
            "vector of {count} values; it must come before flatten").format(
                what=what, count=math.prod(shape)))
    return shape


def _check_channels(layer: Layer, in_shape, channels: int) -> None:
    if int(in_shape[0]) != channels:
        raise GeometryError(tr("{name} was built for {channels} input channel(s), but its "
                               "input has {got}").format(name=layer.name, channels=channels,
                                                         got=int(in_shape[0])))


def _positive_int(value, what: str) -> int:
    """``what`` names the value (a msgid, marked with ``tr_noop``)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(tr("{what} must be a whole number of at least 1, not {value!r}")
                         .format(what=tr(what), value=value))
    return int(value)


def _unknown_init(init) -> ValueError:
    return ValueError(tr("unknown init {init!r}; choose one of {names}").format(
        init=init, names=", ".join(INITIALISERS)))


def _pair_setting(value):
    """An int stays an int; an (h, w) pair becomes a list (JSON-friendly)."""
    h, w = as_pair(value, tr_noop("value"))
    return h if h == w and not isinstance(value, (list, tuple)) else [h, w]


# -------------------------------------------------------------------- convolution

class Conv2D(Layer):
    """2-D convolution (cross-correlation): x (N, C, H, W) -> y (N, F, HO, WO).

    Parameters: ``w`` (F, C, KH, KW) He- or Xavier-initialised, ``b`` (F,) zeros.
    ``param_count = F * C * KH * KW + F`` (10 kernels of 3x3x3: 280).
    """

    type = "conv"
    SETTINGS = {"filters": _REQUIRED, "kernel": _REQUIRED, "stride": 1, "padding": 0,
                "init": "he"}

    def __init__(self, in_channels: int, filters: int, kernel=3, stride=1, padding=0,
                 rng: np.random.Generator | None = None, init: str = "he",
                 name: str | None = None):
        super().__init__(name)
        self.in_channels = _positive_int(in_channels, tr_noop("the number of input channels"))
        self.filters = _positive_int(filters, tr_noop("the number of filters"))
        self.kernel = as_pair(kernel, tr_noop("kernel"))
        self.stride = as_pair(stride, tr_noop("stride"))
        self.padding = as_pair(padding, tr_noop("padding"))
        self.init = init
        self._raw = {"kernel": _pair_setting(kernel), "stride": _pair_setting(stride),
                     "padding": _pair_setting(padding)}
        rng = np.random.default_rng(0) if rng is None else rng
        shape = (self.filters, self.in_channels, *self.kernel)
        self.params["w"] = initialise(init, shape, rng)     # (F, C, KH, KW)
        self.params["b"] = np.zeros(self.filters, np.float32)  # (F,)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def settings(self) -> dict:
        return {"filters": self.filters, **self._raw, "init": self.init}

    @classmethod
    def describe(cls, in_shape, filters=None, kernel=None, stride=1, padding=0, init="he"):
        C, H, W = _image_shape(in_shape, "conv")
        F = _positive_int(filters, tr_noop("the number of filters"))
        if init not in INITIALISERS:
            raise _unknown_init(init)
        KH, KW = as_pair(kernel, tr_noop("kernel"))
        g = check_conv((1, C, H, W), (F, C, KH, KW), None, stride, padding)
        return (g.F, g.HO, g.WO), F * C * KH * KW + F

    def output_shape(self, in_shape):
        out, _ = self.describe(in_shape, **self.settings())
        _check_channels(self, in_shape, self.in_channels)
        return out

    @classmethod
    def from_settings(cls, in_shape, rng, name=None, **settings):
        return cls(in_channels=_image_shape(in_shape, "conv")[0], rng=rng, name=name, **settings)

    def forward_pure(self, x, training=False):
        """x (N, C, H, W) -> y (N, F, HO, WO); cache is the input."""
        x = np.ascontiguousarray(x)
        y = conv2d_forward(x, self.params["w"], self.params["b"], self.stride, self.padding)
        return y, x

    def backward_pure(self, dout, cache, need_dx=True):
        """dout (N, F, HO, WO) -> dx (N, C, H, W); grads w (F, C, KH, KW), b (F,)."""
        dx, dw, db = conv2d_backward(dout, cache, self.params["w"], self.stride, self.padding,
                                     need_dx=need_dx)
        return dx, {"w": dw, "b": db}


# -------------------------------------------------------------------- pooling

class _Pool2D(Layer):
    SETTINGS = {"size": 2, "stride": None}

    def __init__(self, size=2, stride=None, name: str | None = None):
        super().__init__(name)
        self.size = as_pair(size, tr_noop("pool size"))
        self.stride = self.size if stride is None else as_pair(stride, tr_noop("stride"))
        self._raw = {"size": _pair_setting(size),
                     "stride": _pair_setting(size if stride is None else stride)}

    def settings(self) -> dict:
        return dict(self._raw)

    @classmethod
    def describe(cls, in_shape, size=2, stride=None):
        C, H, W = _image_shape(in_shape, cls.type)
        g = check_pool((1, C, H, W), size, stride)
        return (g.C, g.HO, g.WO), 0


class MaxPool2D(_Pool2D):
    """Max pooling: x (N, C, H, W) -> y (N, C, HO, WO); the gradient goes to each window's max."""

    type = "maxpool"

    def forward_pure(self, x, training=False):
        """Cache: the argmax map (N, C, HO, WO) and the input shape."""
        y, argmax = max_pool2d_forward(x, self.size, self.stride)
        return y, (argmax, np.shape(x))

    def backward_pure(self, dout, cache, need_dx=True):
        argmax, input_shape = cache
        return max_pool2d_backward(dout, argmax, input_shape), {}


class AvgPool2D(_Pool2D):
    """Average pooling: x (N, C, H, W) -> y (N, C, HO, WO); the gradient is spread evenly."""

    type = "avgpool"

    def forward_pure(self, x, training=False):
        return avg_pool2d_forward(x, self.size, self.stride), np.shape(x)

    def backward_pure(self, dout, cache, need_dx=True):
        return avg_pool2d_backward(dout, cache, self.size, self.stride), {}


# -------------------------------------------------------------------- activations

class ReLU(Layer):
    """``max(x, 0)`` elementwise; the gradient passes where the input was positive.

    One-pass Numba kernels (engine.activations) keep the training step in Numba.
    """

    type = "relu"

    def forward_pure(self, x, training=False):
        y = relu_forward(x)
        return y, y  # y > 0 exactly where x > 0, so the output serves as the mask

    def backward_pure(self, dout, cache, need_dx=True):
        return relu_backward(dout, cache), {}


class Sigmoid(Layer):
    """``1 / (1 + exp(-x))`` elementwise; ``dx = dout * y * (1 - y)``."""

    type = "sigmoid"

    def forward_pure(self, x, training=False):
        x = real_array(x, tr_noop("the input"))
        # 0.5 (1 + tanh(x / 2)) is the same function and never overflows in exp.
        y = 0.5 * (1.0 + np.tanh(0.5 * x))
        return y, y

    def backward_pure(self, dout, cache, need_dx=True):
        y = cache
        return dout * y * (1.0 - y), {}


class Tanh(Layer):
    """``tanh(x)`` elementwise; ``dx = dout * (1 - y^2)``."""

    type = "tanh"

    def forward_pure(self, x, training=False):
        y = np.tanh(real_array(x, tr_noop("the input")))
        return y, y

    def backward_pure(self, dout, cache, need_dx=True):
        y = cache
        return dout * (1.0 - y * y), {}


# -------------------------------------------------------------------- batch norm

class SpatialBatchNorm(Layer):
    """Batch normalisation per channel over (N, H, W): x (N, C, H, W) -> y, same shape.

    Training: ``x_hat = (x - mean) / sqrt(var + eps)`` with the batch mean and
    (biased) variance of each channel, ``y = gamma * x_hat + beta``; the running
    statistics follow ``running = momentum * running + (1 - momentum) * batch``
    (CS231n convention; the running variance uses the unbiased batch variance, as
    PyTorch). Evaluation uses the running statistics. Parameters ``gamma`` (C,)
    (ones) and ``beta`` (C,) (zeros); ``param_count = 2 C`` (the running
    statistics are buffers, not trained).
    """

    type = "batchnorm"
    SETTINGS = {"momentum": 0.9, "eps": 1e-5}

    def __init__(self, channels: int, momentum: float = 0.9, eps: float = 1e-5,
                 name: str | None = None):
        super().__init__(name)
        self.channels = _positive_int(channels, tr_noop("the number of channels"))
        self.momentum, self.eps = _check_bn(momentum, eps)
        self.params["gamma"] = np.ones(self.channels, np.float32)   # (C,)
        self.params["beta"] = np.zeros(self.channels, np.float32)   # (C,)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers["running_mean"] = np.zeros(self.channels, np.float32)  # (C,)
        self.buffers["running_var"] = np.ones(self.channels, np.float32)    # (C,)

    def settings(self) -> dict:
        return {"momentum": self.momentum, "eps": self.eps}

    @classmethod
    def describe(cls, in_shape, momentum=0.9, eps=1e-5):
        C, H, W = _image_shape(in_shape, "batchnorm")
        _check_bn(momentum, eps)
        return (C, H, W), 2 * C

    def output_shape(self, in_shape):
        out, _ = self.describe(in_shape, **self.settings())
        _check_channels(self, in_shape, self.channels)
        return out

    @classmethod
    def from_settings(cls, in_shape, rng, name=None, **settings):
        return cls(_image_shape(in_shape, "batchnorm")[0], name=name, **settings)

    def forward(self, x, training=False):
        y, self._cache = self.forward_pure(x, training)
        if training:
            self._update_running_stats(self._cache)
        return y

    def _update_running_stats(self, cache) -> None:
        _, _, mean, var, count = cache
        unbiased = var * (count / (count - 1)) if count > 1 else var
        m = self.momentum
        rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
        rm[...] = m * rm + (1.0 - m) * mean
        rv[...] = m * rv + (1.0 - m) * unbiased

    def forward_pure(self, x, training=False):
        """Cache: (x_hat (N, C, H, W), inv_std (C,), mean (C,), var (C,), count N*H*W)."""
        x = real_array(x, tr_noop("the input"))
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise GeometryError(tr("{name} expects input (N, {channels}, H, W), got shape "
                                   "{shape}").format(name=self.name, channels=self.channels,
                                                     shape=x.shape))
        dtype = x.dtype
        count = x.shape[0] * x.shape[2] * x.shape[3]
        if training:
            mean = x.mean(axis=(0, 2, 3))
            var = x.var(axis=(0, 2, 3))
        else:
            mean = self.buffers["running_mean"].astype(dtype)
            var = self.buffers["running_var"].astype(dtype)
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(dtype)
        x_hat = (x - mean[None, :, None, None]) * inv_std[None, :, None, None]
        gamma = self.params["gamma"].astype(dtype, copy=False)
        beta = self.params["beta"].astype(dtype, copy=False)
        y = gamma[None, :, None, None] * x_hat + beta[None, :, None, None]
        cache = (x_hat, inv_std, mean, var, count) if training else (x_hat, inv_std, None, None, 0)
        return y, cache

    def backward_pure(self, dout, cache, need_dx=True):
        """dout (N, C, H, W) -> dx (N, C, H, W); grads gamma (C,), beta (C,)."""
        x_hat, inv_std, _, _, count = cache
        dout = np.asarray(dout, dtype=x_hat.dtype)
        gamma = self.params["gamma"].astype(x_hat.dtype, copy=False)
        dbeta = dout.sum(axis=(0, 2, 3))
        dgamma = (dout * x_hat).sum(axis=(0, 2, 3))
        dx_hat = dout * gamma[None, :, None, None]
        if count:  # training: mean and variance depend on every x of the channel
            # dx = inv_std / M * (M dx_hat - sum(dx_hat) - x_hat * sum(dx_hat x_hat))
            # and sum(dx_hat) = gamma dbeta, sum(dx_hat x_hat) = gamma dgamma.
            s1 = (gamma * dbeta)[None, :, None, None]
            s2 = (gamma * dgamma)[None, :, None, None]
            dx = (dx_hat - s1 / count - x_hat * (s2 / count)) * inv_std[None, :, None, None]
        else:  # evaluation: a fixed affine map per channel
            dx = dx_hat * inv_std[None, :, None, None]
        return dx, {"gamma": dgamma, "beta": dbeta}


def _check_bn(momentum, eps) -> tuple[float, float]:
    try:
        momentum, eps = float(momentum), float(eps)
    except (TypeError, ValueError):
        raise ValueError(tr("batch-norm momentum and eps must be numbers")) from None
    if not 0.0 <= momentum < 1.0:
        raise ValueError(tr("batch-norm momentum must be in [0, 1), not {value}").format(
            value=momentum))
    if not eps > 0.0:
        raise ValueError(tr("batch-norm eps must be positive, not {value}").format(value=eps))
    return momentum, eps


# -------------------------------------------------------------------- flatten, dense

class Flatten(Layer):
    """x (N, C, H, W) -> (N, C*H*W), row-major (channel, row, column)."""

    type = "flatten"

    @classmethod
    def describe(cls, in_shape):
        return (int(math.prod(int(s) for s in in_shape)),), 0

    def forward_pure(self, x, training=False):
        x = np.asarray(x)
        return x.reshape(x.shape[0], -1), x.shape  # (N, C*H*W), a view

    def backward_pure(self, dout, cache, need_dx=True):
        return np.asarray(dout).reshape(cache), {}  # back to (N, C, H, W)


class Dense(Layer):
    """Fully connected: x (N, D) -> y (N, K) = x w + b.

    Parameters ``w`` (D, K) He- or Xavier-initialised, ``b`` (K,) zeros;
    ``param_count = D * K + K``.
    """

    type = "dense"
    SETTINGS = {"units": _REQUIRED, "init": "he"}

    def __init__(self, in_features: int, units: int, rng: np.random.Generator | None = None,
                 init: str = "he", name: str | None = None):
        super().__init__(name)
        self.in_features = _positive_int(in_features, tr_noop("the number of input features"))
        self.units = _positive_int(units, tr_noop("the number of units"))
        self.init = init
        rng = np.random.default_rng(0) if rng is None else rng
        self.params["w"] = initialise(init, (self.in_features, self.units), rng)  # (D, K)
        self.params["b"] = np.zeros(self.units, np.float32)                       # (K,)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def settings(self) -> dict:
        return {"units": self.units, "init": self.init}

    @classmethod
    def describe(cls, in_shape, units=None, init="he"):
        shape = tuple(int(s) for s in in_shape)
        if len(shape) != 1:
            raise GeometryError(tr(
                "a dense layer needs a flat vector, but its input is {ndim}-D {shape}; put a "
                "flatten layer before it").format(ndim=len(shape), shape=shape))
        K = _positive_int(units, tr_noop("the number of units"))
        if init not in INITIALISERS:
            raise _unknown_init(init)
        return (K,), shape[0] * K + K

    def output_shape(self, in_shape):
        out, _ = self.describe(in_shape, **self.settings())
        if tuple(in_shape) != (self.in_features,):
            raise GeometryError(tr("{name} expects {features} input features, not {got}")
                                .format(name=self.name, features=self.in_features,
                                        got=math.prod(in_shape)))
        return out

    @classmethod
    def from_settings(cls, in_shape, rng, name=None, **settings):
        cls.describe(in_shape, **settings)
        return cls(int(in_shape[0]), rng=rng, name=name, **settings)

    def forward_pure(self, x, training=False):
        """x (N, D) -> y (N, K); cache is the input."""
        x = np.ascontiguousarray(x)
        return dense_forward(x, self.params["w"], self.params["b"]), x

    def backward_pure(self, dout, cache, need_dx=True):
        """dout (N, K) -> dx (N, D); grads w (D, K), b (K,)."""
        dx, dw, db = dense_backward(dout, cache, self.params["w"])
        return dx, {"w": dw, "b": db}


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.type: cls
    for cls in (Conv2D, MaxPool2D, AvgPool2D, ReLU, Sigmoid, Tanh, SpatialBatchNorm,
                Flatten, Dense)
}
