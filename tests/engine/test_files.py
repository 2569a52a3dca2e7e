"""Saving and reading hostile files (issue 9, items 8, 9 and 11).

Every hostile file is written here, in tmp_path: FIFOs, device nodes, links,
folders, zip archives whose directory lies about their members, .npy headers
that declare 10^12 values, model descriptions with 1e400 or Infinity. A load must
end in a sentence (ModelFileError / DataFileError), never hang, and never change a
file that was already saved.
"""

import json
import os
import stat
import struct
import threading
import tracemalloc
import zipfile

import numpy as np
import pytest

from engine import files
from engine.data import DataFileError, load_cifar10_batch, load_mnist_idx, load_npz_dataset
from engine.network import (
    MAX_MODEL_BYTES,
    ModelFileError,
    Network,
    NetworkSpecError,
    check_model_path,
)

TINY = [{"type": "flatten"}, {"type": "dense", "units": 3}]


def _net(seed=0):
    return Network(TINY, input_shape=(1, 4, 4), seed=seed)


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def _finishes(call, *args):
    """Run ``call(*args)`` in a thread; returns the exception it raised (or None).

    A hang guard only (a FIFO that were opened would block forever): the generous
    limit is never what is tested, so the suite cannot hang either.
    """
    outcome = {}

    def run():
        try:
            call(*args)
            outcome["error"] = None
        except BaseException as err:  # noqa: BLE001 - handed back to the test
            outcome["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), f"{call.__name__} hung"
    return outcome["error"]


@pytest.fixture
def opened(monkeypatch):
    """Every path os.open is asked to open, while the test runs."""
    paths = []
    real = os.open

    def spy(path, *args, **kwargs):
        paths.append(os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    return paths


def _device_node(path):
    """A character device like /dev/null (major 1, minor 3), made in tmp_path."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError) as err:
        pytest.skip(f"cannot make a device node here ({err})")
    return path


# ----------------------------------------------------------------- saving (item 8)

def _not_regular_targets(tmp_path):
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    link_to_fifo = tmp_path / "link-to-fifo.npz"
    link_to_fifo.symlink_to(fifo)
    link_to_folder = tmp_path / "link-to-folder.npz"
    link_to_folder.symlink_to(folder)
    dangling = tmp_path / "dangling.npz"
    dangling.symlink_to(tmp_path / "nowhere")
    return {"fifo": fifo, "folder": folder, "link to a fifo": link_to_fifo,
            "link to a folder": link_to_folder, "dangling link": dangling}


def test_save_refuses_every_existing_target_that_is_not_a_regular_file(tmp_path):
    targets = _not_regular_targets(tmp_path)
    targets["device"] = _device_node(tmp_path / "null.npz")
    before = {name: os.lstat(p) for name, p in targets.items()}
    listing = _listing(tmp_path)
    net = _net()
    for name, path in targets.items():
        with pytest.raises(ModelFileError, match="folder|not a regular file|link") as err:
            net.save(path)
        assert "\n" not in str(err.value)
        with pytest.raises(ModelFileError):
            check_model_path(path)
        after = os.lstat(path)
        assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before[name].st_mode), name
        assert after.st_ino == before[name].st_ino, name
    assert _listing(tmp_path) == listing  # no temporary file left behind


def test_save_through_a_link_to_a_regular_file_replaces_what_it_points_to(tmp_path):
    real = tmp_path / "real.npz"
    _net(1).save(real)
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    net = _net(2)
    net.save(link)
    assert link.is_symlink()
    np.testing.assert_array_equal(Network.load(real).parameters()[0], net.parameters()[0])


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_saved_files_get_the_permissions_of_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        _net().save(tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.npz").st_mode) == mode


def test_a_stale_tmp_of_an_interrupted_save_is_removed(tmp_path):
    (tmp_path / "m.npz.tmp").write_bytes(b"half a model")          # this version's name
    (tmp_path / "m.npz.k2x9_q0a.tmp").write_bytes(b"half a model")  # mkstemp's, before
    (tmp_path / "m.npz.notes.tmp").write_bytes(b"not ours")          # not a save's name
    net = _net()
    net.save(tmp_path / "m.npz")
    assert _listing(tmp_path) == ["m.npz", "m.npz.notes.tmp"]
    np.testing.assert_array_equal(Network.load(tmp_path / "m.npz").parameters()[0],
                                  net.parameters()[0])


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError(28, "No space left on device")])
def test_an_interrupted_or_failed_save_changes_nothing(tmp_path, monkeypatch, failure):
    path = tmp_path / "m.npz"
    _net(1).save(path)
    saved = path.read_bytes()

    def half_then_fail(fh, **arrays):
        fh.write(b"PK\x03\x04 half a model")
        raise failure

    monkeypatch.setattr(np, "savez", half_then_fail)
    expected = KeyboardInterrupt if failure is KeyboardInterrupt else ModelFileError
    with pytest.raises(expected):
        _net(2).save(path)
    assert path.read_bytes() == saved
    assert _listing(tmp_path) == ["m.npz"]


@pytest.mark.parametrize("name, words", [
    ("", "no file name"),
    ("x" * 300 + ".npz", "too long"),
    ("/proc/x.npz", "cannot write"),
    ("missing-folder/m.npz", "does not exist"),
])
def test_unwritable_targets_are_found_before_anything_is_written(tmp_path, monkeypatch, name,
                                                                  words):
    monkeypatch.chdir(tmp_path)
    for call in (check_model_path, _net().save):
        with pytest.raises(ModelFileError, match=words) as err:
            call(name)
        assert "\n" not in str(err.value)
    assert _listing(tmp_path) == []
    assert not os.path.exists("/proc/x.npz.tmp")


def test_check_model_path_writes_nothing(tmp_path):
    path = tmp_path / "m.npz"
    assert check_model_path(path) == path
    assert _listing(tmp_path) == []
    _net().save(path)
    saved = path.read_bytes()
    check_model_path(path)  # an existing regular file may be replaced later
    assert path.read_bytes() == saved and _listing(tmp_path) == ["m.npz"]


# ----------------------------------------------------------------- reading (item 9)

def _loaders():
    return {
        "model": (Network.load, ModelFileError),
        "npz data set": (load_npz_dataset, DataFileError),
        "IDX": (lambda p: load_mnist_idx(p, p), DataFileError),
        "CIFAR batch": (load_cifar10_batch, DataFileError),
    }


@pytest.mark.parametrize("loader", list(_loaders()))
def test_a_fifo_is_refused_without_being_opened(tmp_path, opened, loader):
    load, error = _loaders()[loader]
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(fifo)
    for path in (fifo, link):
        err = _finishes(load, path)
        assert isinstance(err, error) and "FIFO" in str(err), err
    assert not any(p.startswith(str(tmp_path)) for p in opened), opened


@pytest.mark.parametrize("loader", list(_loaders()))
def test_devices_and_folders_are_refused(tmp_path, loader):
    load, error = _loaders()[loader]
    for path, words in (("/dev/zero", "device"), (_device_node(tmp_path / "null"), "device"),
                        (tmp_path, "folder")):
        err = _finishes(load, path)
        assert isinstance(err, error) and words in str(err), err


def test_reads_are_bounded_by_the_cap_before_anything_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.npz"
    np.savez(path, images=np.zeros((50, 28, 28), np.uint8), labels=np.zeros(50, int))
    reads = []
    real_read = files._read_limited
    monkeypatch.setattr(files, "_read_limited", lambda *a: reads.append(a) or real_read(*a))
    with pytest.raises(DataFileError, match="more than this app reads"):
        files.read_bytes(path, 1000, DataFileError)
    with pytest.raises(DataFileError, match="more than this app reads"):
        files.read_npz(path, 1000, DataFileError)
    assert reads == []


# ----------------------------------------------------------------- zip members (item 11)

def _npy_bytes(array):
    import io
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array)
    return buf.getvalue()


def _good_model_arrays(tmp_path):
    path = tmp_path / "good.npz"
    _net().save(path)
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _write_zip(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name + ".npy", data)


def _declare_size(path, member, size):
    """Make the central directory declare ``size`` uncompressed bytes for ``member``."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    at = data.find(b"PK\x01\x02")
    while at >= 0:  # the central directory entry of the member
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46:at + 46 + name_len]) == member.encode():
            struct.pack_into("<I", data, at + 24, size)
            break
        at = data.find(b"PK\x01\x02", at + 4)
    local = info.header_offset  # the local header says the same
    struct.pack_into("<I", data, local + 22, size)
    path.write_bytes(bytes(data))


