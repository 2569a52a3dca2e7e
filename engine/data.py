"""Data sets: the embedded MNIST subset, MNIST IDX files, CIFAR-10 python batches.

Every loader checks what it reads and raises :class:`DataFileError` (a
``ValueError``) with one sentence that says what is wrong with the file, so the
GUI and the command line can show it instead of a traceback.

The embedded subset (``assets/mnist-9k.npz``, provenance in ``assets/README.md``)
holds 9,000 MNIST digits that were shuffled once when the file was made. The
split is therefore a plain cut that never changes: the first
:data:`TRAIN_SIZE` (8,000) digits are for training and the last
:data:`VAL_SIZE` (1,000) for validation.

CIFAR-10 batches are Python pickles. Unpickling can run arbitrary code, so they
are read in three guarded stages: the opcodes are first walked in pure Python
(:mod:`pickletools` checks every declared length against the file), then
:class:`_NumpyOnlyUnpickler` builds only dicts, lists, numbers, text and plain
number arrays (its ``find_class`` answers with checked stand-ins and refuses
every other global, e.g. ``os.system`` or ``builtins.eval``), and finally the
dict is checked against the CIFAR-10 layout.

Every file is read through :mod:`engine.files`: only regular files (a device
such as ``/dev/zero`` or a FIFO is refused before it is opened), and never more
than a documented cap: :data:`MAX_NPZ_BYTES` for .npz data sets (also the most
their members may inflate to, checked before inflating), :data:`_IDX_MAX_BYTES`
for an IDX file and its gunzipped payload, :data:`MAX_PICKLE_BYTES` for a CIFAR
batch, whose pickle may also hold at most :data:`MAX_PICKLE_OPCODES` instructions
and :data:`MAX_PICKLE_ELEMENTS` elements once its shared references are counted
(12 KB of lists of shared lists would otherwise expand to 10^18).
"""

from __future__ import annotations

import gzip
import io
import math
import os
import pickle
import pickletools
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import files
from .i18n import tr, tr_noop

__all__ = [
    "DataFileError",
    "MNIST_PATH",
    "TRAIN_SIZE",
    "VAL_SIZE",
    "MnistSplit",
    "load_embedded_mnist",
    "mnist_split",
    "to_float_images",
    "load_mnist_idx",
    "load_cifar10_batch",
    "load_npz_dataset",
]

MNIST_PATH = Path(__file__).resolve().parents[1] / "assets" / "mnist-9k.npz"
TRAIN_SIZE = 8000
VAL_SIZE = 1000
NUM_CLASSES = 10


class DataFileError(ValueError):
    """A data file that cannot be used, explained in one sentence."""


# --------------------------------------------------------------------------- helpers

def _read_bytes(path, cap: int) -> bytes:
    """Read a whole regular file of at most ``cap`` bytes; anything else is a DataFileError."""
    return files.read_bytes(path, cap, DataFileError)


def _check_labels(labels: np.ndarray, n_images: int, source: str) -> np.ndarray:
    """Labels must be whole numbers 0..9, one per image; returns them as int64 (N,)."""
    if labels.ndim != 1:
        raise DataFileError(tr("{source}: labels must be a 1-D array, but have shape {shape}")
                            .format(source=source, shape=labels.shape))
    if labels.dtype.kind not in "iu":
        raise DataFileError(tr("{source}: labels must be whole numbers, not {dtype}").format(
            source=source, dtype=labels.dtype))
    if labels.shape[0] != n_images:
        raise DataFileError(tr("{source}: there are {images} images but {labels} labels; "
                               "they must match").format(source=source, images=n_images,
                                                         labels=labels.shape[0]))
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        bad = labels[(labels < 0) | (labels >= NUM_CLASSES)][0]
        raise DataFileError(tr("{source}: labels must be digits 0-{last}, but one label is "
                               "{bad}").format(source=source, last=NUM_CLASSES - 1, bad=bad))
    return labels.astype(np.int64)


# The largest .npz data set read, and the most its arrays may inflate to in all: the
# full MNIST training set (60,000 digits) is 47 MB.
MAX_NPZ_BYTES = 1024 * 2**20


