"""The command line (main.py): arguments, one-line errors, and a short real train + evaluate.

Most tests call ``main.main(argv)`` in-process and read its exit code and stderr;
a bad argument or a bad file must give exit code 2 and exactly one line
``error: ...``, never a traceback.
"""

import os
import pathlib
import subprocess
import sys
import types

import numpy as np
import pytest

import main as cli

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY_SPEC = [{"type": "flatten"}, {"type": "dense", "units": 10}]


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(code, err, *words):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]


# --------------------------------------------------------------------------- help

def test_help_in_a_subprocess_is_fast_to_import_and_loads_no_qt():
    code = (
        "import sys, main\n"
        "rc = main.main(['--help'])\n"
        "heavy = [m for m in ('PyQt6', 'pyqtgraph', 'numba', 'gui', 'engine.network')\n"
        "         if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(rc)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for command in ("train", "evaluate", "bench", "screenshot"):
        assert command in result.stdout
    assert "HEAVY []" in result.stdout


def test_main_py_help_as_a_script():
    result = subprocess.run([sys.executable, "main.py", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "usage:" in result.stdout and result.stderr == ""


@pytest.mark.parametrize("command, word", [("train", "--epochs"), ("evaluate", "--model"),
                                           ("screenshot", "--lab")])
def test_each_subcommand_has_help(capsys, command, word):
    code, out, err = run([command, "--help"], capsys)
    assert code == 0 and word in out and err == ""


# --------------------------------------------------------------------------- bad arguments

@pytest.mark.parametrize(
    "argv, words",
    [
        (["frobnicate"], ["invalid choice", "frobnicate"]),
        (["train", "--epochs", "0"], ["--epochs", "at least 1"]),
        (["train", "--epochs", "many"], ["--epochs", "many"]),
        (["train", "--seed", "1.5"], ["--seed"]),
        (["train", "--bogus"], ["--bogus"]),
        (["evaluate"], ["--model", "--data"]),
        (["evaluate", "--model", "m.npz"], ["--data"]),
        (["screenshot"], ["--out"]),
    ],
)
def test_bad_arguments_give_one_error_line(capsys, argv, words):
    code, out, err = run(argv, capsys)
    assert_one_error_line(code, err, *words)
    assert out == ""


def test_train_checks_the_output_folder_before_training(capsys, tmp_path):
    code, out, err = run(["train", "--out", str(tmp_path / "missing" / "m.npz")], capsys)
    assert_one_error_line(code, err, "does not exist")
    code, out, err = run(["train", "--out", str(tmp_path)], capsys)
    assert_one_error_line(code, err, "folder")


# --------------------------------------------------------------------------- bad files

@pytest.fixture
def tiny_model(tmp_path):
    from engine.network import Network

    path = tmp_path / "tiny.npz"
    Network(TINY_SPEC, input_shape=(1, 28, 28), seed=1).save(path)
    return path


@pytest.fixture
def digits(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "digits.npz"
    np.savez(path, images=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
             labels=rng.integers(0, 10, 20))
    return path


def test_evaluate_a_missing_model(capsys, tmp_path, digits):
    code, _, err = run(["evaluate", "--model", str(tmp_path / "nope.npz"), "--data", str(digits)],
                       capsys)
    assert_one_error_line(code, err)


def test_evaluate_a_model_that_is_not_npz(capsys, tmp_path, digits):
    model = tmp_path / "model.npz"
    model.write_text("not a model\n")
    code, _, err = run(["evaluate", "--model", str(model), "--data", str(digits)], capsys)
    assert_one_error_line(code, err)


def test_evaluate_a_truncated_model(capsys, tmp_path, tiny_model, digits):
    data = tiny_model.read_bytes()
    tiny_model.write_bytes(data[: len(data) // 2])
    code, _, err = run(["evaluate", "--model", str(tiny_model), "--data", str(digits)], capsys)
    assert_one_error_line(code, err)


@pytest.mark.parametrize("meta", [
    # a stored network far too large to allocate
    '{"format": "cnn-explorer-model", "version": 1, "input_shape": [1, 28, 28], '
    '"spec": [{"type": "flatten"}, {"type": "dense", "units": 1099511627776}]}',
    # a description nested 100,000 levels deep
    '{"format": "cnn-explorer-model", "version": 1, "input_shape": [1, 28, 28], "spec": '
    + "[" * 100_000 + "]" * 100_000 + "}",
    # a version number that is not a number
    '{"format": "cnn-explorer-model", "version": Infinity, "spec": [], "input_shape": [1, 28, 28]}',
], ids=["huge-network", "deep-json", "infinite-version"])
def test_evaluate_a_hostile_model_description(capsys, tmp_path, digits, meta):
    model = tmp_path / "model.npz"
    np.savez(model, __meta__=np.array(meta))
    code, _, err = run(["evaluate", "--model", str(model), "--data", str(digits)], capsys)
    assert_one_error_line(code, err, "model.npz")


def test_evaluate_a_model_with_wrong_array_shapes(capsys, tmp_path, tiny_model, digits):
    with np.load(tiny_model, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    weights = [k for k, v in arrays.items() if v.ndim == 2]
    assert weights, "the tiny model stores a 2-D dense weight"
    arrays[weights[0]] = np.zeros((3, 3), np.float32)
    np.savez(tiny_model, **arrays)
    code, _, err = run(["evaluate", "--model", str(tiny_model), "--data", str(digits)], capsys)
    assert_one_error_line(code, err)


@pytest.mark.parametrize(
    "write, words",
    [
        (lambda p: p.write_bytes(b"\x00\x01garbage"), ["npz"]),
        (lambda p: np.savez(p, images=np.zeros((4, 32, 32), np.uint8), labels=np.zeros(4, int)),
         ["28, 28"]),
        (lambda p: np.savez(p, images=np.zeros((4, 28, 28), np.uint8), labels=np.zeros(3, int)),
         ["4 images but 3 labels"]),
        (lambda p: np.savez(p, pictures=np.zeros((4, 28, 28), np.uint8)), ["images", "labels"]),
    ],
)
def test_evaluate_bad_data_files(capsys, tmp_path, tiny_model, write, words):
    data = tmp_path / "data.npz"
    write(data)
    code, _, err = run(["evaluate", "--model", str(tiny_model), "--data", str(data)], capsys)
    assert_one_error_line(code, err, *words)


def test_evaluate_missing_data_file(capsys, tmp_path, tiny_model):
    code, _, err = run(["evaluate", "--model", str(tiny_model), "--data",
                        str(tmp_path / "none.npz")], capsys)
    assert_one_error_line(code, err, "no such file")


def test_evaluate_a_model_for_other_images(capsys, tmp_path, digits):
    from engine.network import Network

    model = tmp_path / "cifar.npz"
    Network(TINY_SPEC, input_shape=(3, 32, 32), seed=0).save(model)
    code, _, err = run(["evaluate", "--model", str(model), "--data", str(digits)], capsys)
    assert_one_error_line(code, err, "(3, 32, 32)")


def test_evaluate_counts_correct_predictions(capsys, tiny_model, digits):
    from engine.data import load_npz_dataset, to_float_images
    from engine.network import Network

    code, out, err = run(["evaluate", "--model", str(tiny_model), "--data", str(digits)], capsys)
    assert code == 0, err
    images, labels = load_npz_dataset(digits)
    logits = Network.load(tiny_model).forward(to_float_images(images))  # (20, 10)
    correct = int(np.sum(np.argmax(logits, axis=1) == labels))
    assert f"({correct} of 20 correct)" in out
    assert f"{100 * correct / 20:.2f}%" in out


# --------------------------------------------------------------------------- delegation

def test_bench_bad_argument_gives_one_error_line(capsys):
    code, _, err = run(["bench", "--workloads", "W9", "--no-warm-start"], capsys)
    assert_one_error_line(code, err, "W9")


def test_bench_passes_every_argument_through(capsys, monkeypatch):
    seen = []
    fake = types.ModuleType("benchmarks.bench")
    fake.main = lambda argv, parser_class=None: seen.append(list(argv)) or 0
    import benchmarks
    monkeypatch.setitem(sys.modules, "benchmarks.bench", fake)
    monkeypatch.setattr(benchmarks, "bench", fake, raising=False)
    assert cli.main(["bench", "--json", "--only", "W6", "-n", "3"]) == 0
    assert cli.main(["bench"]) == 0
    assert seen == [["--json", "--only", "W6", "-n", "3"], []]


def test_screenshot_and_window_call_the_gui(capsys, monkeypatch, tmp_path):
    calls = []
    fake = types.ModuleType("gui.app")
    fake.DEFAULT_SIZE = (1400, 900)
    fake.render_screenshots = lambda out, lab, size, language: calls.append(
        (out, lab, size, language)) or [f"{out}/x.png"]
    fake.run_app = lambda language: calls.append(("window", language)) or 0
    import gui
    monkeypatch.setitem(sys.modules, "gui.app", fake)
    monkeypatch.setattr(gui, "app", fake, raising=False)
    assert cli.main(["screenshot", "--out", str(tmp_path), "--lab", "pooling"]) == 0
    assert cli.main(["screenshot", "--out", str(tmp_path), "--size", "1280x720"]) == 0
    assert cli.main(["screenshot", "--lang", "zh_CN", "--out", str(tmp_path)]) == 0
    assert cli.main(["--lang", "zh-CN", "screenshot", "--out", str(tmp_path)]) == 0
    assert cli.main([]) == 0
    assert cli.main(["--lang", "en"]) == 0
    assert cli.main(["--lang=zh_CN"]) == 0
    assert calls == [(str(tmp_path), "pooling", (1400, 900), None),
                     (str(tmp_path), None, "1280x720", None),
                     (str(tmp_path), None, (1400, 900), "zh_CN"),
                     (str(tmp_path), None, (1400, 900), "zh_CN"),
                     ("window", None), ("window", "en"), ("window", "zh_CN")]
    assert "x.png" in capsys.readouterr().out


def test_gui_errors_become_one_line(capsys, monkeypatch, tmp_path):
    fake = types.ModuleType("gui.app")

    def render_screenshots(out, lab, size, language):
        raise ValueError(f"there is no lab called {lab!r}\n(choose one of ...)")

    fake.render_screenshots = render_screenshots
    fake.DEFAULT_SIZE = (1400, 900)
    import gui
    monkeypatch.setitem(sys.modules, "gui.app", fake)
    monkeypatch.setattr(gui, "app", fake, raising=False)
    code, _, err = run(["screenshot", "--out", str(tmp_path), "--lab", "nope"], capsys)
    assert_one_error_line(code, err, "no lab called 'nope'")


# --------------------------------------------------------------------------- progress bar

class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_progress_bar_in_a_log_writes_finished_lines_and_slow_updates(monkeypatch):
    import io

    clock = FakeClock()
    monkeypatch.setattr(cli.time, "monotonic", clock)
    stream = io.StringIO()  # not a terminal
    bar = cli.ProgressBar(stream, width=10)
    for i in range(5):
        clock.now += 0.5
        bar.update("epoch 1/2", i / 5, "loss 1.0")
    assert stream.getvalue() == ""
    clock.now += 6.0  # a slow step: a log shows that work is still going on
    bar.update("epoch 1/2", 0.5, "loss 0.9")
    bar.update("epoch 1/2", 1.0, "loss 0.8", final=True)
    lines = stream.getvalue().splitlines()
    assert lines == ["epoch 1/2 [#####-----]  50.0%  loss 0.9",
                     "epoch 1/2 [##########] 100.0%  loss 0.8"]


def test_progress_bar_on_a_terminal_redraws_in_place(monkeypatch):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    clock = FakeClock()
    monkeypatch.setattr(cli.time, "monotonic", clock)
    stream = Terminal()
    bar = cli.ProgressBar(stream, width=4)
    bar.update("x", 0.25)
    clock.now += 0.01
    bar.update("x", 0.5)  # too soon: skipped
    clock.now += 0.2
    bar.update("x", 0.75)
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 2 and "[#---]" in text and "[###-]" in text
    assert "[##--]" not in text and text.endswith("\n")


# --------------------------------------------------------------------------- real run

@pytest.mark.slow
def test_short_train_then_evaluate(capsys, tmp_path):
    from engine.data import load_embedded_mnist
    from engine.network import Network

    model = tmp_path / "model.npz"
    code, out, err = run(["train", "--epochs", "1", "--limit", "256", "--seed", "3",
                          "--out", str(model)], capsys)
    assert code == 0, err
    assert model.exists()
    assert "validation accuracy:" in out and "training time:" in out
    assert "Traceback" not in err and "epoch  1/1" in err

    images, labels = load_embedded_mnist()
    data = tmp_path / "digits.npz"
    np.savez(data, images=images[-50:], labels=labels[-50:])
    code, out, err = run(["evaluate", "--model", str(model), "--data", str(data)], capsys)
    assert code == 0, err
    predictions = Network.load(model).predict(images[-50:, None].astype(np.float32) / 255)
    correct = int(np.sum(predictions == labels[-50:]))
    assert f"({correct} of 50 correct)" in out


# --------------------------------------------------------------------------- hostile --out and
# --data (issue 9, items 8, 9, 17)

@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if train starts warming up or training."""
    from engine import recipe

    monkeypatch.setattr(recipe, "train", lambda **kw: pytest.fail("trained before checking"))
    monkeypatch.setattr(cli, "_warmup", lambda bar: pytest.fail("warmed up before checking"))


@pytest.mark.parametrize("out, words", [
    ("/proc/x.npz", "cannot write"),
    ("", "no file name"),
    ("m" * 300 + ".npz", "too long"),
])
def test_train_refuses_an_unwritable_out_before_training(capsys, monkeypatch, tmp_path,
                                                        no_training, out, words):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["train", "--out", out], capsys)
    assert_one_error_line(code, err, words)
    assert list(tmp_path.iterdir()) == []


def test_train_refuses_an_out_that_is_not_a_regular_file(capsys, tmp_path, no_training):
    import os

    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    link = tmp_path / "link.npz"
    link.symlink_to(tmp_path)
    for target in (fifo, link):
        code, _, err = run(["train", "--out", str(target)], capsys)
        assert_one_error_line(code, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo.npz", "link.npz"]


def _main_py(*argv, timeout=120, **kwargs):
    return subprocess.run([sys.executable, "main.py", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)


def test_evaluate_refuses_devices_and_fifos_in_one_line(tmp_path, tiny_model, digits):
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # subprocesses: a FIFO that were opened would block (timeout: a hang guard only)
    for args, words in ((["--model", str(tiny_model), "--data", "/dev/zero"], "device"),
                        (["--model", str(tiny_model), "--data", str(fifo)], "FIFO"),
                        (["--model", str(fifo), "--data", str(digits)], "FIFO")):
        result = _main_py("evaluate", *args)
        assert_one_error_line(result.returncode, result.stderr, words)


# --------------------------------------------------------------------------- --lang

def test_lang_sets_the_language_of_the_help_and_of_the_errors(capsys):
    code, out, err = run(["--lang", "zh_CN", "--help"], capsys)
    assert code == 0 and err == ""
    assert "用法" in out and "训练默认网络" in out and "显示此帮助信息并退出" in out
    code, out, err = run(["train", "--lang", "zh_CN", "--epochs", "0"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("错误：")
    assert "--epochs" in lines[0] and "至少为 1" in lines[0]
    # called from Python, main() leaves the language as it found it
    code, out, err = run(["train", "--epochs", "0"], capsys)
    assert_one_error_line(code, err, "--epochs", "at least 1")


def test_lang_refuses_a_language_the_app_does_not_have(capsys):
    code, out, err = run(["--lang", "fr"], capsys)
    assert_one_error_line(code, err, "--lang", "'fr'", "en, zh_CN")
    assert out == ""


def test_the_command_line_follows_the_system_locale():
    env = {**os.environ, "LANGUAGE": "zh_CN:en", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "main.py", "evaluate"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("错误：") and "--model" in result.stderr
    result = subprocess.run([sys.executable, "main.py", "--lang", "en", "evaluate"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.startswith("error: ")


# --------------------------------------------------------------------------- --version, bench

def test_version_prints_the_package_version():
    from importlib.metadata import version

    import engine

    result = _main_py("--version")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == f"CNN Explorer {engine.__version__}\n"
    assert version("cnn-explorer") == engine.__version__  # pyproject reads the same


def test_bench_without_torch_says_so_in_one_line():
    code = ("import sys; sys.modules['torch'] = None  # import torch now fails\n"
            "import main\n"
            "sys.exit(main.main(['bench', '--json', '--workloads', 'W1', '--repeat', '1', "
            "'--no-reference', '--no-warm-start', '--pause', '0']))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "PyTorch is not installed" in lines[0], result.stderr
    import json
    assert "torch" not in json.loads(result.stdout)["workloads"]["W1"]["ms"]


# --------------------------------------------------------------------------- Ctrl-C (item 18)

def _interrupt_repeatedly(argv, ready, interval=0.003):
    """Start main.py, wait until ``ready(proc, stderr_lines)``, then send SIGINT every few
    milliseconds until it exits. Returns (exit code, stderr, signals sent)."""
    import signal
    import threading
    import time

    proc = subprocess.Popen([sys.executable, "main.py", *argv], cwd=ROOT, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        for _ in range(120_000):  # until ready (bounded: at most a few minutes)
            if ready(proc, lines) or proc.poll() is not None:
                break
            time.sleep(0.001)
        sent = 0
        while proc.poll() is None and sent < 20_000:
            proc.send_signal(signal.SIGINT)
            sent += 1
            time.sleep(interval)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=30)
    return proc.returncode, "".join(lines), sent


def _kernels_loading(proc, lines):
    """main.py is running: Numba's compiler library is being loaded (Linux /proc)."""
    try:
        with open(f"/proc/{proc.pid}/maps") as maps:
            return "llvmlite" in maps.read()
    except OSError:
        return False


def _training(proc, lines):
    return any("preparing kernels" in line for line in lines)


@pytest.mark.slow
@pytest.mark.parametrize("ready", [_kernels_loading, _training], ids=["loading", "training"])
def test_ctrl_c_pressed_every_few_milliseconds_gives_one_line_and_exit_130(tmp_path, ready):
    import pathlib as pl

    if ready is _kernels_loading and not pl.Path("/proc/self/maps").exists():
        pytest.skip("needs /proc")
    out = tmp_path / "model.npz"
    out.write_bytes(b"an earlier model")
    for _ in range(3):
        code, err, sent = _interrupt_repeatedly(
            ["train", "--epochs", "20", "--limit", "2048", "--out", str(out)], ready)
        assert sent >= 1
        assert code == 130, err
        assert "Traceback" not in err and "Exception ignored" not in err, err
        lines = err.strip().splitlines()
        assert lines[-1] == "interrupted" and lines.count("interrupted") == 1, err
        assert all(line.startswith(("preparing kernels", "epoch")) for line in lines[:-1]), err
        assert out.read_bytes() == b"an earlier model"  # nothing saved changes
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]
