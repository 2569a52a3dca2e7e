"""Numba options live in engine/_numba.py, including the OpenMP wait policy."""

import ast
import subprocess
import sys

import numpy as np
import pytest


def _policy_after_import(env_value):
    code = ("import os\n"
            + (f"os.environ['OMP_WAIT_POLICY'] = {env_value!r}\n" if env_value else
               "os.environ.pop('OMP_WAIT_POLICY', None)\n")
            + "import engine._numba\nprint(os.environ['OMP_WAIT_POLICY'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout.strip()


def test_openmp_threads_sleep_instead_of_spinning_by_default():
    # spinning OpenMP threads starve the working thread on a busy two-core machine
    assert _policy_after_import(None) == "PASSIVE"


def test_a_policy_the_user_set_wins():
    assert _policy_after_import("ACTIVE") == "ACTIVE"


def test_cache_folder_changes_with_any_kernel_source_but_not_other_modules(tmp_path):
    from engine._numba import _kernel_sources_digest

    (tmp_path / "_numba.py").write_text("options\n")
    (tmp_path / "_flat.py").write_text("from ._numba import kernel\nloops\n")
    (tmp_path / "network.py").write_text("no kernels here\n")
    first = _kernel_sources_digest(tmp_path)
    (tmp_path / "network.py").write_text("still no kernels\n")
    assert _kernel_sources_digest(tmp_path) == first
    # an inlined helper changed: every cached kernel must be compiled afresh
    (tmp_path / "_flat.py").write_text("from ._numba import kernel\nbetter loops\n")
    assert _kernel_sources_digest(tmp_path) != first


def test_kernels_are_cached_in_the_versioned_folder():
    import numba

    import engine._numba  # noqa: F401

    assert "numba-" in numba.config.CACHE_DIR


# ----------------------------------------------------------------- no writable cache (issue 9, 19)

def _engine_copy(tmp_path, engine_writable: bool):
    """A copy of the engine package whose own cache folder can (or cannot) be written.

    The test runs as any user, root included, for whom permission bits do not stop a
    write: a regular *file* named __pycache__ makes the folder impossible to create.
    """
    import pathlib
    import shutil

    source = pathlib.Path(__file__).resolve().parents[2] / "engine"
    copy = tmp_path / "pkg" / "engine"
    copy.mkdir(parents=True)
    for path in source.glob("*.py"):
        shutil.copy(path, copy / path.name)
    if not engine_writable:
        (copy / "__pycache__").write_text("not a folder")
    return copy.parent


def _home(tmp_path, cache_writable: bool):
    home = tmp_path / "home"
    home.mkdir()
    if not cache_writable:
        (home / ".cache").write_text("not a folder")
    return home


_RELU = ("import numpy as np\n"
         "from engine.activations import relu_forward\n"
         "print(relu_forward(np.array([-1.0, 2.0])).tolist())\n")


def _run_copy(pkg, home, code=_RELU):
    import os

    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "PYTHONPATH")}
    env.update(HOME=str(home), PYTHONPATH=str(pkg))
    return subprocess.run([sys.executable, "-c", code], cwd=pkg, env=env, capture_output=True,
                          text=True, timeout=300)


def test_no_writable_cache_falls_back_to_no_cache_with_one_warning_line(tmp_path):
    pkg = _engine_copy(tmp_path, engine_writable=False)
    result = _run_copy(pkg, _home(tmp_path, cache_writable=False))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[0.0, 2.0]"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot be cached" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.needs_jit  # without the JIT nothing is compiled, so nothing is cached
def test_a_read_only_engine_folder_caches_in_the_user_cache_folder(tmp_path):
    pkg = _engine_copy(tmp_path, engine_writable=False)
    home = _home(tmp_path, cache_writable=True)
    first = _run_copy(pkg, home)
    assert first.returncode == 0 and first.stderr == "", first.stderr
    cached = list((home / ".cache" / "cnn-explorer").glob("numba-*/**/*.nbi"))
    assert cached, "no kernel was cached in ~/.cache/cnn-explorer"
    second = _run_copy(pkg, home)  # loads what the first run wrote
    assert second.returncode == 0 and second.stdout == first.stdout


def test_the_chosen_cache_folder_wins_only_when_it_can_be_written(tmp_path):
    import pathlib

    from engine._numba import choose_cache_dir

    engine_dir = pathlib.Path(__file__).resolve().parents[2] / "engine"
    blocked = tmp_path / "file"
    blocked.write_text("x")
    user = tmp_path / "user-cache"
    assert choose_cache_dir(engine_dir, user, str(tmp_path / "mine")) == tmp_path / "mine"
    fallback = choose_cache_dir(engine_dir, user, str(blocked / "sub"))
    assert fallback is not None and fallback.name.startswith("numba-")