def _load_npz_arrays(path, source: str) -> dict[str, np.ndarray]:
    """Every array of an .npz archive, read eagerly (a truncated member fails here)."""
    return files.read_npz(path, MAX_NPZ_BYTES, DataFileError, name=source)


def _require(arrays: dict[str, np.ndarray], keys, source: str) -> None:
    missing = [k for k in keys if k not in arrays]
    if missing:
        found = ", ".join(sorted(arrays)) or tr("nothing")
        raise DataFileError(tr("{source}: needs the arrays {keys}; missing {missing} (found "
                               "{found})").format(source=source, keys=tr(" and ").join(keys),
                                                  missing=", ".join(missing), found=found))


def _check_digit_images(images: np.ndarray, source: str) -> np.ndarray:
    """Images must be uint8 (N, 28, 28); returns them C-contiguous."""
    if images.dtype != np.uint8:
        raise DataFileError(tr("{source}: images must be uint8 (0-255), not {dtype}").format(
            source=source, dtype=images.dtype))
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataFileError(tr("{source}: images must have shape (N, 28, 28), but have shape "
                               "{shape}").format(source=source, shape=images.shape))
    return np.ascontiguousarray(images)


# --------------------------------------------------------------------------- embedded MNIST

def load_embedded_mnist(path=MNIST_PATH) -> tuple[np.ndarray, np.ndarray]:
    """The 9,000 embedded MNIST digits.

    Returns
    -------
    images : ndarray, uint8, shape (N, 28, 28)
        0 = background, 255 = ink.
    labels : ndarray, int64, shape (N,)
        Digits 0-9.

    Raises
    ------
    DataFileError
        If the file is missing, damaged or holds arrays of the wrong shape or type.
    """
    source = Path(path).name
    arrays = _load_npz_arrays(path, source)
    _require(arrays, ("images", "labels"), source)
    images = _check_digit_images(arrays["images"], source)
    labels = _check_labels(arrays["labels"], images.shape[0], source)
    return images, labels


class MnistSplit(NamedTuple):
    """The fixed train/validation split, ready for ``Trainer(network, *split)``.

    train_x : float32 (8000, 1, 28, 28) in [0, 1]; train_y : int64 (8000,);
    val_x : float32 (1000, 1, 28, 28) in [0, 1]; val_y : int64 (1000,).
    """

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray


def mnist_split(path=MNIST_PATH) -> MnistSplit:
    """The embedded digits cut into training and validation sets, as float images.

    The file was shuffled once when it was made, so the split is a plain cut that
    is the same on every run: the first ``TRAIN_SIZE`` (8,000) digits train the
    network and the last ``VAL_SIZE`` (1,000) measure it. No validation digit is
    ever used for training.

    Returns
    -------
    MnistSplit
        ``(train_x (8000,1,28,28) float32, train_y (8000,) int64,
        val_x (1000,1,28,28) float32, val_y (1000,) int64)``.
    """
    images, labels = load_embedded_mnist(path)
    if images.shape[0] < TRAIN_SIZE + VAL_SIZE:
        raise DataFileError(tr("{name}: needs {needed} digits for the split, but has {count}")
                            .format(name=Path(path).name, needed=TRAIN_SIZE + VAL_SIZE,
                                    count=images.shape[0]))
    val = slice(images.shape[0] - VAL_SIZE, images.shape[0])
    return MnistSplit(
        to_float_images(images[:TRAIN_SIZE]), labels[:TRAIN_SIZE].copy(),
        to_float_images(images[val]), labels[val].copy())


