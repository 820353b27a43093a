"""Load the converted face-api nets from `emotionaldan_ros/models/faceapi/` (checksum-verified).

File format (written by `convert.py`): one safetensors file per net whose keys are the
`state_dict()` keys of the module in `nets.py`. A weight that face-api ships uint8-quantised stays
uint8 (already transposed to PyTorch layout) with a float64 companion `<key>.qparams` =
[scale, min]; it is de-quantised at load time exactly as TF.js does (`q * scale + min` in double
precision, stored as float32). Everything else is float32. This keeps the files as small as the
originals (the SSD would be 22 MB in float32) while giving bit-identical weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from emotionaldan_ros.core.faceapi.nets import NETS
from emotionaldan_ros.core.weights import (
    GET_WEIGHTS_HINT,
    WeightsError,
    load_safetensors,
    read_sums,
)

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "models" / "faceapi"
QPARAMS_SUFFIX = ".qparams"


def dequantize_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Turn a stored {key: uint8 | float32, key.qparams: [scale, min]} dict into a state dict."""
    state = {}
    for key, value in tensors.items():
        if key.endswith(QPARAMS_SUFFIX):
            continue
        if value.dtype == torch.uint8:
            qp = tensors.get(key + QPARAMS_SUFFIX)
            if qp is None or qp.numel() != 2:
                raise ValueError(f"quantised tensor {key!r} has no [scale, min] {QPARAMS_SUFFIX}")
            scale, vmin = (float(v) for v in qp.double())
            value = (value.double() * scale + vmin).float()
        state[key] = value.float()
    return state


def weights_path(name: str, weights_dir: Path | None = None) -> Path:
    """Path of the converted weights of net `name`."""
    if name not in NETS:
        raise ValueError(f"unknown face-api net {name!r}; known: {', '.join(NETS)}")
    return Path(weights_dir or WEIGHTS_DIR) / f"{name}.safetensors"


def load_net(name: str, device: str = "cpu", weights_dir: Path | None = None) -> nn.Module:
    """Build net `name` from `nets.NETS`, load its verified weights, eval mode, no grads.

    Raises:
        WeightsError: the file or its SHA256SUMS entry is missing, the checksum differs, or the
            tensors do not fit the architecture.
    """
    path = weights_path(name, weights_dir)
    sums_file = path.parent / "SHA256SUMS"
    if not sums_file.is_file():
        raise WeightsError(f"no checksum file {sums_file} for {path}. {GET_WEIGHTS_HINT}")
    digest = read_sums(sums_file).get(path.name)
    if digest is None:
        raise WeightsError(f"{path.name} is not listed in {sums_file}. {GET_WEIGHTS_HINT}")
    tensors = load_safetensors(path, expected_sha256=digest)
    net = NETS[name]()
    try:
        net.load_state_dict(dequantize_state(tensors), strict=True)
    except (RuntimeError, ValueError) as exc:
        raise WeightsError(f"weights {path} do not fit {type(net).__name__}: {exc}") from exc
    net.eval().requires_grad_(False)
    return net.to(device)
