"""engine.sessions: session files written and read back whole; damaged ones refused in one
sentence (nothing returned), never unpickled."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from engine.sessions import (
    MAX_SESSION_BYTES,
    SessionFileError,
    load_session,
    save_session,
    session_path,
)

DOC = {"current_lab": "pooling",
       "labs": {"pooling": {"settings": [["QSpinBox", 6], ["NumberGrid", [[1.0, 2.5]]]],
                            "step": 3, "arrays": []},
                "training": {"spec": [{"type": "flatten"}, {"type": "dense", "units": 10}],
                             "dataset": {"path": "/data/cifar-10-batches-py", "kind": "cifar10",
                                         "options": None},
                             "arrays": ["training/weights/0.w", "training/curves/loss"]}}}


def arrays():
    rng = np.random.default_rng(0)
    return {"training/weights/0.w": rng.normal(size=(784, 10)).astype(np.float32),
            "training/curves/loss": np.linspace(2.3, 0.1, 50)}


def test_round_trip(tmp_path):
    out = save_session(tmp_path / "s", DOC, arrays())
    assert out == tmp_path / "s.cnnsession" and session_path(tmp_path / "s") == out
    doc, got = load_session(out)
    assert doc["labs"] == DOC["labs"] and doc["current_lab"] == "pooling"
    assert doc["format"] == "cnn-explorer-session" and doc["version"] == 1
    assert got.keys() == arrays().keys()
    for key, value in arrays().items():
        np.testing.assert_array_equal(got[key], value)
        assert got[key].dtype == value.dtype
    # it is a zip of a JSON text and numpy arrays, and nothing in it is a pickle
    with zipfile.ZipFile(out) as archive:
        names = sorted(archive.namelist())
        assert names == sorted(["session.npy", "training/weights/0.w.npy",
                                "training/curves/loss.npy"])
        assert json.loads(str(np.load(io.BytesIO(archive.read("session.npy")))))["labs"]


def test_chinese_text_and_paths_survive(tmp_path):
    doc = {"current_lab": None, "labs": {"training": {"dataset": {"path": "/数据/猫狗"}}}}
    loaded, _ = load_session(save_session(tmp_path / "c.cnnsession", doc, {}))
    assert loaded["labs"]["training"]["dataset"]["path"] == "/数据/猫狗"


def _zip(tmp_path, members: dict[str, bytes], name="bad.cnnsession"):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _doc_npy(doc) -> bytes:
    return _npy(np.array(json.dumps(doc)))


def damaged(tmp_path):
    good = save_session(tmp_path / "good.cnnsession", DOC, arrays()).read_bytes()

    def write(name: str, data: bytes):
        (tmp_path / name).write_bytes(data)
        return tmp_path / name

    cases = {
        "truncated": lambda: write("t.cnnsession", good[:len(good) // 2]),
        "not a zip": lambda: write("n.cnnsession", b"hello world"),
        "empty": lambda: write("e.cnnsession", b""),
        "no document": lambda: _zip(tmp_path, {"x.npy": _npy(np.zeros(3))}),
        "document not json": lambda: _zip(tmp_path, {"session.npy": _npy(np.array("{oops"))}),
        "another format": lambda: _zip(tmp_path, {"session.npy": _doc_npy({"format": "x"})}),
        "newer version": lambda: _zip(tmp_path, {"session.npy": _doc_npy(
            {"format": "cnn-explorer-session", "version": 99, "labs": {}})}),
        "labs not objects": lambda: _zip(tmp_path, {"session.npy": _doc_npy(
            {"format": "cnn-explorer-session", "version": 1, "labs": {"pooling": [1]}})}),
        "array missing": lambda: _zip(tmp_path, {"session.npy": _doc_npy(
            dict(DOC, format="cnn-explorer-session", version=1))}),
        "too deep": lambda: _zip(tmp_path, {"session.npy": _doc_npy(
            {"format": "cnn-explorer-session", "version": 1,
             "labs": {"pooling": {"x": json.loads("[" * 40 + "]" * 40)}}})}),
        "a pickled array": lambda: _zip(tmp_path, {
            "session.npy": _doc_npy({"format": "cnn-explorer-session", "version": 1,
                                     "labs": {}}),
            "training/w.npy": _npy_pickle()}),
        "text where numbers belong": lambda: _zip(tmp_path, {
            "session.npy": _doc_npy({"format": "cnn-explorer-session", "version": 1,
                                     "labs": {}}),
            "training/w.npy": _npy(np.array(["a", "b"]))}),
        "a folder": lambda: tmp_path,
        "missing": lambda: tmp_path / "none.cnnsession",
    }
    return cases


def _npy_pickle() -> bytes:
    """An .npy of dtype object: loading it would unpickle (a hostile file)."""
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (63 - len(header)) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + pickle.dumps(
        [1])


CASES = ["truncated", "not a zip", "empty", "no document", "document not json",
         "another format", "newer version", "labs not objects", "array missing", "too deep",
         "a pickled array", "text where numbers belong", "a folder", "missing"]


@pytest.mark.parametrize("case", CASES)
def test_a_damaged_session_is_one_sentence(tmp_path, case):
    path = damaged(tmp_path)[case]()
    with pytest.raises(SessionFileError) as info:
        load_session(path)
    message = str(info.value)
    assert "\n" not in message and len(message) < 300
    assert path.name in message or str(path) in message, message


def test_a_huge_declared_member_is_refused_before_inflating(tmp_path):
    path = tmp_path / "big.cnnsession"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("session.npy", _doc_npy({"format": "cnn-explorer-session",
                                                  "version": 1, "labs": {}}))
        archive.writestr("training/w.npy", _npy(np.zeros(MAX_SESSION_BYTES // 8 + 10)))
    with pytest.raises(SessionFileError, match="declares|more than"):
        load_session(path)


def test_what_cannot_be_written_is_refused_and_the_old_file_stays(tmp_path):
    good = save_session(tmp_path / "keep.cnnsession", DOC, arrays())
    before = good.read_bytes()
    with pytest.raises(SessionFileError, match="JSON"):
        save_session(good, {"labs": {"x": {"v": float("nan")}}}, {})
    with pytest.raises(SessionFileError, match="plain numbers"):
        save_session(good, DOC, {"training/x": np.array(["text"])})
    with pytest.raises(SessionFileError):
        save_session(tmp_path / "no" / "such" / "s.cnnsession", DOC, {})
    assert good.read_bytes() == before
