"""A sequential network built from a plain spec, with summary and save/load.

A spec is a list of plain dicts (docs/ARCHITECTURE.md), e.g.::

    [{"type": "conv", "filters": 8, "kernel": 3, "padding": 1},
     {"type": "relu"},
     {"type": "maxpool", "size": 2},
     {"type": "flatten"},
     {"type": "dense", "units": 10}]

Channels and input features are inferred from ``input_shape`` (C, H, W). A bad
spec raises :class:`NetworkSpecError` naming the layer, counted from 1 as people
count, e.g. ``"layer 4 (conv): a 3x3 kernel does not fit a 2x2 input with
padding 0"``. :func:`describe_spec` checks a spec and gives the summary without
allocating any weights (for the live network builder).

Files are ``.npz`` written with plain arrays only (loaded with
``allow_pickle=False``): ``__meta__`` is a JSON string holding the spec and the
input shape, ``<layer>.<param>`` the parameters and ``<layer>.<buffer>`` the
batch-norm running statistics.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import files
from ._arrays import real_array
from .geometry import GeometryError
from .i18n import tr, tr_noop
from .layers import _REQUIRED, LAYER_TYPES, Conv2D, Layer, MaxPool2D, ReLU
from .losses import softmax

__all__ = ["Network", "LayerInfo", "NetworkSpecError", "ModelFileError", "describe_spec",
           "check_model_path", "MAX_LAYERS", "MAX_MODEL_BYTES"]

_FORMAT = "cnn-explorer-model"
_VERSION = 1
_META_KEY = "__meta__"


class NetworkSpecError(ValueError):
    """A network spec that cannot be built, with the layer and the reason in words.

    Attributes
    ----------
    index : int or None
        0-based position of the offending layer in the spec (None: the whole spec
        or the input shape). The message counts from 1.
    layer_type : str or None
    reason : str
        The message without the "layer k (type): " prefix.
    partial : list[LayerInfo]
        The summary of the layers before the offending one (for the live builder).
    """

    def __init__(self, reason: str, index: int | None = None, layer_type: str | None = None,
                 partial: list | None = None):
        where = tr("layer {number} ({type}): ").format(
            number=index + 1, type=layer_type or "?") if index is not None else ""
        super().__init__(where + reason)
        self.index, self.layer_type, self.reason = index, layer_type, reason
        self.partial = list(partial or [])


class ModelFileError(ValueError):
    """A model file that cannot be loaded (missing, not .npz, truncated, or mismatched)."""


@dataclass(frozen=True)
class LayerInfo:
    """One row of a network summary. ``index`` is the 0-based position in ``Network.layers``."""

    index: int
    name: str
    type: str
    output_shape: tuple[int, ...]
    param_count: int


@dataclass(frozen=True)
class _Planned:
    cls: type[Layer]
    settings: dict
    info: LayerInfo
    in_shape: tuple[int, ...]


# -------------------------------------------------------------------- spec checking

def _check_input_shape(input_shape) -> tuple[int, ...]:
    try:
        raw = tuple(input_shape)
    except TypeError:
        raise NetworkSpecError(tr("the input shape must be (channels, height, width), not "
                                  "{shape!r}").format(shape=input_shape)) from None
    shape = []
    for s in raw:
        # whole numbers only: True, 2.5, 1e400 and "3" are refused, huge ones too
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
            raise NetworkSpecError(tr("the input shape must be whole numbers (channels, "
                                      "height, width), not {shape!r}").format(shape=raw))
        shape.append(int(s))
    shape = tuple(shape)
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise NetworkSpecError(tr("the input shape must be (channels, height, width) with "
                                  "positive sizes, not {shape}").format(shape=shape))
    if max(shape) > MAX_INPUT_SIZE or math.prod(shape) > MAX_VALUES_PER_SAMPLE:
        raise NetworkSpecError(tr("the input shape {shape} is far larger than this app "
                                  "handles (at most {limit:,} values per image)")
                               .format(shape=shape, limit=MAX_VALUES_PER_SAMPLE))
    return shape


def _settings_of(index: int, item) -> tuple[type[Layer], dict]:
    """Check one spec entry's keys; return its layer class and settings (defaults filled)."""
    if not isinstance(item, dict):
        raise NetworkSpecError(tr("each layer must be a dict such as {example}, not {item!r}")
                               .format(example="{'type': 'relu'}", item=item), index)
    kind = item.get("type")
    if not isinstance(kind, str) or kind not in LAYER_TYPES:
        raise NetworkSpecError(tr("unknown layer type {kind!r}; choose one of {types}").format(
            kind=kind, types=", ".join(LAYER_TYPES)), index, str(kind))
    cls = LAYER_TYPES[kind]
    unknown = sorted(set(item) - set(cls.SETTINGS) - {"type"})
    if unknown:
        allowed = ", ".join(cls.SETTINGS) or tr("none")
        raise NetworkSpecError(tr("unknown setting {key!r} (allowed: {allowed})").format(
            key=unknown[0], allowed=allowed), index, kind)
    settings = {}
    for key, default in cls.SETTINGS.items():
        if key in item:
            settings[key] = item[key]
        elif default is _REQUIRED:
            raise NetworkSpecError(tr("the setting {key!r} is missing").format(key=key),
                                   index, kind)
        else:
            settings[key] = default
    return cls, settings


