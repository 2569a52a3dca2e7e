"""Can a window open here? Checked before Qt is loaded, so the learner reads one
sentence instead of Qt's abort (exit 134).

Qt's X11 platform plugin (xcb) aborts the process when one of its system libraries
is missing, and its message names only libxcb-cursor0 whichever one is missing.
With no display at all (an ssh session) it aborts as well. :func:`window_problem`
finds both cases first. No Qt import here: this runs before PyQt6 is loaded.

The package list below is what a bare Debian/Ubuntu needs for PyQt6's xcb plugin
(read off ``ldd`` of ``libqxcb.so`` and ``libQt6XcbQpa.so.6``, PyQt6 6.11); README.md
and .ci/run install the same list. macOS and Windows need none.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping

from engine.i18n import tr

__all__ = ["XCB_LIBRARIES", "DEBIAN_PACKAGES", "missing_packages", "window_problem"]

#: shared library (soname) -> the Debian/Ubuntu package that installs it
XCB_LIBRARIES: dict[str, str] = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}

#: every package of XCB_LIBRARIES, in the order README.md lists them
DEBIAN_PACKAGES: tuple[str, ...] = tuple(dict.fromkeys(XCB_LIBRARIES.values()))

HEADLESS_COMMANDS = "train, evaluate, screenshot, bench"


def missing_packages(loader: Callable[[str], object] = ctypes.CDLL) -> list[str]:
    """The packages whose libraries cannot be loaded, in DEBIAN_PACKAGES order."""
    missing = []
    for soname, package in XCB_LIBRARIES.items():
        try:
            loader(soname)
        except OSError:
            if package not in missing:
                missing.append(package)
    return missing


def window_problem(env: Mapping[str, str] | None = None, platform: str | None = None,
                   loader: Callable[[str], object] = ctypes.CDLL) -> str | None:
    """Why the window cannot open here (one sentence), or None when it can.

    Only Linux's X11 path is checked: a platform chosen in QT_QPA_PLATFORM other than
    xcb (offscreen, wayland, vnc, ...) and a Wayland session are left to Qt.
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None
    chosen = env.get("QT_QPA_PLATFORM", "").strip().lower()
    if chosen and not chosen.startswith("xcb"):
        return None
    if not env.get("DISPLAY"):
        if env.get("WAYLAND_DISPLAY") and not chosen:
            return None  # Qt uses its Wayland plugin
        return tr("there is no display to open the window on (DISPLAY is not set, e.g. in an "
                  "ssh session); the commands {commands} work without one "
                  "(see: main.py --help)").format(commands=HEADLESS_COMMANDS)
    missing = missing_packages(loader)
    if missing:
        names = " ".join(missing)
        return tr("the window needs system libraries that are not installed: {names} "
                  "(Debian/Ubuntu: sudo apt-get install {names})").format(names=names)
    return None
