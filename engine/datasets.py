"""Data sets a learner opens: a CIFAR-10 python folder, an MNIST IDX folder, an image
folder (one subfolder per class), an .npz file, and the embedded MNIST subset.

:func:`load_dataset` looks at a path and returns one :class:`DataSet`: float32 images
(N, C, H, W) in [0, 1] cut into a training and a validation part that never change
for that data set, integer labels, the class names and where it came from. It is
plain Python + numpy (+ Pillow for image folders), so the command line and the GUI's
loading worker share it; ``progress(fraction, text)`` is told how far it got and
``stop()`` is asked between files (it raises :class:`LoadStopped`).

The fixed splits
----------------
- CIFAR-10: ``data_batch_1`` .. ``data_batch_5`` (50,000 images) train,
  ``test_batch`` (10,000) validates; class names from ``batches.meta``.
- MNIST IDX: ``train-*`` trains, ``t10k-*`` validates; classes "0" .. "9".
- Image folder: a file validates when the CRC-32 of ``<class>/<file name>`` is a
  multiple of 5 (about one in five, the same on every machine, and adding a picture
  never moves another one); classes are the subfolders' names in sorted order.
- .npz: the last tenth (at least one image) validates; the embedded subset keeps its
  own cut (the first 8,000 train, the last 1,000 validate).

Hostile input
-------------
Every file goes through :mod:`engine.files` (regular files only: a FIFO or a device
is refused before it is opened; reads bounded) and the CIFAR pickles through the
restricted unpickler of :mod:`engine.data`. Folders are scanned one level deep, at
most :data:`MAX_FOLDER_ENTRIES` entries; an image file may be at most
:data:`MAX_IMAGE_FILE_BYTES` and decode to at most :data:`MAX_IMAGE_PIXELS` pixels
(checked from its header, before decoding); a whole data set may hold at most
:data:`MAX_DATASET_VALUES` numbers. A bad data set raises
:class:`engine.data.DataFileError` with one sentence naming the file and the
problem, and nothing is returned.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import data as _data
from . import files
from .data import DataFileError
from .i18n import tr

__all__ = [
    "DataSet",
    "ImageOptions",
    "LoadStopped",
    "load_dataset",
    "embedded_dataset",
    "load_image_folder",
    "load_cifar10_folder",
    "load_mnist_folder",
    "load_npz_file",
    "dataset_kind",
    "CIFAR_BATCHES",
    "CIFAR_TEST",
    "CIFAR_META",
    "IMAGE_EXTENSIONS",
    "MAX_CLASSES",
    "MAX_DATASET_VALUES",
    "MAX_FOLDER_ENTRIES",
    "MAX_IMAGE_FILE_BYTES",
    "MAX_IMAGE_PIXELS",
]

CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_META = "batches.meta"
CIFAR_FOLDER = "cifar-10-batches-py"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
_PILLOW_FORMATS = ("PNG", "JPEG", "BMP")

#: The most classes a data set may have (the output layer has one unit per class).
MAX_CLASSES = 100
#: The most numbers (images x channels x height x width, training and validation) a data
#: set may hold: 1.6 GB of float32. The full CIFAR-10 is 184 million, MNIST 55 million.
MAX_DATASET_VALUES = 400_000_000
#: The most entries scanned in an image folder, subfolders included.
MAX_FOLDER_ENTRIES = 200_000
#: The largest image file read, and the most pixels one may decode to (its header says).
MAX_IMAGE_FILE_BYTES = 64 * 2**20
MAX_IMAGE_PIXELS = 40_000_000
#: The sizes an image folder may be resized to (pixels per side).
IMAGE_SIZE_RANGE = (4, 256)
_VALIDATION_EVERY = 5  # image folders: one file in five validates (by a hash of its name)
_NPZ_VALIDATION_SHARE = 10  # .npz: the last tenth validates

#: progress(fraction 0..1, what is being read)
Progress = Callable[[float, str], None]
Stop = Callable[[], bool]


class LoadStopped(Exception):
    """Loading was stopped by the caller's ``stop()`` (not an error: nothing is loaded)."""


