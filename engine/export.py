"""Export a trained network as a PyTorch model, without needing PyTorch.

:func:`export_pytorch` writes a folder of four files:

- ``model.py``: ``load_model()`` returns a ``torch.nn.Module`` (an ``nn.Sequential``)
  in eval mode with the trained weights; ``CLASS_NAMES`` and ``INPUT_SHAPE``.
- ``model.json``: the layers (every size resolved: channels, kernels, strides,
  padding, units), the input shape, the class names, and where each weight is in
  ``weights.bin``.
- ``weights.bin``: every weight as raw little-endian float32, one after another (read
  with ``torch.frombuffer``: no pickle, no numpy needed).
- ``README.md``: how to load and run it.

Each engine layer has an exact PyTorch twin: conv -> ``nn.Conv2d`` (same (F, C, KH, KW)
weights, stride, zero padding), batch norm -> ``nn.BatchNorm2d`` in eval mode with the
running statistics (PyTorch's momentum is 1 - the engine's), max / average pooling ->
``nn.MaxPool2d`` / ``nn.AvgPool2d`` (floor sizes, no padding, as the engine), ReLU /
Tanh / Sigmoid, flatten (row-major (C, H, W), as the engine), dense -> ``nn.Linear``
(its weight is the engine's (D, K) ``w`` transposed). The module returns the logits;
``softmax`` of them is the engine's ``predict_proba``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from . import files
from .i18n import tr

__all__ = ["ExportError", "export_pytorch", "torch_layers", "EXPORT_FILES"]

EXPORT_FILES = ("model.py", "model.json", "weights.bin", "README.md")
_FORMAT = "cnn-explorer-pytorch"
_VERSION = 1


class ExportError(ValueError):
    """The export could not be written; one sentence says why."""


def _pair(value) -> list[int]:
    return [int(v) for v in value]


def torch_layers(network) -> tuple[list[dict], list[tuple[str, np.ndarray]]]:
    """The layers as PyTorch needs them and the weights in the order model.py reads them.

    Returns
    -------
    layers : list of dicts, one per engine layer: {"type", ...sizes}; "weights" names the
        entries of ``arrays`` the layer takes (e.g. ["3.weight", "3.bias"])
    arrays : [(name, float32 array)] in PyTorch's layouts
    """
    layers: list[dict] = []
    arrays: list[tuple[str, np.ndarray]] = []

    def add(index: int, entries: dict[str, np.ndarray]) -> list[str]:
        names = []
        for key, value in entries.items():
            name = f"{index}.{key}"
            arrays.append((name, np.ascontiguousarray(value, dtype="<f4")))
            names.append(name)
        return names

    for i, layer in enumerate(network.layers):
        kind = layer.type
        if kind == "conv":
            entry = {"type": "conv", "in_channels": layer.in_channels,
                     "out_channels": layer.filters, "kernel": _pair(layer.kernel),
                     "stride": _pair(layer.stride), "padding": _pair(layer.padding)}
            entry["weights"] = add(i, {"weight": layer.params["w"], "bias": layer.params["b"]})
        elif kind == "batchnorm":
            entry = {"type": "batchnorm", "channels": layer.channels, "eps": layer.eps,
                     "momentum": 1.0 - layer.momentum}
            entry["weights"] = add(i, {"weight": layer.params["gamma"],
                                       "bias": layer.params["beta"],
                                       "running_mean": layer.buffers["running_mean"],
                                       "running_var": layer.buffers["running_var"]})
        elif kind in ("maxpool", "avgpool"):
            entry = {"type": kind, "size": _pair(layer.size), "stride": _pair(layer.stride)}
        elif kind in ("relu", "tanh", "sigmoid", "flatten"):
            entry = {"type": kind}
        elif kind == "dense":
            entry = {"type": "dense", "in_features": layer.in_features,
                     "out_features": layer.units}
            entry["weights"] = add(i, {"weight": layer.params["w"].T,  # (K, D) for nn.Linear
                                       "bias": layer.params["b"]})
        else:  # a layer type added to the engine but not here: refuse rather than guess
            raise ExportError(tr("the layer {name} ({kind}) has no PyTorch export").format(
                name=layer.name, kind=kind))
        entry["name"] = layer.name
        layers.append(entry)
    return layers, arrays


def _folder(out) -> Path:
    folder = Path(out)
    if not os.fspath(out).strip():
        raise ExportError(tr("no folder was given"))
    if folder.exists() and not folder.is_dir():
        raise ExportError(tr("{path}: is a file; give a folder to write the model into")
                          .format(path=folder))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ExportError(tr("cannot make the folder {path}: {reason}").format(
            path=folder, reason=err.strerror or type(err).__name__)) from None
    return folder


def export_pytorch(network, out, class_names=None) -> list[Path]:
    """Write ``network`` to the folder ``out`` as a PyTorch model (see the module docstring).

    Parameters
    ----------
    network : engine.network.Network
    out : the folder (created if needed; the four files are replaced, nothing else changes)
    class_names : one name per output (default "0", "1", ...)

    Returns
    -------
    The files written, in EXPORT_FILES order.

    Raises
    ------
    ExportError
        The folder cannot be made or written, or a file in it cannot be replaced.
    """
    folder = _folder(out)
    layers, arrays = torch_layers(network)
    names = [str(n) for n in class_names] if class_names is not None else \
        [str(k) for k in range(network.num_classes)]
    if len(names) != network.num_classes:
        raise ExportError(tr("{n} class names for a network with {k} outputs").format(
            n=len(names), k=network.num_classes))
    tensors, offset, blobs = {}, 0, []
    for name, array in arrays:
        blob = array.tobytes()
        tensors[name] = {"shape": list(array.shape), "offset": offset, "bytes": len(blob)}
        offset += len(blob)
        blobs.append(blob)
    meta = {"format": _FORMAT, "version": _VERSION, "input_shape": list(network.input_shape),
            "class_names": names, "layers": layers, "tensors": tensors, "dtype": "float32",
            "byte_order": "little", "input_range": [0.0, 1.0]}
    texts = {"model.py": _MODEL_PY,
             "model.json": json.dumps(meta, indent=1, ensure_ascii=False) + "\n",
             "README.md": _readme(network, names)}
    contents = {name: [text.encode("utf-8")] for name, text in texts.items()}
    contents["weights.bin"] = blobs
    written = []
    for name in EXPORT_FILES:
        def write(fh, parts=contents[name]):
            for part in parts:
                fh.write(part)
        written.append(files.atomic_write(folder / name, write, ExportError))
    return written


def _readme(network, names: list[str]) -> str:
    c, h, w = (list(network.input_shape) + [1, 1])[:3]
    rows = "\n".join(f"| {layer.name} | {layer.type} | {info.output_shape} | "
                     f"{info.param_count:,} |"
                     for layer, info in zip(network.layers, network.summary(), strict=True))
    return f"""# A CNN Explorer network for PyTorch

