"""Training lab benchmark: frame rate of the live views and what they cost training.

Measures, in one process, interleaved (A B C A B C ...) so that the load of a
shared machine hits every case alike:

- headless : the engine's training loop (``TrainingRun.step()``, what the worker steps)
             in a plain loop in a thread (the engine alone), and the same loop in the
             main thread
- worker   : the TrainingWorker thread with live views off (frames carry only the
             step history; nothing is drawn): the cost of the thread and signals
- lab/<tab>: the Training lab shown offscreen at 1400x900, training with its live
             views on, one run per tab (curves; feature and delta maps), counting
             training steps and drawn frames per second and the GUI time per frame;
             the Curves tab again with the epoch validation at normal priority (what
             SCHED_IDLE gains), and the lab hidden behind another one (training goes
             on, nothing is drawn)
- network  : training in the background (the Training lab hidden) while the Network
             lab is shown at 1210x860 looking into the network (weights copied from the
             worker, the image run through them in its own worker, the overview and the
             neuron panel redrawn: refreshes per second), against the same with the
             Network lab shown but not looking (no model: what any other lab costs)

Run: ``python -m benchmarks.bench_gui [--seconds 2] [--repeat 12] [--json]``.
Not a test: timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time


def _data_and_spec():
    from engine.data import mnist_split
    from engine.recipe import DEFAULT_SPEC
    return mnist_split(), DEFAULT_SPEC


def _config(epochs: int):
    from engine.training_loop import TrainingConfig
    return TrainingConfig(optimizer="adam", lr=1e-3, batch_size=64, epochs=epochs, seed=0,
                          augment=False, schedule="constant")


def _run(data, spec, epochs: int = 10**6):
    """The engine's training loop (what the worker steps) on a fresh network."""
    from engine.network import Network
    from engine.training import Trainer
    from engine.training_loop import TrainingRun
    config = _config(epochs)
    trainer = Trainer(Network(spec, seed=config.seed), *data, **config.trainer_kwargs())
    return TrainingRun(trainer, config)


def _step_loop(data, spec, seconds: float, out: dict) -> None:
    run = _run(data, spec)
    run.step()  # compile / load from cache outside the timing
    start = time.perf_counter()
    steps = 0
    while time.perf_counter() - start < seconds:
        run.step()
        steps += 1
    out["steps_per_s"] = steps / (time.perf_counter() - start)


def bench_headless(data, spec, seconds: float, main_thread: bool = False) -> dict:
    """TrainingRun.step() in a loop, in a plain thread like the worker's (or the main thread).

    On a loaded 2-core machine the main thread was measured 5-20x slower than any
    other thread for the same loop (Numba's OpenMP team of the main thread), so the
    fair baseline for the worker is a thread too; both are reported.
    """
    out: dict = {}
    if main_thread:
        _step_loop(data, spec, seconds, out)
    else:
        thread = threading.Thread(target=_step_loop, args=(data, spec, seconds, out))
        thread.start()
        thread.join()
    return {"steps_per_s": out["steps_per_s"], "fps": 0.0, "gui_ms_per_frame": 0.0,
            "gui_cpu_percent": 0.0}


def _run_until(app, seconds: float) -> float:
    """Run a real event loop for ``seconds`` (it sleeps when idle, like the app's;
    a processEvents() polling loop would keep a core busy). Returns the CPU seconds
    the GUI thread used meanwhile."""
    from PyQt6.QtCore import QEventLoop, QTimer
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    cpu = time.thread_time()
    loop.exec()
    return time.thread_time() - cpu


def bench_worker(app, data, spec, seconds: float) -> dict:
    from gui.labs.training.worker import TrainingWorker
    from gui.workers.threads import stop_worker
    run = _run(data, spec)
    run.step()
    trainer = run.trainer
    w = TrainingWorker(run, data[2][0], running=True, live_views=False)
    frames = []

    def on_frame(frame):
        frames.append(frame.iteration)
        w.frame_consumed()

    w.frame.connect(on_frame)
    w.start()
    _run_until(app, 1.0)  # settle: the first frame and epoch-0 evaluation
    it0, t0, n0 = trainer.iteration, time.perf_counter(), len(frames)
    gui_cpu = _run_until(app, seconds)
    it1, t1, n1 = trainer.iteration, time.perf_counter(), len(frames)
    stop_worker(w, timeout_s=5)
    w.frame.disconnect(on_frame)
    app.processEvents()  # deliver what was queued before the thread object goes
    w.deleteLater()
    app.processEvents()
    return {"steps_per_s": (it1 - it0) / (t1 - t0), "fps": (n1 - n0) / (t1 - t0),
            "gui_ms_per_frame": 0.0, "gui_cpu_percent": 100 * gui_cpu / (t1 - t0)}


