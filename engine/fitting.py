"""Kernel fitting: learn a kernel by gradient descent until it reproduces a known filter.

The Kernel fitting lab's computation. A target output is made once with a known
kernel (e.g. the horizontal edge), ``target = image * target_kernel``; then a
learned kernel starts from zeros (or small random numbers) and every step does one
step of plain gradient descent on the mean squared error::

    output = conv2d_forward(image, kernel)          # (1, 1, HO, WO)
    loss, dout = mse(output, target)                # dout = 2 (output - target) / size
    _, dw, _ = conv2d_backward(dout, image, kernel) # dw (1, 1, KH, KW)
    kernel -= lr * dw

Everything goes through the engine's functional API, so the lab shows exactly what
a convolution layer learns. Computation is float64: the problem is tiny (a 64x64
image and nine weights) and float64 lets the loss fall many orders of magnitude.
The bias is not learned: the target has none.

A learning rate that is too large makes the loss grow geometrically; the fitter
notices (the loss is no longer finite, or grew past ``DIVERGE_FACTOR`` times its
first value), keeps the last kernel whose loss was finite, reports
``status == "diverged"`` and ignores further steps.
"""

from __future__ import annotations

import math

import numpy as np

from .conv_backward import conv2d_backward
from .conv_forward import conv2d_forward
from .i18n import tr
from .losses import mse

__all__ = ["KernelFitter", "DIVERGE_FACTOR", "INITS", "CONVERGED_LOSS", "STALL_STEPS",
           "STALL_GAIN"]

#: The loss may grow to this many times its first value before the run counts as diverged.
DIVERGE_FACTOR = 1e6
#: Below this loss the kernels agree to many decimals: the run has converged.
CONVERGED_LOSS = 1e-12
#: No progress: over the last STALL_STEPS steps the loss fell by less than STALL_GAIN of
#: itself (a target no kernel of this size can reproduce, or a learning rate so small the
#: run crawls): going on would change nothing visible.
STALL_STEPS = 200
STALL_GAIN = 1e-4
#: How the learned kernel starts.
INITS = ("zeros", "random")