def test_a_3_gib_member_is_refused_before_it_is_inflated(tmp_path, monkeypatch):
    path = tmp_path / "bomb.npz"
    arrays = {k: _npy_bytes(v) for k, v in _good_model_arrays(tmp_path).items()}
    _write_zip(path, arrays)
    _declare_size(path, "dense1.w.npy", 3 * 2**30)
    opened_members = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open",
                        lambda self, name, *a, **k: opened_members.append(
                            getattr(name, "filename", name)) or real_open(self, name, *a, **k))
    with pytest.raises(ModelFileError, match=r"declares 3\.0 GiB uncompressed.*not decompressed"):
        Network.load(path)
    assert "dense1.w.npy" not in opened_members


def test_a_real_deflate_bomb_is_refused_before_it_is_inflated(tmp_path):
    # 576 MiB of zeros deflate to about 0.6 MB: more than a model file may inflate to
    assert MAX_MODEL_BYTES < 576 * 2**20
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("dense1.w.npy", "w", force_zip64=True) as member:
            zeros = bytes(64 * 2**20)
            for _ in range(9):
                member.write(zeros)
    assert path.stat().st_size < 4 * 2**20
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="uncompressed, more than this app inflates"):
            Network.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, peak


def test_a_member_that_inflates_past_what_it_declares_is_cut_off(tmp_path):
    # the directory says 2,000 bytes; the deflate stream holds 32 MiB of zeros
    path = tmp_path / "liar.npz"
    arrays = {"images": np.zeros((2, 28, 28), np.uint8), "labels": np.zeros(2, np.int64)}
    members = {k: _npy_bytes(v) for k, v in arrays.items()}
    members["images"] = members["images"] + bytes(32 * 2**20)
    _write_zip(path, members)
    _declare_size(path, "images.npy", 2000)
    tracemalloc.start()
    try:
        with pytest.raises(DataFileError, match="damaged|truncated|declares"):
            load_npz_dataset(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, peak  # far less than the 32 MiB the stream would give


def test_an_npy_header_declaring_10_to_the_12_values_is_a_sentence(tmp_path):
    arrays = {k: _npy_bytes(v) for k, v in _good_model_arrays(tmp_path).items()}
    import io
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    arrays["dense1.w"] = buf.getvalue() + bytes(16)
    path = tmp_path / "huge-header.npz"
    _write_zip(path, arrays)
    with pytest.raises(ModelFileError, match="declares 1,000,000,000,000 values"):
        Network.load(path)


def test_object_arrays_in_an_npz_are_refused(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, images=np.array([None, 1], dtype=object), labels=np.zeros(2, int))
    with pytest.raises(DataFileError, match="object"):
        load_npz_dataset(path)


def test_too_many_members_are_refused_before_the_directory_is_parsed(tmp_path, monkeypatch):
    path = tmp_path / "many.npz"
    _write_zip(path, {f"a{i}": _npy_bytes(np.zeros(1)) for i in range(50)},
               compression=zipfile.ZIP_STORED)
    monkeypatch.setattr(files, "MAX_ZIP_MEMBERS", 20)
    parsed = []
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents",
                        lambda self: parsed.append(1), raising=True)
    with pytest.raises(DataFileError, match="lists 50 members"):
        load_npz_dataset(path)
    assert parsed == []


