"""Reading and writing files that may be hostile: regular files only, bounded reads, atomic saves.

Every engine loader (models, .npz data sets, MNIST IDX, CIFAR-10 pickles) reads
through here, and :meth:`engine.network.Network.save` (used by the command line
and the GUI alike) writes through here.

Reading
-------
- Only regular files are read. ``os.stat`` is asked first, *before* opening:
  a folder, a device (``/dev/zero`` would never end), a FIFO (opening one waits
  for a writer: it would hang), a socket, or a link to one of them is refused
  with a sentence and never opened. The file is then opened with ``O_NONBLOCK``
  and checked again with ``fstat``, so a file swapped for a FIFO in between
  cannot hang the reader either.
- Every read is bounded: by the size the file had when it was checked and by a
  cap that the caller documents (see each loader). A larger file is refused
  before anything is read.
- Zip archives (``.npz``): the central directory is bounded
  (:data:`MAX_ZIP_DIRECTORY`, :data:`MAX_ZIP_MEMBERS`) before it is parsed; every
  member's declared uncompressed size is checked against the cap before it is
  inflated (a 3 GiB member compressed to a few megabytes is refused without
  inflating a byte), and the inflation itself is stream-limited to what the
  member declared. Each ``.npy`` header is checked against the bytes that
  follow it before an array is made, so a header declaring 10^12 values is a
  sentence, not a MemoryError.

Writing
-------
:func:`atomic_write` refuses an existing target that is not a regular file (a
device node, FIFO, folder, or a link to one: saving over ``/dev/null`` as root
used to replace the device with a file), writes to ``<name>.tmp`` in the target's
folder, flushes it to disk, and renames it over the target with ``os.replace``,
so an interrupted save never leaves a half-written file and never changes the
file that was there. The temporary file is created with mode 0666 and so gets the
permissions the user's umask gives new files. A ``<name>.tmp`` left behind by an
interrupted earlier save (or a ``<name>.XXXXXXXX.tmp`` of older versions) is
removed by the next save. :func:`check_writable` runs the same checks and
creates and removes the temporary file without writing anything, so a long run
can fail at its start instead of at its end.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .i18n import tr

__all__ = [
    "MAX_ZIP_DIRECTORY",
    "MAX_ZIP_MEMBERS",
    "open_regular",
    "read_bytes",
    "read_npz",
    "check_writable",
    "atomic_write",
    "temp_path",
]

# An .npz written by this app (a model of up to 1,000 layers) has at most a few thousand
# members; their central directory is about 100 bytes each.
MAX_ZIP_MEMBERS = 10_000
MAX_ZIP_DIRECTORY = 4 * 2**20
_CHUNK = 2**20  # bytes read or inflated at a time
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # (Windows has no FIFOs to guard against)


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return tr("a folder")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return tr("a device")
    if stat.S_ISFIFO(mode):
        return tr("a FIFO (named pipe)")
    if stat.S_ISSOCK(mode):
        return tr("a socket")
    return tr("not a regular file")


def _size_words(n: int) -> str:
    if n >= 2**30:
        return tr("{n:.1f} GiB").format(n=n / 2**30)
    if n >= 2**20:
        return tr("{n:.1f} MiB").format(n=n / 2**20)
    return tr("{n:,} bytes").format(n=n)


def _reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


def open_regular(path, cap: int, error: type[Exception], name: str | None = None,
                 missing: str | None = None) -> tuple[io.BufferedReader, int]:
    """Open ``path`` for reading if it is a regular file of at most ``cap`` bytes.

    Returns ``(file, size)``; the caller closes the file. ``name`` is how the file is
    named in sentences (default: the path); ``missing`` replaces the sentence for a
    file that does not exist.

    Raises
    ------
    error
        (a ValueError subclass of the caller, e.g. ModelFileError) for a missing
        file, a folder, a device, a FIFO (never opened), a socket, a file larger
        than ``cap``, or one that cannot be opened.
    """
    name = os.fspath(path) if name is None else name
    try:
        info = os.stat(path)  # follows links: a link to a FIFO is a FIFO
    except FileNotFoundError:
        raise error(missing or tr("{name}: no such file").format(name=name)) from None
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        reason = _reason(err) if isinstance(err, OSError) else str(err)
        raise error(tr("{name}: cannot be read ({reason})").format(name=name, reason=reason)) \
            from None
    if stat.S_ISDIR(info.st_mode):
        raise error(tr("{name}: is a folder, not a file").format(name=name))
    if not stat.S_ISREG(info.st_mode):
        raise error(tr("{name}: is {kind}, not a regular file, so it is not read")
                    .format(name=name, kind=_kind(info.st_mode)))
    if info.st_size > cap:
        raise error(tr("{name}: the file is {size}, more than this app reads ({cap})")
                    .format(name=name, size=_size_words(info.st_size), cap=_size_words(cap)))
    try:
        # O_NONBLOCK: were it swapped for a FIFO since the check, opening would not wait
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_BINARY", 0))
    except OSError as err:
        raise error(tr("{name}: cannot be read ({reason})").format(name=name,
                                                                  reason=_reason(err))) from None
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode):  # swapped after the check above
            raise error(tr("{name}: is {kind}, not a regular file, so it is not read")
                        .format(name=name, kind=_kind(now.st_mode)))
        if now.st_size > cap:
            raise error(tr("{name}: the file is {size}, more than this app reads ({cap})")
                        .format(name=name, size=_size_words(now.st_size),
                                cap=_size_words(cap)))
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), now.st_size
    except BaseException:
        os.close(fd)
        raise


def _read_limited(stream, size_hint: int, cap: int, error, name: str) -> bytes:
    """Everything ``stream`` yields, refused past ``cap`` bytes; never more than cap + 1 read."""
    data = bytearray()
    want = min(size_hint, cap) + 1
    while True:
        chunk = stream.read(min(_CHUNK, want - len(data)))
        if not chunk:
            return bytes(data)
        data += chunk
        if len(data) > cap:
            raise error(tr("{name}: the file is more than this app reads ({cap})")
                        .format(name=name, cap=_size_words(cap)))
        if len(data) >= want:  # the file grew since it was checked: read on, up to the cap
            want = cap + 1


def read_bytes(path, cap: int, error: type[Exception], name: str | None = None,
               missing: str | None = None) -> bytes:
    """The whole content of the regular file ``path``, at most ``cap`` bytes.

    Raises ``error`` as :func:`open_regular` does, or if the file cannot be read.
    """
    name = os.fspath(path) if name is None else name
    fh, size = open_regular(path, cap, error, name, missing)
    try:
        with fh:
            return _read_limited(fh, size, cap, error, name)
    except OSError as err:
        raise error(tr("{name}: cannot be read ({reason})").format(name=name,
                                                                  reason=_reason(err))) from None


# ------------------------------------------------------------------------- .npz archives

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_EOCD_SIGNATURE = b"PK\x05\x06"
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # what numpy writes


class _NotNpz(Exception):
    """The bytes are not a usable .npz archive; the message says why."""


def _check_directory(fh, size: int) -> None:
    """Bound the zip central directory (members and bytes) before zipfile parses it."""
    tail_len = min(size, _EOCD.size + 0xFFFF)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    at = tail.rfind(_EOCD_SIGNATURE)
    if at < 0 or len(tail) - at < _EOCD.size:
        raise _NotNpz(tr("a damaged or truncated .npz archive (its end is missing)"))
    _, _, _, _, members, directory, _, _ = _EOCD.unpack_from(tail, at)
    if members > MAX_ZIP_MEMBERS or directory > MAX_ZIP_DIRECTORY:
        raise _NotNpz(tr("the archive lists {n:,} members in {size}, more than this app reads "
                         "({max_n:,} members, {max_size})").format(
                             n=members, size=_size_words(directory), max_n=MAX_ZIP_MEMBERS,
                             max_size=_size_words(MAX_ZIP_DIRECTORY)))
    fh.seek(0)


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytearray:
    """A member's bytes, inflating at most the size it declares (plus one chunk to notice more)."""
    declared = info.file_size
    out = bytearray()
    with archive.open(info) as member:
        while True:
            chunk = member.read(min(_CHUNK, declared + 1 - len(out)) or 1)
            if not chunk:
                break
            out += chunk
            if len(out) > declared:
                raise _NotNpz(tr("the member {member} inflates to more than the {size} it "
                                 "declares").format(member=info.filename,
                                                    size=_size_words(declared)))
    if len(out) != declared:
        raise _NotNpz(tr("the member {member} is truncated").format(member=info.filename))
    return out


