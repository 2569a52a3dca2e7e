"""First-start compilation and warm start, each in a new process with its own Numba cache.

``python -m benchmarks.cold_start`` first starts as the app does (gui/workers/warmup.py):
with ``NUMBA_CACHE_DIR`` a new empty folder (nothing cached), one compiling process per
core (engine.warmup.compile_processes), each its share of the kernels, all at once; the
wall time until the last one ends is the first start. Then, in one process with another
empty cache, what those processes run together (engine.warmup for float32 and float64)
followed by one training step of the default network (its step kernels are compiled on
first use), and it reports:

- the wall time of each warm-up step and of the training step, and the CPU time of
  the whole child (the compiler is one thread: on a machine that other jobs keep busy
  the wall time is longer);
- the compile time of every kernel (Numba's compile events; a kernel that another one
  calls is compiled inside it, so each is reported *exclusive* of the kernels compiled
  within it, and the sum is the total);
- how long the Convolution lab's computation (engine.conv2d_forward_trace, plain
  numpy: no Numba) takes after ``import engine`` in a fresh process.

A child with the cache the compiling processes filled measures the warm start: import the
engine and load every kernel (engine.warmup for both dtypes), counting the compilations it
still needed (0: the shares together compiled everything); another the warm start of
the app (offscreen): until the main window is shown, and until its warm-up has loaded
every kernel, so that every lab works. No timing is asserted
anywhere; name the CPU (``lscpu``) and the load average with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from numba.core import event
compiles, stack = [], []

class Timer(event.Listener):
    def on_start(self, ev):
        stack.append([time.perf_counter(), 0.0])

    def on_end(self, ev):
        start, inner = stack.pop()
        total = time.perf_counter() - start
        if stack:
            stack[-1][1] += total
        d = ev.data["dispatcher"]
        name = getattr(d, "py_func", d).__module__ + "." + getattr(d, "py_func", d).__qualname__
        sig = ",".join(str(a) for a in ev.data["args"])
        compiles.append({"kernel": name, "signature": sig, "exclusive_s": total - inner,
                         "inclusive_s": total})

event.register("numba:compile", Timer())
import numpy as np
import engine
import_s = time.perf_counter() - t0
steps = []
from engine.warmup import warmup_tasks
for name, call in warmup_tasks((np.float32, np.float64)):
    t = time.perf_counter()
    call()
    steps.append({"step": name, "s": time.perf_counter() - t})
from engine import Network, recipe
from engine.training import Trainer
from engine.data import mnist_split
split = mnist_split()
t = time.perf_counter()
net = Network(recipe.DEFAULT_SPEC, (1, 28, 28), seed=0)
trainer = Trainer(net, split.train_x[:256], split.train_y[:256], optimizer="adam", lr=3e-3,
                  augment=True)
trainer.step()
steps.append({"step": "training step (default network, Adam, shifts)",
              "s": time.perf_counter() - t})
import resource
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"import_s": import_s, "steps": steps, "compiles": compiles,
                  "total_s": time.perf_counter() - t0,
                  "cpu_s": usage.ru_utime + usage.ru_stime}))
"""

LAB = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
import engine
x = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
w = np.ones((1, 1, 3, 3))
engine.conv2d_forward_trace(x, w, np.zeros(1), 1, 1)
print(json.dumps({"convolution_lab_s": time.perf_counter() - t0}))
"""

WARM = r"""
import json, time
t0 = time.perf_counter()
from numba.core import event
compiled = []
class Count(event.Listener):
    def on_start(self, ev):
        compiled.append(1)
    def on_end(self, ev):
        pass
event.register("numba:compile", Count())
import numpy as np
from engine.warmup import warmup
warmup(dtypes=(np.float32, np.float64))
print(json.dumps({"warm_start_s": time.perf_counter() - t0,
                  "warm_start_compilations": len(compiled)}))
