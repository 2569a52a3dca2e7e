"""engine.datasets: CIFAR-10 folders, MNIST IDX folders, image folders, .npz files.

The files are written here in their official formats (tests/datafiles.py); the expected
arrays come from what was written (and, for pictures, from the pixels written or from an
independent formula), never from the loaders.
"""

import os
import pickle
import struct
import zlib

import numpy as np
import pytest
from datafiles import (
    CIFAR_NAMES,
    cifar_batch_bytes,
    cifar_meta_bytes,
    write_cifar_folder,
    write_image_folder,
    write_mnist_folder,
)

import engine.datasets as ds
from engine.data import MNIST_PATH, DataFileError
from engine.datasets import ImageOptions, LoadStopped, dataset_kind, load_dataset

# --------------------------------------------------------------------------- CIFAR-10


def _planes(data: np.ndarray) -> np.ndarray:
    """(N, 3072) rows -> (N, 3, 32, 32) by the documented layout, in float [0, 1]."""
    return data.reshape(-1, 3, 32, 32).astype(np.float64) / 255.0


def test_cifar_folder_round_trip_and_fixed_split(tmp_path):
    written = write_cifar_folder(tmp_path / "cifar-10-batches-py", per_batch=5, seed=4)
    data = load_dataset(tmp_path / "cifar-10-batches-py")
    assert data.kind == "cifar10" and data.class_names == tuple(CIFAR_NAMES)
    assert data.train_x.shape == (25, 3, 32, 32) and data.val_x.shape == (5, 3, 32, 32)
    assert data.train_x.dtype == np.float32 and data.train_x.flags.c_contiguous
    train = [written[f"data_batch_{i}"] for i in range(1, 6)]
    np.testing.assert_allclose(data.train_x, _planes(np.concatenate([t[0] for t in train])),
                               rtol=1e-6)
    np.testing.assert_array_equal(data.train_y, np.concatenate([t[1] for t in train]))
    np.testing.assert_allclose(data.val_x, _planes(written["test_batch"][0]), rtol=1e-6)
    np.testing.assert_array_equal(data.val_y, written["test_batch"][1])
    assert data.input_shape == (3, 32, 32) and data.num_classes == 10 and not data.is_digits
    assert "25 training and 5 validation" in data.describe()


def test_cifar_in_the_original_python2_format(tmp_path):
    written = write_cifar_folder(tmp_path, per_batch=3, seed=1, py2=True)
    data = load_dataset(tmp_path)
    np.testing.assert_array_equal(data.val_y, written["test_batch"][1])
    np.testing.assert_allclose(data.val_x, _planes(written["test_batch"][0]), rtol=1e-6)


def test_a_file_in_the_folder_or_the_parent_folder_opens_the_folder(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder, per_batch=2)
    assert dataset_kind(folder / "data_batch_3") == ("cifar10", folder)
    assert dataset_kind(tmp_path) == ("cifar10", folder)
    assert load_dataset(folder / "batches.meta").train_x.shape[0] == 10


@pytest.mark.parametrize("missing", ["data_batch_1", "data_batch_5", "test_batch",
                                     "batches.meta"])
def test_cifar_a_missing_file_is_named(tmp_path, missing):
    write_cifar_folder(tmp_path, per_batch=2)
    (tmp_path / missing).unlink()
    with pytest.raises(DataFileError, match=f"{missing}: missing"):
        load_dataset(tmp_path)


def test_cifar_mismatched_counts_name_the_batch(tmp_path):
    write_cifar_folder(tmp_path, per_batch=3)
    batch = pickle.loads((tmp_path / "data_batch_2").read_bytes())
    batch[b"labels"] = batch[b"labels"][:2]
    (tmp_path / "data_batch_2").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataFileError, match=r"data_batch_2.*3 images but 2 labels"):
        load_dataset(tmp_path)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w').write('hacked')",))