# ----------------------------------------------------------------- vector width (issue 14)

def _features_after_import(env_features):
    import os
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CPU_FEATURES"}
    if env_features is not None:
        env["NUMBA_CPU_FEATURES"] = env_features
    code = ("import numba, engine._numba as n\n"
            "print(repr(numba.config.CPU_FEATURES)); print(n.VECTOR_LANES)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True, env=env)
    features, lanes = out.stdout.strip().splitlines()
    return ast.literal_eval(features), int(lanes)  # the repr of a str or None


def test_full_vector_width_where_the_cpu_has_512_bit_vectors():
    import llvmlite.binding as llvm
    host = llvm.get_host_cpu_features().flatten()
    features, lanes = _features_after_import(None)
    if "+avx512f" in host.split(","):
        assert features == host + ",-prefer-256-bit" and lanes == 16
    else:  # nothing to lift: LLVM's own choice, untouched
        assert features is None and lanes in (4, 8)


def test_cpu_features_the_user_chose_win():
    features, lanes = _features_after_import("+avx,+avx2,+fma")
    assert features == "+avx,+avx2,+fma" and lanes == 8


@pytest.mark.parametrize("features,lanes", [
    ("+sse2,+avx,+avx2,+avx512f,-prefer-256-bit", 16),
    ("+sse2,+avx,+avx2,+fma,-avx512f", 8),
    ("+sse2,-avx", 4),
    ("+neon", 4),
    ("", 4),
])
def test_vector_lanes_follow_the_features(features, lanes):
    from engine._numba import vector_lanes
    assert vector_lanes(features) == lanes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stack_array_holds_what_a_kernel_writes(dtype):
    from engine._numba import kernel, stack_array

    @kernel
    def twice_then_sum(x):
        a = stack_array(x, 3, 5)
        for i in range(3):
            for j in range(5):
                a[i, j] = 2 * x[i, j]
        total = x[0, 0] - x[0, 0]
        for i in range(3):
            for j in range(5):
                total += a[i, j]
        return total, a.shape[0], a.shape[1]

    x = np.arange(15, dtype=dtype).reshape(3, 5)
    assert twice_then_sum(x) == (2 * x.sum(), 3, 5)


@pytest.mark.needs_jit  # the dispatchers' signatures exist only when they compile
def test_float32_kernels_run_in_parallel_and_float64_ones_serially():
    # engine._numba.ParallelFloat32: float64 (small examples, gradient checks) compiles
    # serially, a fraction of a parallel kernel's first-start compilation
    import engine
    from engine import conv_backward, conv_forward, dense, pooling
    from engine._numba import ParallelFloat32

    for dtype in (np.float32, np.float64):
        x = np.ones((2, 1, 4, 4), dtype=dtype)
        w = np.ones((2, 1, 3, 3), dtype=dtype)
        y = engine.conv2d_forward(x, w, np.zeros(2, dtype=dtype), 1, 1)
        engine.conv2d_backward(np.ones_like(y), x, w, 1, 1)
        # float64 plain convolutions take the direct loops; the fused block keeps the flat
        # kernels in both dtypes
        z, winners = conv_forward.conv2d_relu_pool_forward(x, w, np.zeros(2, dtype=dtype), 1, 1)
        conv_backward.conv2d_relu_pool_backward(np.ones_like(z), winners, x, w, 1, 1)
        p, a = engine.max_pool2d_forward(x, 2, 2)
        engine.max_pool2d_backward(np.ones_like(p), a, x.shape)
        q = engine.avg_pool2d_forward(x, 2, 2)
        engine.avg_pool2d_backward(np.ones_like(q), x.shape, 2, 2)
        d = engine.dense_forward(x.reshape(2, -1), np.ones((16, 3), dtype), np.zeros(3, dtype))
        engine.dense_backward(np.ones_like(d), x.reshape(2, -1), np.ones((16, 3), dtype))
    kernels = [conv_forward._conv_forward_kernel, conv_backward._conv_backward_kernel,
               dense._dense_forward_kernel, dense._dense_backward_kernel,
               pooling._max_pool_forward_kernel, pooling._max_pool_backward_kernel,
               pooling._avg_pool_forward_kernel, pooling._avg_pool_backward_kernel]
    for k in kernels:
        assert isinstance(k, ParallelFloat32)
        par = {str(s[0].dtype) for s in k.parallel.signatures}
        ser = {str(s[0].dtype) for s in k.serial.signatures}
        assert par == {"float32"} and ser == {"float64"}, (k.py_func.__name__, par, ser)