def to_float_images(images: np.ndarray) -> np.ndarray:
    """uint8 grey images to the network's input format.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W)

    Returns
    -------
    ndarray, float32, shape (N, 1, H, W)
        Values divided by 255, so in [0, 1]; a new C-contiguous array.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise DataFileError(tr("images must be uint8 (0-255), not {dtype}").format(
            dtype=images.dtype))
    if images.ndim != 3:
        raise DataFileError(tr("images must have shape (N, H, W), but have shape {shape}")
                            .format(shape=images.shape))
    # (N, H, W) -> (N, 1, H, W): one grey channel
    out = images.astype(np.float32)[:, None, :, :]
    out *= np.float32(1.0 / 255.0)
    return np.ascontiguousarray(out)


# --------------------------------------------------------------------------- MNIST IDX

# IDX type codes (third magic byte) -> (numpy big-endian dtype, name)
_IDX_TYPES = {
    0x08: (">u1", "unsigned byte"),
    0x09: (">i1", "signed byte"),
    0x0B: (">i2", "short"),
    0x0C: (">i4", "int"),
    0x0D: (">f4", "float"),
    0x0E: (">f8", "double"),
}
#: the two MNIST files, in the sentences about them (msgids)
_IDX_WHAT = {"images": tr_noop("images"), "labels": tr_noop("labels")}
_GZIP_MAGIC = b"\x1f\x8b"


# The largest IDX payload read (the official MNIST training images are 47 MB): a
# hostile header cannot make the loader allocate more than this.
_IDX_MAX_BYTES = 512 * 2**20


def _idx_declared_bytes(head: bytes) -> int | None:
    """Header plus data size that an IDX header declares, or None if it is incomplete."""
    if len(head) < 4 or len(head) < 4 + 4 * head[3]:
        return None
    dims = head[3]
    shape = struct.unpack(f">{dims}I", head[4:4 + 4 * dims])
    return 4 + 4 * dims + math.prod(shape)  # Python ints: cannot overflow


def _idx_payload(path) -> bytes:
    """The raw IDX bytes of ``path``, gunzipped if the file is gzip (detected by content).

    A .gz file is decompressed only as far as its header says the data goes (plus
    one byte, to notice a file longer than declared), so a small "zip bomb" cannot
    fill the memory.
    """
    data = _read_bytes(path, _IDX_MAX_BYTES)
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            head = stream.read(4)
            if len(head) == 4:
                head += stream.read(4 * head[3])
            declared = _idx_declared_bytes(head)
            if declared is None:
                return head  # too short: _read_idx explains what is wrong
            if declared > _IDX_MAX_BYTES:
                raise DataFileError(tr("{path}: the header declares {declared} bytes of data, "
                                       "more than this app loads ({limit} MB)").format(
                    path=path, declared=f"{declared:,}", limit=_IDX_MAX_BYTES // 2**20))
            return head + stream.read(declared - len(head) + 1)
    except DataFileError:
        raise
    except (EOFError, OSError, gzip.BadGzipFile) as err:
        raise DataFileError(tr("{path}: a damaged or truncated .gz file ({error})").format(
            path=path, error=err)) from None
    except Exception as err:  # zlib.error is not an OSError
        raise DataFileError(tr("{path}: a damaged .gz file ({error})").format(
            path=path, error=err)) from None


def _read_idx(path, ndim: int, what: str) -> np.ndarray:
    """Parse one IDX file whose array must have ``ndim`` dimensions of unsigned bytes.
    ``what``: "images" or "labels" (the other file is named in a sentence)."""
    data = _idx_payload(path)
    if len(data) < 4:
        raise DataFileError(tr("{path}: too short to be an IDX file ({count} bytes)").format(
            path=path, count=len(data)))
    other = "labels" if what == "images" else "images"
    what, other = tr(_IDX_WHAT[what]), tr(_IDX_WHAT[other])
    zero1, zero2, type_code, dims = struct.unpack(">BBBB", data[:4])
    if zero1 != 0 or zero2 != 0 or type_code not in _IDX_TYPES:
        raise DataFileError(tr("{path}: not an IDX file (magic number 0x{magic}, expected "
                               "0x0000080{ndim} for MNIST {what})").format(
            path=path, magic=data[:4].hex(), ndim=ndim, what=what))
    if type_code != 0x08:
        raise DataFileError(tr("{path}: holds {kind} values; MNIST {what} must be unsigned "
                               "bytes (type code 0x08)").format(
            path=path, kind=_IDX_TYPES[type_code][1], what=what))
    if dims != ndim:
        raise DataFileError(tr("{path}: has {dims} dimension(s); MNIST {what} have {ndim} (is "
                               "this the {other} file?)").format(
            path=path, dims=dims, what=what, ndim=ndim, other=other))
    header = 4 + 4 * dims
    if len(data) < header:
        raise DataFileError(tr("{path}: truncated inside the header").format(path=path))
    shape = struct.unpack(f">{dims}I", data[4:header])
    expected = math.prod(shape)  # Python ints: a hostile header cannot overflow this
    actual = len(data) - header
    if actual != expected:
        problem = tr("truncated") if actual < expected else tr("longer than declared")
        raise DataFileError(tr("{path}: {problem}: the header declares shape {shape} = "
                               "{expected} bytes of data, but the file holds {actual}").format(
            path=path, problem=problem, shape=shape, expected=expected, actual=actual))
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def load_mnist_idx(images_path, labels_path) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST in its official IDX format (plain or gzip-compressed, e.g.
    ``train-images-idx3-ubyte.gz`` and ``train-labels-idx1-ubyte.gz``).

    Returns
    -------
    images : ndarray, uint8, shape (N, H, W)
        28x28 for MNIST (and Fashion-MNIST, which uses the same format).
    labels : ndarray, int64, shape (N,)
        Digits 0-9.

    Raises
    ------
    DataFileError
        Wrong magic number or type code, wrong number of dimensions, a size that
        does not match the header, a label count that does not match the image
        count, or a label outside 0-9.
    """
    images = _read_idx(images_path, 3, "images")
    if images.size == 0:
        raise DataFileError(tr("{path}: holds no images (shape {shape})").format(
            path=images_path, shape=images.shape))
    labels = _read_idx(labels_path, 1, "labels")
    source = f"{os.fspath(images_path)} + {os.fspath(labels_path)}"
    return images, _check_labels(labels, images.shape[0], source)


