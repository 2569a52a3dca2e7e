"""Optimizers: plain SGD, SGD with momentum, Adam (CS231n update rules).

``step(params, grads)`` takes two matching lists (or two dicts with the same
keys) of arrays and updates ``params`` in place. Per-parameter state (velocity,
moments) is kept by position (lists) or key (dicts), so the same arrays must be
passed in the same order every step. ``lr`` is a plain attribute and may be
changed between steps. Everything runs in the dtype of each parameter (float32
in training); Adam's update is one Numba pass (engine.step_kernels), the others
elementwise numpy.
"""

from __future__ import annotations

import numpy as np

from .i18n import tr

__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "make_optimizer", "OPTIMIZERS"]


class Optimizer:
    """Base class: pairs params with grads and keeps per-parameter state."""

    name = "optimizer"

    def __init__(self, lr: float):
        self.lr = float(lr)
        self.iterations = 0
        self._state: dict = {}

    def step(self, params, grads) -> None:
        """Update every array of ``params`` in place from the matching ``grads``.

        Parameters
        ----------
        params, grads : list of ndarray, or dict[str, ndarray] with the same keys
            Each grad has the shape of its parameter.
        """
        self.iterations += 1
        for key, p, g in _pairs(params, grads):
            self._update(key, p, g)

    def reset(self) -> None:
        """Forget all state (velocities, moments, step count)."""
        self.iterations = 0
        self._state.clear()

    def _update(self, key, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def _slot(self, key, p: np.ndarray, count: int) -> list[np.ndarray]:
        """``count`` zero-initialised state arrays shaped like ``p`` for parameter ``key``."""
        slots = self._state.get(key)
        if slots is None or slots[0].shape != p.shape:
            slots = [np.zeros_like(p) for _ in range(count)]
            self._state[key] = slots
        return slots

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr:g})"


def _pairs(params, grads):
    if isinstance(params, dict):
        if not isinstance(grads, dict) or params.keys() != grads.keys():
            raise ValueError("params and grads must be dicts with the same keys")
        items = [(k, params[k], grads[k]) for k in params]
    else:
        params, grads = list(params), list(grads)
        if len(params) != len(grads):
            raise ValueError(f"{len(params)} parameter arrays but {len(grads)} gradients")
        items = [(i, p, g) for i, (p, g) in enumerate(zip(params, grads, strict=True))]
    for key, p, g in items:
        if p.shape != g.shape:
            raise ValueError(f"parameter {key!r} has shape {p.shape} but its gradient {g.shape}")
    return items


class SGD(Optimizer):
    """``p -= lr * g``."""

    name = "sgd"

    def _update(self, key, p, g):
        p -= (self.lr * g).astype(p.dtype, copy=False)


class Momentum(Optimizer):
    """SGD with momentum: ``v = mu * v - lr * g``; ``p += v`` (v starts at 0)."""

    name = "momentum"

    def __init__(self, lr: float, momentum: float = 0.9):
        super().__init__(lr)
        self.momentum = float(momentum)

    def _update(self, key, p, g):
        (v,) = self._slot(key, p, 1)
        v *= self.momentum
        v -= (self.lr * g).astype(p.dtype, copy=False)
        p += v


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba, 2015).

    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
    ``p -= lr * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - b1^t)``,
    ``v_hat = v / (1 - b2^t)`` and ``t`` the step number (1 for the first step).
    """

    name = "adam"

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def _update(self, key, p, g):
        m, v = self._slot(key, p, 2)
        t = self.iterations
        m_hat_scale = 1.0 / (1.0 - self.beta1 ** t)
        v_hat_scale = 1.0 / (1.0 - self.beta2 ** t)
        if p.flags.c_contiguous and g.dtype == p.dtype and p.dtype in (np.float32, np.float64):
            # one pass, no temporaries (engine.step_kernels): the same formula; imported
            # here so that a configuration (engine.recipe, main.py --help) loads no Numba
            from .step_kernels import adam_update

            adam_update(p, np.ascontiguousarray(g), m, v, self.lr * m_hat_scale, self.beta1,
                        self.beta2, self.eps, v_hat_scale)
            return
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        v *= self.beta2
        v += (1.0 - self.beta2) * (g * g)
        step = (self.lr * m_hat_scale) * m / (np.sqrt(v * v_hat_scale) + self.eps)
        p -= step.astype(p.dtype, copy=False)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def make_optimizer(name: str, lr: float) -> Optimizer:
    """The optimizer called ``name`` ("sgd", "momentum" or "adam") with learning rate ``lr``."""
    try:
        cls = OPTIMIZERS[str(name).lower()]
    except KeyError:
        raise ValueError(tr("unknown optimizer {name!r}; choose one of {names}").format(
            name=name, names=", ".join(OPTIMIZERS))) from None
    lr = float(lr)
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(tr("the learning rate must be a positive number, not {value}")
                         .format(value=lr))
    return cls(lr)