# Sizes past which a spec is refused in words instead of failing to allocate: far
# above anything that trains on a laptop, far below what would exhaust its memory.
MAX_PARAMETERS = 50_000_000
MAX_VALUES_PER_SAMPLE = 20_000_000
MAX_INPUT_SIZE = 100_000  # channels, height or width (as engine.geometry.MAX_SIZE)
# Far more layers than any network this app trains (the default has 8); it keeps a
# runaway spec (20,000 ReLUs, 2,000 blocks) from being checked and built for minutes.
MAX_LAYERS = 1_000
# The largest model file read (and, in all, the most bytes its members inflate to):
# MAX_PARAMETERS float64 weights and their statistics fit well within it.
MAX_MODEL_BYTES = 512 * 2**20


def _check_size(info: LayerInfo, total_params: int, partial) -> None:
    values = math.prod(info.output_shape)
    where = (info.index, info.type, partial)
    if values > MAX_VALUES_PER_SAMPLE:
        raise NetworkSpecError(tr(
            "its output {shape} would hold {values} numbers per image, more than this app "
            "handles ({limit})").format(shape=info.output_shape, values=f"{values:,}",
                                        limit=f"{MAX_VALUES_PER_SAMPLE:,}"), *where)
    if total_params > MAX_PARAMETERS:
        raise NetworkSpecError(tr(
            "the network would have {count} parameters by this layer, more than this app "
            "handles ({limit})").format(count=f"{total_params:,}",
                                        limit=f"{MAX_PARAMETERS:,}"), *where)


def _plan(spec, input_shape) -> tuple[list[_Planned], tuple[int, ...]]:
    """Check a whole spec layer by layer; nothing is allocated.

    Linear in the number of layers (at most :data:`MAX_LAYERS`): the summary of the
    layers before a bad one is only assembled when an error needs it.
    """
    shape = _check_input_shape(input_shape)
    if isinstance(spec, (str, bytes, dict)) or not hasattr(spec, "__iter__"):
        raise NetworkSpecError(tr("the spec must be a list of layer dicts"))
    spec = _bounded_list(spec)
    if not spec:
        raise NetworkSpecError(tr("the network has no layers"))
    planned: list[_Planned] = []
    counts: dict[str, int] = {}
    total_params = 0

    def partial():
        return [p.info for p in planned]

    for index, item in enumerate(spec):
        try:
            cls, settings = _settings_of(index, item)
            out_shape, count = cls.describe(shape, **settings)
        except NetworkSpecError as err:
            err.partial = partial()
            raise
        except (GeometryError, ValueError, TypeError, OverflowError, RecursionError) as err:
            kind = item.get("type") if isinstance(item, dict) else None
            raise NetworkSpecError(_one_line(err), index, str(kind), partial()) from None
        counts[cls.type] = counts.get(cls.type, 0) + 1
        info = LayerInfo(index, f"{cls.type}{counts[cls.type]}", cls.type, out_shape, count)
        total_params += count
        try:
            _check_size(info, total_params, ())
        except NetworkSpecError as err:
            err.partial = partial()
            raise
        planned.append(_Planned(cls, settings, info, shape))
        shape = out_shape
    if len(shape) != 1:
        last = planned[-1].info
        raise NetworkSpecError(tr(
            "the network must end with one score per class, but it ends with maps of shape "
            "{shape}; finish with flatten and dense").format(shape=shape), last.index,
            last.type, partial())
    return planned, shape


