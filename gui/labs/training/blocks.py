"""The network builder's terms, without Qt: conv blocks, a dense head, and the engine spec.

A network here is a list of conv blocks (conv -> optional batch norm ->
activation -> optional pooling) followed by a dense head (flatten -> optional
hidden dense layer with its activation -> dense with one output per class).
:func:`blocks_to_spec` turns that into the engine's plain spec (a list of
dicts), :func:`spec_to_blocks` reads a spec back when it has this shape, and
:func:`describe_network` gives every layer's output shape and parameter count
(``engine.network.LayerInfo`` rows) or why the network is impossible.

Size limits: the builder edits at most :data:`MAX_BLOCKS` blocks, and a spec
(from a file) is refused before any per-layer work when it has more than
:data:`MAX_LAYERS` layers, so a hostile file with thousands of blocks costs a
sentence, not a frozen window.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from engine.i18n import tr, tr_noop

__all__ = ["ConvBlock", "Head", "blocks_to_spec", "spec_to_blocks", "describe_network",
           "check_spec_size", "check_block_count", "ACTIVATIONS", "POOLS", "NUM_CLASSES",
           "MAX_BLOCKS", "MAX_LAYERS", "CHOICE_TEXTS", "LAYER_TYPE_TEXTS", "layer_type_text"]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "none")
POOLS = ("max", "avg", "none")
#: what the builder's lists show for an activation or pooling key (msgids: the keys, short
#: enough for the block table's cells)
CHOICE_TEXTS = {"relu": tr_noop("relu"), "tanh": tr_noop("tanh"), "sigmoid": tr_noop("sigmoid"),
                "none": tr_noop("none"), "max": tr_noop("max"), "avg": tr_noop("avg")}
#: an engine layer type (msgids: the types themselves, "maxpool"; a catalog says them in
#: words); the layer names ("maxpool1") stay as they are
LAYER_TYPE_TEXTS = {"conv": tr_noop("conv"), "relu": tr_noop("relu"),
                    "sigmoid": tr_noop("sigmoid"), "tanh": tr_noop("tanh"),
                    "maxpool": tr_noop("maxpool"), "avgpool": tr_noop("avgpool"),
                    "batchnorm": tr_noop("batchnorm"), "flatten": tr_noop("flatten"),
                    "dense": tr_noop("dense")}


def layer_type_text(kind: str) -> str:
    """The layer type ``kind`` ("conv", "maxpool", ...) in words, in the current language."""
    return tr(LAYER_TYPE_TEXTS[kind]) if kind in LAYER_TYPE_TEXTS else str(kind)
NUM_CLASSES = 10
#: Far more than any network that still sees something of a 28x28 digit; every block
#: is a row of eight editors and up to four layers of live maps.
MAX_BLOCKS = 24
#: Four layers per block (conv, batch norm, activation, pool) and a head of four.
MAX_LAYERS = 4 * MAX_BLOCKS + 4


@dataclass(frozen=True)
class ConvBlock:
    """conv (filters, kernel, stride, padding) -> [batch norm] -> activation -> [pool]."""

    filters: int = 8
    kernel: int = 3
    stride: int = 1
    padding: int = 1
    activation: str = "relu"
    batchnorm: bool = False
    pool: str = "max"
    pool_size: int = 2


@dataclass(frozen=True)
class Head:
    """flatten -> [dense(hidden) -> activation] -> dense(classes)."""

    hidden: int = 0
    activation: str = "relu"
    classes: int = NUM_CLASSES


def blocks_to_spec(blocks, head: Head) -> tuple[list[dict], list[object]]:
    """The engine spec for ``blocks`` and ``head``.

    Returns
    -------
    spec : list of dict
    owner : list, one entry per spec layer: the block index (int) it came from,
        or "head"; used to mark the block an error is about.
    """
    spec: list[dict] = []
    owner: list[object] = []

    def add(layer: dict, who) -> None:
        spec.append(layer)
        owner.append(who)

    for k, b in enumerate(blocks):
        add({"type": "conv", "filters": b.filters, "kernel": b.kernel, "stride": b.stride,
             "padding": b.padding}, k)
        if b.batchnorm:
            add({"type": "batchnorm"}, k)
        if b.activation != "none":
            add({"type": b.activation}, k)
        if b.pool != "none":
            add({"type": f"{b.pool}pool", "size": b.pool_size, "stride": b.pool_size}, k)
    add({"type": "flatten"}, "head")
    if head.hidden > 0:
        add({"type": "dense", "units": head.hidden}, "head")
        if head.activation != "none":
            add({"type": head.activation}, "head")
    add({"type": "dense", "units": head.classes}, "head")
    return spec, owner


def check_spec_size(spec) -> None:
    """Refuse a spec the lab cannot show before looking at its layers.

    Raises
    ------
    ValueError
        When ``spec`` is not a list of dicts, or has more than :data:`MAX_LAYERS` layers.
    """
    if not isinstance(spec, list) or not all(isinstance(layer, dict) for layer in spec):
        raise ValueError(tr("the file must hold a list of layers, e.g. "
                            '[{"type": "conv", "filters": 8, "kernel": 3}, ...]'))
    if len(spec) > MAX_LAYERS:
        raise ValueError(tr("it has {n:,} layers; this lab shows networks of at most "
                            "{limit} layers ({blocks} conv blocks)").format(
            n=len(spec), limit=MAX_LAYERS, blocks=MAX_BLOCKS))


def check_block_count(count: int) -> None:
    """Raise ValueError (a sentence) when ``count`` conv blocks are more than the builder holds."""
    if count > MAX_BLOCKS:
        raise ValueError(tr("it has {n} conv blocks; the builder holds at most {limit}")
                         .format(n=count, limit=MAX_BLOCKS))


def _square(value, what: str) -> int:
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(tr("the builder only edits a square {what}, not {value}").format(
                what=what, value=value))
        value = value[0]
    return int(value)


def spec_to_blocks(spec) -> tuple[list[ConvBlock], Head]:
    """Read a spec made of conv blocks and a dense head back into the builder's terms.

    Raises
    ------
    ValueError
        When the spec is too large (:func:`check_spec_size`) or does not have that
        shape (two convolutions in a row with nothing between them is fine, but a
        pooling layer before any convolution is not), with the reason.
    """
    check_spec_size(spec)
    try:
        return _read_blocks(spec)
    except (KeyError, TypeError, OverflowError) as err:  # a missing key, null, Infinity
        raise ValueError(tr("a layer the builder cannot read ({error})").format(
            error=f"{type(err).__name__}: {err}")) from None


def _read_blocks(spec) -> tuple[list[ConvBlock], Head]:
    blocks: list[ConvBlock] = []
    i, n = 0, len(spec)
    types = [str(layer.get("type", "")).lower() for layer in spec]
    while i < n and types[i] == "conv":
        c = spec[i]
        stride = c.get("stride", 1)
        block = ConvBlock(filters=int(c["filters"]), kernel=_square(c["kernel"], tr("kernel")),
                          stride=_square(stride, tr("stride")),
                          padding=_square(c.get("padding", 0), tr("padding")),
                          activation="none", batchnorm=False, pool="none")
        i += 1
        if i < n and types[i] == "batchnorm":
            block = replace(block, batchnorm=True)
            i += 1
        if i < n and types[i] in ("relu", "tanh", "sigmoid"):
            block = replace(block, activation=types[i])
            i += 1
        if i < n and types[i] in ("maxpool", "avgpool"):
            p = spec[i]
            size = _square(p.get("size", 2), tr("pool size"))
            if _square(p.get("stride", size), tr("pool stride")) != size:
                raise ValueError(tr("the builder only edits pooling whose stride equals "
                                    "its size"))
            block = replace(block, pool=types[i][:3], pool_size=size)
            i += 1
        blocks.append(block)
    check_block_count(len(blocks))
    if i >= n or types[i] != "flatten":
        raise ValueError(tr("layer {k} ({type}): the builder expects conv blocks followed "
                            "by flatten and a dense head").format(
            k=i + 1, type=types[i] if i < n else tr("end")))
    i += 1
    rest = types[i:]
    if rest == ["dense"]:
        return blocks, Head(0, "relu", int(spec[i]["units"]))
    if len(rest) == 3 and rest[0] == "dense" and rest[2] == "dense" and rest[1] in ACTIVATIONS:
        return blocks, Head(int(spec[i]["units"]), rest[1], int(spec[i + 2]["units"]))
    if len(rest) == 2 and rest == ["dense", "dense"]:
        return blocks, Head(int(spec[i]["units"]), "none", int(spec[i + 1]["units"]))
    raise ValueError(tr("the builder expects the head to be dense [activation dense]"))


def describe_network(spec, input_shape=(1, 28, 28)):
    """Each layer's output shape and parameter count, or why the network is impossible.

    Nothing is allocated (``engine.network.describe_spec``), so this runs on
    every keystroke of the builder.

    Returns
    -------
    rows : list of engine.network.LayerInfo; when the spec is invalid, the layers
        before the bad one
    total : int, the number of parameters of ``rows``
    error : str or None, the engine's explanation (names the layer, counting from 1)
    bad_index : int or None, 0-based spec index the error is about (when known)
    """
    from engine.network import describe_spec

    error = bad_index = None
    try:
        rows = describe_spec(spec, input_shape)
    except ValueError as err:  # NetworkSpecError (and GeometryError) are ValueErrors
        rows = list(getattr(err, "partial", []))
        error = str(err)
        index = getattr(err, "index", None)  # NetworkSpecError's 0-based layer, or None
        bad_index = index if isinstance(index, int) else None
    return rows, sum(r.param_count for r in rows), error, bad_index