def _model_with_meta(tmp_path, meta: str):
    arrays = _good_model_arrays(tmp_path)
    arrays["__meta__"] = np.array(meta)
    path = tmp_path / "hostile.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("meta, words", [
    ('{"format": "cnn-explorer-model", "version": 1, "input_shape": [1e400, 4, 4], '
     '"spec": [{"type": "flatten"}, {"type": "dense", "units": 3}]}', "not valid"),
    ('{"format": "cnn-explorer-model", "version": 1, "input_shape": [1, 4, 4], '
     '"spec": [{"type": "conv", "filters": 2, "kernel": Infinity}, {"type": "flatten"}, '
     '{"type": "dense", "units": 3}]}', "cannot be read"),
    ('{"format": "cnn-explorer-model", "version": 1, "input_shape": [1, 4, 4], '
     '"spec": [{"type": "conv", "filters": 2, "kernel": 1e400}, {"type": "flatten"}, '
     '{"type": "dense", "units": 3}]}', "whole number"),
    ('{"format": "cnn-explorer-model", "version": 1, "input_shape": [1, 4, 4], '
     '"spec": [{"type": "flatten"}, {"type": "dense", "units": 1000000000000}]}',
     "numbers per image"),
    ('{"format": "cnn-explorer-model", "version": 1, "input_shape": [1, 4, 4], "spec": '
     + "[" * 100_000 + "]" * 100_000 + "}", "cannot be read"),
    ('{"format": "cnn-explorer-model", "version": NaN, "input_shape": [1, 4, 4], '
     '"spec": []}', "cannot be read"),
    ('{"format": "cnn-explorer-model", "version": 1, "input_shape": [true, 4, 4], '
     '"spec": [{"type": "flatten"}, {"type": "dense", "units": 3}]}', "not valid"),
], ids=["input-1e400", "kernel-Infinity", "kernel-1e400", "10^12-units", "deep-nesting",
        "version-NaN", "input-true"])
def test_hostile_model_descriptions_become_model_file_errors(tmp_path, meta, words):
    path = _model_with_meta(tmp_path, meta)
    with pytest.raises(ModelFileError, match=words) as err:
        Network.load(path)
    assert "\n" not in str(err.value)


def test_a_spec_nested_deeply_inside_a_layer_is_a_spec_error():
    deep = {"type": "conv", "filters": 2, "kernel": 3}
    inner = []
    for _ in range(100_000):
        inner = [inner]
    deep["kernel"] = inner
    with pytest.raises(NetworkSpecError):
        Network([deep, {"type": "flatten"}, {"type": "dense", "units": 3}], (1, 4, 4))


def test_model_text_member_must_be_one_string(tmp_path):
    arrays = _good_model_arrays(tmp_path)
    arrays["__meta__"] = np.array([json.dumps({"format": "cnn-explorer-model"})] * 2)
    path = tmp_path / "two.npz"
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="cannot be read"):
        Network.load(path)


def test_a_corrupted_member_is_a_sentence(tmp_path):
    path = tmp_path / "m.npz"
    _net().save(path)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("dense1.w.npy")
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len + 150  # inside the stored array
    data[start:start + 8] = b"\xff" * 8  # the CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="damaged|truncated"):
        Network.load(path)