def _npy_array(data: bytearray, member: str, kinds: str) -> np.ndarray:
    """An array from the bytes of one .npy member, checked before anything is allocated."""
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(tr("format version {version}").format(version=version))
    except (ValueError, SyntaxError, TypeError, EOFError) as err:
        raise _NotNpz(tr("the member {member} is not a readable .npy array ({reason})")
                      .format(member=member, reason=" ".join(str(err).split())[:100])) from None
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or \
            dtype.kind not in kinds:
        raise _NotNpz(tr("the member {member} holds {dtype} values; only plain numbers are "
                         "loaded (no Python objects, for safety)").format(member=member,
                                                                          dtype=dtype))
    count = math.prod(shape)  # Python ints: a hostile header cannot overflow this
    offset = stream.tell()
    if count * dtype.itemsize != len(data) - offset:
        raise _NotNpz(tr("the member {member} declares {count:,} values of {dtype} but holds "
                         "{size}").format(member=member, count=count, dtype=dtype,
                                          size=_size_words(len(data) - offset)))
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)  # no copy, writable
    return array.reshape(shape, order="F" if fortran else "C")


def read_npz(path, cap: int, error: type[Exception], name: str | None = None,
             missing: str | None = None, kinds: str = "biuf",
             text_members: tuple[str, ...] = (), not_npz: str | None = None
             ) -> dict[str, np.ndarray]:
    """Every array of the .npz archive ``path`` (plain numbers only; never a pickle).

    Parameters
    ----------
    path : the archive; it must be a regular file of at most ``cap`` bytes
    cap : the most bytes read from the file and, in all, inflated from its members
    error : the caller's ValueError subclass (ModelFileError, DataFileError)
    name, missing : as in :func:`open_regular`
    not_npz : the sentence for a file that is not a zip archive at all
    kinds : the dtype kinds accepted (default bool, ints, unsigned, floats)
    text_members : member names (without ``.npy``) that may also hold text (``U``)

    Raises
    ------
    error
        With a sentence beginning with ``name``.
    """
    name = os.fspath(path) if name is None else name
    fh, size = open_regular(path, cap, error, name, missing)
    arrays: dict[str, np.ndarray] = {}
    try:
        with fh:
            head = fh.read(6)
            if head == b"\x93NUMPY":
                raise _NotNpz(tr("holds a single array (.npy), not an .npz archive"))
            if head[:2] != b"PK":
                raise _NotNpz(not_npz or tr("not an .npz archive (numpy zip file)"))
            _check_directory(fh, size)
            with zipfile.ZipFile(fh) as archive:
                members = archive.infolist()
                budget = cap
                for info in members:
                    key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                    if info.compress_type not in _ZIP_METHODS:
                        raise _NotNpz(tr("the member {member} uses a compression this app does "
                                         "not read").format(member=info.filename))
                    if info.file_size > budget:
                        raise _NotNpz(tr(
                            "the member {member} declares {size} uncompressed, more than this "
                            "app inflates ({cap} in all); it was not decompressed").format(
                                member=info.filename, size=_size_words(info.file_size),
                                cap=_size_words(cap)))
                    budget -= info.file_size
                    data = _inflate(archive, info)
                    kinds_here = kinds + ("U" if key in text_members else "")
                    arrays[key] = _npy_array(data, info.filename, kinds_here)
    except _NotNpz as err:
        raise error(f"{name}: {err}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
            NotImplementedError, struct.error) as err:
        if isinstance(err, error):
            raise
        reason = _reason(err) if isinstance(err, OSError) else " ".join(str(err).split())[:100]
        raise error(tr("{name}: a damaged or truncated .npz archive ({reason})")
                    .format(name=name, reason=reason or type(err).__name__)) from None
    return arrays