def bench_lab(app, data, spec, seconds: float, tab: int, hidden: bool = False,
              idle_validation: bool = True) -> dict:
    """The lab training with its live views on the tab ``tab``; ``hidden``: another lab
    is shown (training goes on, nothing is drawn); ``idle_validation=False``: the epoch
    validation at normal priority instead of SCHED_IDLE (to measure what that gains)."""
    import gui.labs.training.worker as worker_module
    from gui.labs.training.blocks import spec_to_blocks
    from gui.labs.training.lab import TrainingLab
    from gui.workers.threads import stop_all
    set_idle = worker_module._set_idle
    if not idle_validation:
        worker_module._set_idle = lambda tid: None
    lab = TrainingLab(data=data)
    lab.resize(1400, 900)
    lab.show()
    blocks, head = spec_to_blocks(spec)
    lab.builder.set_blocks(blocks, head)
    lab.session.set_spec(lab.builder.spec())
    lab.set_config(_config(1000))
    lab.reset()
    lab.tabs.setCurrentIndex(tab)
    # The GUI time per frame is the GUI thread's CPU time over the run divided by the
    # frames drawn: it includes the slot, the painting that the event loop does
    # afterwards and everything else the lab asks of that thread. (Timing the slot
    # with a forced repaint() would paint the whole window twice per frame: the
    # graphics scenes process their changes later, in the event loop, anyway.)
    lab.start()
    if hidden:
        lab.deactivated()
    _run_until(app, 1.0)
    it0, f0, t0 = lab.trainer.iteration, lab.frames_drawn, time.perf_counter()
    gui_cpu = _run_until(app, seconds)
    it1, f1, t1 = lab.trainer.iteration, lab.frames_drawn, time.perf_counter()
    lab.shutdown()
    stop_all(timeout_s=5)
    lab.close()
    lab.deleteLater()
    app.processEvents()
    worker_module._set_idle = set_idle
    frames = f1 - f0
    return {"steps_per_s": (it1 - it0) / (t1 - t0), "fps": frames / (t1 - t0),
            "gui_ms_per_frame": 1000 * gui_cpu / frames if frames else 0.0,
            "gui_cpu_percent": 100 * gui_cpu / (t1 - t0)}


def bench_network(app, data, spec, seconds: float, looking: bool = True) -> dict:
    """Training in the background while the Network lab is shown; ``looking=False``: the
    Network lab shown without a model (the baseline: another lab in front of training)."""
    from gui.labs.network.lab import NetworkLab
    from gui.labs.training.blocks import spec_to_blocks
    from gui.labs.training.lab import TrainingLab
    from gui.workers.threads import stop_all
    training = TrainingLab(data=data)
    blocks, head = spec_to_blocks(spec)
    training.builder.set_blocks(blocks, head)
    training.session.set_spec(training.builder.spec())
    training.set_config(_config(1000))
    training.reset()
    lab = NetworkLab(finder=(lambda key, build: training) if looking else
                     (lambda key, build: None))
    lab.resize(1210, 860)
    training.start()
    training.deactivated()  # what the shell does when another lab is shown
    lab.show()
    lab.activated()
    if looking:  # a conv2 neuron open, as a learner would have
        from engine.neuron import Neuron
        _run_until(app, 1.0)
        lab.session.select(Neuron(3, (5, 7, 7)))
    _run_until(app, 1.0)
    refreshes0 = lab.session.refreshes
    worker = lab._worker
    tid = worker.native_id if worker is not None else None
    it0, t0, w0 = training.trainer.iteration, time.perf_counter(), _thread_cpu(tid)
    gui_cpu = _run_until(app, seconds)
    it1, t1, w1 = training.trainer.iteration, time.perf_counter(), _thread_cpu(tid)
    refreshes = lab.session.refreshes - refreshes0
    lab.shutdown()
    training.shutdown()
    stop_all(timeout_s=5)
    for widget in (lab, training):
        widget.close()
        widget.deleteLater()
    app.processEvents()
    return {"steps_per_s": (it1 - it0) / (t1 - t0), "fps": refreshes / (t1 - t0),
            "gui_ms_per_frame": 1000 * gui_cpu / refreshes if refreshes else 0.0,
            "gui_cpu_percent": 100 * gui_cpu / (t1 - t0),
            "worker_cpu_percent": 100 * (w1 - w0) / (t1 - t0)}


