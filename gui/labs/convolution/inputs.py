"""What the Convolution lab convolves: typed grids, MNIST digits, photo crops, kernels.

Plain numpy (plus the shared image loader); no widgets. Inputs are returned as
float64 (C, H, W) arrays, the lab adds the N axis.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "GRID_MIN",
    "GRID_MAX",
    "MAX_FILTERS",
    "MAX_KERNEL",
    "MAX_CHANNELS",
    "PHOTO_SIDE",
    "default_grid",
    "default_kernels",
    "gallery_kernels",
    "gallery_title",
    "grid_from_store",
    "digit_input",
    "photo_crop",
    "random_kernels",
]

GRID_MIN, GRID_MAX = 2, 12  # typed grids from the course's 2x2 up; readable numbers
MAX_FILTERS = 4
MAX_KERNEL = 7
MAX_CHANNELS = 3
PHOTO_SIDE = 96  # photos are shrunk so their longer side is at most this before cropping

# Fallback when engine.gallery is missing; the engine's KERNELS win when present.
_FALLBACK_KERNELS = {
    "vertical edge": [[0, 0, 0], [-1, 2, -1], [0, 0, 0]],
    "horizontal edge": [[0, -1, 0], [0, 2, 0], [0, -1, 0]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
}


def gallery_kernels() -> dict[str, np.ndarray]:
    """The named kernels of the gallery, name -> (3, 3) float64 array.

    Uses ``engine.KERNELS`` (a mapping name -> array, or a sequence of (name, array)
    pairs or of objects with ``name`` and ``values``/``kernel``); falls back to a few
    classic kernels if the gallery is not available.
    """
    try:
        import engine

        source = engine.KERNELS
    except (ImportError, AttributeError):
        source = _FALLBACK_KERNELS
    items = source.items() if hasattr(source, "items") else source
    kernels = {}
    for item in items:
        if isinstance(item, tuple) and len(item) == 2:
            name, values = item
        else:
            name = getattr(item, "name", str(item))
            values = getattr(item, "values", getattr(item, "kernel", None))
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 2 and 1 <= arr.shape[0] <= MAX_KERNEL and 1 <= arr.shape[1] <= MAX_KERNEL:
            kernels[str(name)] = arr
    return kernels or {k: np.asarray(v, dtype=np.float64) for k, v in _FALLBACK_KERNELS.items()}


def gallery_title(name: str) -> str:
    """The name shown for the gallery kernel ``name``, in the current language."""
    try:
        from engine.gallery import kernel_name
    except ImportError:
        return name
    return kernel_name(name)


def _find(kernels: dict[str, np.ndarray], *words: str) -> np.ndarray | None:
    for name, k in kernels.items():
        low = name.lower().replace("-", " ").replace("_", " ")
        if all(w in low for w in words):
            return k
    return None


def default_kernels() -> tuple[np.ndarray, np.ndarray]:
    """The kernel bank the lab starts with.

    Returns
    -------
    w : ndarray (MAX_FILTERS, MAX_CHANNELS, MAX_KERNEL, MAX_KERNEL)
        Filter 1 a vertical edge, 2 a horizontal edge, 3 sharpen, 4 identity, each
        in the top-left 3x3 corner and the same on every channel.
    b : ndarray (MAX_FILTERS,) zeros
    """
    kernels = gallery_kernels()
    wanted = [("vertical",), ("horizontal",), ("sharpen",), ("identity",)]
    w = np.zeros((MAX_FILTERS, MAX_CHANNELS, MAX_KERNEL, MAX_KERNEL))
    for f, words in enumerate(wanted):
        k = _find(kernels, *words)
        if k is None:
            k = np.asarray(_FALLBACK_KERNELS[" ".join(words) + (" edge" if f < 2 else "")])
        w[f, :, :k.shape[0], :k.shape[1]] = k
    return w, np.zeros(MAX_FILTERS)


def random_kernels(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A whole random bank, values in [-1, 1] rounded to one decimal so they stay readable."""
    w = np.round(rng.uniform(-1.0, 1.0, size=(MAX_FILTERS, MAX_CHANNELS, MAX_KERNEL,
                                                MAX_KERNEL)), 1)
    b = np.round(rng.uniform(-0.5, 0.5, size=MAX_FILTERS), 1)
    return w + 0.0, b + 0.0  # + 0.0 turns -0.0 into 0.0 ("-0" looks like a bug)


def default_grid() -> np.ndarray:
    """The typed-number store (MAX_CHANNELS, GRID_MAX, GRID_MAX), whole numbers.

    Channel R: a vertical stroke (two columns of 1) - what the default vertical-edge
    kernel answers to; G: a horizontal stroke; B: a diagonal. The lab shows the
    top-left ``rows x cols`` corner.
    """
    grid = np.zeros((MAX_CHANNELS, GRID_MAX, GRID_MAX))
    grid[0, 1:6, 2:4] = 1.0
    grid[1, 3:5, 1:6] = 1.0
    for k in range(GRID_MAX):
        grid[2, k, k] = 1.0
    return grid


def grid_from_store(store: np.ndarray, channels: int, rows: int, cols: int) -> np.ndarray:
    """The typed input (C, rows, cols): the store's top-left corner, a copy."""
    return store[:channels, :rows, :cols].copy()


def digit_input(images: np.ndarray, index: int, channels: int) -> np.ndarray:
    """One MNIST digit scaled to [0, 1] as (C, 28, 28); with 3 channels the grey is copied."""
    digit = np.asarray(images[index], dtype=np.float64) / 255.0  # (28, 28)
    return np.repeat(digit[None], channels, axis=0)  # (C, 28, 28)


def photo_crop(photo: np.ndarray, top: int, left: int, size: int, channels: int) -> np.ndarray:
    """A ``size x size`` crop of a photo, (C, size, size) in [0, 1].

    Parameters
    ----------
    photo : ndarray (H, W) grey or (H, W, 3) colour, values in [0, 1]
    top, left : int
        Crop corner; clamped so the crop stays inside the photo.
    channels : {1, 3}
        1 gives the luminance, 3 the RGB channels (a grey photo is copied).
    """
    photo = np.asarray(photo, dtype=np.float64)
    h, w = photo.shape[:2]
    size = min(size, h, w)
    top = min(max(top, 0), h - size)
    left = min(max(left, 0), w - size)
    patch = photo[top:top + size, left:left + size]
    if patch.ndim == 2:
        patch = patch[:, :, None]  # (S, S) -> (S, S, 1)
    if channels == 1:
        if patch.shape[2] == 3:
            patch = patch @ np.array([0.299, 0.587, 0.114])[:, None]  # (S, S, 1) luminance
        return np.ascontiguousarray(patch.transpose(2, 0, 1))  # (1, S, S)
    if patch.shape[2] == 1:
        patch = np.repeat(patch, 3, axis=2)
    return np.ascontiguousarray(patch.transpose(2, 0, 1))  # (S, S, 3) -> (3, S, S)
