"""The C-R-P sandwich written with the probe's numbers (Qt-free): the Training lab's
probe tab.

CS231n's "sandwich" layer conv-relu-pool computes, for output channel j,
``x_j = pool(relu(Σ_i x_i * w_ij + b_j))``. ``find_sandwiches(spec)`` finds the
conv → [batchnorm] → activation → pool runs of a network spec; ``crp_text`` writes
one pooled cell of one channel with the probe's numbers taken from a snapshot's
activations (the conv output Σ_i x_i * w_ij + b_j over the pooling window, after the
activation, and the pool's value, which is the engine's own output), and the shapes:
pooling has no parameters and keeps the depth, D2 = D1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.i18n import tr

__all__ = ["Sandwich", "find_sandwiches", "crp_text", "pool_window"]

_ACTIVATIONS = ("relu", "sigmoid", "tanh")
_POOLS = ("maxpool", "avgpool")


@dataclass(frozen=True)
class Sandwich:
    """Indices into the spec (and the snapshot's activations) of one C-[BN]-R-P run."""

    conv: int
    norm: int | None
    act: int
    pool: int


def find_sandwiches(spec: list[dict]) -> list[Sandwich]:
    """Every conv → [batchnorm] → activation → pool run of ``spec``, in order."""
    found = []
    types = [layer.get("type") for layer in spec]
    for i, kind in enumerate(types):
        if kind != "conv":
            continue
        k = i + 1
        norm = k if k < len(types) and types[k] == "batchnorm" else None
        k += norm is not None
        if k + 1 < len(types) and types[k] in _ACTIVATIONS and types[k + 1] in _POOLS:
            found.append(Sandwich(i, norm, k, k + 1))
    return found


def pool_window(spec: list[dict], s: Sandwich, i: int, j: int) -> tuple[slice, slice]:
    """The rows and columns of the activation map pooled into cell (i, j)."""
    pool = spec[s.pool]
    size = pool.get("size", 2)
    stride = pool.get("stride", size)
    (kh, kw) = (size, size) if np.isscalar(size) else tuple(size)
    (sh, sw) = (stride, stride) if np.isscalar(stride) else tuple(stride)
    return slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)


def _values(a: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.3g}" for v in np.asarray(a).ravel().tolist()) + "]"


def crp_text(spec: list[dict], activations: list[tuple[str, np.ndarray]], s: Sandwich,
             channel: int, cell: tuple[int, int] | None = None) -> str:
    """The sandwich formula with the probe's numbers for one pooled cell.

    Parameters
    ----------
    spec : the network's spec (the layers of ``activations``, in order)
    activations : [(name, (C, H, W) or (D,))], one per layer (``Snapshot.activations``)
    s : Sandwich
    channel : j, the output channel (0-based)
    cell : (i, j) of the pooled map, default the cell with the largest value
    """
    conv_name, z = activations[s.conv][0], activations[s.conv][1][channel]  # (H1, W1)
    pre = activations[s.norm][1][channel] if s.norm is not None else z
    act_name, a = activations[s.act][0], activations[s.act][1][channel]
    pool_name, p = activations[s.pool][0], activations[s.pool][1][channel]  # (H2, W2)
    if cell is None:
        cell = tuple(int(v) for v in np.unravel_index(int(np.argmax(p)), p.shape))
    rows, cols = pool_window(spec, s, *cell)
    act = spec[s.act]["type"]
    pool = "max" if spec[s.pool]["type"] == "maxpool" else tr("mean")
    inner = "Σ_i x_i * w_ij + b_j"
    if s.norm is not None:
        inner = f"BN({inner})"
    formula = f"x_j = pool({act}({inner}))"
    depth_in = activations[s.conv][1].shape
    depth_out = activations[s.pool][1].shape
    return tr(
        "{formula}: {conv} → {act_layer} → {pool_layer}, channel j = {j}, cell [{r},{c}] of "
        "{pool_layer}\nthe window of {inner} = {z} → {act} → {a} → {pool} = {value:.4g}\n"
        "shapes: {conv} {d1}×{h1}×{w1} → {pool_layer} {d2}×{h2}×{w2}: pooling has no "
        "parameters and keeps the depth, D2 = D1 = {d2}").format(
        formula=formula, conv=conv_name, act_layer=act_name, pool_layer=pool_name,
        j=channel + 1, r=cell[0] + 1, c=cell[1] + 1, inner=inner, z=_values(pre[rows, cols]),
        act=act, a=_values(a[rows, cols]), pool=pool, value=float(p[cell]),
        d1=depth_in[0], h1=depth_in[1], w1=depth_in[2], d2=depth_out[0], h2=depth_out[1],
        w2=depth_out[2])