@dataclass(frozen=True)
class ImageOptions:
    """How an image folder becomes arrays: every picture resized to ``size`` x ``size``
    pixels (stretched, not cropped), ``colour`` "rgb" (3 channels) or "grey" (1)."""

    size: int = 32
    colour: str = "rgb"

    def __post_init__(self):
        low, high = IMAGE_SIZE_RANGE
        if isinstance(self.size, bool) or not isinstance(self.size, int) or \
                not low <= self.size <= high:
            raise ValueError(tr("the image size must be a whole number of pixels from {low} "
                                "to {high}, not {size!r}").format(low=low, high=high,
                                                                  size=self.size))
        if self.colour not in ("rgb", "grey"):
            raise ValueError(tr("the colour must be \"rgb\" or \"grey\", not {colour!r}")
                             .format(colour=self.colour))

    @property
    def channels(self) -> int:
        return 3 if self.colour == "rgb" else 1

    def as_dict(self) -> dict:
        return {"size": self.size, "colour": self.colour}


@dataclass(frozen=True, eq=False)
class DataSet:
    """A labelled image set with its fixed training/validation split.

    Attributes
    ----------
    train_x : float32 (N, C, H, W) in [0, 1]; train_y : int64 (N,) in [0, K)
    val_x : float32 (M, C, H, W); val_y : int64 (M,)
    class_names : K names, class k first
    source : the path it was loaded from ("" for the embedded subset)
    kind : "cifar10", "mnist-idx", "image-folder", "npz" or "embedded"
    options : the image folder's ImageOptions (None for the other kinds)
    """

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    class_names: tuple[str, ...]
    source: str = ""
    kind: str = "npz"
    options: ImageOptions | None = field(default=None)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(int(s) for s in self.train_x.shape[1:])

    @property
    def channels(self) -> int:
        return self.input_shape[0]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def is_digits(self) -> bool:
        """28x28 grey images: what the drawing canvas draws."""
        return self.input_shape == (1, 28, 28)

    def split(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(train_x, train_y, val_x, val_y), for ``Trainer(network, *dataset.split())``."""
        return self.train_x, self.train_y, self.val_x, self.val_y

    @property
    def name(self) -> str:
        """A short name: the folder's or file's name, "MNIST (embedded)" for the subset."""
        if self.kind == "embedded" or not self.source:
            return tr("MNIST (embedded)")
        return Path(self.source).name

    def describe(self) -> str:
        """One line: name, counts, image shape, classes."""
        c, h, w = self.input_shape
        return tr("{name}: {train:,} training and {val:,} validation images of "
                  "{c}×{h}×{w}, {k} classes").format(
                      name=self.name, train=len(self.train_y), val=len(self.val_y), c=c, h=h,
                      w=w, k=self.num_classes)


# --------------------------------------------------------------------------- helpers

def _stopped(stop: Stop | None) -> None:
    if stop is not None and stop():
        raise LoadStopped


def _report(progress: Progress | None, fraction: float, text: str) -> None:
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), text)


def _check_values(count: int, shape: tuple[int, ...], where: str) -> None:
    total = count * math.prod(shape)
    if total > MAX_DATASET_VALUES:
        raise DataFileError(tr("{where}: {n:,} images of {shape} are {total:,} numbers, more "
                               "than this app loads ({cap:,})").format(
                                   where=where, n=count, shape="×".join(map(str, shape)),
                                   total=total, cap=MAX_DATASET_VALUES))


def _to_float(images: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 (N, C, H, W) -> float32 in [0, 1] (into ``out`` when given)."""
    if out is None:
        out = np.empty(images.shape, np.float32)
    np.multiply(images, np.float32(1.0 / 255.0), out=out, dtype=np.float32)
    return out


def _stat(path: Path):
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise DataFileError(tr("{path}: no such file or folder").format(path=path)) from None
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise DataFileError(tr("{path}: cannot be read ({reason})").format(
            path=path, reason=reason)) from None


def _scan(folder: Path, budget: list[int]) -> list[os.DirEntry]:
    """The entries of ``folder`` (sorted by name), counting against the scan budget."""
    try:
        with os.scandir(folder) as it:
            entries = []
            for entry in it:
                budget[0] -= 1
                if budget[0] < 0:
                    raise DataFileError(tr("{folder}: holds more than {n:,} files and folders; "
                                           "this app scans at most that many").format(
                                               folder=folder, n=MAX_FOLDER_ENTRIES))
                entries.append(entry)
    except OSError as err:
        raise DataFileError(tr("{folder}: cannot be read ({reason})").format(
            folder=folder, reason=err.strerror or type(err).__name__)) from None
    return sorted(entries, key=lambda e: e.name)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows a link to a folder (one level only: no loops)
    except OSError:
        return False


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__")


# --------------------------------------------------------------------------- what a path is

_IDX_NAME = re.compile(r"(train|t10k)-(images|labels)[-.]idx([13])-ubyte(\.gz)?")


def _idx_files(folder: Path) -> dict[tuple[str, str], Path]:
    """{("train" | "t10k", "images" | "labels"): path} of the MNIST files in ``folder``."""
    found: dict[tuple[str, str], Path] = {}
    for entry in _scan(folder, [MAX_FOLDER_ENTRIES]):
        match = _IDX_NAME.fullmatch(entry.name.lower())
        if match:
            key = (match.group(1), match.group(2))
            # a plain file is preferred to its .gz
            if key not in found or not match.group(4):
                found[key] = Path(entry.path)
    return found


def dataset_kind(path) -> tuple[str, Path]:
    """What ``path`` holds and the path to load: ("cifar10" | "mnist-idx" |
    "image-folder" | "npz", path).

    A file inside a CIFAR-10 or MNIST folder (``data_batch_1``, ``train-images-idx3-ubyte``)
    stands for its folder; a folder holding ``cifar-10-batches-py`` for that subfolder.
    Any other file is read as an .npz archive (which refuses devices and FIFOs unopened).

    Raises
    ------
    DataFileError
        For a missing path, a compressed archive, or a folder that is none of the kinds.
    """
    path = Path(path)
    info = _stat(path)
    if not stat.S_ISDIR(info.st_mode):
        name = path.name.lower()
        if name in (*CIFAR_BATCHES, CIFAR_TEST, CIFAR_META):
            return "cifar10", path.parent
        if _IDX_NAME.fullmatch(name):
            return "mnist-idx", path.parent
        if name.endswith((".tar.gz", ".tgz", ".tar", ".zip")) and not name.endswith(".npz"):
            raise DataFileError(tr("{path}: is an archive; extract it first and open the "
                                   "folder it holds").format(path=path))
        return "npz", path
    names = {e.name for e in _scan(path, [MAX_FOLDER_ENTRIES])}
    if CIFAR_FOLDER in names and not names & {*CIFAR_BATCHES, CIFAR_TEST, CIFAR_META}:
        return "cifar10", path / CIFAR_FOLDER
    if names & {*CIFAR_BATCHES, CIFAR_TEST, CIFAR_META}:
        return "cifar10", path
    if _idx_files(path):
        return "mnist-idx", path
    return "image-folder", path


def load_dataset(path, options: ImageOptions | None = None, progress: Progress | None = None,
                 stop: Stop | None = None) -> DataSet:
    """Load the data set at ``path`` (see :func:`dataset_kind`).

    Parameters
    ----------
    path : a CIFAR-10 folder, an MNIST IDX folder, an image folder or an .npz file
    options : how an image folder is resized and coloured (default ImageOptions())
    progress : called with (fraction, text) as files are read
    stop : asked between files; True stops with :class:`LoadStopped`

    Raises
    ------
    DataFileError
        One sentence naming the file and what is wrong with it.
    LoadStopped
        ``stop()`` said so.
    """
    kind, target = dataset_kind(path)
    if kind == "cifar10":
        return load_cifar10_folder(target, progress, stop)
    if kind == "mnist-idx":
        return load_mnist_folder(target, progress, stop)
    if kind == "image-folder":
        return load_image_folder(target, options or ImageOptions(), progress, stop)
    return load_npz_file(target, progress, stop)


def embedded_dataset() -> DataSet:
    """The embedded MNIST subset with its fixed cut (engine.data.mnist_split)."""
    split = _data.mnist_split()
    return DataSet(*split, class_names=tuple(str(d) for d in range(10)), source="",
                   kind="embedded")


def _finish(kind: str, source: Path, train_x, train_y, val_x, val_y, class_names,
            options: ImageOptions | None = None) -> DataSet:
    return DataSet(np.ascontiguousarray(train_x), train_y.astype(np.int64, copy=False),
                   np.ascontiguousarray(val_x), val_y.astype(np.int64, copy=False),
                   tuple(class_names), os.fspath(source.resolve()), kind, options)


# --------------------------------------------------------------------------- CIFAR-10

def _cifar_meta(path: Path) -> tuple[str, ...]:
    """The class names of ``batches.meta`` (a pickled dict with b"label_names")."""
    raw = files.read_bytes(path, _data.MAX_PICKLE_BYTES, DataFileError,
                           missing=tr("{path}: missing; a CIFAR-10 folder holds batches.meta "
                                      "with the class names").format(path=path))
    if not raw or raw[0] != 0x80:
        raise DataFileError(tr("{path}: not a CIFAR-10 batches.meta file (not a pickle file)")
                            .format(path=path))
    meta = _data._unpickle_numpy_only(raw, path)  # the restricted unpickler, caps and all
    names = meta.get(b"label_names", meta.get("label_names")) if isinstance(meta, dict) else None
    if not isinstance(names, list) or not names or not all(
            isinstance(n, (bytes, str)) for n in names):
        raise DataFileError(tr("{path}: needs b'label_names', a list of class names").format(
            path=path))
    if len(names) > MAX_CLASSES:
        raise DataFileError(tr("{path}: lists {n} classes; at most {cap} are loaded").format(
            path=path, n=len(names), cap=MAX_CLASSES))
    return tuple(_data._text(n)[:60] for n in names)


def load_cifar10_folder(folder, progress: Progress | None = None,
                        stop: Stop | None = None) -> DataSet:
    """The CIFAR-10 python folder (``cifar-10-batches-py``): 50,000 training images
    (data_batch_1..5), 10,000 validation images (test_batch), 3×32×32, and the class
    names of batches.meta. Every batch is read with engine.data.load_cifar10_batch."""
    folder = Path(folder)
    for name in (*CIFAR_BATCHES, CIFAR_TEST, CIFAR_META):
        if not (folder / name).exists():
            raise DataFileError(tr("{path}: missing; a CIFAR-10 folder holds data_batch_1 to "
                                   "data_batch_5, test_batch and batches.meta").format(
                                       path=folder / name))
    class_names = _cifar_meta(folder / CIFAR_META)
    parts: list[tuple[np.ndarray, np.ndarray]] = []  # uint8 (N, 3, 32, 32), labels (N,)
    names = (*CIFAR_BATCHES, CIFAR_TEST)
    for i, name in enumerate(names):
        _stopped(stop)
        _report(progress, i / (len(names) + 1), tr("reading {name}").format(name=name))
        images, labels = _data.load_cifar10_batch(folder / name)
        if images.shape[0] == 0:
            raise DataFileError(tr("{path}: holds no images").format(path=folder / name))
        if labels.max() >= len(class_names):
            raise DataFileError(tr("{path}: a label is {label}, but batches.meta names only "
                                   "{n} classes").format(path=folder / name,
                                                         label=int(labels.max()),
                                                         n=len(class_names)))
        parts.append((images, labels))
    _check_values(sum(len(p[1]) for p in parts), (3, 32, 32), os.fspath(folder))
    _stopped(stop)
    _report(progress, len(names) / (len(names) + 1), tr("converting the images"))
    train_x = np.empty((sum(len(p[1]) for p in parts[:-1]), 3, 32, 32), np.float32)
    at = 0
    for images, _ in parts[:-1]:  # straight into one array: no second copy of 600 MB
        _to_float(images, out=train_x[at:at + len(images)])
        at += len(images)
    val_x = _to_float(parts[-1][0])
    _report(progress, 1.0, tr("done"))
    return _finish("cifar10", folder, train_x, np.concatenate([p[1] for p in parts[:-1]]),
                   val_x, parts[-1][1], class_names)


# --------------------------------------------------------------------------- MNIST IDX

def load_mnist_folder(folder, progress: Progress | None = None,
                      stop: Stop | None = None) -> DataSet:
    """An MNIST IDX folder: train-images/labels (training) and t10k-images/labels
    (validation), plain or .gz, read with engine.data.load_mnist_idx."""
    folder = Path(folder)
    found = _idx_files(folder)
    official = {"train": "train-{what}-idx{d}-ubyte", "t10k": "t10k-{what}-idx{d}-ubyte"}
    for part, pattern in official.items():
        for what, d in (("images", 3), ("labels", 1)):
            if (part, what) not in found:
                name = pattern.format(what=what, d=d)
                raise DataFileError(tr("{path}: missing (or {name}.gz); an MNIST folder holds "
                                       "the train and t10k images and labels").format(
                                           path=folder / name, name=name))
    arrays = []
    for i, part in enumerate(("train", "t10k")):
        _stopped(stop)
        _report(progress, i / 2, tr("reading {name}").format(name=found[(part, "images")].name))
        images, labels = _data.load_mnist_idx(found[(part, "images")], found[(part, "labels")])
        _check_values(images.shape[0], images.shape[1:], os.fspath(found[(part, "images")]))
        arrays.append((images, labels))
    (train_i, train_l), (val_i, val_l) = arrays
    if train_i.shape[1:] != val_i.shape[1:]:
        raise DataFileError(tr("{path}: its images are {a}, but the training images are {b}")
                            .format(path=found[("t10k", "images")],
                                    a="×".join(map(str, val_i.shape[1:])),
                                    b="×".join(map(str, train_i.shape[1:]))))
    _report(progress, 1.0, tr("done"))
    return _finish("mnist-idx", folder, _to_float(train_i[:, None]), train_l,
                   _to_float(val_i[:, None]), val_l, [str(d) for d in range(10)])


# --------------------------------------------------------------------------- .npz files

def _npz_images(images: np.ndarray, source: str) -> np.ndarray:
    """uint8 (N, H, W) grey or (N, C, H, W) with C = 1 or 3 -> (N, C, H, W)."""
    if images.dtype != np.uint8:
        raise DataFileError(tr("{source}: images must be uint8 (0-255), not {dtype}").format(
            source=source, dtype=images.dtype))
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[1] not in (1, 3) or min(images.shape[2:]) < 1:
        raise DataFileError(tr("{source}: images must have shape (N, H, W) or (N, C, H, W) with "
                               "1 or 3 channels, but have shape {shape}").format(
                                   source=source, shape=images.shape))
    if images.shape[0] == 0:
        raise DataFileError(tr("{source}: holds no images").format(source=source))
    return images


def _npz_classes(arrays: dict, labels: np.ndarray, source: str) -> tuple[str, ...]:
    names = arrays.get("class_names")
    top = int(labels.max()) + 1
    if names is None:
        return tuple(str(k) for k in range(max(top, 10)))  # digits: ten classes
    if names.ndim != 1 or names.dtype.kind != "U" or not 1 <= len(names) <= MAX_CLASSES:
        raise DataFileError(tr("{source}: class_names must be a list of at most {cap} texts")
                            .format(source=source, cap=MAX_CLASSES))
    if top > len(names):
        raise DataFileError(tr("{source}: a label is {label}, but class_names names only {n} "
                               "classes").format(source=source, label=top - 1, n=len(names)))
    return tuple(str(n)[:60] for n in names)


def load_npz_file(path, progress: Progress | None = None, stop: Stop | None = None) -> DataSet:
    """An .npz data set: ``images`` uint8 (N, H, W) or (N, C, H, W) (C = 1 or 3),
    ``labels`` whole numbers (N,) from 0, optionally ``class_names`` (K,) text.
    The last tenth validates (the embedded subset: its own cut). Read with
    allow_pickle=False through engine.files.read_npz."""
    path = Path(path)
    try:
        if path.resolve() == _data.MNIST_PATH:
            return embedded_dataset()
    except OSError:
        pass
    source = os.fspath(path)
    _stopped(stop)
    _report(progress, 0.0, tr("reading {name}").format(name=path.name))
    arrays = files.read_npz(path, _data.MAX_NPZ_BYTES, DataFileError, name=source,
                            text_members=("class_names",))
    _data._require(arrays, ("images", "labels"), source)
    images = _npz_images(arrays["images"], source)
    labels = arrays["labels"]
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataFileError(tr("{source}: labels must be whole numbers (N,), not {dtype} of "
                               "shape {shape}").format(source=source, dtype=labels.dtype,
                                                       shape=labels.shape))
    if labels.shape[0] != images.shape[0]:
        raise DataFileError(tr("{source}: there are {n} images but {m} labels; they must "
                               "match").format(source=source, n=images.shape[0],
                                               m=labels.shape[0]))
    if labels.min() < 0 or labels.max() >= MAX_CLASSES:
        raise DataFileError(tr("{source}: labels must be 0 to {top}, but one label is {bad}")
                            .format(source=source, top=MAX_CLASSES - 1,
                                    bad=int(labels.min() if labels.min() < 0 else labels.max())))
    class_names = _npz_classes(arrays, labels, source)
    _check_values(images.shape[0], images.shape[1:], source)
    n = images.shape[0]
    n_val = max(1, n // _NPZ_VALIDATION_SHARE) if n > 1 else 0
    cut = n - n_val
    x = _to_float(images)
    _report(progress, 1.0, tr("done"))
    if n_val == 0:  # one image: it trains and validates
        return _finish("npz", path, x, labels, x, labels, class_names)
    return _finish("npz", path, x[:cut], labels[:cut], x[cut:], labels[cut:], class_names)


# --------------------------------------------------------------------------- image folders

def _image_files(folder: Path) -> list[tuple[str, list[Path]]]:
    """[(class name, [image paths sorted])] of ``folder``'s subfolders, checked."""
    budget = [MAX_FOLDER_ENTRIES]
    classes = []
    loose = 0
    for entry in _scan(folder, budget):
        if _hidden(entry.name):
            continue
        if _is_dir(entry):
            images = [Path(e.path) for e in _scan(Path(entry.path), budget)
                      if not _hidden(e.name) and e.name.lower().endswith(IMAGE_EXTENSIONS)
                      and not _is_dir(e)]
            if not images:
                raise DataFileError(tr("{folder}: holds no PNG, JPEG or BMP images; every "
                                       "subfolder is a class and needs at least one").format(
                                           folder=entry.path))
            classes.append((entry.name, images))
        elif entry.name.lower().endswith(IMAGE_EXTENSIONS):
            loose += 1
    if not classes:
        if loose:
            raise DataFileError(tr("{folder}: the images must be in subfolders, one for each "
                                   "class (such as cat/ and dog/)").format(folder=folder))
        raise DataFileError(tr("{folder}: not a data set (no CIFAR-10 batches, no MNIST IDX "
                               "files, no subfolders of images)").format(folder=folder))
    if len(classes) < 2:
        raise DataFileError(tr("{folder}: has one class ({name}); a classifier needs at least "
                               "two subfolders").format(folder=folder, name=classes[0][0]))
    if len(classes) > MAX_CLASSES:
        raise DataFileError(tr("{folder}: has {n} subfolders (classes); at most {cap} are "
                               "loaded").format(folder=folder, n=len(classes), cap=MAX_CLASSES))
    return classes


def _decode(path: Path, options: ImageOptions) -> np.ndarray:
    """One picture as uint8 (C, size, size), resized (stretched) and converted."""
    from PIL import Image, UnidentifiedImageError

    raw = files.read_bytes(path, MAX_IMAGE_FILE_BYTES, DataFileError)
    mode = "RGB" if options.colour == "rgb" else "L"
    size = (options.size, options.size)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw), formats=_PILLOW_FORMATS) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise DataFileError(tr("{path}: is {w}×{h} pixels, more than this app "
                                           "decodes ({cap:,} pixels)").format(
                                               path=path, w=width, h=height,
                                               cap=MAX_IMAGE_PIXELS))
                image.draft(mode, (options.size * 2, options.size * 2))  # JPEG: decode small
                picture = image.convert(mode).resize(size, Image.Resampling.BILINEAR,
                                                     reducing_gap=2.0)
                array = np.asarray(picture, dtype=np.uint8)
    except DataFileError:
        raise
    except UnidentifiedImageError:
        raise DataFileError(tr("{path}: not a PNG, JPEG or BMP image").format(path=path)) \
            from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataFileError(tr("{path}: declares more pixels than this app decodes ({cap:,} "
                               "pixels)").format(path=path, cap=MAX_IMAGE_PIXELS)) from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError, zlib.error) as err:
        reason = " ".join(str(err).split())[:100] or type(err).__name__
        raise DataFileError(tr("{path}: a damaged or unreadable image ({reason})").format(
            path=path, reason=reason)) from None
    return array[None] if array.ndim == 2 else np.moveaxis(array, 2, 0)  # (C, H, W)


