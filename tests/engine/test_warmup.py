"""warmup(): compiles or loads every kernel and reports progress."""

import subprocess
import sys

import numpy as np
import pytest

from engine.warmup import kernel_count, warmup


def test_progress_is_reported_after_every_step():
    calls = []
    ran = warmup(lambda done, total, name: calls.append((done, total, name)))
    total = kernel_count()
    assert ran == total == len(calls) and total >= 5
    assert [c[0] for c in calls] == list(range(1, total + 1))
    assert all(c[1] == total for c in calls)
    assert all(isinstance(c[2], str) and c[2] for c in calls)


@pytest.mark.needs_jit
def test_both_dtypes_double_the_steps_and_compile_each_kernel():
    from engine.conv_forward import _conv_forward_kernel, _direct_forward_kernel
    names = []
    warmup(lambda d, t, n: names.append(n), dtypes=(np.float32, np.float64))
    assert len(names) == kernel_count((np.float32, np.float64)) == 2 * kernel_count()
    assert any("float64" in n for n in names)
    # float32 in the parallel flat-layout kernel, float64 in the direct loops (what the
    # small examples and gradient checks run: engine.conv_forward._run)
    assert {str(sig[0].dtype) for sig in _conv_forward_kernel.parallel.signatures} == {"float32"}
    assert {str(sig[0].dtype) for sig in _direct_forward_kernel.signatures} == {"float64"}


def test_warmup_without_progress_callback():
    assert warmup() == kernel_count()


def test_warmup_does_not_import_qt():
    code = ("import sys, engine.warmup as w; w.warmup(); "
            "print(any(m.startswith(('PyQt6', 'pyqtgraph')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------- compiling processes
# What a first start runs in its compiling processes (engine.warmup.child_command).

@pytest.mark.parametrize("parts", [1, 2, 3, 5])
def test_the_shares_cover_every_kernel_group_once(parts):
    from engine.warmup import warmup_parts, warmup_tasks
    shares = warmup_parts(parts)
    groups = [g for share in shares for g in share]
    assert sorted(groups) == list(range(len(warmup_tasks())))  # each group in one share
    dtypes = (np.float32, np.float64)
    names = [n for part in range(parts) for n, _ in warmup_tasks(dtypes, part, parts)]
    assert sorted(names) == sorted(n for n, _ in warmup_tasks(dtypes))
    assert warmup_parts(1) == [list(range(len(warmup_tasks())))]


def test_two_shares_put_the_two_largest_groups_apart():
    # the convolution's backward and forward passes are most of the compile time
    from engine.warmup import warmup_parts, warmup_tasks
    names = [n for n, _ in warmup_tasks()]
    backward, forward = names.index("convolution backward"), names.index("convolution forward")
    first, second = warmup_parts(2)
    assert (backward in first) != (forward in first)
    assert (backward in second) != (forward in second)


def test_a_share_keeps_all_dtypes_of_its_groups():
    # the float32 (parallel) and float64 (serial) kernels of a group share a cache file
    from engine.warmup import warmup_tasks
    tasks = warmup_tasks((np.float32, np.float64), 0, 2)
    stems = [n.rsplit(" (", 1)[0] for n, _ in tasks]
    assert sorted(stems[: len(stems) // 2]) == sorted(stems[len(stems) // 2:])


def test_a_cache_save_holds_the_write_lock(tmp_path, monkeypatch):
    fcntl = pytest.importorskip("fcntl")
    from numba.core import caching

    from engine import warmup as warmup_module
    seen = []

    def fake_save(self, key, data):  # stands for Numba's read-modify-write of the index
        with open(tmp_path / "cnn-explorer-save.lock", "a") as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                seen.append("free")
            except BlockingIOError:
                seen.append("held")
        seen.append((key, data))

    monkeypatch.setattr(caching.IndexDataCacheFile, "save", fake_save)
    assert warmup_module.serialize_cache_writes()
    assert warmup_module.serialize_cache_writes()  # a second call wraps nothing twice
    cache_file = object.__new__(caching.IndexDataCacheFile)
    cache_file._cache_path = str(tmp_path)
    caching.IndexDataCacheFile.save(cache_file, "key", b"data")
    assert seen == ["held", ("key", b"data")]
    with open(tmp_path / "cnn-explorer-save.lock", "a") as after:  # released again
        fcntl.flock(after, fcntl.LOCK_EX | fcntl.LOCK_NB)


@pytest.mark.slow
@pytest.mark.needs_jit
def test_the_compiling_processes_together_fill_the_cache(tmp_path):
    """A first start as the app runs it: every share compiled at once, in processes of
    its own, into one empty cache; a new process then loads every kernel from there
    without compiling anything."""
    import os

    from engine.warmup import child_command
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    children = [subprocess.Popen(child_command(part, 2), env=env, stdout=subprocess.PIPE,
                                 text=True) for part in range(2)]
    outputs = [child.communicate(timeout=600)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0]
    reported = [line.split("\t")[2] for out in outputs for line in out.splitlines()]
    assert len(reported) == kernel_count((np.float32, np.float64))
    load = ("from numba.core import event\n"
            "compiled = []\n"
            "class Count(event.Listener):\n"
            "    def on_start(self, ev): compiled.append(ev.data['dispatcher'])\n"
            "    def on_end(self, ev): pass\n"
            "event.register('numba:compile', Count())\n"
            "import numpy as np\n"
            "from engine.warmup import warmup\n"
            "warmup(dtypes=(np.float32, np.float64))\n"
            "print(len(compiled), compiled)\n")
    out = subprocess.run([sys.executable, "-c", load], env=env, capture_output=True,
                         text=True, check=True, timeout=600)
    assert out.stdout.split()[0] == "0", out.stdout


def test_the_costs_follow_the_steps_and_weigh_the_compilation():
    from engine.warmup import warmup_costs, warmup_tasks
    dtypes = (np.float32, np.float64)
    for part in range(2):
        assert len(warmup_costs(dtypes, part, 2)) == len(warmup_tasks(dtypes, part, 2))
    costs = dict(zip((n for n, _ in warmup_tasks(dtypes)), warmup_costs(dtypes), strict=True))
    assert all(c > 0 for c in costs.values())
    # the parallel float32 convolution takes far longer to compile than anything float64
    assert costs["convolution backward (float32)"] > 5 * max(
        c for n, c in costs.items() if n.endswith("(float64)"))


def test_the_group_names_are_translated_message_ids():
    from engine import i18n
    from engine.warmup import warmup_tasks
    try:
        i18n.set_language("zh_CN")
        for name, _ in warmup_tasks():
            assert i18n.tr(name) != name, name  # the GUI shows each one in Chinese
    finally:
        i18n.set_language("en")
