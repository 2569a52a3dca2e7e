"""Session files: everything a learner set up, in one file (File > Save session / Open session).

A session file is a zip archive in numpy's .npz layout: one member ``session`` holds
the JSON document (as text), every other member is a plain number array (trained
weights, training curves), named ``<lab>/<name>``. No pickle anywhere: it is read
through :func:`engine.files.read_npz` (a regular file, bounded sizes, every member's
declared size checked before it is inflated, text only where the JSON is) and written
through :func:`engine.files.atomic_write` (whole or not at all).

The document::

    {"format": "cnn-explorer-session", "version": 1, "current_lab": "training",
     "labs": {"<lab key>": {...what the lab's session_state() returned...}}}

:func:`load_session` checks all of it before it returns, so a damaged file is one
sentence (:class:`SessionFileError`) and nothing of the window changes. What each
lab's part means is the lab's business (``gui.labs._base``, ``session_state()`` and
``restore_session()``); this module checks only that it is JSON of bounded size and
depth and that every array a lab names is in the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import files
from .i18n import tr

__all__ = ["SessionFileError", "SESSION_SUFFIX", "MAX_SESSION_BYTES", "save_session",
           "load_session", "check_document", "session_path"]

SESSION_SUFFIX = ".cnnsession"
_FORMAT = "cnn-explorer-session"
_VERSION = 1
_DOC = "session"
#: the most bytes a session file may hold and inflate (weights of the largest network
#: the builder makes are a few MB; curves a few MB more)
MAX_SESSION_BYTES = 256 * 2**20
#: the JSON document: at most this many characters, nested at most this deep
MAX_DOCUMENT_CHARS = 4 * 2**20
_MAX_DEPTH = 12


class SessionFileError(ValueError):
    """A session file that cannot be read or written; one sentence says why."""


def session_path(path) -> Path:
    """``path`` with the session suffix when it has none."""
    out = Path(path)
    return out if out.suffix else out.with_suffix(SESSION_SUFFIX)


def _depth(value, level: int = 0) -> int:
    if level > _MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def check_document(doc, arrays: dict[str, np.ndarray], name: str) -> dict:
    """The session document ``doc`` if it is one this app writes, else SessionFileError
    (a sentence beginning with ``name``). ``arrays``: the file's arrays; every array a
    lab part lists under ``"arrays"`` must be among them."""
    def bad(reason: str) -> SessionFileError:
        return SessionFileError(tr("{name}: not a session of this app ({reason})").format(
            name=name, reason=reason))

    if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
        raise bad(tr("no session document"))
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > _VERSION:
        raise SessionFileError(tr("{name}: written by a newer version of this app (session "
                                  "version {version}); update the app to open it").format(
                                      name=name, version=version))
    labs = doc.get("labs")
    if not isinstance(labs, dict) or not all(isinstance(k, str) and isinstance(v, dict)
                                             for k, v in labs.items()):
        raise bad(tr("the labs' parts are missing or not objects"))
    if _depth(doc) > _MAX_DEPTH:
        raise bad(tr("the document is nested too deeply"))
    current = doc.get("current_lab")
    if current is not None and not isinstance(current, str):
        raise bad(tr("the current lab is not a name"))
    for key, part in labs.items():
        listed = part.get("arrays", [])
        if not isinstance(listed, list) or not all(isinstance(a, str) for a in listed):
            raise bad(tr("the {lab} lab's list of arrays is not a list of names").format(
                lab=key))
        missing = [a for a in listed if a not in arrays]
        if missing:
            raise bad(tr("the array {array} of the {lab} lab is missing").format(
                array=missing[0], lab=key))
    return doc


def save_session(path, doc: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``doc`` (JSON-able; ``format`` and ``version`` are set here) and ``arrays``
    (plain number arrays named ``<lab>/<name>``) to ``path``; returns the file written.
    Raises SessionFileError for a document that is not JSON or a file that cannot be
    written (the file that was there is then unchanged)."""
    doc = dict(doc, format=_FORMAT, version=_VERSION)
    try:
        text = json.dumps(doc, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise SessionFileError(tr("the session could not be written as JSON: {error}").format(
            error=err)) from None
    members = {_DOC: np.array(text)}
    for key, array in arrays.items():
        array = np.asarray(array)
        if key == _DOC or array.dtype.kind not in "biuf":
            raise SessionFileError(tr("the session array {name} is not plain numbers").format(
                name=key))
        members[key] = array
    target = session_path(path)
    return files.atomic_write(target, lambda fh: np.savez(fh, **members), SessionFileError)


def load_session(path) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a session file: (document, arrays). Everything is checked before it is
    returned; SessionFileError (one sentence naming the file) otherwise."""
    name = Path(path).name
    arrays = files.read_npz(path, MAX_SESSION_BYTES, SessionFileError, name=name,
                            text_members=(_DOC,),
                            not_npz=tr("not a session file (not a zip archive)"))
    text = arrays.pop(_DOC, None)
    if text is None or text.dtype.kind != "U" or text.ndim != 0:
        raise SessionFileError(tr("{name}: not a session of this app ({reason})").format(
            name=name, reason=tr("no session document")))
    text = str(text)
    if len(text) > MAX_DOCUMENT_CHARS:
        raise SessionFileError(tr("{name}: the session document is larger than this app "
                                  "reads").format(name=name))
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise SessionFileError(tr("{name}: the session document is damaged ({reason})").format(
            name=name, reason=" ".join(str(err).split())[:80])) from None
    return check_document(doc, arrays, name), arrays
