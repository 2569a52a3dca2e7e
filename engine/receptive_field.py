"""Receptive fields: which cells of the input (and of every layer between) one neuron sees.

Computed from the network's own geometry (every conv's kernel, stride and padding,
every pooling window and stride), never assumed. Two views of it:

- :func:`receptive_field` - for one neuron (a layer, a channel, a cell): the exact set
  of cells of the input and of every earlier layer's output it depends on, clipped to
  the maps (padding cells are constants, not inputs). Rows and columns are separate
  sets, because a rectangular window applied to a product of sets gives a product of
  sets; with a stride larger than the window they have gaps.
- :func:`receptive_field_growth` - for one unit of every layer, the textbook recurrence
  ``r = r_prev + (k - 1) * j_prev``, ``j = j_prev * s`` (the size on the input and the
  jump between neighbouring units), not clipped: how the field grows with depth.

Channels: a convolution reads every channel of its input; pooling, batch norm and
activations work channel by channel; a flatten unit comes from one cell of one
channel; a dense unit reads everything. No Qt: plain Python on a built
:class:`engine.network.Network` (or anything with the same ``layers``,
``input_shape`` and ``summary()``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Region", "FieldGrowth", "layer_window", "receptive_field",
           "receptive_field_growth"]


@dataclass(frozen=True)
class Region:
    """The cells of one layer's output (or of the input) a neuron depends on.

    Attributes
    ----------
    layer : int
        -1 for the input image, else the index into ``network.layers``.
    shape : tuple
        That layer's per-sample output shape, (C, H, W) or (D,).
    channels : tuple of int, or None
        The channels involved (None: every channel).
    rows, cols : tuple of int
        Sorted rows and columns of the cells involved ((C, H, W) maps only; for a
        vector ``rows`` holds the units and ``cols`` is ``(0,)``).
    """

    layer: int
    shape: tuple
    channels: tuple | None
    rows: tuple
    cols: tuple

    @property
    def spatial(self) -> bool:
        return len(self.shape) == 3

    @property
    def size(self) -> tuple[int, int]:
        """(rows, cols) of the bounding box: the field's extent on this layer."""
        if not self.rows or not self.cols:
            return (0, 0)
        return (self.rows[-1] - self.rows[0] + 1, self.cols[-1] - self.cols[0] + 1)

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """(row0, col0, row1, col1), half-open: the rectangle to outline."""
        return (self.rows[0], self.cols[0], self.rows[-1] + 1, self.cols[-1] + 1)

    @property
    def contiguous(self) -> bool:
        """No gaps: every cell of the bounding box belongs to the field."""
        return self.size == (len(self.rows), len(self.cols))

    @property
    def whole(self) -> bool:
        """The field covers the whole map (every row and column)."""
        if not self.spatial:
            return len(self.rows) == self.shape[0]
        return len(self.rows) == self.shape[1] and len(self.cols) == self.shape[2]

    def mask(self) -> np.ndarray:
        """(H, W) bool: the cells of one map in the field (spatial layers only)."""
        m = np.zeros(self.shape[1:], dtype=bool)
        m[np.ix_(self.rows, self.cols)] = True
        return m


@dataclass(frozen=True)
class FieldGrowth:
    """How large one unit's receptive field on the input is after a layer.

    Attributes
    ----------
    layer : int
        Index into ``network.layers``.
    name : str
    size : (h, w)
        The field on the input (the recurrence, not clipped to the image; for a
        flatten or dense layer the whole input).
    jump : (h, w)
        Input pixels between two neighbouring units of this layer.
    kernel, stride, padding : (h, w) pairs, or None for pointwise and global layers
    kind : {"window", "pointwise", "global"}
    """

    layer: int
    name: str
    size: tuple[int, int]
    jump: tuple[int, int]
    kernel: tuple[int, int] | None
    stride: tuple[int, int] | None
    padding: tuple[int, int] | None
    kind: str


def layer_window(layer) -> tuple[str, tuple | None, tuple | None, tuple | None]:
    """A layer's spatial footprint: (kind, kernel, stride, padding).

    kind is "window" (conv, max/avg pooling), "pointwise" (activations, batch norm:
    one cell in, one cell out) or "global" (flatten, dense: the layer's whole input).
    """
    kind = getattr(layer, "type", "")
    if kind == "conv":
        return "window", tuple(layer.kernel), tuple(layer.stride), tuple(layer.padding)
    if kind in ("maxpool", "avgpool"):
        return "window", tuple(layer.size), tuple(layer.stride), (0, 0)
    if kind in ("flatten", "dense"):
        return "global", None, None, None
    return "pointwise", None, None, None


