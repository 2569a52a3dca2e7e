"""Loss functions, each returning the loss and its gradient (CS231n style).

Both keep the dtype of their prediction input (float32 in training).
"""

from __future__ import annotations

import numpy as np

from .i18n import tr

__all__ = ["softmax", "softmax_cross_entropy", "mse"]


def softmax(logits) -> np.ndarray:
    """Row-wise softmax of logits (N, K) -> probabilities (N, K), numerically stable."""
    logits = np.asarray(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)  # exp never overflows: max is 0
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits, labels) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of the softmax of ``logits`` against integer ``labels``.

    ``loss = mean_n( logsumexp(logits[n]) - logits[n, labels[n]] )``, computed
    after subtracting each row's maximum, so huge logits neither overflow nor
    give log(0).

    Parameters
    ----------
    logits : ndarray (N, K), float32 or float64
    labels : ndarray (N,), ints in [0, K)

    Returns
    -------
    loss : float
    dlogits : ndarray (N, K), dtype of ``logits``
        ``(softmax(logits) - one_hot(labels)) / N``.
    """
    logits = np.asarray(logits)
    if logits.dtype not in (np.float32, np.float64):
        logits = logits.astype(np.float64)
    labels = np.asarray(labels)
    if logits.ndim != 2:
        raise ValueError(tr("logits must have shape (N, K), not {shape}").format(
            shape=logits.shape))
    N, K = logits.shape
    if labels.shape != (N,):
        raise ValueError(tr("labels must have shape ({n},) to match the logits, not {shape}")
                         .format(n=N, shape=labels.shape))
    if N == 0:
        raise ValueError(tr("the batch is empty"))
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(tr("labels must be whole numbers (class indices), not {dtype}")
                         .format(dtype=labels.dtype))
    if labels.min() < 0 or labels.max() >= K:
        raise ValueError(tr("labels must lie in 0..{last} for {k} classes; got {low}..{high}")
                         .format(last=K - 1, k=K, low=labels.min(), high=labels.max()))
    rows = np.arange(N)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1)
    loss = float(np.mean(np.log(sum_exp) - shifted[rows, labels]))
    dlogits = exp / sum_exp[:, None]  # (N, K) probabilities
    dlogits[rows, labels] -= 1
    dlogits /= N
    return loss, dlogits


def mse(pred, target) -> tuple[float, np.ndarray]:
    """Mean squared error over all elements: ``mean((pred - target) ** 2)``.

    Parameters
    ----------
    pred : ndarray, any shape, float32 or float64
    target : ndarray, same shape

    Returns
    -------
    loss : float
    dpred : ndarray, shape and dtype of ``pred``: ``2 (pred - target) / pred.size``
    """
    pred = np.asarray(pred)
    if pred.dtype not in (np.float32, np.float64):
        pred = pred.astype(np.float64)
    target = np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(tr("prediction {pred} and target {target} must have the same shape")
                         .format(pred=pred.shape, target=target.shape))
    if pred.size == 0:
        raise ValueError(tr("cannot take the mean squared error of an empty array"))
    diff = (pred - target).astype(pred.dtype, copy=False)
    loss = float(np.mean(diff.astype(np.float64) ** 2))
    dpred = diff * (2.0 / pred.size)
    return loss, dpred.astype(pred.dtype, copy=False)