class KernelFitter:
    """Gradient descent on one kernel so that ``image * kernel`` matches a target.

    Parameters
    ----------
    image : array (H, W)
        The picture both kernels slide over (any real numbers; [0, 1] for pictures).
    target_kernel : array (KH, KW)
        The known kernel that makes the target output.
    lr : float
        Learning rate (step size of gradient descent), > 0.
    seed : int
        Seeds the ``"random"`` initial kernel (same seed, same run).
    init : {"zeros", "random"}
        The learned kernel starts at zero, or at normal(0, 0.5) values.
    padding : int
        Zero padding of both convolutions (1 keeps a 3x3 output the size of the image).

    Attributes
    ----------
    image : array (H, W), float64, read-only
    target_kernel : array (KH, KW), float64, read-only
    target : array (HO, WO), float64, read-only
        ``image * target_kernel``.
    history : list of float
        The loss before each step taken so far (``history[k]`` is step k's loss).
    iteration : int
        Steps taken.
    status : {"ok", "diverged"}

    Raises
    ------
    ValueError
        (an ``engine.GeometryError`` for shapes) for an image that is not 2-D, a kernel
        that does not fit it, a learning rate that is not a positive number, an
        unknown ``init``, or an image/kernel with NaN or infinite values.
    """

    def __init__(self, image, target_kernel, lr: float = 0.1, seed: int = 0,
                 init: str = "zeros", padding: int = 1):
        image = np.array(image, dtype=np.float64)
        target_kernel = np.array(target_kernel, dtype=np.float64)
        if image.ndim != 2:
            raise ValueError(tr("the image must be a 2-D array (H, W), not shape {shape}")
                             .format(shape=image.shape))
        if target_kernel.ndim != 2:
            raise ValueError(tr("the target kernel must be a 2-D array (KH, KW), not shape "
                                "{shape}").format(shape=target_kernel.shape))
        if not (np.isfinite(image).all() and np.isfinite(target_kernel).all()):
            raise ValueError(tr("the image and the target kernel must hold finite numbers"))
        if init not in INITS:
            raise ValueError(tr("init must be one of {inits}, not {init!r}").format(
                inits=", ".join(INITS), init=init))
        self.padding = int(padding)
        # (H, W) -> (1, 1, H, W): one sample, one channel, as the conv API wants
        self._x = np.ascontiguousarray(image[None, None])
        self._zero_bias = np.zeros(1)
        target = self._convolve(target_kernel)  # raises GeometryError for a misfit kernel
        self.image = _read_only(image)
        self.target_kernel = _read_only(target_kernel)
        self.target = _read_only(target)
        self.lr = lr  # validated by the property
        self.init = init
        self.seed = int(seed)
        self._kernel = self._initial_kernel(init, target_kernel.shape, self.seed)
        self.history: list[float] = []
        self.iteration = 0
        self.status = "ok"
        self._first_loss: float | None = None

    # ------------------------------------------------------------------ settings
    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        value = float(value)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(tr("the learning rate must be a positive number, not {value}")
                             .format(value=value))
        self._lr = value

    @staticmethod
    def _initial_kernel(init: str, shape: tuple[int, int], seed: int) -> np.ndarray:
        if init == "zeros":
            return np.zeros(shape)
        return np.random.default_rng(seed).normal(0.0, 0.5, size=shape)

    # ------------------------------------------------------------------ reading
    @property
    def kernel(self) -> np.ndarray:
        """The learned kernel now, (KH, KW), a copy."""
        return self._kernel.copy()

    @property
    def output(self) -> np.ndarray:
        """``image * kernel`` with the learned kernel now, (HO, WO)."""
        return self._convolve(self._kernel)

    @property
    def difference(self) -> np.ndarray:
        """``output - target``, (HO, WO): where the learned kernel is still wrong."""
        return self.output - self.target

    def loss_at(self, kernel) -> float:
        """The MSE between ``image * kernel`` and the target, for any kernel (KH, KW)."""
        kernel = np.asarray(kernel, dtype=np.float64)
        return mse(self._convolve(kernel), self.target)[0]

    def loss(self) -> float:
        """The loss of the learned kernel now."""
        return self.loss_at(self._kernel)

    def gradient(self) -> np.ndarray:
        """d loss / d kernel at the learned kernel now, (KH, KW)."""
        return self._loss_and_gradient(self._kernel)[1]

    def _convolve(self, kernel: np.ndarray) -> np.ndarray:
        w = kernel.reshape(1, 1, *kernel.shape)  # (KH, KW) -> (F=1, C=1, KH, KW)
        return conv2d_forward(self._x, w, self._zero_bias, 1, self.padding)[0, 0]

    def _loss_and_gradient(self, kernel: np.ndarray) -> tuple[float, np.ndarray]:
        w = kernel.reshape(1, 1, *kernel.shape)  # (KH, KW) -> (1, 1, KH, KW)
        output = conv2d_forward(self._x, w, self._zero_bias, 1, self.padding)  # (1, 1, HO, WO)
        loss, dout = mse(output, self.target[None, None])
        _, dw, _ = conv2d_backward(dout, self._x, w, 1, self.padding)
        return loss, dw[0, 0]

    # ------------------------------------------------------------------ learning
    def step(self) -> float:
        """One gradient-descent step; returns the loss before it (NaN once diverged).

        After a divergence the kernel is the last one whose loss was finite and below
        the divergence limit, and further calls change nothing.
        """
        if self.status == "diverged":
            return math.nan
        loss, dw = self._loss_and_gradient(self._kernel)
        if self._first_loss is None:
            self._first_loss = loss
        limit = DIVERGE_FACTOR * max(self._first_loss, 1e-12)
        if not math.isfinite(loss) or loss > limit or not np.isfinite(dw).all():
            self.status = "diverged"
            return math.nan
        self.history.append(loss)
        candidate = self._kernel - self._lr * dw
        if not np.isfinite(candidate).all():
            self.status = "diverged"  # the kernel stays at the last finite one
            return loss
        self._kernel = candidate
        self.iteration += 1
        return loss

    def stop_reason(self) -> str | None:
        """Why the run should stop by itself now, or None to go on.

        Returns
        -------
        "diverged", "converged" (the loss is under ``CONVERGED_LOSS``), "stalled" (over the
        last ``STALL_STEPS`` steps the loss fell by less than ``STALL_GAIN`` of itself), or
        None.
        """
        if self.status == "diverged":
            return "diverged"
        h = self.history
        if h and h[-1] < CONVERGED_LOSS:
            return "converged"
        if len(h) > STALL_STEPS and h[-1 - STALL_STEPS] - h[-1] < STALL_GAIN * h[-1]:
            return "stalled"
        return None

    def run(self, steps: int) -> float:
        """Up to ``steps`` steps (fewer if the run diverges); returns the last loss."""
        loss = math.nan
        for _ in range(int(steps)):
            if self.status == "diverged":
                break
            loss = self.step()
        return loss

    def reset(self) -> None:
        """Back to the initial kernel (same init and seed), empty history."""
        self._kernel = self._initial_kernel(self.init, self.target_kernel.shape, self.seed)
        self.history = []
        self.iteration = 0
        self.status = "ok"
        self._first_loss = None


def _read_only(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a
