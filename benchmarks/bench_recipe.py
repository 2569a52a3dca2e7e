"""The default training recipe end to end: the engine against the same recipe in PyTorch.

Both train engine.recipe.DEFAULT_SPEC (conv 16 - pool - conv 32 - pool - dense) from
the same initial weights on the same 8,000 digits, with the same batches: batch 64,
shuffled every epoch and every digit shifted by up to 2 pixels, drawn from one
generator seeded like engine.training.Trainer's (so both see identical batches), Adam
with the cosine schedule of engine.training_loop (peak 3e-3, per step), 10 epochs.

- engine: ``engine.training_loop.TrainingRun`` around ``engine.training.Trainer``, the
  loop ``python main.py train`` runs (its divergence guard, gradient norms and
  last-good-weights copy included);
- torch: the PyTorch twin: ``nn.Sequential`` of the same layers, ``CrossEntropyLoss``,
  ``torch.optim.Adam`` with the rate set before every step, 2 threads.

The two runs are interleaved epoch by epoch (engine, torch, torch, engine, ...), so
the load of a shared machine falls on both alike; the table reports each one's
training seconds (the steps only, the augmentation included), the speed-up
``torch s / engine s``, and the validation accuracy on the 1,000 held-out digits.

Run ``python -m benchmarks.bench_recipe`` or ``python main.py bench --recipe``
(``--seeds 0,1,2``, ``--epochs N``, ``--json``). Not a test: the times depend on the
machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time

# as in bench.py: torch's OpenMP runtime starts under the user's settings, before the
# engine sets OMP_WAIT_POLICY for Numba's
try:
    import torch  # noqa: F401
except Exception:  # noqa: BLE001 - no torch: its column is left out
    pass

import numpy as np  # noqa: E402

from engine.recipe import DEFAULT_SPEC, DEFAULT_TRAINING  # noqa: E402
from engine.training_loop import cosine_lr  # noqa: E402

from .bench import _torch, cpu_model  # noqa: E402


class EngineRecipe:
    """The engine's training loop, one epoch per :meth:`epoch`."""

    name = "engine"

    def __init__(self, data, seed: int, epochs: int):
        from engine.network import Network
        from engine.training import Trainer
        from engine.training_loop import TrainingRun

        config = DEFAULT_TRAINING.replace(seed=seed, epochs=epochs)
        train_x, train_y, self.val_x, self.val_y = data
        self.network = Network(DEFAULT_SPEC, input_shape=train_x.shape[1:], seed=seed)
        self.trainer = Trainer(self.network, train_x, train_y, self.val_x, self.val_y,
                               **config.trainer_kwargs())
        self.run = TrainingRun(self.trainer, config)

    def epoch(self) -> float:
        """Train one epoch; its seconds."""
        start = time.perf_counter()
        while True:
            step = self.run.step()
            if step.epoch_finished or step.result.status != "ok":
                return time.perf_counter() - start

    def accuracy(self) -> float:
        return float(self.trainer.evaluate().accuracy)


class TorchRecipe:
    """The same recipe written in PyTorch (same weights at the start, same batches)."""

    name = "torch"

    def __init__(self, data, seed: int, epochs: int):
        torch = _torch()
        from torch import nn

        from engine.network import Network
        from engine.training import shift_images

        self.torch, self.shift = torch, shift_images
        self.train_x, self.train_y, self.val_x, self.val_y = data
        start = Network(DEFAULT_SPEC, input_shape=self.train_x.shape[1:], seed=seed)
        conv1, conv2, dense = (layer for layer in start.layers if layer.params)
        self.model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
        with torch.no_grad():
            for module, layer, transpose in ((self.model[0], conv1, False),
                                             (self.model[3], conv2, False),
                                             (self.model[7], dense, True)):
                w = layer.params["w"].T if transpose else layer.params["w"]
                module.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
                module.bias.copy_(torch.from_numpy(layer.params["b"]))
        self.peak = DEFAULT_TRAINING.lr
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.peak)
        self.loss_fn = nn.CrossEntropyLoss()
        self.batch = DEFAULT_TRAINING.batch_size
        self.rng = np.random.default_rng(seed)  # the Trainer's draws, in its order
        n = self.train_x.shape[0]
        self.order = self.rng.permutation(n)
        self.total = epochs * math.ceil(n / self.batch)
        self.iteration = 0

    def epoch(self) -> float:
        torch = self.torch
        n = self.train_x.shape[0]
        start = time.perf_counter()
        for first in range(0, n, self.batch):
            idx = self.order[first:first + self.batch]
            x = self.shift(self.train_x[idx], self.rng)
            for group in self.optimizer.param_groups:
                group["lr"] = cosine_lr(self.iteration, self.total, self.peak)
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(torch.from_numpy(x)),
                                torch.from_numpy(self.train_y[idx]))
            loss.backward()
            self.optimizer.step()
            self.iteration += 1
        seconds = time.perf_counter() - start
        self.order = self.rng.permutation(n)  # the next epoch's shuffle, as the Trainer
        return seconds

    def accuracy(self) -> float:
        torch = self.torch
        with torch.no_grad():
            logits = self.model(torch.from_numpy(np.ascontiguousarray(self.val_x)))
        return float((logits.argmax(1).numpy() == self.val_y).mean())