def _bounded_list(spec) -> list:
    """``list(spec)``, refused past MAX_LAYERS entries (without reading a runaway iterator)."""
    if hasattr(spec, "__len__") and len(spec) > MAX_LAYERS:
        count = len(spec)
    else:
        items = []
        for item in spec:
            items.append(item)
            if len(items) > MAX_LAYERS:
                count = None
                break
        else:
            return items
    raise NetworkSpecError(
        tr("the network has {count} layers, more than this app builds ({limit}); use fewer "
           "layers").format(count=f"{count:,}" if count is not None else
                            tr("more than {limit}").format(limit=f"{MAX_LAYERS:,}"),
                            limit=f"{MAX_LAYERS:,}"))


def _one_line(err: BaseException) -> str:
    if isinstance(err, RecursionError):
        return tr("a setting is nested too deeply")
    return " ".join(str(err).split()) or type(err).__name__


def describe_spec(spec, input_shape=(1, 28, 28)) -> list[LayerInfo]:
    """The summary of the network ``spec`` would build, without allocating weights.

    Raises
    ------
    NetworkSpecError
        Naming the first layer that cannot be built and why; its ``partial``
        attribute holds the rows of the layers before it.
    """
    planned, _ = _plan(spec, input_shape)
    return [p.info for p in planned]


# -------------------------------------------------------------------- the network

