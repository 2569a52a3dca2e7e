"""Test configuration shared by tests/engine and tests/gui.

Qt must never need a screen: the offscreen platform is chosen here, before any
test module can import PyQt6.
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