# ------------------------------------------------------------------------- saving

_LEGACY_TEMP = re.compile(r"\.[a-z0-9_]{8}\.tmp")  # tempfile.mkstemp's names, older versions


def temp_path(target: Path) -> Path:
    """Where a save of ``target`` is written before it is renamed: ``<name>.tmp`` beside it
    (or a shorter name when that would be too long for the folder)."""
    candidate = target.with_name(target.name + ".tmp")
    if len(os.fsencode(candidate.name)) <= _name_max(target.parent):
        return candidate
    import hashlib
    digest = hashlib.sha256(os.fsencode(target.name)).hexdigest()[:16]
    return target.with_name(f"{digest}.cnn-explorer.tmp")


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _target(path, error) -> Path:
    """The file a save of ``path`` writes, after refusing what must not be written over."""
    text = os.fspath(path)
    if not str(text).strip():
        raise error(tr("no file name was given"))
    given = Path(path)
    if given.name in ("", ".", ".."):
        raise error(tr("{path}: is not a file name").format(path=text))
    try:
        link = os.lstat(given)
    except FileNotFoundError:
        link = None
    except (OSError, ValueError) as err:
        reason = _reason(err) if isinstance(err, OSError) else str(err)
        raise error(tr("cannot write {path}: {reason}").format(path=text, reason=reason)) \
            from None
    target = given
    if link is not None:
        try:
            info = os.stat(given)  # follows a link: what it points to must be a regular file
        except OSError:
            raise error(tr("{path}: is a link to a file that does not exist; choose another "
                           "name").format(path=text)) from None
        if stat.S_ISDIR(info.st_mode):
            raise error(tr("{path}: is a folder; give a file name such as model.npz")
                        .format(path=text))
        if not stat.S_ISREG(info.st_mode):
            raise error(tr("{path}: is {kind}, not a regular file; nothing is written over it, "
                           "choose another name").format(path=text, kind=_kind(info.st_mode)))
        if stat.S_ISLNK(link.st_mode):
            target = Path(os.path.realpath(given))  # keep the link; replace what it points to
    folder = target.parent
    if not folder.is_dir():
        raise error(tr("cannot write {path}: the folder {folder} does not exist")
                    .format(path=text, folder=os.fspath(folder.resolve())))
    length, limit = len(os.fsencode(target.name)), _name_max(folder)
    if length > limit:
        raise error(tr("cannot write {path}: the file name is too long ({n} bytes; at most "
                       "{limit})").format(path=text[:60] + "...", n=length, limit=limit))
    return target