class Network:
    """A sequential CNN: ``Network(spec, input_shape=(1, 28, 28), seed=0)``.

    Attributes
    ----------
    layers : list[Layer]
        In order; names like "conv1", "relu1", "maxpool1", "dense1".
    input_shape : tuple
        Per-sample input shape (C, H, W).
    num_classes : int
        Length of the output vector (the last layer's output).
    """

    def __init__(self, spec, input_shape=(1, 28, 28), seed: int = 0):
        planned, out_shape = _plan(spec, input_shape)
        rng = np.random.default_rng(seed)
        self.layers: list[Layer] = [
            p.cls.from_settings(p.in_shape, rng, name=p.info.name, **p.settings)
            for p in planned]
        self._infos = [p.info for p in planned]
        self.input_shape = _check_input_shape(input_shape)
        self.num_classes = int(out_shape[0])
        self.seed = seed
        self._blocks = _fusable_blocks(self.layers)  # {first layer index: _ConvReluPool}
        self._last_plan: list[tuple[int, _ConvReluPool | None]] | None = None

    # ---------------------------------------------------------------- description
    @property
    def spec(self) -> list[dict]:
        """The full spec with every default filled in (JSON-compatible)."""
        return [layer.spec for layer in self.layers]

    def summary(self) -> list[LayerInfo]:
        """One LayerInfo(index, name, type, output_shape, param_count) per layer."""
        return list(self._infos)

    @property
    def param_count(self) -> int:
        return sum(layer.param_count for layer in self.layers)

    def __repr__(self) -> str:
        rows = [f"  {i.name:<12} {str(i.output_shape):<16} {i.param_count}" for i in self._infos]
        return (f"Network(input {self.input_shape}, {self.param_count} parameters)\n"
                + "\n".join(rows))

    # ---------------------------------------------------------------- compute
    def _check_batch(self, x) -> np.ndarray:
        x = real_array(x, tr_noop("the batch"))
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float32)
        if x.shape[1:] != self.input_shape or x.ndim != len(self.input_shape) + 1:
            raise GeometryError(tr("the network expects a batch of shape (N, {shape}), got "
                                   "{got}").format(shape=", ".join(map(str, self.input_shape)),
                                                   got=x.shape))
        return x

    def forward(self, x, training: bool = False) -> np.ndarray:
        """Logits (N, K) for a batch x (N, C, H, W); layers remember it for backward.

        A conv - ReLU - 2x2 max-pool run of layers (the default network has two) is
        computed in one pass in float32 (engine.conv_forward.conv2d_relu_pool_forward:
        the same values, without writing the full-size maps between the three
        layers); :meth:`backward` then goes through it in one pass too.
        """
        x = self._check_batch(x)
        plan = []
        index = 0
        while index < len(self.layers):
            block = self._blocks.get(index) if x.dtype == np.float32 else None
            plan.append((index, block))
            if block is not None:
                x = block.forward(x)
                index += len(block.layers)
            else:
                x = self.layers[index].forward(x, training)
                index += 1
        self._last_plan = plan
        return x

    def backward(self, dlogits, need_input_grad: bool = True) -> np.ndarray | None:
        """Backpropagate dlogits (N, K); fills every layer's grads.

        Returns dx (N, C, H, W), the gradient with respect to the input images, or
        None with ``need_input_grad=False`` (training never needs it, and a first
        conv layer then skips about a third of its backward work).
        """
        plan = self._last_plan or [(i, None) for i in range(len(self.layers))]
        delta = dlogits
        for index, block in reversed(plan):
            need_dx = index > 0 or need_input_grad
            if block is not None:
                delta = block.backward(delta, need_dx)
            else:
                delta = self.layers[index].backward(delta, need_dx=need_dx)
        return delta

    def forward_pure(self, x, training: bool = False):
        """Like :meth:`forward` but changes nothing (no caches, no running statistics).

        Returns
        -------
        logits : (N, K)
        caches : list, one per layer, for :meth:`backward_pure`
        activations : list of arrays, the output of every layer
        """
        x = self._check_batch(x)
        caches, activations = [], []
        for layer in self.layers:
            x, cache = layer.forward_pure(x, training)
            caches.append(cache)
            activations.append(x)
        return x, caches, activations

    def backward_pure(self, dlogits, caches):
        """Backward through the caches of :meth:`forward_pure`, changing nothing.

        Returns
        -------
        dx : (N, C, H, W)
        grads : list of dict, one per layer
        deltas : list of arrays; ``deltas[i]`` is the gradient of the loss with
            respect to the output of layer ``i`` (its error map)
        """
        n = len(self.layers)
        grads, deltas = [None] * n, [None] * n
        delta = dlogits
        for i in range(n - 1, -1, -1):
            deltas[i] = delta
            delta, grads[i] = self.layers[i].backward_pure(delta, caches[i])
        return delta, grads, deltas

    def predict_proba(self, x, batch_size: int = 256) -> np.ndarray:
        """Class probabilities (N, K) in evaluation mode, batch by batch to bound memory."""
        x = self._check_batch(x)
        out = np.empty((x.shape[0], self.num_classes), dtype=x.dtype)
        for start in range(0, x.shape[0], batch_size):
            logits, _, _ = self.forward_pure(x[start:start + batch_size], training=False)
            out[start:start + batch_size] = softmax(logits)
        return out

    def predict(self, x, batch_size: int = 256) -> np.ndarray:
        """Predicted class (N,) int64."""
        return np.argmax(self.predict_proba(x, batch_size), axis=1)

    # ---------------------------------------------------------------- parameters
    def parameters(self) -> list[np.ndarray]:
        """Every trainable array, in a fixed order (layer by layer, key by key)."""
        return [p for layer in self.layers for p in layer.params.values()]

    def gradients(self) -> list[np.ndarray]:
        """The gradients matching :meth:`parameters` (valid after :meth:`backward`)."""
        return [layer.grads[k] for layer in self.layers for k in layer.params]

    def state_arrays(self) -> dict[str, np.ndarray]:
        """``{"<layer>.<name>": array}`` for every parameter and buffer (the live arrays)."""
        state = {}
        for layer in self.layers:
            for key, value in {**layer.params, **layer.buffers}.items():
                state[f"{layer.name}.{key}"] = value
        return state

    def get_state(self) -> dict[str, np.ndarray]:
        """A copy of every parameter and buffer."""
        return {k: v.copy() for k, v in self.state_arrays().items()}

    def set_state(self, state: dict) -> None:
        """Copy arrays from ``state`` into the network (checked fully before any change).

        Raises
        ------
        ValueError
            If names or shapes do not match, or a value is not a finite number.
        """
        target = self.state_arrays()
        missing = sorted(set(target) - set(state))
        extra = sorted(set(state) - set(target))
        if missing or extra:
            parts = []
            if missing:
                parts.append(tr("missing {names}").format(names=", ".join(missing)))
            if extra:
                parts.append(tr("unexpected {names}").format(names=", ".join(extra)))
            raise ValueError(tr("the arrays do not match the network: {problems}").format(
                problems="; ".join(parts)))
        values = {}
        for key, live in target.items():
            value = np.asarray(state[key])
            if value.shape != live.shape:
                raise ValueError(tr("{key} has shape {shape}, but the network needs {needed}")
                                 .format(key=key, shape=value.shape, needed=live.shape))
            if not (np.issubdtype(value.dtype, np.floating)
                    or np.issubdtype(value.dtype, np.integer)):
                raise ValueError(tr("{key} holds {dtype} values, not numbers").format(
                    key=key, dtype=value.dtype))
            if not np.all(np.isfinite(value)):
                raise ValueError(tr("{key} contains values that are not finite numbers")
                                 .format(key=key))
            values[key] = value
        for key, live in target.items():  # all checked: now nothing can fail half-way
            live[...] = values[key]

    # ---------------------------------------------------------------- files
    def save(self, path) -> None:
        """Write the network to ``path`` (.npz; plain arrays only, no pickle).

        Written through :func:`engine.files.atomic_write`: to ``<name>.tmp`` beside
        it, then renamed over ``path``, so an interrupted save never leaves a
        half-written model and never changes the file that was there; a target that
        is not a regular file (a device such as /dev/null, a FIFO, a folder, or a
        link to one) is refused; the file gets the permissions of the user's umask;
        a ``.tmp`` left by an interrupted earlier save is removed.

        Raises
        ------
        ModelFileError
            If the file cannot be written there (no such folder, no permission, disk
            full, a name too long, or a target that is not a regular file).
        """
        meta = {"format": _FORMAT, "version": _VERSION, "spec": self.spec,
                "input_shape": list(self.input_shape)}
        arrays = {_META_KEY: np.array(json.dumps(meta)), **self.state_arrays()}
        files.atomic_write(path, lambda fh: np.savez(fh, **arrays), ModelFileError)

    @classmethod
    def load(cls, path) -> Network:
        """Read a network written by :meth:`save`.

        The network is built and filled completely before it is returned, so a
        bad file never yields a half-loaded model. Only a regular file of at most
        :data:`MAX_MODEL_BYTES` is read (a FIFO is never opened), and its members
        are inflated only up to that size in all.

        Raises
        ------
        ModelFileError
            For a missing, unreadable, non-npz or truncated file, or one whose
            arrays do not match its spec.
        """
        path = Path(path)
        arrays = _read_npz(path)
        spec, input_shape = _read_meta(path, arrays.pop(_META_KEY, None))
        try:
            network = cls(spec, input_shape)
        except NetworkSpecError as err:
            raise ModelFileError(tr("{name}: the network stored in the file is not valid: "
                                    "{error}").format(name=path.name, error=err)) from None
        except (RecursionError, MemoryError, OverflowError) as err:
            raise ModelFileError(tr("{name}: the network stored in the file cannot be built "
                                    "({reason})").format(name=path.name,
                                                          reason=type(err).__name__)) from None
        try:
            network.set_state(arrays)
        except ValueError as err:
            raise ModelFileError(f"{path.name}: {err}") from None
        return network


