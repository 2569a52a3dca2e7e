"""Benchmark the engine against the textbook loops, numpy im2col and PyTorch CPU.

Workloads W1-W6 of docs/PERFORMANCE.md and the default network's two convolutions
(D1, D2), float32, batch N = 64, fixed seed.
All implementations run in one process on the same inputs, interleaved (in
rounds, each visiting every implementation in a rotating order for five timed
samples), and the table reports medians and the engine's speed-up over each
(``other_ms / engine_ms``, so > 1 means the engine is faster).

Each visit starts with a pause (``--pause``, default 0.05 s) and 0.1 s of
untimed calls. Numba's and PyTorch's OpenMP pools and OpenBLAS's
threads spin-wait after parallel work (OpenBLAS for about 0.1 s); on a 2-core
machine, timing one right after another measures their fight for the cores
(10-50x slowdowns), not either implementation. The pause lets them fall
asleep; the untimed calls let the woken threads (and the idle cores) get back
up to speed (right after a pause both ran up to 2x slower for tens of ms).

The reference loops are far too slow for N = 64: they are timed on a batch of
``--reference-batch`` samples (default 2) and scaled per sample to N = 64; the
table marks those columns.

Run ``python -m benchmarks.bench`` or ``python main.py bench``; ``--json`` prints
machine-readable results instead of the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# PyTorch's OpenMP runtime reads OMP_WAIT_POLICY once, when torch is imported, and the
# engine sets it to PASSIVE for Numba's own runtime (engine/_numba.py). Import torch
# first, under the user's setting, so that each library runs as it would on its own.
try:
    import torch  # noqa: F401
except Exception:  # noqa: BLE001 - no torch: its column is left out
    pass

from engine.recipe import W6_SPEC  # noqa: E402  (after torch, see above)

from . import im2col_numpy

IMPLS = ("engine", "reference", "im2col", "torch")
N_BATCH = 64
SEED = 0
TARGET_SAMPLE_S = 0.01  # each timing sample runs the workload enough times to last ~10 ms
SAMPLES_PER_VISIT = 5   # consecutive timed samples each time an implementation's turn comes
SETTLE_S = 0.1          # untimed running at the start of each visit

LR = 0.01


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    build: Callable[[str, int], Callable[[], object] | None]


# ------------------------------------------------------------------ the workloads

def _conv_data(N, C, H, W, F, K=3, seed=SEED):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    w = (rng.standard_normal((F, C, K, K), dtype=np.float32) * 0.3).astype(np.float32)
    b = rng.standard_normal(F, dtype=np.float32)
    return x, w, b


def _conv_ops(impl):
    if impl == "engine":
        import engine
        return engine.conv2d_forward, engine.conv2d_backward
    if impl == "reference":
        from engine import reference
        return reference.conv2d_forward, reference.conv2d_backward
    return im2col_numpy.conv2d_forward, im2col_numpy.conv2d_backward


def _conv_workload(C, H, W, F, stride, padding, backward):
    def build(impl, N):
        x, w, b = _conv_data(N, C, H, W, F)
        if impl == "torch":
            return _torch_conv(x, w, b, stride, padding, backward)
        fwd, bwd = _conv_ops(impl)
        if not backward:
            return lambda: fwd(x, w, b, stride, padding)
        dout = np.random.default_rng(SEED + 1).standard_normal(
            fwd(x, w, b, stride, padding).shape).astype(np.float32)

        def step():
            fwd(x, w, b, stride, padding)
            return bwd(dout, x, w, stride, padding)
        return step
    return build


def _torch_conv(x, w, b, stride, padding, backward):
    torch = _torch()
    if torch is None:
        return None
    import torch.nn.functional as tfn
    tx, tw, tb = (torch.from_numpy(a.copy()) for a in (x, w, b))
    if not backward:
        def forward():
            with torch.no_grad():
                return tfn.conv2d(tx, tw, tb, stride, padding)
        return forward
    for t in (tx, tw, tb):
        t.requires_grad_(True)
    with torch.no_grad():
        shape = tfn.conv2d(tx, tw, tb, stride, padding).shape
    tdout = torch.from_numpy(
        np.random.default_rng(SEED + 1).standard_normal(tuple(shape)).astype(np.float32))

    def step():
        for t in (tx, tw, tb):
            t.grad = None
        tfn.conv2d(tx, tw, tb, stride, padding).backward(tdout)
    return step


def _pool_workload(C, H, W):
    def build(impl, N):
        x = np.random.default_rng(SEED).standard_normal((N, C, H, W), dtype=np.float32)
        dout = np.random.default_rng(SEED + 1).standard_normal(
            (N, C, H // 2, W // 2), dtype=np.float32)
        if impl == "torch":
            torch = _torch()
            if torch is None:
                return None
            import torch.nn.functional as tfn
            tx, tdout = torch.from_numpy(x.copy()).requires_grad_(True), torch.from_numpy(dout)

            def torch_step():
                tx.grad = None
                y, _ = tfn.max_pool2d(tx, 2, 2, return_indices=True)
                y.backward(tdout)
            return torch_step
        if impl == "engine":
            import engine as ops
        elif impl == "reference":
            from engine import reference as ops
        else:
            ops = im2col_numpy

        def step():
            _, argmax = ops.max_pool2d_forward(x, 2, 2)
            return ops.max_pool2d_backward(dout, argmax, x.shape)
        return step
    return build


def _training_data(N):
    rng = np.random.default_rng(SEED)
    x = rng.random((N, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, N)
    return x, y


def _w6_build(impl, N):
    x, labels = _training_data(N)
    if impl == "engine":
        return _engine_training_step(x, labels)
    if impl == "torch":
        return _torch_training_step(x, labels)
    if impl == "reference":
        from engine import reference
        return _numpy_training_step(reference, x, labels)
    return _numpy_training_step(im2col_numpy, x, labels)


def _engine_training_step(x, labels):
    from engine.losses import softmax_cross_entropy
    from engine.network import Network
    from engine.optim import SGD
    net, opt = Network(W6_SPEC, input_shape=(1, 28, 28), seed=SEED), SGD(LR)

    def step():
        logits = net.forward(x, training=True)
        loss, dlogits = softmax_cross_entropy(logits, labels)
        net.backward(dlogits, need_input_grad=False)
        opt.step(net.parameters(), net.gradients())
        return loss
    return step


def _torch_training_step(x, labels):
    torch = _torch()
    if torch is None:
        return None
    from torch import nn
    torch.manual_seed(SEED)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(784, 10))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    tx, ty = torch.from_numpy(x.copy()), torch.from_numpy(labels.astype(np.int64))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(tx), ty)
        loss.backward()
        opt.step()
        return loss
    return step


def _numpy_training_step(ops, x, labels):
    """The W6 step written out by hand with ``ops`` (engine.reference or im2col_numpy)."""
    from engine.losses import softmax_cross_entropy
    rng = np.random.default_rng(SEED)
    params = {
        "w1": (rng.standard_normal((8, 1, 3, 3)) * np.sqrt(2 / 9)).astype(np.float32),
        "b1": np.zeros(8, np.float32),
        "w2": (rng.standard_normal((16, 8, 3, 3)) * np.sqrt(2 / 72)).astype(np.float32),
        "b2": np.zeros(16, np.float32),
        "w3": (rng.standard_normal((784, 10)) * np.sqrt(2 / 784)).astype(np.float32),
        "b3": np.zeros(10, np.float32),
    }

    def relu(a):
        return np.maximum(a, np.float32(0))

    def step():
        p = params
        z1 = ops.conv2d_forward(x, p["w1"], p["b1"], 1, 1)
        a1 = relu(z1)
        h1, am1 = ops.max_pool2d_forward(a1, 2, 2)
        z2 = ops.conv2d_forward(h1, p["w2"], p["b2"], 1, 1)
        a2 = relu(z2)
        h2, am2 = ops.max_pool2d_forward(a2, 2, 2)
        flat = h2.reshape(h2.shape[0], -1)  # (N, 16, 7, 7) -> (N, 784)
        logits = flat @ p["w3"] + p["b3"]
        loss, dlogits = softmax_cross_entropy(logits, labels)
        grads = {"w3": flat.T @ dlogits, "b3": dlogits.sum(axis=0)}
        dh2 = (dlogits @ p["w3"].T).reshape(h2.shape)
        dz2 = ops.max_pool2d_backward(dh2, am2, a2.shape) * (z2 > 0)
        dh1, grads["w2"], grads["b2"] = ops.conv2d_backward(dz2, h1, p["w2"], 1, 1)
        dz1 = ops.max_pool2d_backward(dh1, am1, a1.shape) * (z1 > 0)
        _, grads["w1"], grads["b1"] = ops.conv2d_backward(dz1, x, p["w1"], 1, 1)
        for k, g in grads.items():
            p[k] -= np.float32(LR) * g.astype(np.float32)
        return loss
    return step


WORKLOADS = {
    "W1": Workload("W1", "conv forward: C=1, 28x28, F=8, 3x3, s1 p1",
                   _conv_workload(1, 28, 28, 8, 1, 1, backward=False)),
    "W2": Workload("W2", "conv fwd+bwd: C=1, 28x28, F=8, 3x3, s1 p1",
                   _conv_workload(1, 28, 28, 8, 1, 1, backward=True)),
    "W3": Workload("W3", "conv fwd+bwd: C=8, 14x14, F=16, 3x3, s1 p1",
                   _conv_workload(8, 14, 14, 16, 1, 1, backward=True)),
    "W4": Workload("W4", "conv fwd+bwd: C=8, 14x14, F=16, 3x3, s2 p1",
                   _conv_workload(8, 14, 14, 16, 2, 1, backward=True)),
    "W5": Workload("W5", "max pool 2x2 s2 fwd(argmax)+bwd: C=16, 28x28",
                   _pool_workload(16, 28, 28)),
    "W6": Workload("W6", "training step conv-relu-pool x2 + dense, SGD", _w6_build),
    # the default network's (engine.recipe.DEFAULT_SPEC) two convolutions, alone
    "D1": Workload("D1", "default net conv1 fwd+bwd: C=1, 28x28, F=16, 3x3, s1 p1",
                   _conv_workload(1, 28, 28, 16, 1, 1, backward=True)),
    "D2": Workload("D2", "default net conv2 fwd+bwd: C=16, 14x14, F=32, 3x3, s1 p1",
                   _conv_workload(16, 14, 14, 32, 1, 1, backward=True)),
}

#: floating-point operations of the convolution workloads (2 per multiply-add;
#: forward + backward is three convolutions' worth: y, dx and dW)
FLOPS = {name: 2 * N_BATCH * F * HO * WO * C * 9 * passes
         for name, (C, F, HO, WO, passes) in {
             "W1": (1, 8, 28, 28, 1), "W2": (1, 8, 28, 28, 3), "W3": (8, 16, 14, 14, 3),
             "W4": (8, 16, 7, 7, 3), "D1": (1, 16, 28, 28, 3), "D2": (16, 32, 14, 14, 3)}.items()}


# ------------------------------------------------------------------ the timing

_TORCH = []


def _torch():
    """torch with 2 threads, or None when it does not import."""
    if not _TORCH:
        try:
            import torch
            torch.set_num_threads(2)
            _TORCH.append(torch)
        except Exception:  # noqa: BLE001 - any import failure just drops the column
            _TORCH.append(None)
    return _TORCH[0]


def _calls_per_sample(fn) -> int:
    """How many calls make one timing sample last about TARGET_SAMPLE_S."""
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    return max(1, min(1000, int(TARGET_SAMPLE_S / max(once, 1e-7))))


def time_workload(workload: Workload, repeat: int, ref_batch: int, ref_repeat: int,
                  impls=IMPLS, pause: float = 0.05) -> dict:
    """Median milliseconds per call at N=64 for each implementation that is available."""
    fns, scale = {}, {}
    for impl in impls:
        n = ref_batch if impl == "reference" else N_BATCH
        fn = workload.build(impl, n)
        if fn is None:
            continue
        fn()  # compile / warm caches
        fns[impl] = (fn, _calls_per_sample(fn))
        scale[impl] = N_BATCH / n
    samples = {impl: [] for impl in fns}
    names = list(fns)
    rounds = -(-repeat // SAMPLES_PER_VISIT)
    for r in range(rounds):
        for impl in names[r % len(names):] + names[:r % len(names)]:  # rotate the order
            fn, calls = fns[impl]
            if impl == "reference":  # single-threaded and slow: one sample per round
                if r >= ref_repeat:
                    continue
                visit = 1
            else:
                visit = SAMPLES_PER_VISIT
                time.sleep(pause)  # let the other implementation's spinning threads sleep
                settle_until = time.perf_counter() + SETTLE_S
                while time.perf_counter() < settle_until:  # untimed: threads wake and settle
                    fn()
            for _ in range(visit):
                t0 = time.perf_counter()
                for _ in range(calls):
                    fn()
                samples[impl].append((time.perf_counter() - t0) / calls * scale[impl] * 1e3)
    result = {"description": workload.description, "ms": {}, "speedup": {}, "samples": {},
              "min_ms": {}}
    for impl, s in samples.items():
        result["ms"][impl] = statistics.median(s)
        result["min_ms"][impl] = min(s)
        result["samples"][impl] = len(s)
    engine_ms = result["ms"].get("engine")
    for impl, ms in result["ms"].items():
        if impl != "engine" and engine_ms:
            result["speedup"][impl] = ms / engine_ms
    if workload.name in FLOPS:
        result["gflops"] = {impl: FLOPS[workload.name] / ms / 1e6
                            for impl, ms in result["ms"].items() if impl != "reference"}
    return result


def warm_start_seconds() -> float | None:
    """Seconds to import the engine and load every kernel from Numba's cache (new process)."""
    code = ("import time; t = time.perf_counter(); import engine.warmup as w; w.warmup(); "
            "print(time.perf_counter() - t)")
    subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)  # fill cache
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def cpu_model() -> str:
    """The CPU's model name (what ``lscpu`` shows as "Model name"), for every figure, with
    its family and model numbers: a virtual machine may name only the brand ("AMD EPYC"),
    and the numbers tell the generation (AMD family 25 model 17: Zen 4; 26: Zen 5)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if not key:  # the first processor's block ends
                    break
                fields.setdefault(key, value.strip())
    except OSError:
        pass
    name = fields.get("model name")
    if not name:
        return platform.processor() or platform.machine() or "unknown CPU"
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']} model {fields['model']})"
    return name


def _meta(args) -> dict:
    import numba
    meta = {
        "cpu": cpu_model(),
        "batch": N_BATCH, "dtype": "float32", "seed": SEED, "repeat": args.repeat,
        "reference_batch": args.reference_batch, "reference_repeat": args.reference_repeat,
        "python": platform.python_version(), "numpy": np.__version__,
        "numba": numba.__version__, "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "cpus": os.cpu_count(), "machine": platform.machine(),
    }
    torch = _torch()
    meta["torch"] = None if torch is None else torch.__version__
    meta["torch_threads"] = None if torch is None else torch.get_num_threads()
    try:
        meta["numba_threading_layer"] = numba.threading_layer()
    except ValueError:  # no parallel kernel ran yet
        meta["numba_threading_layer"] = None
    return meta


def format_table(results: dict, meta: dict, warm: float | None) -> str:
    cols = [c for c in IMPLS if any(c in r["ms"] for r in results.values())]
    head = ["", "description"] + [f"{c} ms" + (" *" if c == "reference" else "") for c in cols]
    head += [f"x vs {c}" for c in cols if c != "engine"]
    rows = [head]
    for name, r in results.items():
        row = [name, r["description"]]
        row += [f"{r['ms'][c]:.3f}" if c in r["ms"] else "-" for c in cols]
        row += [f"{r['speedup'][c]:.1f}" if c in r["speedup"] else "-"
                for c in cols if c != "engine"]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(wd) if i < 2 else cell.rjust(wd)
                       for i, (cell, wd) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.append("")
    lines.append(f"Medians of {meta['repeat']} interleaved samples, float32, N={meta['batch']}, "
                 f"seed {meta['seed']}; 'x vs' = other ms / engine ms (> 1: engine faster).")
    lines.append(f"* reference loops timed on N={meta['reference_batch']} "
                 f"({meta['reference_repeat']} samples), scaled per sample to N={meta['batch']}.")
    lines.append(f"numba {meta['numba']} ({meta['numba_threads']} threads, "
                 f"{meta['numba_threading_layer']}), numpy {meta['numpy']}, torch "
                 f"{meta['torch']} ({meta['torch_threads']} threads), {meta['cpus']} CPUs: "
                 f"{meta['cpu']}.")
    if warm is not None:
        lines.append(f"Warm start (new process: import engine + warmup() from Numba's cache): "
                     f"{warm:.2f} s")
    peak = meta.get("peak")
    for name in ("D2", "W3"):
        if peak and name in results and "gflops" in results[name]:
            g = results[name]["gflops"]
            lines.append(
                f"{name}: engine {g['engine']:.0f} GFLOP/s = "
                f"{100 * g['engine'] / peak['peak_gflops']:.0f}% of the fp32 peak"
                + (f" (PyTorch {g['torch']:.0f} GFLOP/s, "
                   f"{100 * g['torch'] / peak['peak_gflops']:.0f}%)" if "torch" in g else ""))
    if peak:
        lines.append(
            f"fp32 peak {peak['peak_gflops']:.0f} GFLOP/s = {peak['cores']} cores x "
            f"{peak['fma_units']} FMA units x {peak['lanes']} lanes x 2 flops x "
            f"{peak['clock_ghz']:.2f} GHz (measured: a dependent multiply-xor chain); "
            f"a loop of register multiply-adds reached {peak['fma_loop_gflops']:.0f} GFLOP/s.")
    return "\n".join(lines)


def main(argv=None, parser_class=argparse.ArgumentParser) -> int:
    """Run the benchmark; ``parser_class`` lets main.py report bad arguments in one line."""
    parser = parser_class(
        prog="python main.py bench",
        description="Benchmark the engine (W1-W6) against the reference loops, numpy im2col "
                    "and PyTorch CPU.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--repeat", type=int, default=15,
                        help="timed samples per implementation, taken 5 per visit (default 15)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help="comma-separated subset, e.g. W1,W3 (default: all)")
    parser.add_argument("--reference-batch", type=int, default=2,
                        help="batch size the slow reference loops run on (default 2)")
    parser.add_argument("--reference-repeat", type=int, default=3,
                        help="samples of the reference loops (default 3)")
    parser.add_argument("--pause", type=float, default=0.05,
                        help="seconds to pause before each visit (default 0.05)")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference loops")
    parser.add_argument("--no-warm-start", action="store_true",
                        help="skip measuring the warm start in a new process")
    parser.add_argument("--no-peak", action="store_true",
                        help="skip measuring the clock and the multiply-add peak")
    parser.add_argument("--recipe", action="store_true",
                        help="the default training recipe end to end against its PyTorch twin "
                             "instead (benchmarks/bench_recipe.py; see --recipe --help)")
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--recipe" in argv:
        from . import bench_recipe
        return bench_recipe.main([a for a in argv if a != "--recipe"], parser_class)
    args = parser.parse_args(argv)
    names = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in names if w not in WORKLOADS]
    if unknown or not names:
        parser.error(f"unknown workload(s) {', '.join(unknown) or '(none)'}; "
                     f"choose from {', '.join(WORKLOADS)}")
    if args.repeat < 1 or args.reference_batch < 1 or args.reference_repeat < 1:
        parser.error("--repeat, --reference-batch and --reference-repeat must be at least 1")
    impls = tuple(i for i in IMPLS if not (args.no_reference and i == "reference"))
    if _torch() is None:
        from engine.i18n import tr
        print(tr("note: PyTorch is not installed, so its column is left out (install it with "
                 "pip install torch==2.13.0, or the '.[bench]' extra)"), file=sys.stderr)
    results = {}
    for name in names:
        if not args.json:
            print(f"timing {name} ...", file=sys.stderr, flush=True)
        results[name] = time_workload(WORKLOADS[name], args.repeat, args.reference_batch,
                                      min(args.reference_repeat, args.repeat), impls,
                                      max(0.0, args.pause))
    warm = None if args.no_warm_start else warm_start_seconds()
    meta = _meta(args)
    if not args.no_peak:
        from .peak import measure
        meta["peak"] = measure()
    if args.json:
        print(json.dumps({"meta": meta, "warm_start_s": warm, "workloads": results}, indent=2))
    else:
        print(format_table(results, meta, warm))
    return 0


if __name__ == "__main__":
    sys.exit(main())