def _remove_stale(target: Path, tmp: Path, error) -> None:
    """Remove what an interrupted earlier save left: <name>.tmp (and older <name>.XXXXXXXX.tmp)."""
    try:
        info = os.lstat(tmp)
    except FileNotFoundError:
        info = None
    except OSError as err:
        raise error(tr("cannot write {name}: {reason}").format(name=target.name,
                                                              reason=_reason(err))) from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise error(tr("cannot write {name}: {tmp} is a folder in the way of the temporary "
                           "file").format(name=target.name, tmp=tmp.name))
        try:
            os.unlink(tmp)  # a regular file, or a link (only the link goes)
        except OSError as err:
            raise error(tr("cannot write {name}: {reason}").format(name=target.name,
                                                                  reason=_reason(err))) from None
    prefix = target.name
    try:
        entries = os.scandir(target.parent)
    except OSError:
        return
    with entries:
        for entry in entries:
            rest = entry.name[len(prefix):]
            if entry.name.startswith(prefix) and _LEGACY_TEMP.fullmatch(rest):
                try:
                    if entry.is_file(follow_symlinks=False):
                        os.unlink(entry.path)
                except OSError:
                    pass


def _create_temp(target: Path, tmp: Path, error) -> int:
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_BINARY", 0))
    try:
        return os.open(tmp, flags, 0o666)  # the umask decides the permissions
    except FileExistsError:
        raise error(tr("cannot write {name}: another save of it is under way")
                    .format(name=target.name)) from None
    except OSError as err:
        raise error(tr("cannot write {name} in {folder}: {reason}").format(
            name=target.name, folder=os.fspath(target.parent), reason=_reason(err))) from None


def check_writable(path, error: type[Exception]) -> Path:
    """Check that :func:`atomic_write` could save to ``path``, writing nothing.

    Refuses what :func:`atomic_write` refuses, and creates and removes the temporary
    file, so a folder that cannot be written (``/proc``, a read-only disk, no
    permission) or a name that is too long is found out now. Returns the file a
    save would write (a link's target).
    """
    target = _target(path, error)
    tmp = temp_path(target)
    _remove_stale(target, tmp, error)
    os.close(_create_temp(target, tmp, error))
    try:
        os.unlink(tmp)
    except OSError:
        pass
    return target


def atomic_write(path, write: Callable[[io.BufferedWriter], None],
                 error: type[Exception]) -> Path:
    """Write a file with ``write(binary_file)`` so that it appears whole or not at all.

    See the module docstring. Returns the file written. Raises ``error`` for a
    target that must not be written over or a write that fails; the file that was
    at ``path`` before is then unchanged, and no temporary file is left.
    """
    target = _target(path, error)
    tmp = temp_path(target)
    _remove_stale(target, tmp, error)
    fd = _create_temp(target, tmp, error)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as err:
        _unlink_quietly(tmp)
        raise error(tr("cannot write {name}: {reason}").format(name=target.name,
                                                              reason=_reason(err))) from None
    except BaseException:  # Ctrl-C, or the writer failed: the old file stays as it was
        _unlink_quietly(tmp)
        raise
    return target


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
