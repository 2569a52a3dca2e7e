"""Data sets written in their official formats, for the loader tests (and the CIFAR-10
stand-in the recipe was timed on, when the real files are not on the machine).

- CIFAR-10 python: pickled dicts, protocol 2, bytes keys (b"data" uint8 (N, 3072): 1024
  red, 1024 green, 1024 blue values per row; b"labels" a list of ints), and batches.meta
  with b"label_names".
- MNIST IDX: 0, 0, type code 0x08, number of dimensions, then the sizes as big-endian
  unsigned 32-bit integers, then the bytes; plain or gzip.
- Image folders: one subfolder per class, PNG / JPEG / BMP files written with Pillow.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]


def cifar_batch_bytes(data: np.ndarray, labels, protocol: int = 2) -> bytes:
    """One batch as the CIFAR-10 python version stores it."""
    n = data.shape[0]
    batch = {b"batch_label": b"training batch 1 of 5", b"labels": [int(v) for v in labels],
             b"data": np.ascontiguousarray(data, np.uint8),
             b"filenames": [b"img_%05d.png" % i for i in range(n)]}
    return pickle.dumps(batch, protocol=protocol)


def py2_cifar_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch byte for byte as the real CIFAR-10 files: Python 2 cPickle, protocol 2.

    Python 2 strings are SHORT_BINSTRING opcodes and the array is rebuilt through
    numpy 1's ``numpy.core.multiarray._reconstruct`` with an ndarray state tuple
    (version, shape, dtype, is_fortran, raw bytes).
    """
    def text(b):
        return b"U" + bytes([len(b)]) + b

    def int1(v):
        return b"K" + bytes([v])

    def int2(v):
        return b"M" + struct.pack("<H", v)

    n, d = data.shape
    raw = data.tobytes()
    out = b"\x80\x02}q\x00(" + text(b"data")
    out += (b"cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02"
            + int1(0) + b"\x85" + text(b"b") + b"\x87R")
    out += b"(" + int1(1) + int2(n) + int2(d) + b"\x86"
    out += b"cnumpy\ndtype\n" + text(b"u1") + int1(0) + int1(1) + b"\x87R"
    out += b"(" + int1(3) + text(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff" + int1(0)
    out += b"tb\x89T" + struct.pack("<I", len(raw)) + raw + b"tb"
    out += text(b"labels") + b"](" + b"".join(int1(v) for v in labels) + b"e"
    out += text(b"batch_label") + text(b"training batch 1 of 5") + b"u."
    return out


def cifar_meta_bytes(names=CIFAR_NAMES, protocol: int = 2) -> bytes:
    meta = {b"num_cases_per_batch": 10000, b"label_names": [n.encode() for n in names],
            b"num_vis": 3072}
    return pickle.dumps(meta, protocol=protocol)


def write_cifar_folder(folder: Path, per_batch: int = 4, seed: int = 0,
                       images=None, py2: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """data_batch_1..5, test_batch, batches.meta in ``folder`` (created).

    ``images(n, rng) -> (uint8 (n, 3072), labels (n,))`` makes each batch (default:
    random pixels and labels); ``py2``: byte for byte as the real files (Python 2 cPickle).
    Returns {file name: (data (n, 3072), labels (n,))}.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        if images is None:
            data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
            labels = rng.integers(0, 10, size=per_batch)
        else:
            data, labels = images(per_batch, rng)
        blob = py2_cifar_pickle(data, [int(v) for v in labels]) if py2 else \
            cifar_batch_bytes(data, labels)
        (folder / name).write_bytes(blob)
        written[name] = (data, np.asarray(labels))
    (folder / "batches.meta").write_bytes(cifar_meta_bytes())
    return written


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(">u1").tobytes()


def write_mnist_folder(folder: Path, n_train: int = 6, n_test: int = 3, seed: int = 0,
                       compressed: bool = False, size: tuple[int, int] = (28, 28)) -> dict:
    """The four MNIST files; returns {"train": (images, labels), "t10k": (...)}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, *size), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        for what, array, d in (("images", images, 3), ("labels", labels, 1)):
            data = idx_bytes(array)
            name = f"{part}-{what}-idx{d}-ubyte"
            if compressed:
                data, name = gzip.compress(data), name + ".gz"
            (folder / name).write_bytes(data)
        out[part] = (images, labels.astype(np.int64))
    return out


def write_image_folder(folder: Path, counts: dict[str, int], size=(10, 8), seed: int = 0,
                       formats=("PNG", "JPEG", "BMP")) -> dict[str, list[Path]]:
    """``counts[class]`` pictures of ``size`` (width, height) per class subfolder, random
    RGB, cycling through ``formats``. Returns {class: [paths]}."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    written: dict[str, list[Path]] = {}
    k = 0
    for name, count in counts.items():
        sub = folder / name
        sub.mkdir(parents=True, exist_ok=True)
        written[name] = []
        for i in range(count):
            fmt = formats[k % len(formats)]
            k += 1
            ext = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp"}[fmt]
            pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
            path = sub / f"{name}_{i:03d}{ext}"
            Image.fromarray(pixels, "RGB").save(path, fmt)
            written[name].append(path)
    return written


# ------------------------------------------------------------------ a CIFAR-10 stand-in

def shapes_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` CIFAR-format images of ten drawn classes (not CIFAR-10: a stand-in of the same
    size and format when the real files are not at hand): disc, square, triangle,
    horizontal / vertical / diagonal stripes, ring, cross, checkerboard, two blobs; random
    colours, places, sizes and noise. Returns (uint8 (n, 3072), labels (n,))."""
    labels = rng.integers(0, 10, size=n)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    out = np.empty((n, 3, 32, 32), np.uint8)
    for i, label in enumerate(labels):
        cy, cx = rng.uniform(10, 22, size=2)
        r = rng.uniform(5, 10)
        dy, dx = yy - cy, xx - cx
        period = rng.uniform(4, 8)
        masks = [
            dy ** 2 + dx ** 2 < r ** 2,
            (abs(dy) < r * 0.8) & (abs(dx) < r * 0.8),
            (dy < r * 0.7) & (dy > -r) & (abs(dx) < (dy + r) * 0.6),
            np.sin(yy * 2 * np.pi / period) > 0,
            np.sin(xx * 2 * np.pi / period) > 0,
            np.sin((xx + yy) * 2 * np.pi / period / 1.4) > 0,
            abs(np.sqrt(dy ** 2 + dx ** 2) - r) < 1.6,
            (abs(dy) < 2) & (abs(dx) < r) | (abs(dx) < 2) & (abs(dy) < r),
            ((yy // period + xx // period) % 2) == 0,
            ((dy - 4) ** 2 + (dx - 4) ** 2 < 16) | ((dy + 4) ** 2 + (dx + 4) ** 2 < 16),
        ]
        fg, bg = rng.uniform(0, 255, size=(2, 3, 1, 1))
        image = np.where(masks[label][None], fg, bg) + rng.normal(0, 25, size=(3, 32, 32))
        out[i] = np.clip(image, 0, 255).astype(np.uint8)
    return out.reshape(n, 3072), labels
