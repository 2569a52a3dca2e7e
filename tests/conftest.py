"""Test configuration shared by tests/engine and tests/gui.

Qt must never need a screen: the offscreen platform is chosen here, before any
test module can import PyQt6.

Hypothesis profiles (chosen with ``HYPOTHESIS_PROFILE=<name>`` or pytest's
``--hypothesis-profile=<name>``):

- ``dev`` (the default): random examples on every run, so local runs keep
  exploring; failures are kept in the local example database (.hypothesis/) and
  tried first next time.
- ``ci`` (.ci/run): derandomized, so a CI run is reproducible from the source
  alone, and no example database, so an old local failure can never be replayed
  in CI (nor a CI run write one). ``print_blob`` prints what reproduces a failure.
"""

import os

from hypothesis import settings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The suite runs in English whatever the machine's locale (engine.i18n.system_language reads
# LANGUAGE first); the translation tests switch to Chinese themselves.
os.environ["LANGUAGE"] = "en"

settings.register_profile("dev")
settings.register_profile("ci", derandomize=True, database=None, print_blob=True,
                          deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