class _ConvReluPool:
    """A Conv2D - ReLU - MaxPool2D(2, 2) run of a network's layers, trained in one pass.

    :meth:`forward` and :meth:`backward` do what the three layers' forward and
    backward do one after another (the same outputs and gradients, stored in the
    conv layer's ``grads``), through engine.conv_forward.conv2d_relu_pool_forward
    and its backward. The three layers' own caches are cleared, so a layer-by-layer
    backward after a fused forward fails instead of using a stale cache.
    """

    def __init__(self, conv: Conv2D, relu: ReLU, pool: MaxPool2D):
        self.layers = (conv, relu, pool)
        self.conv = conv
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        from .conv_forward import conv2d_relu_pool_forward
        conv = self.conv
        x = np.ascontiguousarray(x)
        y, winners = conv2d_relu_pool_forward(x, conv.params["w"], conv.params["b"],
                                              conv.stride, conv.padding)
        for layer in self.layers:
            layer._cache = None
        self._cache = (x, winners)
        return y

    def backward(self, dout: np.ndarray, need_dx: bool) -> np.ndarray | None:
        from .conv_backward import conv2d_relu_pool_backward
        if self._cache is None:
            raise RuntimeError(f"{self.conv.name}: backward() called before forward()")
        conv = self.conv
        x, winners = self._cache
        dx, dw, db = conv2d_relu_pool_backward(dout, winners, x, conv.params["w"], conv.stride,
                                               conv.padding, need_dx=need_dx)
        conv.grads.update({"w": dw, "b": db})
        return dx


