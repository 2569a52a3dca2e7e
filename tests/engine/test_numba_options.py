"""Numba options live in engine/_numba.py, including the OpenMP wait policy."""

import subprocess
import sys


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
