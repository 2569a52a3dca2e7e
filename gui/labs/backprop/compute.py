"""What the Backprop lab's channel and influence views show, computed without Qt.

``ChannelsBackward`` splits the backward pass of one sample with C input channels
and F filters the way the course teaches it:

- each filter m's term for input channel k, ``pad(δ_m) ∗ rot180(W_m,k)`` (the full
  correlation of the dilated, padded delta with the rotated kernel slice), and
  ``dx_k = Σ_m term[m, k]``;
- ``dW[m, k] = x_k ∗ δ_m`` (the padded input correlated with the delta, no rotation)
  and ``db[m] = Σ δ_m``;
- the influence of one input cell or one weight: the output cells it fed in the
  forward pass and the weight (or input) it was multiplied by, and its gradient as
  the sum of those δ times those factors;
- two replays of dx: *gather* (one input cell at a time, the rotated-kernel
  convolution) and *scatter* (one output cell at a time, adding w·δ into its input
  window, CS231n's naive loop). Both end at the same dx.

Everything is computed from the definitions with numpy; the tests hold it against
``engine.conv2d_backward`` and ``engine.reference``. The formulas are written with
``engine.symbolic`` (indices from 1, as the course writes them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import engine
from engine.i18n import tr
from engine.symbolic import format_number, result_number, subscript, symbol, symbolic_sum

__all__ = ["ChannelsBackward", "Frame", "Link", "channel_frames", "replay_frames"]


@dataclass(frozen=True)
class Frame:
    """One frame of the channels animation.

    ``kind`` is "term" (filter m's term of channel k's dx), "sum" (dx_k complete),
    "dw" (dW[m, k]) or "db" (db[m]); unused indices are -1.
    """

    kind: str
    k: int = -1
    m: int = -1


@dataclass(frozen=True)
class Link:
    """One forward-pass connection: output cell (m, i, j) used ``factor`` at tap (u, v).

    For an input cell the factor is the weight ``w[m, k, u, v]``; for a weight it is
    the (padded) input value the weight multiplied. ``delta`` is δ[m, i, j].
    """

    m: int
    i: int
    j: int
    u: int
    v: int
    factor: float
    delta: float


def channel_frames(C: int, F: int) -> list[Frame]:
    """The channels animation: per input channel, each filter's term then their sum;
    then dW for every (filter, channel) pair; then db for every filter."""
    frames = []
    for k in range(C):
        frames += [Frame("term", k, m) for m in range(F)] + [Frame("sum", k)]
    frames += [Frame("dw", k, m) for m in range(F) for k in range(C)]
    frames += [Frame("db", -1, m) for m in range(F)]
    return frames


def replay_frames(mode: str, C: int, H: int, W: int, F: int, HO: int, WO: int) -> int:
    """How many steps the ``"gather"`` (one per input cell) or ``"scatter"`` (one per output
    cell) replay has."""
    return C * H * W if mode == "gather" else F * HO * WO


class ChannelsBackward:
    """The backward pass of one sample split by channel and filter (module docstring).

    Parameters
    ----------
    dout : ndarray (1, F, HO, WO)
        δ arriving from the next layer.
    x : ndarray (1, C, H, W)
    w : ndarray (F, C, KH, KW)
    stride, padding : (h, w) pairs

    Attributes
    ----------
    delta : (F, HO, WO); x : (C, H, W); w : (F, C, KH, KW)
    padded_input : (C, H + 2PH, W + 2PW)
    padded_delta : (F, H + 2PH + KH − 1, W + 2PW + KW − 1)
        δ dilated by the stride and padded by K − 1 (zeros where windows do not tile).
    rot180 : (F, C, KH, KW)
    terms : (F, C, H, W)
        ``terms[m, k]``: filter m's part of dx_k.
    dx : (C, H, W); dw : (F, C, KH, KW); db : (F,)
    """

    def __init__(self, dout, x, w, stride, padding):
        self.trace = engine.conv2d_backward_trace(dout, x, w, stride, padding)
        g = self.geometry = self.trace.geometry
        self.integers = bool(np.all(np.asarray(x) == np.round(x))
                             and np.all(np.asarray(w) == np.round(w))
                             and np.all(np.asarray(dout) == np.round(dout)))
        self.delta = np.asarray(dout, dtype=np.float64)[0]
        self.x = np.asarray(x, dtype=np.float64)[0]
        self.w = np.asarray(w, dtype=np.float64)
        self.padded_input = np.pad(self.x, ((0, 0), (g.PH, g.PH), (g.PW, g.PW)))
        self.padded_delta = np.asarray(self.trace.padded_delta[0], dtype=np.float64)
        self.rot180 = self.w[:, :, ::-1, ::-1]
        self.terms = self._terms()
        self.dx = self.terms.sum(axis=0)
        self.dw = self._weight_gradients()
        self.db = self.delta.sum(axis=(1, 2))

    # ------------------------------------------------------------- the maps
    def _terms(self) -> np.ndarray:
        """(F, C, H, W): each filter's full correlation with each rotated kernel slice,
        the padding's rows and columns cropped away."""
        g = self.geometry
        windows = np.lib.stride_tricks.sliding_window_view(
            self.padded_delta, (g.KH, g.KW), axis=(1, 2))  # (F, HP, WP, KH, KW)
        full = np.einsum("fijuv,fcuv->fcij", windows, self.rot180)  # (F, C, HP, WP)
        return full[:, :, g.PH:g.PH + g.H, g.PW:g.PW + g.W]

    def _weight_gradients(self) -> np.ndarray:
        """(F, C, KH, KW): ``dW[m, k, u, v] = Σ_ij x_pad[k, u + i·SH, v + j·SW] δ[m, i, j]``."""
        g = self.geometry
        dw = np.zeros((g.F, g.C, g.KH, g.KW))
        for u in range(g.KH):
            for v in range(g.KW):
                taps = self.input_taps(u, v)  # (C, HO, WO)
                dw[:, :, u, v] = np.einsum("chw,fhw->fc", taps, self.delta)
        return dw

    def input_taps(self, u: int, v: int) -> np.ndarray:
        """(C, HO, WO): the padded input each output cell multiplied by the weight at tap
        (u, v)."""
        g = self.geometry
        return self.padded_input[:, u:u + (g.HO - 1) * g.SH + 1:g.SH,
                                 v:v + (g.WO - 1) * g.SW + 1:g.SW]

    def frame_maps(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What is built by ``frame``: (terms (F, C, H, W), dw (F, C, KH, KW), db (F,)),
        NaN where not yet computed (frames come in ``channel_frames`` order)."""
        frames = channel_frames(self.geometry.C, self.geometry.F)
        upto = frames.index(frame)
        done = frames[:upto + 1]
        terms = np.full_like(self.terms, np.nan)
        dw = np.full_like(self.dw, np.nan)
        db = np.full_like(self.db, np.nan)
        for f in done:
            if f.kind == "term":
                terms[f.m, f.k] = self.terms[f.m, f.k]
            elif f.kind == "dw":
                dw[f.m, f.k] = self.dw[f.m, f.k]
            elif f.kind == "db":
                db[f.m] = self.db[f.m]
        return terms, dw, db

    def dx_done(self, frame: Frame) -> np.ndarray:
        """(C, H, W) dx with the channels whose "sum" frame has passed; NaN elsewhere."""
        frames = channel_frames(self.geometry.C, self.geometry.F)
        upto = frames.index(frame)
        dx = np.full_like(self.dx, np.nan)
        for f in frames[:upto + 1]:
            if f.kind == "sum":
                dx[f.k] = self.dx[f.k]
        return dx

    # ------------------------------------------------------------ formulas
    def term_window(self, m: int, k: int, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(window of pad(δ_m) (KH, KW), rot180(W_m,k) (KH, KW)) for dx_k[i, j]."""
        g = self.geometry
        r, c = i + g.PH, j + g.PW
        return self.padded_delta[m, r:r + g.KH, c:c + g.KW], self.rot180[m, k]

    def term_text(self, m: int, k: int, i: int, j: int) -> str:
        """Filter m's term of dx_k[i, j] written out: the window of pad(δ_m) times
        rot180(W_m,k), the zero products left out (they add nothing)."""
        window, kernel = self.term_window(m, k, i, j)
        products = [(a, b) for a, b in zip(window.ravel().tolist(), kernel.ravel().tolist(),
                                           strict=True) if a * b != 0]
        n = self.integers
        target = tr("term{m},{k}[{i},{j}]").format(m=m + 1, k=k + 1, i=i + 1, j=j + 1)
        if not products:
            return tr("{target} = 0 (every product of pad(δ) and rot180 W is 0)").format(
                target=target)
        numbers = " + ".join(f"{format_number(a, n)}·{format_number(b, n)}"
                             for a, b in products)
        return f"{target} = Σ pad(δ{m + 1}) ⊙ rot180(W{m + 1},{k + 1}) = {numbers} = " \
               f"{result_number(self.terms[m, k, i, j], n)}"

    def sum_text(self, k: int, i: int, j: int) -> str:
        """dx_k[i, j] as the sum of the filters' terms."""
        n, F = self.integers, self.geometry.F
        names = " + ".join(tr("term{m},{k}").format(m=m + 1, k=k + 1) for m in range(F))
        numbers = " + ".join(format_number(self.terms[m, k, i, j], n) for m in range(F))
        return f"dx{k + 1}[{i + 1},{j + 1}] = {names} = {numbers} = " \
               f"{result_number(self.dx[k, i, j], n)}"

    def dw_text(self, m: int, k: int, u: int, v: int) -> str:
        """dJ/dF for weight (u, v) of filter m, channel k, in symbols and numbers:
        ``∂J/∂F11 = X11·δ11 + X12·δ12 + … = …``; taps on the zero padding add 0 and
        are left out (said at the end)."""
        g = self.geometry
        pairs = []
        padding_taps = 0
        for i in range(g.HO):
            for j in range(g.WO):
                r, c = u + i * g.SH - g.PH, v + j * g.SW - g.PW
                if 0 <= r < g.H and 0 <= c < g.W:
                    pairs.append((symbol("X", (r, c), k if g.C > 1 else None),
                                  symbol("δ", (i, j), m if g.F > 1 else None),
                                  float(self.x[k, r, c]), float(self.delta[m, i, j])))
                else:
                    padding_taps += 1
        pre = f"({m + 1},{k + 1})" if g.F > 1 or g.C > 1 else ""
        text = symbolic_sum(f"∂J/∂F{pre}{subscript(u, v)}", pairs, float(self.dw[m, k, u, v]),
                            self.integers)
        if padding_taps:
            text += " " + tr("({n} taps on the zero padding add 0)").format(n=padding_taps)
        return text

    def db_text(self, m: int) -> str:
        """db[m] = Σ δ_m written out."""
        values = self.delta[m].ravel().tolist()
        terms = " + ".join(format_number(v, self.integers) for v in values[:16])
        if len(values) > 16:
            terms += " + …"
        return f"db{m + 1} = Σ δ{m + 1} = {terms} = {result_number(self.db[m], self.integers)}"

    # ----------------------------------------------------------- influence
    def input_links(self, k: int, r: int, c: int) -> list[Link]:
        """The output cells input cell x[k, r, c] fed in the forward pass (over all
        filters) and the weight it was multiplied by there."""
        g = self.geometry
        rp, cp = r + g.PH, c + g.PW  # on the padded input
        links = []
        for m in range(g.F):
            for u in range(g.KH):
                i, rem_i = divmod(rp - u, g.SH)
                if rem_i or not 0 <= i < g.HO:
                    continue
                for v in range(g.KW):
                    j, rem_j = divmod(cp - v, g.SW)
                    if rem_j or not 0 <= j < g.WO:
                        continue
                    links.append(Link(m, i, j, u, v, float(self.w[m, k, u, v]),
                                      float(self.delta[m, i, j])))
        return links

    def weight_links(self, m: int, k: int, u: int, v: int) -> list[Link]:
        """Every output cell of filter m used weight w[m, k, u, v]; the factor is the
        padded input value it multiplied there (0 on the padding)."""
        g = self.geometry
        taps = self.input_taps(u, v)[k]
        return [Link(m, i, j, u, v, float(taps[i, j]), float(self.delta[m, i, j]))
                for i in range(g.HO) for j in range(g.WO)]

    @staticmethod
    def influence_sum(links: list[Link]) -> float:
        """Σ δ · factor over the links: the gradient by the intuitive derivation."""
        return float(sum(link.delta * link.factor for link in links))

    def _weight_symbol(self, m: int, k: int, u: int, v: int) -> str:
        """``w22`` for one filter and one channel, else ``w(m,k)22`` (from 1)."""
        g = self.geometry
        pre = f"({m + 1},{k + 1})" if g.F > 1 or g.C > 1 else ""
        return f"w{pre}{subscript(u, v)}"

    def input_influence_text(self, k: int, r: int, c: int) -> str:
        """∂J/∂X[r, c] = Σ δ·w over the outputs it fed, = the rotated-kernel result."""
        g = self.geometry
        links = sorted(self.input_links(k, r, c), key=lambda link: (link.m, link.i, link.j))
        n = self.integers
        target = symbol("∂J/∂X", (r, c), k if g.C > 1 else None)
        if not links:
            return tr("{target}: this cell fed no output cell (no window reached it), so "
                      "its gradient is 0").format(target=target)
        terms = " + ".join(
            f"{symbol('δ', (link.i, link.j), link.m if g.F > 1 else None)}·"
            f"{self._weight_symbol(link.m, k, link.u, link.v)}" for link in links)
        numbers = " + ".join(f"{format_number(link.delta, n)}·{format_number(link.factor, n)}"
                             for link in links)
        total = result_number(self.influence_sum(links), n)
        return tr("{target} = {terms} = {numbers} = {total}; the rotated-kernel convolution "
                  "gives {gather}").format(target=target, terms=terms, numbers=numbers,
                                           total=total,
                                           gather=result_number(self.dx[k, r, c], n))

    def weight_influence_text(self, m: int, k: int, u: int, v: int) -> str:
        """dW[m, k, u, v] = Σ δ·x over every output cell of filter m (= x_k ∗ δ_m)."""
        return tr("{formula}; x ∗ δ gives {value}").format(
            formula=self.dw_text(m, k, u, v),
            value=result_number(self.dw[m, k, u, v], self.integers))

    # ------------------------------------------------------------- replays
    def gather_after(self, step: int) -> np.ndarray:
        """(C, H, W) dx after gather steps 0..step (one input cell each, in (k, r, c)
        order; each cell is the whole Σ over filters of its window); NaN = not yet."""
        out = np.full(self.dx.size, np.nan)
        upto = min(step, self.dx.size - 1) + 1
        out[:upto] = self.dx.ravel()[:upto]
        return out.reshape(self.dx.shape)

    def gather_cell(self, step: int) -> tuple[int, int, int]:
        """The input cell (k, r, c) gather step ``step`` computes."""
        return tuple(int(a) for a in np.unravel_index(step, self.dx.shape))

    def scatter_cell(self, step: int) -> tuple[int, int, int]:
        """The output cell (m, i, j) scatter step ``step`` sends back."""
        return tuple(int(a) for a in np.unravel_index(step, self.delta.shape))

    def scatter_after(self, step: int) -> np.ndarray:
        """(C, H, W) dx after scatter steps 0..step: for every output cell (m, i, j) in
        order, ``dx_pad[:, window] += w[m] · δ[m, i, j]`` (CS231n's naive loop), cropped.
        Starts at zeros; ``step < 0`` gives the zeros."""
        g = self.geometry
        d_padded = np.zeros_like(self.padded_input)
        for s in range(min(step, self.delta.size - 1) + 1):
            m, i, j = self.scatter_cell(s)
            r, c = i * g.SH, j * g.SW
            d_padded[:, r:r + g.KH, c:c + g.KW] += self.w[m] * self.delta[m, i, j]
        return d_padded[:, g.PH:g.PH + g.H, g.PW:g.PW + g.W]

    def scatter_window(self, step: int) -> tuple[int, int]:
        """Top-left (row, col) on the padded input of scatter step ``step``'s window."""
        _m, i, j = self.scatter_cell(step)
        return i * self.geometry.SH, j * self.geometry.SW
