"""The Trainer: one mini-batch per :meth:`Trainer.step`, plus evaluation and snapshots.

The Trainer never starts threads and never sleeps; the GUI's worker (or the
CLI) decides when to call :meth:`Trainer.step`. Everything random (the shuffle
of each epoch, the augmentation shifts) comes from one seeded generator, so two
Trainers with the same seed and the same network seed give identical losses.

Divergence: when a batch gives a NaN/inf loss or gradient, a loss far above chance
level (``divergence_factor`` x ln K, 23 for ten classes: the numerically stable
cross-entropy rarely reaches inf even when a huge learning rate has blown the
weights up), or an update leaves a non-finite weight, the weights (and batch-norm
statistics) go back to the last ones that gave a sane loss, the status becomes
"diverged" and further steps do nothing until a new Trainer is made.

A snapshot looks at one probe image with the stateless forward/backward pair of
the network, in evaluation mode: no batch-norm statistics change and no
training gradient is overwritten, so watching never changes what is learned.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .geometry import GeometryError
from .i18n import tr, tr_noop
from .layers import Conv2D
from .losses import softmax, softmax_cross_entropy
from .network import Network
from .optim import Optimizer, make_optimizer
from .step_kernels import shift_batch, sum_of_squares

__all__ = ["Trainer", "StepResult", "EvalResult", "Snapshot", "shift_images", "evaluate_network",
           "EvaluationStopped"]

MAX_SHIFT = 2  # pixels, for augment=True


@dataclass(frozen=True)
class StepResult:
    """What one training step did.

    ``epoch`` is the 0-based epoch the batch belonged to and ``epoch_progress``
    the fraction of that epoch's samples seen after the step (1.0 on its last
    batch), so ``epoch + epoch_progress`` is a continuous x axis. ``loss`` and
    ``accuracy`` are those of the training batch (before the update).
    """

    iteration: int
    epoch: int
    epoch_progress: float
    loss: float
    accuracy: float
    status: str  # "ok" or "diverged"


@dataclass(frozen=True)
class EvalResult:
    """Loss, accuracy, predictions (N,) and confusion (K, K): rows true class, columns predicted."""

    loss: float
    accuracy: float
    predictions: np.ndarray
    confusion: np.ndarray


@dataclass(frozen=True)
class Snapshot:
    """What the network does with one probe image, all arrays copies.

    kernels : (F, C, KH, KW) of the first conv layer ((0, C, 1, 1) if there is none)
    activations : list of (layer name, output (C, H, W) or (D,))
    deltas : list of (layer name, dL/d output, same shape as the activation), for
        the cross-entropy against ``label``
    probabilities : (K,)
    grad_norms : {layer name: L2 norm of all its parameter gradients} from the last
        training step (empty before the first step)
    label : the class the deltas are computed for (the given label, else the prediction)
    predicted : the predicted class
    loss : the probe's cross-entropy against ``label``
    iteration : the Trainer's iteration when the snapshot was taken
    """

    kernels: np.ndarray
    activations: list
    deltas: list
    probabilities: np.ndarray
    grad_norms: dict
    label: int = 0
    predicted: int = 0
    loss: float = 0.0
    iteration: int = 0

    @property
    def has_maps(self) -> bool:
        """False for a snapshot taken with ``maps=False`` (kernels and norms only)."""
        return bool(self.activations)


def shift_images(x, rng: np.random.Generator, max_shift: int = MAX_SHIFT) -> np.ndarray:
    """Shift every image by a random whole number of pixels, filling with zeros.

    Parameters
    ----------
    x : (N, C, H, W)
    rng : numpy Generator (two integers per image are drawn)
    max_shift : largest shift in each direction, in pixels

    Returns
    -------
    (N, C, H, W), a new array: ``out[n, :, i, j] = x[n, :, i - dy_n, j - dx_n]`` (0 outside)
    """
    N = x.shape[0]
    m = int(max_shift)
    shifts = rng.integers(-m, m + 1, size=(2, N))  # (2, N): dy, dx per image
    return shift_batch(np.asarray(x), shifts)


class Trainer:
    """Mini-batch training of a :class:`Network` with softmax cross-entropy.

    Parameters
    ----------
    network : Network
    train_x : (N, C, H, W) float32 in [0, 1]; train_y : (N,) ints in [0, K)
    val_x, val_y : the validation set, same layout (may be None)
    optimizer : "sgd", "momentum", "adam" or an :class:`engine.optim.Optimizer`
    lr : learning rate (ignored when an Optimizer object is given); change it
        later through ``trainer.optimizer.lr``
    batch_size : samples per step (the last batch of an epoch may be smaller)
    seed : seeds the shuffles and augmentation
    augment : shift each training image by up to 2 pixels at random
    divergence_factor : a batch loss above this many times the chance-level loss
        ln K counts as diverged
    """

    def __init__(self, network: Network, train_x, train_y, val_x=None, val_y=None,
                 optimizer="adam", lr: float = 1e-3, batch_size: int = 64, seed: int = 0,
                 augment: bool = False, divergence_factor: float = 10.0):
        self.network = network
        self.train_x, self.train_y = self._check_data(train_x, train_y, tr_noop("training"))
        if val_x is None or val_y is None:
            self.val_x = self.val_y = None
        else:
            self.val_x, self.val_y = self._check_data(val_x, val_y, tr_noop("validation"))
        if isinstance(optimizer, Optimizer):
            self.optimizer = optimizer
        else:
            self.optimizer = make_optimizer(optimizer, lr)
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(tr("the batch size must be a whole number of at least 1, not "
                                "{value!r}").format(value=batch_size))
        self.batch_size = int(batch_size)
        self.augment = bool(augment)
        if self.augment and len(network.input_shape) != 3:
            raise ValueError(tr("augmentation shifts images, but the network's input is not an "
                                "image (channels, height, width)"))
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        n = self.train_x.shape[0]
        self.iterations_per_epoch = math.ceil(n / self.batch_size)
        self.iteration = 0
        self.epoch = 0  # completed epochs
        self.status = "ok"
        self.last_result: StepResult | None = None
        self._order = self.rng.permutation(n)
        self._position = 0
        self._good_state = network.get_state()  # the last weights that gave a sane loss
        # chance level is ln K; far above it the weights have blown up
        self.loss_limit = float(divergence_factor) * math.log(max(2, network.num_classes))
        self._grad_norms: dict[str, float] = {}

    # ---------------------------------------------------------------- data
    def _check_data(self, x, y, what: str):
        """``what``: which set ("training", "validation", "evaluation": msgids)."""
        x = np.asarray(x)
        y = np.asarray(y)
        shape = self.network.input_shape
        what = tr(what)
        if x.ndim != len(shape) + 1 or x.shape[1:] != shape:
            raise GeometryError(tr("the {what} images must have shape (N, {shape}), not {got}")
                                .format(what=what, shape=", ".join(map(str, shape)),
                                        got=x.shape))
        if x.shape[0] == 0:
            raise ValueError(tr("the {what} set is empty").format(what=what))
        if y.shape != (x.shape[0],):
            raise ValueError(tr("the {what} set has {count} images but labels of shape "
                                "{shape}").format(what=what, count=x.shape[0], shape=y.shape))
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(tr("the {what} labels must be whole numbers, not {dtype}").format(
                what=what, dtype=y.dtype))
        K = self.network.num_classes
        if y.min() < 0 or y.max() >= K:
            raise ValueError(tr("the {what} labels run from {low} to {high}, but the network "
                                "has {k} outputs (classes 0..{last})").format(
                what=what, low=y.min(), high=y.max(), k=K, last=K - 1))
        return np.ascontiguousarray(x, dtype=np.float32), y.astype(np.int64, copy=False)

    @property
    def lr(self) -> float:
        return self.optimizer.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.optimizer.lr = float(value)

    # ---------------------------------------------------------------- training
    def _next_batch(self):
        n = self.train_x.shape[0]
        if self._position >= n:  # a new epoch: a new shuffle
            self._order = self.rng.permutation(n)
            self._position = 0
        idx = self._order[self._position:self._position + self.batch_size]
        self._position += idx.size
        x = self.train_x[idx]  # (B, C, H, W), a copy
        if self.augment:
            x = shift_images(x, self.rng)
        return x, self.train_y[idx]

    def step(self) -> StepResult:
        """Train on the next mini-batch and report what happened."""
        if self.status == "diverged":
            return self.last_result
        # Overflow is detected and handled below (status "diverged"), so numpy's
        # warnings about it would only be noise on the console.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            return self._step()

    def _step(self) -> StepResult:
        epoch = self.epoch
        x, y = self._next_batch()
        n = self.train_x.shape[0]
        progress = self._position / n
        self.iteration += 1
        if self._position >= n:
            self.epoch += 1

        net = self.network
        logits = net.forward(x, training=True)
        loss, dlogits = softmax_cross_entropy(logits, y)
        finite = math.isfinite(loss)
        # argmax of NaN logits means nothing: no accuracy for a diverged batch
        accuracy = float(np.mean(np.argmax(logits, axis=1) == y)) if finite else math.nan
        finite = finite and loss <= self.loss_limit
        if finite:
            net.backward(dlogits, need_input_grad=False)
            self._grad_norms = self._layer_grad_norms()
            finite = all(math.isfinite(v) for v in self._grad_norms.values())
        if finite:
            self._remember_good_state()
            self.optimizer.step(net.parameters(), net.gradients())
            finite = all(math.isfinite(sum_of_squares(p)) for p in net.parameters())
        status = "ok" if finite else self._diverge()
        self.last_result = StepResult(self.iteration, epoch, progress, loss, accuracy, status)
        return self.last_result

    @property
    def grad_norms(self) -> dict[str, float]:
        """{layer name: L2 norm of its parameter gradients} from the last step (a copy)."""
        return dict(self._grad_norms)

    def _layer_grad_norms(self) -> dict[str, float]:
        norms = {}
        for layer in self.network.layers:
            if layer.params:
                # squares in float64: a large but finite float32 gradient must not read as inf
                total = sum(sum_of_squares(layer.grads[k]) for k in layer.params)
                norms[layer.name] = math.sqrt(total)
        return norms

    def _remember_good_state(self) -> None:
        for key, live in self.network.state_arrays().items():
            np.copyto(self._good_state[key], live)

    def _diverge(self) -> str:
        self.network.set_state(self._good_state)
        self.status = "diverged"
        return self.status

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, x=None, y=None, batch_size: int = 64,
                 stop: Callable[[], bool] | None = None) -> EvalResult:
        """Loss, accuracy, predictions and confusion matrix in evaluation mode.

        Defaults to the validation set; see :func:`evaluate_network` (and its ``stop``).
        """
        if x is None and y is None:
            if self.val_x is None:
                raise ValueError(tr("there is no validation set to evaluate on"))
            x, y = self.val_x, self.val_y
        else:
            x, y = self._check_data(x, y, tr_noop("evaluation"))
        return evaluate_network(self.network, x, y, batch_size, stop=stop)

    def snapshot(self, probe, label: int | None = None, maps: bool = True) -> Snapshot:
        """Kernels, activations, deltas, probabilities and gradient norms for one probe image.

        Parameters
        ----------
        probe : (C, H, W) image
        label : the true class; None uses the predicted class for the deltas
        maps : False skips the probe's forward and backward pass: only the kernels
            and the gradient norms are filled (activations and deltas empty,
            probabilities of length 0), for views that show nothing else
        """
        net = self.network
        probe = np.asarray(probe, dtype=np.float32)
        if probe.shape != net.input_shape:
            raise GeometryError(tr("the probe image must have shape {shape}, not {got}").format(
                shape=net.input_shape, got=probe.shape))
        if not maps:
            return Snapshot(kernels=self._first_kernels(), activations=[], deltas=[],
                            probabilities=np.zeros(0, np.float32),
                            grad_norms=dict(self._grad_norms), iteration=self.iteration)
        logits, caches, activations = net.forward_pure(probe[None], training=False)
        probabilities = softmax(logits)[0]
        predicted = int(np.argmax(probabilities))
        target = predicted if label is None else int(label)
        if not 0 <= target < net.num_classes:
            raise ValueError(tr("the label must be a class 0..{last}, not {label}").format(
                last=net.num_classes - 1, label=label))
        loss, dlogits = softmax_cross_entropy(logits, np.array([target]))
        _, _, deltas = net.backward_pure(dlogits, caches)
        names = [layer.name for layer in net.layers]
        return Snapshot(
            kernels=self._first_kernels(),
            activations=[(nm, np.array(a[0])) for nm, a in zip(names, activations, strict=True)],
            deltas=[(nm, np.array(d[0])) for nm, d in zip(names, deltas, strict=True)],
            probabilities=np.array(probabilities),
            grad_norms=dict(self._grad_norms),
            label=target, predicted=predicted, loss=loss, iteration=self.iteration)

    def _first_kernels(self) -> np.ndarray:
        for layer in self.network.layers:
            if isinstance(layer, Conv2D):
                return layer.params["w"].copy()  # (F, C, KH, KW)
        return np.zeros((0, self.network.input_shape[0], 1, 1), np.float32)


class EvaluationStopped(Exception):
    """:func:`evaluate_network` was asked to stop (its ``stop()`` answered True)."""


def evaluate_network(network, x: np.ndarray, y: np.ndarray, batch_size: int = 64,
                     stop: Callable[[], bool] | None = None) -> EvalResult:
    """Loss, accuracy, predictions and confusion matrix of ``network`` in evaluation mode.

    Runs batch by batch and changes nothing, so it may run in another thread on a
    copy of a network that is training. Batches of 64 keep a batch's largest
    activation (64 x 16 x 28 x 28 floats, 3 MB) in the cores' caches: 256 made
    evaluation about twice as slow on a 2-core machine with 2 MB of L2 per core.

    Parameters
    ----------
    network : Network
    x : (N, C, H, W) float32 images
    y : (N,) int64 labels in 0..K-1
    stop : called before every batch (any thread may make it answer True: a window
        closing); True raises :class:`EvaluationStopped`, so a long evaluation ends
        within one batch instead of at its end
    """
    K = network.num_classes
    predictions = np.empty(x.shape[0], dtype=np.int64)
    total_loss = 0.0
    for start in range(0, x.shape[0], batch_size):
        if stop is not None and stop():
            raise EvaluationStopped(f"evaluation stopped after {start} of {x.shape[0]} images")
        end = start + batch_size
        logits, _, _ = network.forward_pure(x[start:end], training=False)
        loss, _ = softmax_cross_entropy(logits, y[start:end])
        total_loss += loss * logits.shape[0]
        predictions[start:end] = np.argmax(logits, axis=1)
    confusion = np.bincount(y * K + predictions, minlength=K * K).reshape(K, K)
    return EvalResult(total_loss / x.shape[0], float(np.mean(predictions == y)),
                      predictions, confusion)