# --------------------------------------------------------------------------- CIFAR-10

# A CIFAR-10 batch is a 31 MB pickle of a dict: a (10000, 3072) uint8 array, 10,000
# labels and 10,000 file names, about 30,000 instructions and 20,000 elements. These caps
# are far above that and far below what would take minutes or gigabytes to load.
MAX_PICKLE_BYTES = 256 * 2**20
MAX_PICKLE_OPCODES = 1_000_000
MAX_PICKLE_ELEMENTS = 500_000


class _Refused(pickle.UnpicklingError):
    """The pickle asked for something outside the allowed table."""


# the array element kinds a data set may use: bool, signed and unsigned ints, floats
_PLAIN_KINDS = "biuf"


def _text(value):
    """Python 2 strings arrive as bytes (``encoding="bytes"``), Python 3 ones as str."""
    return value.decode("latin-1") if isinstance(value, bytes) else value


class _DTypeBuilder:
    """Stands in for ``numpy.dtype(spec, align, copy)`` inside a pickle.

    Only plain number types are accepted (no objects, strings or records), and
    the byte order comes from the pickled state, checked before use.
    """

    def __init__(self, spec, align=False, copy=False):
        spec = _text(spec)
        try:
            dtype = np.dtype(spec) if isinstance(spec, str) else None
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in _PLAIN_KINDS or dtype.fields or dtype.subdtype:
            raise _Refused(f"refused the array type {spec!r} (only plain numbers are allowed)")
        self.dtype = dtype

    def __setstate__(self, state):
        # (version, byte order, sub-array, names, fields, item size, alignment, flags)
        if not isinstance(state, tuple) or len(state) < 5:
            raise _Refused("refused a malformed array type")
        order = _text(state[1])
        if order not in ("<", ">", "|", "=") or any(v is not None for v in state[2:5]):
            raise _Refused("refused an array type with fields or an unknown byte order")
        if order in "<>":
            self.dtype = self.dtype.newbyteorder(order)


def _plain_array(raw, dtype, shape, order: str) -> np.ndarray:
    """A new array from raw bytes, after checking that they are exactly what the shape needs."""
    if isinstance(dtype, _DTypeBuilder):
        dtype = dtype.dtype
    if not isinstance(dtype, np.dtype) or dtype.kind not in _PLAIN_KINDS:
        raise _Refused("refused an array without a plain number type")
    if not isinstance(shape, tuple) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise _Refused(f"refused an array with the shape {shape!r}")
    if isinstance(raw, pickle.PickleBuffer):
        raw = raw.raw()
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise _Refused("refused an array whose elements are Python objects")
    count = math.prod(shape)
    if memoryview(raw).nbytes != count * dtype.itemsize:
        raise _Refused(f"refused an array of shape {shape} whose data has the wrong length")
    return np.frombuffer(raw, dtype=dtype, count=count).reshape(shape, order=order).copy()


