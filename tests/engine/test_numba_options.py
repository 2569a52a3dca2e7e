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
