"""Spatial batch normalization made visible (Qt-free): the Training lab's "Batch norm" tab.

A fixed convolution (the course's vertical edge, horizontal edge and blur kernels)
turns batches of real MNIST digits into 3-channel feature maps (N, 3, 26, 26); an
``engine.SpatialBatchNorm`` layer normalises them. Every ``step()`` is one training
step of that layer on the next batch: per channel, the batch mean and (biased)
variance over N·H·W, the normalised maps x_hat = (x − μ) / √(σ² + eps), the output
γ·x_hat + β, and the running mean and variance moving with the momentum
(``running = momentum·running + (1 − momentum)·batch``, the variance unbiased as in
PyTorch). ``eval_output`` is the same batch in test mode (the running statistics),
for the train vs eval comparison.

The layer is the engine's; the tests hold every number against numpy written from
the definitions. The convolution is the engine's numpy trace (no compiled kernel,
so the GUI thread never waits for a compilation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import engine
from engine.gallery import KERNELS

__all__ = ["BatchNormDemo", "BatchStats", "DEMO_KERNELS", "BATCH"]

DEMO_KERNELS = ("blur", "vertical edge", "horizontal edge")  # one channel each
BATCH = 8


@dataclass(frozen=True)
class BatchStats:
    """One training step of the layer, all arrays copies (C = 3 channels).

    Attributes
    ----------
    step : int
        Steps taken (1 after the first).
    x : (N, C, H − 2, W − 2) the batch's feature maps; x_hat : (N, C, H, W) normalised
    y_train : (N, C, H, W) γ·x_hat + β with the batch statistics
    mean, var : (C,) the batch's (biased variance)
    running_mean_before, running_var_before : (C,) before this step
    running_mean, running_var : (C,) after it
    """

    step: int
    x: np.ndarray
    x_hat: np.ndarray
    y_train: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    running_mean_before: np.ndarray
    running_var_before: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray


class BatchNormDemo:
    """Batches of digits through a fixed conv and one SpatialBatchNorm layer.

    Parameters
    ----------
    images : (M, H, W) float in [0, 1]
        The digits the batches are taken from, in order (batch k is images[kN:(k+1)N]).
    momentum : float
        The layer's momentum (CS231n's default 0.9).
    batch : int
        N, the batch size.
    """

    def __init__(self, images: np.ndarray, momentum: float = 0.9, batch: int = BATCH):
        self.images = np.asarray(images, dtype=np.float64)  # (M, H, W) in [0, 1]
        self.batch = int(batch)
        self.momentum = float(momentum)
        self.w = np.stack([np.asarray(KERNELS[name], dtype=np.float64)[None]
                           for name in DEMO_KERNELS])  # (3, 1, 3, 3)
        self.reset()

    def reset(self) -> None:
        """A fresh layer (γ = 1, β = 0, running mean 0, running variance 1), no step yet."""
        self.layer = engine.SpatialBatchNorm(len(DEMO_KERNELS), momentum=self.momentum)
        self.stats: BatchStats | None = None
        self.history: list[tuple[np.ndarray, np.ndarray]] = []  # (batch mean, running mean)

    @property
    def eps(self) -> float:
        return self.layer.eps

    def set_gamma_beta(self, channel: int, gamma: float, beta: float) -> None:
        """γ and β of one channel (what training would learn; here set by hand)."""
        self.layer.params["gamma"][channel] = gamma
        self.layer.params["beta"][channel] = beta

    def gamma_beta(self, channel: int) -> tuple[float, float]:
        return (float(self.layer.params["gamma"][channel]),
                float(self.layer.params["beta"][channel]))

    def features(self, k: int) -> np.ndarray:
        """(N, 3, H − 2, W − 2): batch ``k``'s digits through the fixed convolution."""
        start = (k * self.batch) % (len(self.images) - self.batch + 1)
        x = self.images[start:start + self.batch, None]  # (N, 1, 28, 28)
        b = np.zeros(len(DEMO_KERNELS))
        return engine.conv2d_forward_trace(x, self.w, b).result()

    def step(self) -> BatchStats:
        """One training step of the layer on the next batch."""
        k = len(self.history)
        x = self.features(k).astype(np.float32)
        before = (self.layer.buffers["running_mean"].copy(),
                  self.layer.buffers["running_var"].copy())
        # forward_pure shows the batch statistics; forward (same numbers) moves the running ones
        _y, (x_hat, _inv_std, mean, var, _count) = self.layer.forward_pure(x, training=True)
        y = self.layer.forward(x, training=True)
        self.stats = BatchStats(k + 1, x.copy(), np.array(x_hat), np.array(y), np.array(mean),
                                np.array(var), before[0], before[1],
                                self.layer.buffers["running_mean"].copy(),
                                self.layer.buffers["running_var"].copy())
        self.history.append((np.array(mean), self.stats.running_mean.copy()))
        return self.stats

    def eval_output(self) -> np.ndarray:
        """(N, C, H, W): the last batch in test mode (the running statistics)."""
        return np.array(self.layer.forward(self.stats.x, training=False))
