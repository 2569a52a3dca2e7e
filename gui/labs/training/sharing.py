"""What the Training lab shares with the labs that look into its network (no Qt).

The Training lab's network is the learner's own: trained, loaded from a file, or still
training in the background. Another lab (the Network lab) sees it through two frozen
records: :class:`SharedModel` describes the network (its layers, which data it learns
from) and changes only when the network is replaced (a rebuild, a reset, a loaded
model or spec: a new ``generation``); :class:`SharedWeights` is a copy of its weights at
one iteration, sent on request (``TrainingLab.request_weights``). While a training
worker exists it owns the weights, so a request is a command it answers between two
steps with ``Network.get_state()`` copies; the one asking decides how often to ask.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SharedModel", "SharedWeights"]


@dataclass(frozen=True)
class SharedModel:
    """The network the Training lab trains, as another lab needs to rebuild it.

    Attributes
    ----------
    generation : int
        Changes whenever the network is replaced (weights of another generation do
        not fit it).
    spec : list of dict
        The engine spec with every default filled in.
    input_shape : (C, H, W)
    num_classes : int
    data : (train_x, train_y, val_x, val_y)
        What it learns from: images (N, C, H, W) float32 in [0, 1], int labels (the
        arrays themselves, not copies: nobody writes to them).
    loaded_from : str or None
        The model file it came from.
    class_names : the name of each class (output), in order
    """

    generation: int
    spec: list = field(repr=False)
    input_shape: tuple
    num_classes: int
    data: tuple = field(repr=False)
    loaded_from: str | None = None
    class_names: tuple = ()


@dataclass(frozen=True)
class SharedWeights:
    """A copy of every parameter and batch-norm statistic of a generation's network.

    state : {"<layer>.<name>": array} (``Network.get_state()``, copies)
    iteration : the training step the weights are from
    request_id : the request this answers
    """

    generation: int
    iteration: int
    state: dict = field(repr=False)
    request_id: int = 0