Exported by CNN Explorer. `model.py` rebuilds the network layer by layer with PyTorch and
fills in the trained weights (`weights.bin`: raw little-endian float32, described in
`model.json`; no pickle is read).

```python
import torch
from model import load_model, CLASS_NAMES

model = load_model()                      # a torch.nn.Module in eval mode
x = torch.rand(8, {c}, {h}, {w})              # float32 images (N, C, H, W) scaled to [0, 1]
probabilities = torch.softmax(model(x), dim=1)
print([CLASS_NAMES[k] for k in probabilities.argmax(dim=1)])
```

Inputs are scaled as in CNN Explorer: pixel values divided by 255 (0 = black, 1 = white),
channels first ({c} x {h} x {w}). The module returns logits; their softmax is what CNN
Explorer shows as probabilities. Needs PyTorch (`pip install torch`); `python model.py`
prints the network.

{network.param_count:,} parameters, {network.num_classes} classes: {", ".join(names)}.

| layer | type | output (per image) | parameters |
|---|---|---|---|
{rows}
"""


# model.py as written into the export folder: it needs only PyTorch and the standard library.
_MODEL_PY = '''"""A network trained in CNN Explorer, rebuilt with PyTorch.

load_model() returns a torch.nn.Module (nn.Sequential) in eval mode with the trained
weights. Inputs: float32 (N, C, H, W) scaled to [0, 1] (pixel / 255), INPUT_SHAPE per image;
outputs: logits (N, classes); torch.softmax(logits, dim=1) are the probabilities.
The weights are read from weights.bin (raw float32) as model.json describes: no pickle.
"""

import array
import json
import sys
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
_META = json.loads((HERE / "model.json").read_text(encoding="utf-8"))
INPUT_SHAPE = tuple(_META["input_shape"])
CLASS_NAMES = list(_META["class_names"])


def _module(layer):
    kind = layer["type"]
    if kind == "conv":
        return nn.Conv2d(layer["in_channels"], layer["out_channels"], tuple(layer["kernel"]),
                         stride=tuple(layer["stride"]), padding=tuple(layer["padding"]))
    if kind == "batchnorm":
        return nn.BatchNorm2d(layer["channels"], eps=layer["eps"], momentum=layer["momentum"])
    if kind == "maxpool":
        return nn.MaxPool2d(tuple(layer["size"]), stride=tuple(layer["stride"]))
    if kind == "avgpool":
        return nn.AvgPool2d(tuple(layer["size"]), stride=tuple(layer["stride"]))
    if kind == "dense":
        return nn.Linear(layer["in_features"], layer["out_features"])
    return {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
            "flatten": nn.Flatten}[kind]()


def _tensor(raw, entry):
    chunk = raw[entry["offset"]:entry["offset"] + entry["bytes"]]
    if sys.byteorder != "little":  # the file is little-endian float32
        values = array.array("f")
        values.frombytes(chunk)
        values.byteswap()
        chunk = values.tobytes()
    return torch.frombuffer(bytearray(chunk), dtype=torch.float32).reshape(entry["shape"])


def load_model(folder=HERE):
    """The network with its trained weights, in eval mode (batch norm uses its running
    statistics)."""
    folder = Path(folder)
    meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    raw = (folder / "weights.bin").read_bytes()
    model = nn.Sequential(*[_module(layer) for layer in meta["layers"]])
    with torch.no_grad():
        for module, layer in zip(model, meta["layers"]):
            for name in layer.get("weights", []):
                key = name.split(".", 1)[1]
                getattr(module, key).copy_(_tensor(raw, meta["tensors"][name]))
    return model.eval()


if __name__ == "__main__":
    print(load_model())
    print("input", INPUT_SHAPE, "classes", CLASS_NAMES)
'''