def run_seed(data, seed: int, epochs: int, with_torch: bool) -> dict:
    """Train both for ``epochs`` epochs, interleaved by epoch; their seconds and accuracy."""
    runs = [EngineRecipe(data, seed, epochs)]
    if with_torch:
        runs.append(TorchRecipe(data, seed, epochs))
    epoch_s = {r.name: [] for r in runs}
    for e in range(epochs):
        for r in (runs if e % 2 == 0 else runs[::-1]):
            epoch_s[r.name].append(r.epoch())
    return {r.name: {"seconds": sum(epoch_s[r.name]), "epoch_seconds": epoch_s[r.name],
                     "accuracy": r.accuracy()} for r in runs}


def format_table(results: list[dict], meta: dict) -> str:
    lines = [f"The default recipe ({meta['epochs']} epochs of 8,000 digits, batch 64, Adam + "
             f"cosine, 2-pixel shifts), training seconds and validation accuracy:", ""]
    lines.append(f"{'seed':>4}  {'engine s':>9}  {'torch s':>8}  {'x vs torch':>10}  "
                 f"{'engine acc':>10}  {'torch acc':>9}")
    for r in results:
        e, t = r["engine"], r.get("torch")
        lines.append(f"{r['seed']:>4}  {e['seconds']:9.2f}  "
                     + (f"{t['seconds']:8.2f}  {t['seconds'] / e['seconds']:10.2f}  "
                        if t else f"{'-':>8}  {'-':>10}  ")
                     + f"{100 * e['accuracy']:9.2f}%  "
                     + (f"{100 * t['accuracy']:8.2f}%" if t else f"{'-':>9}"))
    if len(results) > 1 and all("torch" in r for r in results):
        ratios = [r["torch"]["seconds"] / r["engine"]["seconds"] for r in results]
        lines.append(f"median x vs torch {statistics.median(ratios):.2f}")
    lines.append("")
    lines.append(f"CPU: {meta['cpu']}; numba {meta['numba']}, torch {meta['torch']} "
                 f"({meta['torch_threads']} threads). Interleaved epoch by epoch.")
    return "\n".join(lines)


def main(argv=None, parser_class=argparse.ArgumentParser) -> int:
    parser = parser_class(
        prog="python main.py bench --recipe",
        description="The default training recipe end to end, engine against PyTorch.")
    parser.add_argument("--seeds", default="0",
                        help="comma-separated seeds, one run each (default 0)")
    parser.add_argument("--epochs", type=int, default=DEFAULT_TRAINING.epochs,
                        help=f"epochs per run (default {DEFAULT_TRAINING.epochs})")
    parser.add_argument("--no-torch", action="store_true", help="the engine only")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds must be whole numbers separated by commas, not {args.seeds!r}")
    if not seeds or args.epochs < 1:
        parser.error("give at least one seed and at least one epoch")
    with_torch = not args.no_torch and _torch() is not None
    if not args.no_torch and not with_torch:
        from engine.i18n import tr
        print(tr("note: PyTorch is not installed, so its column is left out (install it with "
                 "pip install torch==2.13.0, or the '.[bench]' extra)"), file=sys.stderr)
    import numba

    from engine.data import mnist_split
    from engine.warmup import warmup
    warmup()  # compiled or loaded before anything is timed
    data = mnist_split()
    results = []
    for seed in seeds:
        if not args.json:
            print(f"seed {seed} ...", file=sys.stderr, flush=True)
        results.append({"seed": seed, **run_seed(data, seed, args.epochs, with_torch)})
    torch = _torch()
    meta = {"epochs": args.epochs, "cpu": cpu_model(), "numba": numba.__version__,
            "torch": None if torch is None else torch.__version__,
            "torch_threads": None if torch is None else torch.get_num_threads(),
            "python": platform.python_version()}
    if args.json:
        print(json.dumps({"meta": meta, "runs": results}, indent=2))
    else:
        print(format_table(results, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