def _thread_cpu(tid: int | None) -> float:
    """CPU seconds thread ``tid`` of this process has used (Linux /proc; 0 elsewhere)."""
    if tid is None:
        return 0.0
    try:
        with open(f"/proc/self/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _ratios(runs: list[dict], headless: list[dict]) -> dict:
    """Throughput against the headless runs, three ways. Per round (each case's run
    against the headless run of the same round: robust to the load of a shared
    machine drifting between rounds) the median and the quartiles, whose distance
    shows the noise; and pooled, all the steps over all the headless steps (every
    run lasts the same time), which a few noisy rounds move least."""
    per_round = sorted(r["steps_per_s"] / h["steps_per_s"]
                       for r, h in zip(runs, headless, strict=True))
    quartiles = (statistics.quantiles(per_round, n=4) if len(per_round) > 1
                 else per_round * 3)
    return {"throughput_vs_headless": statistics.median(per_round),
            "throughput_vs_headless_q1": quartiles[0],
            "throughput_vs_headless_q3": quartiles[2],
            "throughput_vs_headless_pooled": (sum(r["steps_per_s"] for r in runs)
                                              / sum(h["steps_per_s"] for h in headless))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measured time per run")
    parser.add_argument("--repeat", type=int, default=12,
                        help="interleaved rounds (many short ones: the noise of a shared "
                             "machine comes and goes within seconds)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--only", default=None,
                        help="comma-separated words: run only the cases whose names contain one "
                             "of them (headless always runs: the ratios are to it)")
    parser.add_argument("--omp-passive", action="store_true",
                        help="set OMP_WAIT_POLICY=passive before Numba starts its OpenMP "
                             "threads (idle threads sleep instead of spinning)")
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="sys.setswitchinterval (seconds) for the run")
    args = parser.parse_args(argv)
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    if args.omp_passive:
        os.environ["OMP_WAIT_POLICY"] = "passive"  # read when the OpenMP runtime starts

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtWidgets import QApplication
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from engine.warmup import warmup
    warmup()
    data, spec = _data_and_spec()

    cases = {
        "headless": lambda: bench_headless(data, spec, args.seconds),
        "headless (main thread)": lambda: bench_headless(data, spec, args.seconds, True),
        "worker (no views)": lambda: bench_worker(app, data, spec, args.seconds),
        "lab, Curves tab": lambda: bench_lab(app, data, spec, args.seconds, 0),
        "lab, Feature & delta maps tab": lambda: bench_lab(app, data, spec, args.seconds, 1),
        "lab, Curves, validation normal": lambda: bench_lab(app, data, spec, args.seconds, 0,
                                                            idle_validation=False),
        "lab hidden (another lab shown)": lambda: bench_lab(app, data, spec, args.seconds, 0,
                                                            hidden=True),
        "network: another lab shown": lambda: bench_network(app, data, spec, args.seconds,
                                                            looking=False),
        "network: Network lab looking": lambda: bench_network(app, data, spec, args.seconds),
    }
    if args.only:
        words = [w.strip().lower() for w in args.only.split(",") if w.strip()]
        cases = {name: run for name, run in cases.items()
                 if name == "headless" or any(w in name.lower() for w in words)}
    results: dict[str, list[dict]] = {name: [] for name in cases}
    for _ in range(args.repeat):
        for name, run in cases.items():
            results[name].append(run())

    summary = {}
    for name, runs in results.items():
        summary[name] = {key: statistics.median(r.get(key, 0.0) for r in runs)
                         for key in runs[0]}
        summary[name].update(_ratios(runs, results["headless"]))

    base, looking = "network: another lab shown", "network: Network lab looking"
    network_cost = None
    if base in results and looking in results:
        # what looking costs training: the ratio of the two, round by round
        ratio = statistics.median(r["steps_per_s"] / b["steps_per_s"]
                                  for r, b in zip(results[looking], results[base],
                                                  strict=True))
        network_cost = {"training_vs_another_lab": ratio,
                        "refreshes_per_s": summary[looking]["fps"]}
    if args.json:
        print(json.dumps({"seconds": args.seconds, "repeat": args.repeat,
                          "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
                          "cpu_count": os.cpu_count(), "results": summary,
                          "network_cost": network_cost, "rounds": results}, indent=2))
        return 0
    policy = os.environ.get("OMP_WAIT_POLICY", "default")
    print(f"OMP_WAIT_POLICY={policy}. Training lab benchmark: DEFAULT_SPEC, batch 64, "
          f"{args.seconds:g} s per run, "
          f"median of {args.repeat} interleaved rounds (ratios per round, their quartiles, "
          f"and pooled: all steps over all headless steps), {os.cpu_count()} CPUs")
    print(f"{'case':32s} {'steps/s':>9s} {'vs headless':>12s} {'(quartiles)':>13s} "
          f"{'pooled':>7s} {'frames/s':>9s} {'GUI ms/frame':>13s} {'GUI CPU %':>10s}")
    for name, row in summary.items():
        quartiles = (f"{row['throughput_vs_headless_q1']:.0%}-"
                     f"{row['throughput_vs_headless_q3']:.0%}")
        print(f"{name:32s} {row['steps_per_s']:9.1f} {row['throughput_vs_headless']:11.0%} "
              f"{quartiles:>13s} {row['throughput_vs_headless_pooled']:7.0%} "
              f"{row['fps']:9.1f} {row['gui_ms_per_frame']:13.1f} "
              f"{row['gui_cpu_percent']:10.1f}")
    if network_cost is not None:
        ratio = network_cost["training_vs_another_lab"]
        row = summary[looking]
        print(f"Network lab looking vs another lab shown: training at {ratio:.1%} "
              f"(cost {1 - ratio:.1%}), {network_cost['refreshes_per_s']:.1f} refreshes/s; "
              f"CPU of the lab: GUI thread {row['gui_cpu_percent']:.1f} % + its worker "
              f"{row['worker_cpu_percent']:.1f} % of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