class _NdarrayTag:
    """What ``numpy.ndarray`` means inside a pickle: the first argument of
    ``_reconstruct``, never a constructor (``ndarray(shape)`` could allocate any size)."""

    def __call__(self, *args, **kwargs):
        raise _Refused("refused to call numpy.ndarray(...) directly")


_NDARRAY = _NdarrayTag()


class _ArrayBuilder:
    """Stands in for ``numpy.core.multiarray._reconstruct(ndarray, shape, typecode)``.

    numpy's own ``ndarray.__setstate__`` never sees the pickled state: it is
    checked here and the array is built from its bytes with ``np.frombuffer``.
    """

    def __init__(self, cls, shape=(0,), typecode=b"b"):
        if cls is not _NDARRAY:
            raise _Refused("refused to rebuild an ndarray subclass")
        self.array: np.ndarray | None = None

    def __setstate__(self, state):
        # (version, shape, dtype, is Fortran order, raw bytes)
        if not isinstance(state, tuple) or len(state) != 5:
            raise _Refused("refused a malformed array")
        _, shape, dtype, fortran, raw = state
        self.array = _plain_array(raw, dtype, shape, "F" if fortran else "C")


def _frombuffer(buf, dtype, shape, order):
    """Stands in for numpy's ``_frombuffer`` (how protocol 5 stores an array)."""
    return _plain_array(buf, dtype, shape, "F" if _text(order) == "F" else "C")


def _latin1_encode(text: str, encoding: str) -> bytes:
    """What protocol-2 pickles from Python 3 use to store ``bytes`` (``_codecs.encode``).

    Only the latin-1 round trip is allowed: other codecs are not needed for data.
    """
    if not isinstance(text, str) or not isinstance(encoding, str) or \
            encoding.lower().replace("_", "-") not in ("latin1", "latin-1"):
        raise _Refused(f"refused the text encoding {encoding!r} (only latin-1 is allowed)")
    return text.encode("latin-1")


