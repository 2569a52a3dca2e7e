"""Data loaders: the embedded MNIST split, IDX files, CIFAR-10 batches, npz data sets.

Every test writes its files in the official formats itself (IDX headers with
struct, gzip, pickled dicts) so the expected arrays are known independently of
the loaders.
"""

import gzip
import os
import pickle
import struct

import numpy as np
import pytest
from datafiles import py2_cifar_pickle

from engine.data import (
    MNIST_PATH,
    TRAIN_SIZE,
    VAL_SIZE,
    DataFileError,
    load_cifar10_batch,
    load_embedded_mnist,
    load_mnist_idx,
    load_npz_dataset,
    mnist_split,
    to_float_images,
)

# --------------------------------------------------------------------------- embedded MNIST


def test_embedded_mnist_has_the_documented_shapes_and_class_counts():
    images, labels = load_embedded_mnist()
    assert images.shape == (9000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (9000,) and labels.dtype == np.int64
    # class counts documented in assets/README.md
    assert np.bincount(labels).tolist() == [901, 1027, 891, 932, 880, 763, 914, 970, 844, 878]
    assert images.min() == 0 and images.max() == 255


def test_split_is_a_fixed_disjoint_cut_of_the_file():
    images, labels = load_embedded_mnist()
    split = mnist_split()
    assert split.train_x.shape == (TRAIN_SIZE, 1, 28, 28)
    assert split.val_x.shape == (VAL_SIZE, 1, 28, 28)
    assert split.train_x.dtype == np.float32 and split.val_x.dtype == np.float32
    assert split.train_x.flags.c_contiguous and split.val_x.flags.c_contiguous
    # first 8000 train, last 1000 validate: compare against the raw file
    np.testing.assert_array_equal(split.train_y, labels[:TRAIN_SIZE])
    np.testing.assert_array_equal(split.val_y, labels[-VAL_SIZE:])
    np.testing.assert_array_equal(np.rint(split.val_x[:, 0] * 255).astype(np.uint8),
                                  images[-VAL_SIZE:])
    # every class is present in the validation set
    assert set(split.val_y.tolist()) == set(range(10))
    again = mnist_split()
    np.testing.assert_array_equal(again.train_x, split.train_x)


def test_split_leaves_the_validation_digits_out_of_training():
    split = mnist_split()
    train = {row.tobytes() for row in split.train_x.reshape(TRAIN_SIZE, -1)}
    overlap = sum(row.tobytes() in train for row in split.val_x.reshape(VAL_SIZE, -1))
    assert overlap == 0


def test_to_float_images_scales_to_unit_range_with_a_channel_axis():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)  # (1, 2, 2)
    out = to_float_images(images)
    assert out.shape == (1, 1, 2, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], [[0.0, 1.0], [0.2, 0.4]], rtol=1e-6)
    images[0, 0, 0] = 7  # the result is a copy
    assert out[0, 0, 0, 0] == 0.0


@pytest.mark.parametrize("bad", [np.zeros((2, 3, 3), np.float32), np.zeros((3, 3), np.uint8)])
def test_to_float_images_rejects_wrong_input(bad):
    with pytest.raises(DataFileError):
        to_float_images(bad)


def test_embedded_loader_rejects_a_file_with_wrong_shapes(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, images=np.zeros((4, 28, 27), np.uint8), labels=np.zeros(4, np.uint8))
    with pytest.raises(DataFileError, match=r"\(N, 28, 28\)"):
        load_embedded_mnist(path)
    assert MNIST_PATH.name == "mnist-9k.npz"


# --------------------------------------------------------------------------- IDX

def idx_bytes(array: np.ndarray, type_code: int = 0x08, magic_dims: int | None = None) -> bytes:
    """An IDX file as the MNIST page describes it: 0, 0, type code, dims, sizes (>u4), data."""
    dims = array.ndim if magic_dims is None else magic_dims
    header = struct.pack(">BBBB", 0, 0, type_code, dims)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(">u1").tobytes()