"""

WINDOW = r"""
import json, os, sys, tempfile, time
t0 = time.perf_counter()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from gui.app import MainWindow
from gui.workers.warmup import kernels_ready
settings = QSettings(os.path.join(tempfile.mkdtemp(), "s.ini"), QSettings.Format.IniFormat)
window = MainWindow(settings=settings, warmup=True, remember=False)
window.show()
shown = time.perf_counter() - t0
while not kernels_ready() or window.warmup_runner.running:
    app.processEvents()
    time.sleep(0.005)
ready = time.perf_counter() - t0
window.close()
print(json.dumps({"window_shown_s": shown, "window_ready_s": ready}))
"""


def _child(code: str, cache: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _first_start(cache: str) -> dict:
    """The app's first start: every share compiled in its own process, all at once."""
    sys.path.insert(0, str(ROOT))
    from engine.warmup import child_command, compile_processes

    parts = compile_processes()
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    children = [subprocess.Popen(child_command(part, parts), cwd=ROOT, env=env,
                                 stdout=subprocess.DEVNULL) for part in range(parts)]
    ends = [0.0] * parts
    while not all(ends):
        for part, child in enumerate(children):
            if not ends[part] and child.poll() is not None:
                if child.returncode != 0:
                    raise RuntimeError(f"a compiling process failed (exit {child.returncode})")
                ends[part] = time.perf_counter() - start
        time.sleep(0.05)
    return {"first_start_s": time.perf_counter() - start, "first_start_processes": parts,
            "first_start_ends_s": ends}


def measure() -> dict:
    """The app's first start (an empty cache), the Convolution lab's first result, the warm
    starts, and the compile time of every kernel in one process."""
    with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache:
        lab = _child(LAB, cache)
        first = _first_start(cache)
        warm = _child(WARM, cache)
        start = time.perf_counter()
        window = _child(WINDOW, cache)
        window["window_process_s"] = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache:
        cold = _child(CHILD, cache)
    return {**first, **cold, **lab, **warm, **window, "load_average": os.getloadavg()}


def format_report(r: dict) -> str:
    lines = [f"first start as the app does it, empty Numba cache: every kernel compiled "
             f"after {r['first_start_s']:.1f} s ({r['first_start_processes']} processes at "
             f"once, ending after " + ", ".join(f"{s:.1f}" for s in r["first_start_ends_s"])
             + " s)",
             f"the same in one process: {r['total_s']:.1f} s in all, {r['cpu_s']:.1f} s of "
             f"CPU (import engine {r['import_s']:.2f} s; on a busy machine the wall time is "
             f"longer than the CPU time)"]
    for s in r["steps"]:
        lines.append(f"  {s['step']:<48} {s['s']:6.2f} s")
    per_kernel: dict[str, float] = {}
    for c in r["compiles"]:
        per_kernel[c["kernel"]] = per_kernel.get(c["kernel"], 0.0) + c["exclusive_s"]
    lines.append(f"compile time per kernel (exclusive, all signatures): "
                 f"{sum(per_kernel.values()):.1f} s in {len(r['compiles'])} compilations")
    for name, s in sorted(per_kernel.items(), key=lambda kv: -kv[1]):
        count = sum(1 for c in r["compiles"] if c["kernel"] == name)
        lines.append(f"  {name:<56} {s:6.2f} s  ({count} signature{'s' * (count > 1)})")
    lines.append(f"Convolution lab's first result (new process, no Numba): "
                 f"{r['convolution_lab_s']:.2f} s")
    lines.append(f"warm start (new process: import + load every kernel, both dtypes): "
                 f"{r['warm_start_s']:.2f} s, {r['warm_start_compilations']} compilations "
                 f"still needed")
    lines.append(f"warm start to a working window (new process, offscreen): shown after "
                 f"{r['window_shown_s']:.2f} s, every kernel loaded after "
                 f"{r['window_ready_s']:.2f} s ({r['window_process_s']:.2f} s from the "
                 f"process start to its exit)")
    lines.append("load average: " + ", ".join(f"{x:.2f}" for x in r["load_average"]))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a report")
    args = parser.parse_args(argv)
    result = measure()
    print(json.dumps(result, indent=1) if args.json else format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