def _empty_bytes(*args) -> bytes:
    """Protocol 2 from Python 3 writes an empty bytes object as a call ``bytes()``."""
    if args:
        raise _Refused("refused a call bytes(...) with arguments")
    return b""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can build plain number arrays, lists, dicts, numbers and text.

    ``find_class`` is the only door through which a pickle reaches Python code.
    It answers from a fixed table of stand-ins that check their arguments, and
    refuses every other name, so a hostile file cannot call ``os.system``,
    ``eval`` or any class's constructor.
    """

    _ALLOWED = {
        # numpy 1 and numpy 2 spellings of the array rebuild function (protocol <= 4)
        ("numpy.core.multiarray", "_reconstruct"): _ArrayBuilder,
        ("numpy._core.multiarray", "_reconstruct"): _ArrayBuilder,
        # protocol 5 stores arrays as a buffer
        ("numpy.core.numeric", "_frombuffer"): _frombuffer,
        ("numpy._core.numeric", "_frombuffer"): _frombuffer,
        ("numpy", "ndarray"): _NDARRAY,
        ("numpy", "dtype"): _DTypeBuilder,
        # protocol 2 written by Python 3 stores bytes as _codecs.encode(text, "latin1")
        ("_codecs", "encode"): _latin1_encode,
        ("__builtin__", "bytes"): _empty_bytes,
        ("builtins", "bytes"): _empty_bytes,
    }

    def find_class(self, module: str, name: str):
        found = self._ALLOWED.get((module, name))
        if found is None:
            raise _Refused(f"refused to load {module}.{name}")
        return found


def _finish(obj, depth: int = 0, budget: list[int] | None = None):
    """Replace every array stand-in by its array (in dicts, lists and tuples).

    Every element reached counts against MAX_PICKLE_ELEMENTS, a shared reference
    each time it is reached: a few kilobytes of lists that refer to one list many
    times over would otherwise expand to more elements than any memory holds.
    """
    if budget is None:
        budget = [MAX_PICKLE_ELEMENTS]
    budget[0] -= 1
    if budget[0] < 0:
        raise _Refused(tr("refused a structure of more than {limit:,} elements (counting "
                          "every shared reference)").format(limit=MAX_PICKLE_ELEMENTS))
    if depth > 20:
        raise _Refused(tr("refused a structure nested more than 20 levels deep"))
    if isinstance(obj, _ArrayBuilder):
        if obj.array is None:
            raise _Refused(tr("refused an array that was never filled"))
        return obj.array
    if isinstance(obj, _DTypeBuilder):
        return obj.dtype
    if isinstance(obj, dict):
        return {_finish(k, depth + 1, budget): _finish(v, depth + 1, budget)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finish(v, depth + 1, budget) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_finish(v, depth + 1, budget) for v in obj)
    return obj


# opcodes a data file never needs: out-of-band buffers and persistent ids
_REFUSED_OPCODES = {"NEXT_BUFFER", "READONLY_BUFFER", "PERSID", "BINPERSID"}
_MEMO_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}


def _scan_opcodes(data: bytes, path) -> None:
    """Walk the opcodes in pure Python before unpickling anything.

    pickletools checks every declared length against the bytes that remain, so a
    truncated or corrupted file is refused here instead of inside the C
    unpickler (which allocates first and, for a bytearray, prints a SystemError).
    """
    try:
        for count, (opcode, arg, _) in enumerate(pickletools.genops(data)):
            if count >= MAX_PICKLE_OPCODES:
                raise DataFileError(tr(
                    "{path}: not a CIFAR-10 python batch (more than {limit:,} pickle "
                    "instructions; a batch has about 30,000)").format(
                        path=path, limit=MAX_PICKLE_OPCODES))
            if opcode.name in _REFUSED_OPCODES:
                raise DataFileError(tr(
                    "{path}: refused the pickle instruction {opcode}: a CIFAR-10 batch only "
                    "holds arrays, lists and numbers, so this file was not loaded").format(
                        path=path, opcode=opcode.name))
            # Real pickles number their memo entries in order; a huge index would make
            # the unpickler allocate a memo table that large (9 bytes -> 256 MB).
            if opcode.name in _MEMO_PUTS and arg is not None and arg > count:
                raise DataFileError(tr(
                    "{path}: not a CIFAR-10 python batch (a pickle memo index of {index} "
                    "after only {count} instructions)").format(path=path, index=arg,
                                                              count=count))
    except DataFileError:
        raise
    except Exception as err:  # ValueError from pickletools: truncated or unknown opcode
        raise DataFileError(tr(
            "{path}: not a CIFAR-10 python batch (truncated or damaged pickle: {reason})")
            .format(path=path, reason=" ".join(str(err).split())[:120])) from None


def _unpickle_numpy_only(data: bytes, path):
    _scan_opcodes(data, path)
    try:
        return _finish(_NumpyOnlyUnpickler(io.BytesIO(data), encoding="bytes").load())
    except _Refused as err:
        raise DataFileError(tr(
            "{path}: {error}: a CIFAR-10 batch may only contain numpy arrays, lists and "
            "numbers, so this file was not loaded").format(path=path, error=err)) from None
    except RecursionError:
        raise DataFileError(tr("{path}: not a CIFAR-10 python batch (nested too deeply)")
                            .format(path=path)) from None
    except Exception as err:
        # no foreign code can run here (find_class above), so any other failure is a
        # malformed or truncated pickle: EOFError, UnpicklingError, TypeError, ...
        raise DataFileError(tr(
            "{path}: not a CIFAR-10 python batch (unreadable or truncated pickle: {reason})")
            .format(path=path, reason=type(err).__name__)) from None


def load_cifar10_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """Load one CIFAR-10 python batch (``data_batch_1`` ... ``test_batch``).

    The file is a pickled dict with ``b"data"``: uint8 (N, 3072), each row the
    1024 red, then 1024 green, then 1024 blue values of a 32x32 image in row-major
    order, and ``b"labels"``: a list of N ints 0-9. It is read with an unpickler
    that only rebuilds plain numpy arrays (see :class:`_NumpyOnlyUnpickler`).

    Returns
    -------
    images : ndarray, uint8, shape (N, 3, 32, 32)
    labels : ndarray, int64, shape (N,)

    Raises
    ------
    DataFileError
        Not a pickle, truncated, contains anything but numpy arrays and plain
        values, or does not hold the CIFAR-10 keys with the right shapes.
    """
    data = _read_bytes(path, MAX_PICKLE_BYTES)
    if data.startswith(_GZIP_MAGIC):
        raise DataFileError(tr(
            "{path}: is compressed; extract cifar-10-python.tar.gz first and pick a "
            "data_batch_* file").format(path=path))
    if not data or data[0] != 0x80:
        # every pickle of protocol >= 2 starts with the PROTO opcode 0x80
        raise DataFileError(tr("{path}: not a CIFAR-10 python batch (not a pickle file)")
                            .format(path=path))
    batch = _unpickle_numpy_only(data, path)
    if not isinstance(batch, dict):
        raise DataFileError(tr("{path}: a CIFAR-10 batch is a dict, but this file holds a "
                               "{kind}").format(path=path, kind=type(batch).__name__))
    return _check_cifar_dict(batch, path)


def _check_cifar_dict(batch: dict, path) -> tuple[np.ndarray, np.ndarray]:
    if b"data" not in batch or b"labels" not in batch:
        found = ", ".join(repr(k) for k in list(batch)[:6]) or tr("nothing")
        raise DataFileError(tr("{path}: a CIFAR-10 batch needs the keys b'data' and b'labels' "
                               "(found {found})").format(path=path, found=found))
    pixels = batch[b"data"]
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8:
        kind = pixels.dtype if isinstance(pixels, np.ndarray) else type(pixels).__name__
        raise DataFileError(tr("{path}: b'data' must be a uint8 array, not {kind}").format(
            path=path, kind=kind))
    if pixels.ndim != 2 or pixels.shape[1] != 3 * 32 * 32:
        raise DataFileError(tr("{path}: b'data' must have shape (N, 3072) (3 colours x 32 x "
                               "32), but has shape {shape}").format(path=path,
                                                                    shape=pixels.shape))
    raw_labels = batch[b"labels"]
    if isinstance(raw_labels, np.ndarray):
        labels = raw_labels
    else:
        if not isinstance(raw_labels, (list, tuple)) or not all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in raw_labels):
            raise DataFileError(tr("{path}: b'labels' must be a list of whole numbers 0-9")
                                .format(path=path))
        labels = np.array(raw_labels, dtype=np.int64).reshape(-1)
    labels = _check_labels(labels, pixels.shape[0], str(path))
    # (N, 3072) -> (N, 3, 32, 32): channel-major rows, each plane row-major
    images = np.ascontiguousarray(pixels.reshape(-1, 3, 32, 32))
    return images, labels


# --------------------------------------------------------------------------- npz data sets

def load_npz_dataset(path) -> tuple[np.ndarray, np.ndarray]:
    """A labelled digit set in an .npz file, e.g. for ``main.py evaluate``.

    The archive must hold ``images``: uint8 (N, 28, 28) (0 = background,
    255 = ink, as MNIST) and ``labels``: whole numbers (N,) in 0-9. It is read
    with ``allow_pickle=False``.

    Returns
    -------
    images : ndarray, uint8, shape (N, 28, 28)
    labels : ndarray, int64, shape (N,)

    Raises
    ------
    DataFileError
        Missing, not an .npz archive, truncated, missing arrays, wrong shapes or
        types, or labels outside 0-9.
    """
    source = os.fspath(path)
    arrays = _load_npz_arrays(path, source)
    _require(arrays, ("images", "labels"), source)
    images = _check_digit_images(arrays["images"], source)
    if images.shape[0] == 0:
        raise DataFileError(tr("{source}: holds no images").format(source=source))
    labels = _check_labels(arrays["labels"], images.shape[0], source)
    return images, labels