@pytest.fixture
def small_mnist():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 7], dtype=np.uint8)
    return images, labels


def write(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("compressed", [False, True])
def test_idx_round_trip_plain_and_gzip(tmp_path, small_mnist, compressed):
    images, labels = small_mnist
    img_bytes, lbl_bytes = idx_bytes(images), idx_bytes(labels)
    if compressed:
        img_bytes, lbl_bytes = gzip.compress(img_bytes), gzip.compress(lbl_bytes)
    suffix = ".gz" if compressed else ""
    ip = write(tmp_path / f"train-images-idx3-ubyte{suffix}", img_bytes)
    lp = write(tmp_path / f"train-labels-idx1-ubyte{suffix}", lbl_bytes)
    got_images, got_labels = load_mnist_idx(ip, lp)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images.dtype == np.uint8 and got_labels.dtype == np.int64
    assert got_images.flags.writeable


def test_idx_header_is_big_endian(tmp_path):
    # 300 images of 28x28: a little-endian reader would see 738263040 images
    images = np.zeros((300, 28, 28), np.uint8)
    labels = np.arange(300, dtype=np.uint8) % 10
    ip = write(tmp_path / "i", idx_bytes(images))
    lp = write(tmp_path / "l", idx_bytes(labels))
    got_images, got_labels = load_mnist_idx(ip, lp)
    assert got_images.shape == (300, 28, 28)
    np.testing.assert_array_equal(got_labels, labels)


@pytest.mark.parametrize(
    "make_images, make_labels, message",
    [
        # wrong magic: first two bytes not zero
        (lambda im: b"\x01\x02" + idx_bytes(im)[2:], None, "not an IDX file"),
        # a PNG is not an IDX file
        (lambda im: b"\x89PNG\r\n\x1a\n" + b"\0" * 40, None, "not an IDX file"),
        # unknown type code
        (lambda im: idx_bytes(im, type_code=0x07), None, "not an IDX file"),
        # known but unsupported type code (int32 values)
        (lambda im: idx_bytes(im, type_code=0x0C), None, "unsigned bytes"),
        # labels file passed as images: 1 dimension instead of 3
        (lambda im: idx_bytes(np.zeros(5, np.uint8)), None, "dimension"),
        # truncated data
        (lambda im: idx_bytes(im)[:-10], None, "truncated"),
        # truncated inside the header
        (lambda im: idx_bytes(im)[:9], None, "header"),
        # shorter than the magic number
        (lambda im: b"\0\0", None, "too short"),
        # extra bytes after the declared data
        (lambda im: idx_bytes(im) + b"\0" * 3, None, "longer than declared"),
        # label count does not match image count
        (None, lambda lb: idx_bytes(lb[:4]), "5 images but 4 labels"),
        # label out of range
        (None, lambda lb: idx_bytes(np.array([0, 1, 2, 3, 10], np.uint8)), "0-9"),
        # damaged gzip stream
        (lambda im: gzip.compress(idx_bytes(im))[:30], None, r"\.gz"),
    ],
)
def test_idx_bad_files_raise_a_clear_error(tmp_path, small_mnist, make_images, make_labels,
                                           message):
    images, labels = small_mnist
    img_bytes = make_images(images) if make_images else idx_bytes(images)
    lbl_bytes = make_labels(labels) if make_labels else idx_bytes(labels)
    ip = write(tmp_path / "images", img_bytes)
    lp = write(tmp_path / "labels", lbl_bytes)
    with pytest.raises(DataFileError, match=message) as info:
        load_mnist_idx(ip, lp)
    assert "\n" not in str(info.value)


def test_idx_missing_file_is_a_data_file_error(tmp_path, small_mnist):
    lp = write(tmp_path / "labels", idx_bytes(small_mnist[1]))
    with pytest.raises(DataFileError, match="no such file"):
        load_mnist_idx(tmp_path / "nope", lp)
    with pytest.raises(DataFileError, match="folder"):
        load_mnist_idx(tmp_path, lp)


# --------------------------------------------------------------------------- CIFAR-10

def cifar_dict(n=4, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    return {b"batch_label": b"training batch 1 of 5", b"labels": labels, b"data": data,
            b"filenames": [b"img_%d.png" % i for i in range(n)]}


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_batch_round_trip(tmp_path, protocol):
    batch = cifar_dict()
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=protocol)
    images, labels = load_cifar10_batch(path)
    assert images.shape == (4, 3, 32, 32) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, batch[b"labels"])
    # row layout: 1024 red, 1024 green, 1024 blue values, each plane row-major
    row = batch[b"data"][2]
    assert images[2, 0, 0, 0] == row[0]
    assert images[2, 0, 0, 31] == row[31]
    assert images[2, 0, 1, 0] == row[32]
    assert images[2, 1, 0, 0] == row[1024]
    assert images[2, 2, 31, 31] == row[3071]