def _fusable_blocks(layers: list[Layer]) -> dict[int, _ConvReluPool]:
    """{index: block} for every Conv2D - ReLU - 2x2 stride-2 MaxPool2D run of ``layers``."""
    blocks = {}
    index = 0
    while index + 2 < len(layers):
        conv, relu, pool = layers[index:index + 3]
        if (isinstance(conv, Conv2D) and type(relu) is ReLU and type(pool) is MaxPool2D
                and pool.size == (2, 2) and pool.stride == (2, 2)):
            blocks[index] = _ConvReluPool(conv, relu, pool)
            index += 3
        else:
            index += 1
    return blocks


def check_model_path(path) -> Path:
    """Check, writing nothing, that :meth:`Network.save` could write ``path``.

    For a long run (``main.py train``): it fails at its start instead of its end.
    Returns the file a save would write.

    Raises
    ------
    ModelFileError
        As :meth:`Network.save` would (see :func:`engine.files.check_writable`).
    """
    return files.check_writable(path, ModelFileError)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of a model file, read fully and within MAX_MODEL_BYTES."""
    arrays = files.read_npz(
        path, MAX_MODEL_BYTES, ModelFileError,
        name=tr("the model file {name}").format(name=path.name),
        missing=tr("there is no model file {path!r}").format(path=str(path)),
        text_members=(_META_KEY,),
        not_npz=tr("not a model file (.npz)"))
    if not arrays:
        raise ModelFileError(tr("{name} is an empty archive, not a model file")
                             .format(name=path.name))
    return arrays


def _read_meta(path: Path, meta) -> tuple[list, tuple]:
    if meta is None:
        raise ModelFileError(tr("{name} is an .npz file but not a CNN Explorer model (it has "
                                "no network description)").format(name=path.name))
    unreadable = tr("{name}: the network description in the file cannot be read").format(
        name=path.name)
    if meta.shape != () or meta.dtype.kind != "U":
        raise ModelFileError(unreadable)
    try:
        # NaN and Infinity are not numbers a spec can hold: refused as they are parsed
        info = json.loads(str(meta[()]), parse_constant=_refuse_constant)
        if not isinstance(info, dict) or info.get("format") != _FORMAT:
            raise ValueError("unknown format")
        version = info.get("version", 1)
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValueError("the version is not a whole number")
        if version > _VERSION:
            raise ModelFileError(tr("{name} was written by a newer version of CNN Explorer "
                                    "(model format {version}); please update the app").format(
                                        name=path.name, version=info["version"]))
        spec, input_shape = info["spec"], info["input_shape"]
        if not isinstance(spec, list) or not isinstance(input_shape, list):
            raise ValueError("the spec and the input shape must be lists")
        return spec, tuple(input_shape)
    except ModelFileError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError,
            RecursionError):
        raise ModelFileError(unreadable) from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number a model holds")