def _validates(class_name: str, path: Path) -> bool:
    key = f"{class_name}/{path.name}".encode("utf-8", "surrogateescape")
    return zlib.crc32(key) % _VALIDATION_EVERY == 0


def load_image_folder(folder, options: ImageOptions | None = None,
                      progress: Progress | None = None, stop: Stop | None = None) -> DataSet:
    """An image folder: one subfolder per class (its name is the class name), PNG, JPEG or
    BMP files in each, decoded with Pillow, resized to ``options.size`` pixels square and
    made RGB or grey. About one file in five validates (see the module docstring)."""
    folder = Path(folder)
    options = options or ImageOptions()
    classes = _image_files(folder)
    total = sum(len(paths) for _, paths in classes)
    shape = (options.channels, options.size, options.size)
    _check_values(total, shape, os.fspath(folder))
    x = np.empty((total, *shape), np.float32)
    y = np.empty(total, np.int64)
    validation = np.zeros(total, bool)
    i = 0
    for label, (name, paths) in enumerate(classes):
        for path in paths:
            if i % 16 == 0:
                _stopped(stop)
                _report(progress, i / total, tr("reading {name}").format(name=f"{name}/"
                                                                              f"{path.name}"))
            _to_float(_decode(path, options), out=x[i])
            y[i] = label
            validation[i] = _validates(name, path)
            i += 1
    if not validation.any():  # a tiny set whose hashes all train: the last picture validates
        validation[-1] = True
    if validation.all():
        validation[0] = False
    _report(progress, 1.0, tr("done"))
    return _finish("image-folder", folder, x[~validation], y[~validation], x[validation],
                   y[validation], [name for name, _ in classes], options)
