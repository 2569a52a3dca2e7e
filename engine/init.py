"""Seeded weight initialisation.

Weights start random so that filters differ, with a spread chosen so that the
signal neither dies out nor blows up from layer to layer:

- He (Kaiming) normal, for layers followed by ReLU: ``std = sqrt(2 / fan_in)``
  (ReLU zeroes half of its inputs, the factor 2 gives that variance back).
- Xavier (Glorot) uniform, for sigmoid/tanh: ``U(-a, a)`` with
  ``a = sqrt(6 / (fan_in + fan_out))``.

``fan_in`` is the number of inputs that feed one output: ``C * KH * KW`` for a
convolution, ``D`` for a dense layer. Every function takes a
``numpy.random.Generator``, so a seed gives the same network every run.
"""

from __future__ import annotations

import numpy as np

from .i18n import tr

__all__ = ["he_normal", "xavier_uniform", "fans", "INITIALISERS", "initialise"]


def fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight array.

    Parameters
    ----------
    shape : (F, C, KH, KW) for a convolution or (D, K) for a dense layer
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 4:
        F, C, KH, KW = shape
        return C * KH * KW, F * KH * KW
    if len(shape) == 2:
        D, K = shape
        return D, K
    raise ValueError(tr("weights must have shape (F, C, KH, KW) or (D, K), not {shape}")
                     .format(shape=shape))


def he_normal(shape, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """He normal: ``N(0, 2 / fan_in)``; shape (F, C, KH, KW) or (D, K)."""
    fan_in, _ = fans(shape)
    std = np.sqrt(2.0 / fan_in)
    return (rng.standard_normal(shape) * std).astype(dtype)


def xavier_uniform(shape, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """Xavier/Glorot uniform: ``U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


INITIALISERS = {"he": he_normal, "xavier": xavier_uniform}


def initialise(name: str, shape, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """Weights of ``shape`` from the initialiser called ``name`` ("he" or "xavier")."""
    try:
        fn = INITIALISERS[name]
    except KeyError:
        raise ValueError(tr("unknown initialisation {name!r}; choose one of {names}").format(
            name=name, names=", ".join(INITIALISERS))) from None
    return fn(shape, rng, dtype)