def test_cifar_labels_as_numpy_array_are_accepted(tmp_path):
    batch = cifar_dict()
    batch[b"labels"] = np.array(batch[b"labels"], dtype=np.int64)
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    assert load_cifar10_batch(path)[1].tolist() == batch[b"labels"].tolist()


def test_cifar_batch_in_the_original_python2_format(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, size=(3, 3072), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_cifar_pickle(data, [3, 7, 0]))
    images, labels = load_cifar10_batch(path)
    assert labels.tolist() == [3, 7, 0]
    np.testing.assert_array_equal(images.reshape(3, 3072), data)
    np.testing.assert_array_equal(images[1, 2], data[1, 2048:].reshape(32, 32))


class _Exploit:
    """Unpickling this would run a shell command."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _EvalExploit:
    def __init__(self, marker_path):
        self.marker_path = marker_path

    def __reduce__(self):
        return (eval, (f"open({self.marker_path!r}, 'w').write('hacked')",))


class _HugeArray:
    """Calls numpy.ndarray(shape) directly: would allocate 8 TB."""

    def __reduce__(self):
        return (np.ndarray, ((2**40,), "f8"))


class Harmless:
    """A plain class: still refused, only numpy arrays and builtins may be rebuilt."""

    def __init__(self):
        self.x = 1


@pytest.mark.parametrize("protocol", [2, 5])
def test_malicious_pickles_are_refused_without_running_anything(tmp_path, protocol):
    marker = tmp_path / "hacked.txt"
    for payload, refused in [
        (_Exploit(f"echo hacked > {marker}"), "system"),
        (_EvalExploit(str(marker)), "eval"),
        (Harmless(), "Harmless"),
        (_HugeArray(), "numpy.ndarray"),
    ]:
        batch = cifar_dict()
        batch[b"labels"] = payload
        path = tmp_path / "data_batch_1"
        path.write_bytes(pickle.dumps(batch, protocol=protocol))
        with pytest.raises(DataFileError, match=rf"refused to (load|call) .*{refused}"):
            load_cifar10_batch(path)
        assert not marker.exists()


class _ArrayState:
    """Pickles as numpy does, but with a chosen ndarray state (version, shape, dtype,
    Fortran order, data), so malformed or dangerous states can be written."""

    def __init__(self, shape, dtype, data):
        self.state = (1, shape, dtype, False, data)

    def __reduce__(self):
        from numpy._core.multiarray import _reconstruct
        return (_reconstruct, (np.ndarray, (0,), b"b"), self.state)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.array([1, "two", None], dtype=object), "type"),
        (np.zeros(2, dtype=[("a", "u1"), ("b", "f4")]), "type"),
        (np.array(["ab", "cd"]), "type"),
        (_ArrayState((2, 3072), np.dtype("u1"), b"\0" * 100), "wrong length"),
        (_ArrayState((2, -5), np.dtype("u1"), b"\0" * 3), "shape"),
        (_ArrayState((2, 3072), np.dtype("u1"), [0] * 6144), "Python objects"),
    ],
)
def test_cifar_arrays_other_than_plain_numbers_are_refused(tmp_path, array, message):
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps({b"data": array, b"labels": [0, 1]}, protocol=2))
    with pytest.raises(DataFileError, match=message):
        load_cifar10_batch(path)


@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar_array_byte_order_and_layout_are_kept(tmp_path, protocol):
    # not a CIFAR batch field, but the unpickler must rebuild any plain array exactly
    from engine.data import _unpickle_numpy_only

    big = (np.arange(6).reshape(2, 3) / 7).astype(">f4")
    fortran = np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4))
    data = pickle.dumps({b"big": big, b"f": fortran, b"t": (np.bool_(True).item(), 2.5),
                         b"empty": b""}, protocol=protocol)
    got = _unpickle_numpy_only(data, "x")
    assert got[b"empty"] == b""
    np.testing.assert_array_equal(got[b"big"], big)
    assert got[b"big"].dtype == np.dtype(">f4")
    np.testing.assert_array_equal(got[b"f"], fortran)
    assert got[b"t"] == (True, 2.5)


def test_bytes_with_another_codec_are_refused(tmp_path):
    # protocol 2 stores bytes as _codecs.encode(text, "latin1"); other codecs are refused
    import _codecs

    class OtherCodec:
        def __reduce__(self):
            return (_codecs.encode, ("abc", "rot13"))

    path = tmp_path / "b"
    path.write_bytes(pickle.dumps({b"data": OtherCodec()}, protocol=2))
    with pytest.raises(DataFileError, match="encoding"):
        load_cifar10_batch(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"this is a text file, not a pickle\n", "not a pickle"),
        (b"", "not a pickle"),
        (gzip.compress(b"\x80\x02}q\x00."), "compressed"),
        (pickle.dumps(cifar_dict(), protocol=2)[:500], "truncated"),
        (pickle.dumps([1, 2, 3], protocol=2), "dict"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2), "b'labels'"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, 2),
         "uint8"),
        (pickle.dumps({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]}, 2),
         "3072"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, 2),
         "2 images but 1 labels"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 11]}, 2),
         "0-9"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": ["a", "b"]}, 2),
         "whole numbers"),
        (pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}, 2),
         "b'data'"),
    ],
)
def test_cifar_bad_files_raise_a_clear_error(tmp_path, content, message):
    path = tmp_path / "data_batch_1"
    path.write_bytes(content)
    with pytest.raises(DataFileError, match=message) as info:
        load_cifar10_batch(path)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- npz data sets

def test_npz_dataset_round_trip(tmp_path, small_mnist):
    images, labels = small_mnist
    path = tmp_path / "digits.npz"
    np.savez_compressed(path, images=images, labels=labels)
    got_images, got_labels = load_npz_dataset(path)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b"hello") and p, "not an .npz"),
        (lambda p: (np.save(p.with_suffix(".npy"), np.zeros(3)),
                    p.write_bytes(p.with_suffix(".npy").read_bytes()))[1] and p, "not an .npz"),
        (lambda p: _npz(p, images=np.zeros((3, 28, 28), np.uint8)), "missing labels"),
        (lambda p: _npz(p, images=np.zeros((3, 28, 28), np.float32),
                        labels=np.zeros(3, np.int64)), "uint8"),
        (lambda p: _npz(p, images=np.zeros((3, 32, 32), np.uint8),
                        labels=np.zeros(3, np.int64)), r"\(N, 28, 28\)"),
        (lambda p: _npz(p, images=np.zeros((3, 28, 28), np.uint8),
                        labels=np.zeros(2, np.int64)), "3 images but 2 labels"),
        (lambda p: _npz(p, images=np.zeros((3, 28, 28), np.uint8),
                        labels=np.array([0, 1, -1])), "0-9"),
        (lambda p: _npz(p, images=np.zeros((3, 28, 28), np.uint8),
                        labels=np.zeros(3, np.float64)), "whole numbers"),
        (lambda p: _npz(p, images=np.zeros((0, 28, 28), np.uint8),
                        labels=np.zeros(0, np.int64)), "no images"),
        (lambda p: _npz(p, images=np.zeros((3, 28, 28), np.uint8),
                        labels=np.array([1, "a", None], dtype=object)), "Python objects"),
    ],
)
def test_npz_dataset_bad_files(tmp_path, make, message):
    path = tmp_path / "d.npz"
    make(path)
    with pytest.raises(DataFileError, match=message) as info:
        load_npz_dataset(path)
    assert "\n" not in str(info.value)


def test_npz_dataset_truncated(tmp_path, small_mnist):
    images, labels = small_mnist
    path = tmp_path / "d.npz"
    np.savez(path, images=images, labels=labels)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 30, 100):
        path.write_bytes(data[:cut])
        with pytest.raises(DataFileError, match="npz"):
            load_npz_dataset(path)


def test_npz_dataset_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        load_npz_dataset(tmp_path / "missing.npz")


# --------------------------------------------------------------------------- properties

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_FILES = settings(max_examples=40, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FILES
@given(n=st.integers(1, 6), h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 99),
       compressed=st.booleans())
def test_idx_round_trip_any_shape(tmp_path, n, h, w, seed, compressed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    pack = gzip.compress if compressed else bytes
    ip = write(tmp_path / "i", pack(idx_bytes(images)))
    lp = write(tmp_path / "l", pack(idx_bytes(labels)))
    got_images, got_labels = load_mnist_idx(ip, lp)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


@_FILES
@given(cut=st.integers(0, 4 + 12 + 3 * 4 * 4 - 1))
def test_idx_truncated_anywhere_is_refused(tmp_path, cut):
    images = np.arange(48, dtype=np.uint8).reshape(3, 4, 4)
    ip = write(tmp_path / "i", idx_bytes(images)[:cut])
    lp = write(tmp_path / "l", idx_bytes(np.array([1, 2, 3], np.uint8)))
    with pytest.raises(DataFileError):
        load_mnist_idx(ip, lp)


_BATCH = pickle.dumps(cifar_dict(n=2, seed=5), protocol=2)


@_FILES
@given(cut=st.integers(0, len(_BATCH) - 1))
def test_cifar_truncated_anywhere_is_refused(tmp_path, cut):
    path = write(tmp_path / "b", _BATCH[:cut])
    with pytest.raises(DataFileError):
        load_cifar10_batch(path)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(0, len(_BATCH) - 1), value=st.integers(0, 255))
def test_cifar_corrupted_byte_gives_a_result_or_a_data_file_error(tmp_path, capfd, position,
                                                                   value):
    data = bytearray(_BATCH)
    data[position] = value
    path = write(tmp_path / "b", bytes(data))
    try:
        images, labels = load_cifar10_batch(path)
    except DataFileError as err:
        assert "\n" not in str(err)
    else:  # a byte inside the pixel data or a label changed: still a valid batch
        assert images.shape == (2, 3, 32, 32) and labels.shape == (2,)
    # nothing printed behind our back (CPython prints some errors straight to stderr)
    assert capfd.readouterr().err == ""


def test_cifar_bytearray_with_an_impossible_length_is_refused(tmp_path, capfd):
    # protocol 5 stores writable buffers with BYTEARRAY8 (opcode 0x96) and an 8-byte length
    payload = b"\x80\x05\x96" + struct.pack("<Q", 2**62) + b"abc."
    path = write(tmp_path / "b", payload)
    with pytest.raises(DataFileError, match="truncated or damaged"):
        load_cifar10_batch(path)
    assert capfd.readouterr().err == ""


# --------------------------------------------------------------------------- resource bombs
# Small hostile files must be refused before they make the loader allocate much memory.

def test_cifar_huge_memo_index_is_refused_before_unpickling(tmp_path):
    # PROTO 2, EMPTY_DICT, LONG_BINPUT 2**24, STOP: 9 bytes that would make the C
    # unpickler allocate a memo table of 2**24 entries
    path = tmp_path / "memo_bomb"
    path.write_bytes(b"\x80\x02}r" + struct.pack("<I", 2**24) + b".")
    with pytest.raises(DataFileError, match="memo index"):
        load_cifar10_batch(path)


def test_mnist_gzip_bomb_is_read_only_as_far_as_its_header_declares(tmp_path, monkeypatch):
    import engine.data as data

    # a header that declares 1x1x1 image followed by 8 MB of zeros (compresses to ~8 KB)
    payload = b"\x00\x00\x08\x03" + struct.pack(">3I", 1, 1, 1) + bytes(8 * 2**20)
    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(payload))
    read_sizes = []
    original = gzip.GzipFile.read

    def spy(self, size=-1):
        read_sizes.append(size)
        return original(self, size)

    monkeypatch.setattr(data.gzip.GzipFile, "read", spy)
    with pytest.raises(DataFileError, match="longer than declared"):
        load_mnist_idx(path, path)
    assert read_sizes and all(0 <= s <= 64 for s in read_sizes), read_sizes


def test_mnist_header_declaring_gigabytes_is_refused(tmp_path):
    payload = b"\x00\x00\x08\x03" + struct.pack(">3I", 60000, 1000, 1000)
    path = tmp_path / "huge-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(payload))
    with pytest.raises(DataFileError, match="more than this app loads"):
        load_mnist_idx(path, path)


def test_cifar_shared_reference_bomb_is_refused(tmp_path):
    # 6 levels of 1000 references to one list: about 12 KB of pickle that the loader's
    # copy would expand to 10^18 elements (issue 9, item 10)
    import threading

    level = [0]
    for _ in range(6):
        level = [level] * 1000
    blob = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": level}, protocol=2)
    assert len(blob) < 20_000
    path = write(tmp_path / "bomb", blob)
    outcome = []
    thread = threading.Thread(daemon=True, target=lambda: outcome.append(
        pytest.raises(DataFileError, load_cifar10_batch, path)))
    thread.start()
    thread.join(timeout=120)  # a hang guard, not a timing test
    assert not thread.is_alive() and outcome, "the bomb was expanded"
    assert "elements" in str(outcome[0].value) and "shared reference" in str(outcome[0].value)


def test_cifar_batch_with_too_many_instructions_is_refused(tmp_path, monkeypatch):
    import engine.data as data

    batch = cifar_dict(n=50)
    path = write(tmp_path / "many", pickle.dumps(batch, protocol=2))
    load_cifar10_batch(path)  # fine under the real cap
    monkeypatch.setattr(data, "MAX_PICKLE_OPCODES", 40)
    with pytest.raises(DataFileError, match="more than 40 pickle instructions"):
        load_cifar10_batch(path)
    monkeypatch.setattr(data, "MAX_PICKLE_OPCODES", 10**6)
    monkeypatch.setattr(data, "MAX_PICKLE_ELEMENTS", 60)  # 50 labels + 50 names + the dict
    with pytest.raises(DataFileError, match="more than 60 elements"):
        load_cifar10_batch(path)


@pytest.mark.parametrize("cap_name, loader", [
    ("_IDX_MAX_BYTES", lambda p: load_mnist_idx(p, p)),
    ("MAX_PICKLE_BYTES", load_cifar10_batch),
    ("MAX_NPZ_BYTES", load_npz_dataset),
])
def test_files_larger_than_the_cap_are_refused_before_reading(tmp_path, monkeypatch, cap_name,
                                                              loader):
    import engine.data as data

    path = write(tmp_path / "big", b"\x00" * 5000)
    monkeypatch.setattr(data, cap_name, 4096)
    with pytest.raises(DataFileError, match="more than this app reads"):
        loader(path)