@pytest.mark.parametrize("victim", ["data_batch_4", "batches.meta"])
def test_cifar_a_hostile_pickle_among_the_files_runs_nothing(tmp_path, victim):
    write_cifar_folder(tmp_path, per_batch=2)
    marker = tmp_path / "hacked.txt"
    (tmp_path / victim).write_bytes(pickle.dumps({b"label_names": _Exploit(str(marker)),
                                                 b"data": _Exploit(str(marker))}, protocol=2))
    with pytest.raises(DataFileError, match=f"{victim}.*refused to load .*builtin.*eval"):
        load_dataset(tmp_path)
    assert not marker.exists()


def test_cifar_meta_with_a_shared_reference_bomb_is_refused(tmp_path):
    write_cifar_folder(tmp_path, per_batch=2)
    level = [b"x"]
    for _ in range(6):
        level = [level] * 1000
    (tmp_path / "batches.meta").write_bytes(pickle.dumps({b"label_names": level}, protocol=2))
    with pytest.raises(DataFileError, match="batches.meta.*elements"):
        load_dataset(tmp_path)


@pytest.mark.parametrize("meta, words", [
    ({b"label_names": []}, "label_names"),
    ({b"num_vis": 3072}, "label_names"),
    ({b"label_names": [1, 2]}, "label_names"),
])
def test_cifar_meta_without_class_names(tmp_path, meta, words):
    write_cifar_folder(tmp_path, per_batch=2)
    (tmp_path / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    with pytest.raises(DataFileError, match=words):
        load_dataset(tmp_path)


def test_cifar_labels_beyond_the_named_classes(tmp_path):
    write_cifar_folder(tmp_path, per_batch=2)
    (tmp_path / "batches.meta").write_bytes(cifar_meta_bytes(["a", "b"]))
    for i in range(1, 6):
        (tmp_path / f"data_batch_{i}").write_bytes(
            cifar_batch_bytes(np.zeros((2, 3072), np.uint8), [1, 0]))
    (tmp_path / "test_batch").write_bytes(cifar_batch_bytes(np.zeros((2, 3072), np.uint8),
                                                            [1, 7]))
    with pytest.raises(DataFileError, match="test_batch: a label is 7.*only 2 classes"):
        load_dataset(tmp_path)


def test_cifar_a_batch_with_no_images(tmp_path):
    write_cifar_folder(tmp_path, per_batch=2)
    (tmp_path / "data_batch_3").write_bytes(cifar_batch_bytes(np.zeros((0, 3072), np.uint8),
                                                              []))
    with pytest.raises(DataFileError, match="data_batch_3: holds no images"):
        load_dataset(tmp_path)


def test_cifar_a_fifo_or_folder_in_place_of_a_batch_is_never_opened(tmp_path):
    write_cifar_folder(tmp_path, per_batch=2)
    (tmp_path / "data_batch_2").unlink()
    os.mkfifo(tmp_path / "data_batch_2")  # opening it would wait for a writer forever
    with pytest.raises(DataFileError, match="data_batch_2: is a FIFO"):
        load_dataset(tmp_path)
    (tmp_path / "data_batch_2").unlink()
    (tmp_path / "data_batch_2").mkdir()
    with pytest.raises(DataFileError, match="data_batch_2: is a folder"):
        load_dataset(tmp_path)


def test_cifar_a_truncated_batch_and_a_batch_over_the_cap(tmp_path, monkeypatch):
    import engine.data as data

    write_cifar_folder(tmp_path, per_batch=2)
    blob = (tmp_path / "data_batch_1").read_bytes()
    (tmp_path / "data_batch_1").write_bytes(blob[:len(blob) // 2])
    with pytest.raises(DataFileError, match="data_batch_1: not a CIFAR-10 python batch"):
        load_dataset(tmp_path)
    (tmp_path / "data_batch_1").write_bytes(blob)
    monkeypatch.setattr(data, "MAX_PICKLE_BYTES", 1000)
    with pytest.raises(DataFileError, match="more than this app reads"):
        load_dataset(tmp_path)


def test_a_compressed_archive_is_explained(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    path.write_bytes(b"\x1f\x8b" + bytes(30))
    with pytest.raises(DataFileError, match="extract it first"):
        load_dataset(path)


def test_a_data_set_over_the_value_cap_is_refused(tmp_path, monkeypatch):
    write_cifar_folder(tmp_path, per_batch=2)
    monkeypatch.setattr(ds, "MAX_DATASET_VALUES", 10 * 3072)
    with pytest.raises(DataFileError, match="more than this app loads"):
        load_dataset(tmp_path)


# --------------------------------------------------------------------------- progress, stop

def test_progress_rises_to_one_and_stop_stops_between_files(tmp_path):
    write_cifar_folder(tmp_path, per_batch=2)
    seen = []
    load_dataset(tmp_path, progress=lambda f, text: seen.append((f, text)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) >= 7
    assert any("data_batch_3" in text for _, text in seen)
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(LoadStopped):
        load_dataset(tmp_path, stop=stop)
    assert len(calls) == 3


# --------------------------------------------------------------------------- MNIST IDX

@pytest.mark.parametrize("compressed", [False, True])
def test_mnist_folder_plain_and_gzip(tmp_path, compressed):
    written = write_mnist_folder(tmp_path, n_train=7, n_test=4, seed=2, compressed=compressed)
    data = load_dataset(tmp_path)
    assert data.kind == "mnist-idx" and data.class_names == tuple("0123456789")
    assert data.train_x.shape == (7, 1, 28, 28) and data.val_x.shape == (4, 1, 28, 28)
    np.testing.assert_allclose(data.train_x[:, 0], written["train"][0] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.val_y, written["t10k"][1])
    assert data.is_digits


def test_mnist_folder_by_one_of_its_files_and_dotted_names(tmp_path):
    write_mnist_folder(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").rename(tmp_path / "train-images.idx3-ubyte")
    assert dataset_kind(tmp_path / "t10k-labels-idx1-ubyte") == ("mnist-idx", tmp_path)
    assert load_dataset(tmp_path).train_x.shape[0] == 6


@pytest.mark.parametrize("missing", ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])
def test_mnist_a_missing_file_is_named(tmp_path, missing):
    write_mnist_folder(tmp_path)
    (tmp_path / missing).unlink()
    with pytest.raises(DataFileError, match=f"{missing}: missing"):
        load_dataset(tmp_path)


def test_mnist_mismatched_counts_and_sizes(tmp_path):
    from datafiles import idx_bytes

    write_mnist_folder(tmp_path, n_train=5)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(DataFileError, match="5 images but 4 labels"):
        load_dataset(tmp_path)
    write_mnist_folder(tmp_path, n_train=5)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((3, 20, 20),
                                                                         np.uint8)))
    with pytest.raises(DataFileError, match="t10k-images-idx3-ubyte: its images are 20×20"):
        load_dataset(tmp_path)


def test_mnist_a_gzip_bomb_in_the_folder_is_refused(tmp_path):
    write_mnist_folder(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    payload = b"\x00\x00\x08\x03" + struct.pack(">3I", 1, 28, 28) + bytes(16 * 2**20)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(__import__("gzip").compress(payload))
    with pytest.raises(DataFileError, match="t10k-images-idx3-ubyte.gz.*longer than declared"):
        load_dataset(tmp_path)


# --------------------------------------------------------------------------- image folders

def test_image_folder_pixels_classes_and_split(tmp_path):
    written = write_image_folder(tmp_path, {"dog": 7, "cat": 6}, size=(8, 8),
                                 formats=("PNG", "BMP"))
    data = load_dataset(tmp_path, ImageOptions(size=8, colour="rgb"))
    assert data.kind == "image-folder" and data.class_names == ("cat", "dog")  # sorted
    assert data.input_shape == (3, 8, 8) and data.options == ImageOptions(8, "rgb")
    from PIL import Image

    expected_train, expected_val = [], []
    for label, name in enumerate(("cat", "dog")):
        for path in sorted(written[name]):
            pixels = np.asarray(Image.open(path)).transpose(2, 0, 1) / 255.0  # lossless
            validates = zlib.crc32(f"{name}/{path.name}".encode()) % 5 == 0
            (expected_val if validates else expected_train).append((pixels, label))
    assert len(data.train_y) == len(expected_train) and len(data.val_y) == len(expected_val)
    np.testing.assert_allclose(data.train_x, np.stack([p for p, _ in expected_train]),
                               rtol=1e-6)
    np.testing.assert_array_equal(data.train_y, [lbl for _, lbl in expected_train])
    again = load_dataset(tmp_path, ImageOptions(size=8, colour="rgb"))
    np.testing.assert_array_equal(again.val_y, data.val_y)


def test_image_folder_grey_and_resized(tmp_path):
    written = write_image_folder(tmp_path, {"a": 3, "b": 3}, size=(8, 8), formats=("PNG",))
    grey = load_dataset(tmp_path, ImageOptions(size=8, colour="grey"))
    from PIL import Image

    path = sorted(written["a"])[0]
    rgb = np.asarray(Image.open(path)).astype(np.int64)
    # ITU-R 601-2 luma, rounded as Pillow's "L" conversion does
    luma = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16
    all_x = np.concatenate([grey.train_x, grey.val_x])
    assert grey.input_shape == (1, 8, 8)
    assert any(np.array_equal(np.rint(x[0] * 255), luma) for x in all_x)
    small = load_dataset(tmp_path, ImageOptions(size=4, colour="rgb"))
    assert small.input_shape == (3, 4, 4)
    assert 0.0 <= small.train_x.min() and small.train_x.max() <= 1.0


def test_image_folder_jpeg_is_decoded(tmp_path):
    write_image_folder(tmp_path, {"x": 2, "y": 2}, size=(40, 30), formats=("JPEG",))
    data = load_dataset(tmp_path, ImageOptions(size=16))
    assert data.input_shape == (3, 16, 16) and len(data.train_y) + len(data.val_y) == 4
    assert len(data.val_y) >= 1 and len(data.train_y) >= 1


def test_image_folder_one_unreadable_file_among_many_is_named(tmp_path):
    write_image_folder(tmp_path, {"a": 5, "b": 5})
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    with pytest.raises(DataFileError, match=r"broken\.png: .*(damaged|not a PNG)"):
        load_dataset(tmp_path)
    (tmp_path / "b" / "broken.png").write_text("not a picture")
    with pytest.raises(DataFileError, match=r"broken\.png: not a PNG, JPEG or BMP image"):
        load_dataset(tmp_path)


def test_image_folder_a_fifo_named_like_a_picture_is_never_opened(tmp_path):
    write_image_folder(tmp_path, {"a": 2, "b": 2})
    os.mkfifo(tmp_path / "a" / "zz.png")
    with pytest.raises(DataFileError, match=r"zz\.png: is a FIFO"):
        load_dataset(tmp_path)


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height RGB pixels, with almost no data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + \
        chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [7000, 60000])  # above this app's cap / above Pillow's too
def test_image_folder_a_picture_declaring_huge_dimensions_is_not_decoded(tmp_path, side):
    write_image_folder(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "a" / "bomb.png").write_bytes(_png_header(side, side))
    with pytest.raises(DataFileError, match=r"bomb\.png: .*more .*than this app decodes"):
        load_dataset(tmp_path)


def _loose_pictures(folder):
    from PIL import Image

    for i in range(3):
        Image.new("RGB", (4, 4)).save(folder / f"{i}.png")


@pytest.mark.parametrize("make, words", [
    (lambda p: None, "not a data set"),
    (lambda p: write_image_folder(p, {"only": 3}), "one class"),
    (lambda p: (write_image_folder(p, {"a": 2}), (p / "empty").mkdir()), "empty: holds no"),
    (lambda p: _loose_pictures(p), "subfolders, one for each"),
])
def test_image_folder_bad_layouts(tmp_path, make, words):
    root = tmp_path / "pictures"
    root.mkdir()
    make(root)
    with pytest.raises(DataFileError, match=words):
        load_dataset(root)


def test_image_folder_too_many_entries_or_values(tmp_path, monkeypatch):
    write_image_folder(tmp_path, {"a": 4, "b": 4})
    monkeypatch.setattr(ds, "MAX_FOLDER_ENTRIES", 6)
    with pytest.raises(DataFileError, match="more than 6 files"):
        load_dataset(tmp_path)
    monkeypatch.setattr(ds, "MAX_FOLDER_ENTRIES", 1000)
    monkeypatch.setattr(ds, "MAX_DATASET_VALUES", 100)
    with pytest.raises(DataFileError, match="more than this app loads"):
        load_dataset(tmp_path)


def test_image_folder_hidden_entries_and_other_files_are_left_out(tmp_path):
    write_image_folder(tmp_path, {"a": 2, "b": 2})
    (tmp_path / ".thumbnails").mkdir()
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "a" / "notes.txt").write_text("hello")
    (tmp_path / "a" / ".hidden.png").write_text("x")
    data = load_dataset(tmp_path)
    assert data.class_names == ("a", "b") and len(data.train_y) + len(data.val_y) == 4


@pytest.mark.parametrize("size, colour", [(3, "rgb"), (300, "rgb"), (32, "cmyk"), (True, "rgb")])
def test_image_options_are_checked(size, colour):
    with pytest.raises(ValueError):
        ImageOptions(size=size, colour=colour)


# --------------------------------------------------------------------------- .npz

def test_npz_colour_images_with_class_names_and_last_tenth_validating(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 3, 5, 6), dtype=np.uint8)
    labels = rng.integers(0, 3, size=20)
    np.savez(tmp_path / "set.npz", images=images, labels=labels,
             class_names=np.array(["red", "green", "blue"]))
    data = load_dataset(tmp_path / "set.npz")
    assert data.kind == "npz" and data.class_names == ("red", "green", "blue")
    assert data.train_x.shape == (18, 3, 5, 6) and data.val_x.shape == (2, 3, 5, 6)
    np.testing.assert_allclose(data.val_x, images[18:] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.train_y, labels[:18])


def test_npz_digits_and_the_embedded_subset(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", images=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
             labels=np.arange(10) % 4)
    data = load_dataset(tmp_path / "d.npz")
    assert data.is_digits and data.num_classes == 10 and len(data.val_y) == 1
    embedded = load_dataset(MNIST_PATH)
    assert embedded.kind == "embedded" and embedded.train_x.shape == (8000, 1, 28, 28)


@pytest.mark.parametrize("arrays, words", [
    ({"images": np.zeros((4, 2, 5, 5), np.uint8), "labels": np.zeros(4, int)}, "1 or 3"),
    ({"images": np.zeros((4, 5, 5), np.float32), "labels": np.zeros(4, int)}, "uint8"),
    ({"images": np.zeros((4, 5, 5), np.uint8), "labels": np.zeros(3, int)},
     "4 images but 3 labels"),
    ({"images": np.zeros((0, 5, 5), np.uint8), "labels": np.zeros(0, int)}, "no images"),
    ({"images": np.zeros((2, 5, 5), np.uint8), "labels": np.array([0, -1])}, "-1"),
    ({"images": np.zeros((2, 5, 5), np.uint8), "labels": np.array([0, 4]),
      "class_names": np.array(["a", "b"])}, "only 2 classes"),
])
def test_npz_bad_files(tmp_path, arrays, words):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataFileError, match=words):
        load_dataset(tmp_path / "bad.npz")


@pytest.mark.parametrize("path, words", [("/dev/zero", "device"), ("missing.npz", "no such")])
def test_npz_devices_and_missing_files(tmp_path, path, words):
    with pytest.raises(DataFileError, match=words):
        load_dataset(tmp_path / path if not path.startswith("/") else path)