def _shapes(network) -> list[tuple]:
    """Per-sample shapes: [input, output of layer 0, output of layer 1, ...]."""
    return [tuple(network.input_shape)] + [tuple(i.output_shape) for i in network.summary()]


def _window_rows(out_rows, k: int, s: int, p: int, size: int) -> tuple:
    """Input indices (sorted, clipped to 0..size-1) the output indices read along one axis."""
    taken = set()
    for a in out_rows:
        start = a * s - p
        taken.update(range(max(start, 0), min(start + k, size)))
    return tuple(sorted(taken))


def receptive_field(network, layer: int, index: tuple) -> list[Region]:
    """The exact receptive field of one neuron on the input and on every earlier layer.

    Parameters
    ----------
    network : engine.network.Network
    layer : int
        The neuron's layer (index into ``network.layers``); -1 for an input pixel.
    index : tuple
        (c, i, j) for a map layer, (d,) for a vector layer.

    Returns
    -------
    list of Region, one per layer from the input (``layer=-1``) up to and including
    the neuron's own layer (where it is the neuron itself).

    Raises
    ------
    IndexError
        If the layer or the index is out of range.
    """
    shapes = _shapes(network)
    if not -1 <= layer < len(network.layers):
        raise IndexError(f"layer {layer} is not in a network of {len(network.layers)} layers")
    shape = shapes[layer + 1]
    index = tuple(int(v) for v in index)
    if len(index) != len(shape) or any(not 0 <= v < n for v, n in zip(index, shape,
                                                                      strict=True)):
        raise IndexError(f"{index} is not a cell of a layer output of shape {shape}")
    if len(shape) == 3:
        region = Region(layer, shape, (index[0],), (index[1],), (index[2],))
    else:
        region = Region(layer, shape, None, (index[0],), (0,))
    regions = [region]
    for k in range(layer, -1, -1):
        region = _back_through(network.layers[k], region, shapes[k], k - 1)
        regions.append(region)
    return regions[::-1]


def _back_through(layer, out: Region, in_shape: tuple, in_layer: int) -> Region:
    """The region of ``layer``'s input that ``out`` (a region of its output) reads."""
    kind, kernel, stride, padding = layer_window(layer)
    if len(in_shape) == 1:  # dense input, or a pointwise layer on vectors
        if kind == "pointwise":
            return Region(in_layer, in_shape, None, out.rows, (0,))
        return Region(in_layer, in_shape, None, tuple(range(in_shape[0])), (0,))
    C, H, W = in_shape
    everything = (tuple(range(H)), tuple(range(W)))
    if layer.type == "flatten":
        if len(out.rows) != 1:  # (only ever all of them: a dense layer read the vector)
            return Region(in_layer, in_shape, None, *everything)
        # one flat unit d is the cell (c, i, j) of the map stack, row-major
        (d,) = out.rows
        c, i, j = np.unravel_index(d, in_shape)
        return Region(in_layer, in_shape, (int(c),), (int(i),), (int(j),))
    if kind == "global":
        return Region(in_layer, in_shape, None, *everything)
    if kind == "pointwise":
        return Region(in_layer, in_shape, out.channels, out.rows, out.cols)
    channels = None if layer.type == "conv" else out.channels
    rows = _window_rows(out.rows, kernel[0], stride[0], padding[0], H)
    cols = _window_rows(out.cols, kernel[1], stride[1], padding[1], W)
    return Region(in_layer, in_shape, channels, rows, cols)


def receptive_field_growth(network) -> list[FieldGrowth]:
    """For one unit of every layer: its field's size on the input and its jump.

    ``r = r_prev + (k - 1) * j_prev`` and ``j = j_prev * s`` for a window layer
    (padding moves the field, it does not change its size); pointwise layers keep
    both; flatten and dense units see the whole input.
    """
    shapes = _shapes(network)
    H, W = shapes[0][1:] if len(shapes[0]) == 3 else (shapes[0][0], 1)
    size, jump = (1, 1), (1, 1)
    rows = []
    for k, layer in enumerate(network.layers):
        kind, kernel, stride, padding = layer_window(layer)
        if kind == "window":
            size = tuple(size[a] + (kernel[a] - 1) * jump[a] for a in (0, 1))
            jump = tuple(jump[a] * stride[a] for a in (0, 1))
        elif kind == "global" or len(shapes[k + 1]) == 1:
            size, jump = (H, W), (H, W)
            kind = "global"
        rows.append(FieldGrowth(k, layer.name, size, jump, kernel, stride, padding, kind))
    return rows

