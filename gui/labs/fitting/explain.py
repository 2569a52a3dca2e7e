"""The Kernel fitting lab's explanations (Qt-free): the gradient written out, and the
course's comparison of fitting a line with fitting an image.

``gradient_by_definition`` computes ∂loss/∂w = x ∗ (z − y) · 2/N straight from its
definition (the image correlated with the output's error, no engine call), so the
lab can show it beside the engine's gradient and the tests can hold both against
finite differences. ``gradient_text`` writes one weight's gradient with the current
numbers. ``COMPARISON`` is the course's table (CURRICULUM.md, "Image fitting"): the
same names (samples x, labels y, prediction z, mean squared error) in both cases.
"""

from __future__ import annotations

import numpy as np

from engine.i18n import tr, tr_noop
from engine.symbolic import subscript

__all__ = ["COMPARISON", "gradient_by_definition", "gradient_text", "comparison_html"]

#: (row name, line fitting, image fitting): msgids, translated where shown
COMPARISON = (
    (tr_noop("samples x"), tr_noop("numbers x₁ … x_N"), tr_noop("the image's windows")),
    (tr_noop("labels y"), tr_noop("one number per sample"),
     tr_noop("the target: image ∗ known kernel")),
    (tr_noop("parameters"), tr_noop("w and b"), tr_noop("the 3×3 kernel w (b = 0)")),
    (tr_noop("prediction z"), tr_noop("z = x·w + b"), tr_noop("z = x ∗ w")),
    (tr_noop("loss"), tr_noop("mean squared error of z − y"),
     tr_noop("mean squared error of z − y")),
    (tr_noop("gradient"), tr_noop("∂loss/∂w = mean of x·(z − y), times 2"),
     tr_noop("∂loss/∂w = x ∗ (z − y), times 2/N")),
    (tr_noop("update"), tr_noop("w ← w − learning rate · ∂loss/∂w"),
     tr_noop("w ← w − learning rate · ∂loss/∂w")),
)


def gradient_by_definition(image: np.ndarray, kernel: np.ndarray, target: np.ndarray
                           ) -> np.ndarray:
    """∂loss/∂w (KH, KW) of ``loss = mean((image ∗ kernel − target)²)`` (no padding).

    Parameters
    ----------
    image : (H, W); kernel : (KH, KW); target : (H − KH + 1, W − KW + 1)

    Notes
    -----
    ``∂loss/∂z = 2 (z − y) / N`` with N the number of output cells, and each weight
    w[u, v] multiplied x[i + u, j + v] for output (i, j), so
    ``∂loss/∂w[u, v] = 2/N · Σ_ij x[i + u, j + v] (z − y)[i, j]``: the image correlated
    with the error.
    """
    KH, KW = kernel.shape
    windows = np.lib.stride_tricks.sliding_window_view(image, (KH, KW))  # (HO, WO, KH, KW)
    z = np.einsum("ijuv,uv->ij", windows, kernel)
    error = z - target  # (HO, WO)
    return 2.0 / error.size * np.einsum("ijuv,ij->uv", windows, error)


def gradient_text(image: np.ndarray, kernel: np.ndarray, target: np.ndarray, u: int, v: int,
                  value: float) -> str:
    """One weight's gradient with the current numbers:
    ``∂loss/∂w22 = 2/N · Σ x·(z − y) = 2/3844 · (−1.23) = −0.00064``."""
    KH, KW = kernel.shape
    windows = np.lib.stride_tricks.sliding_window_view(image, (KH, KW))
    error = np.einsum("ijuv,uv->ij", windows, kernel) - target
    total = float(np.sum(windows[:, :, u, v] * error))
    return tr("∂loss/∂w{uv} = 2/N · Σ x·(z − y) = 2/{n} · ({total}) = {value}").format(
        uv=subscript(u, v), n=error.size, total=_signed(total), value=_signed(value))


def _signed(v: float) -> str:
    """Four significant digits with the minus sign the other equations use (−, not -)."""
    return f"{v:.4g}".replace("-", "−")


def comparison_html() -> str:
    """The course's line-fitting vs image-fitting table as rich text, in the current
    language."""
    line, image = tr("line fitting"), tr("image fitting (图片拟合)")
    head = f"<tr><th></th><th>{line}</th><th>{image}</th></tr>"
    rows = "".join(f"<tr><td><b>{tr(name)}</b></td><td>{tr(line)}</td><td>{tr(image)}</td></tr>"
                   for name, line, image in COMPARISON)
    return f"<table cellspacing='0' cellpadding='2' border='1'>{head}{rows}</table>"
