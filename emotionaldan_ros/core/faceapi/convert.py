"""Convert the TF.js weights of `@vladmandic/face-api` into safetensors for `nets.py`.

Input: the npm tarball (`npm pack @vladmandic/face-api`) or its unpacked folder. Output, per net,
`<net>.safetensors` (format in `pretrained.py`), plus `SHA256SUMS` and `NOTICE` (the package's MIT
licence and provenance). The output depends only on the source files, so converting the same
package twice gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from emotionaldan_ros.core.faceapi.nets import NETS
from emotionaldan_ros.core.faceapi.pretrained import QPARAMS_SUFFIX, dequantize_state
from emotionaldan_ros.core.faceapi.tfjs import (
    WeightSpec,
    decode_weight,
    load_tfjs_raw,
    stored_values,
)

PACKAGE_NAME = "@vladmandic/face-api"
MANIFESTS = {
    "face_landmark_68": "face_landmark_68_model-weights_manifest.json",
    "face_landmark_68_tiny": "face_landmark_68_tiny_model-weights_manifest.json",
    "face_expression": "face_expression_model-weights_manifest.json",
    "tiny_face_detector": "tiny_face_detector_model-weights_manifest.json",
    "ssd_mobilenetv1": "ssd_mobilenetv1_model-weights_manifest.json",
}

# Provenance stated by the package's TUTORIAL.md, repeated so that it travels with the weights.
UPSTREAM_NOTE = (
    "Upstream origin (from the package's TUTORIAL.md): ssd_mobilenetv1 was trained on the WIDER "
    "FACE dataset\nby yeephycho (https://github.com/yeephycho/tensorflow-face-detection, whose "
    "README puts code and\nmodel under the Apache License 2.0 and refers to the WIDER FACE "
    "licence for the data);\ntiny_face_detector was trained on a custom set of ~14k images; the "
    "68-point landmark nets on\n~35k images; the expression net on public datasets and web "
    "images. None saw AffectNet or\nin-car infrared footage.\n"
)

Rule = tuple[str, Callable[[re.Match], str] | str | None]

_FACE_RULES: list[Rule] = [
    (r"dense0/conv0/(filters|bias)", lambda m: f"features.dense0.conv0.{_wb(m[1])}"),
    (r"(dense\d)/(conv\d)/depthwise_filter", r"features.\1.\2.depthwise.weight"),
    (r"(dense\d)/(conv\d)/pointwise_filter", r"features.\1.\2.pointwise.weight"),
    (r"(dense\d)/(conv\d)/bias", r"features.\1.\2.pointwise.bias"),
    (r"fc/(weights|bias)", lambda m: f"fc.{_wb(m[1])}"),
]
_TINY_RULES: list[Rule] = [
    (r"(conv[08])/(filters|bias)", lambda m: f"{m[1]}.{_wb(m[2])}"),
    (r"(conv\d)/depthwise_filter", r"\1.depthwise.weight"),
    (r"(conv\d)/pointwise_filter", r"\1.pointwise.weight"),
    (r"(conv\d)/bias", r"\1.pointwise.bias"),
]
_BN = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean"}
_BN["moving_variance"] = "running_var"
_SSD_RULES: list[Rule] = [
    (
        r"MobilenetV1/Conv2d_0_pointwise/(weights|convolution_bn_offset)",
        lambda m: _ssd("conv0", m),
    ),
    (
        r"MobilenetV1/Conv2d_(\d+)_depthwise/depthwise_weights",
        lambda m: f"layers.{int(m[1]) - 1}.depthwise.weight",
    ),
    (
        r"MobilenetV1/Conv2d_(\d+)_depthwise/BatchNorm/(\w+)",
        lambda m: f"layers.{int(m[1]) - 1}.bn.{_BN[m[2]]}",
    ),
    (
        r"MobilenetV1/Conv2d_(\d+)_pointwise/(weights|convolution_bn_offset)",
        lambda m: _ssd(f"layers.{int(m[1]) - 1}.pointwise", m, 2),
    ),
    (
        r"Prediction/Conv2d_(\d)_pointwise/(weights|convolution_bn_offset)",
        lambda m: _ssd(f"extras.{m[1]}", m, 2),
    ),
    (
        r"Prediction/BoxPredictor_(\d)/BoxEncodingPredictor/(weights|biases)",
        lambda m: _ssd(f"box_heads.{m[1]}", m, 2),
    ),
    (
        r"Prediction/BoxPredictor_(\d)/ClassPredictor/(weights|biases)",
        lambda m: _ssd(f"class_heads.{m[1]}", m, 2),
    ),
    (r"Output/extra_dim", "priors"),
    # Graph constants of the exported TF model that the re-implementation hard-codes.
    (r"Preprocessor/.*|Postprocessor/.*|concat_1/axis|Prediction/BoxPredictor_\d/stack.*", None),
    (r"Prediction/BoxPredictor_\d/strided_slice/.*", None),
]
RULES: dict[str, list[Rule]] = {
    "face_landmark_68": _FACE_RULES,
    "face_landmark_68_tiny": _FACE_RULES,
    "face_expression": _FACE_RULES,
    "tiny_face_detector": _TINY_RULES,
    "ssd_mobilenetv1": _SSD_RULES,
}


def _wb(tf_suffix: str) -> str:
    return "weight" if tf_suffix in ("filters", "weights") else "bias"


def _ssd(prefix: str, m: re.Match, group: int = 1) -> str:
    return f"{prefix}.{'weight' if m[group] == 'weights' else 'bias'}"


class ConversionError(RuntimeError):
    """The source package does not contain what the converter expects."""


def map_name(net: str, tf_name: str) -> str | None:
    """PyTorch state-dict key for a TF.js weight name (None: a constant that is not needed)."""
    for pattern, target in RULES[net]:
        m = re.fullmatch(pattern, tf_name)
        if m:
            if target is None:
                return None
            return target(m) if callable(target) else m.expand(target)
    raise ConversionError(f"{net}: no mapping for TF.js weight {tf_name!r}")


def to_torch_layout(key: str, array: np.ndarray) -> np.ndarray:
    """Transpose a TF.js array into the layout of PyTorch parameter `key`."""
    if key == "priors":
        return array.reshape(-1, 4)
    if array.ndim == 4:  # TF HWIO (depthwise: H, W, C, 1) → PyTorch OIHW (depthwise: C, 1, H, W)
        perm = (2, 3, 0, 1) if key.endswith("depthwise.weight") else (3, 2, 0, 1)
        return array.transpose(perm)
    if array.ndim == 2:  # dense [in, out] → Linear [out, in]
        return array.T
    return array


@dataclass(frozen=True)
class ConvertedNet:
    """One converted net: the tensors to store, and their de-quantised state dict."""

    name: str
    stored: dict[str, torch.Tensor]
    sources: dict[str, str]  # source file name → sha256

    @property
    def state_dict(self) -> dict[str, torch.Tensor]:
        """De-quantised float32 state dict (what `load_state_dict` receives)."""
        return dequantize_state(self.stored)


def convert_net(name: str, model_dir: Path) -> ConvertedNet:
    """Convert one net from a face-api `model/` folder and check it against `nets.NETS[name]`.

    Raises:
        ConversionError: missing files, unmapped weights, or keys/shapes not matching the module.
    """
    manifest = Path(model_dir) / MANIFESTS[name]
    if not manifest.is_file():
        raise ConversionError(f"{manifest} not found (is this a face-api package?)")
    raw = load_tfjs_raw(manifest)
    stored: dict[str, torch.Tensor] = {}
    for tf_name, (spec, data) in raw.items():
        key = map_name(name, tf_name)
        if key is None:
            continue
        stored.update(_store(key, spec, data))
    expected = NETS[name]().state_dict()
    got = dequantize_state(stored)
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    if missing or extra:
        raise ConversionError(f"{name}: missing keys {missing}, unexpected keys {extra}")
    for key, value in expected.items():
        if tuple(got[key].shape) != tuple(value.shape):
            raise ConversionError(
                f"{name}: {key} has shape {tuple(got[key].shape)}, "
                f"module wants {tuple(value.shape)}"
            )
    paths = json.loads(manifest.read_text())
    files = [manifest.name] + [p for group in paths for p in group["paths"]]
    sources = {f: _sha256(Path(model_dir) / f) for f in files}
    return ConvertedNet(name, stored, sources)


def _store(key: str, spec: WeightSpec, data: bytes) -> dict[str, torch.Tensor]:
    q = spec.quantization
    if q is not None and q["dtype"] == "uint8" and spec.dtype == "float32":
        values = np.ascontiguousarray(to_torch_layout(key, stored_values(spec, data)))
        qparams = np.array([float(q["scale"]), float(q["min"])], dtype=np.float64)
        return {key: torch.from_numpy(values), key + QPARAMS_SUFFIX: torch.from_numpy(qparams)}
    values = to_torch_layout(key, decode_weight(spec, data)).astype(np.float32)
    return {key: torch.from_numpy(np.ascontiguousarray(values))}


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def find_package_root(source: Path) -> Path:
    """The folder holding package.json and model/ inside an unpacked package (or itself)."""
    source = Path(source)
    for cand in (source, source / "package", source.parent):
        if (cand / "model").is_dir() and (cand / "package.json").is_file():
            return cand
    raise ConversionError(
        f"{source}: not a face-api package (expected package.json and model/; get it with "
        f"`npm pack {PACKAGE_NAME}`)"
    )


def convert_package(
    source: Path, out_dir: Path, nets: tuple[str, ...] = tuple(MANIFESTS)
) -> dict[str, Path]:
    """Convert nets from a tarball or unpacked package into `out_dir`.

    Returns:
        {net name: written safetensors path}.
    """
    source = Path(source)
    if source.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            try:
                with tarfile.open(source) as tar:
                    tar.extractall(tmp, filter="data")
            except (tarfile.TarError, OSError) as exc:
                raise ConversionError(f"cannot unpack {source}: {exc}") from exc
            return convert_package(Path(tmp), out_dir, nets)
    if not source.exists():
        raise ConversionError(f"{source} does not exist")
    root = find_package_root(source)
    package = json.loads((root / "package.json").read_text())
    if package.get("name") != PACKAGE_NAME:
        raise ConversionError(f"{root}: package is {package.get('name')!r}, not {PACKAGE_NAME}")
    version = str(package.get("version"))
    licence = root / "LICENSE"
    if not licence.is_file():
        raise ConversionError(f"{root}: no LICENSE file; the MIT notice must be kept")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, notes = {}, []
    for name in nets:
        conv = convert_net(name, root / "model")
        meta = {
            "source_package": f"{PACKAGE_NAME}@{version}",
            "source_files": json.dumps(conv.sources, sort_keys=True),
            "architecture": f"emotionaldan_ros.core.faceapi.nets.{NETS[name].__name__}",
            "licence": "MIT (see NOTICE)",
        }
        path = out_dir / f"{name}.safetensors"
        write_safetensors(path, conv.stored, meta)
        written[name] = path
        notes += [
            f"  {name}.safetensors  <-  model/{f} (sha256 {d})" for f, d in conv.sources.items()
        ]
    _write_sums(out_dir)
    (out_dir / "NOTICE").write_text(
        f"The weights in this folder were converted from the npm package {PACKAGE_NAME} "
        f"version {version}\n(https://github.com/vladmandic/face-api, originally "
        "https://github.com/justadudewhohacks/face-api.js)\nwith `emotionaldan-convert-faceapi` "
        "(emotionaldan_ros/core/faceapi/convert.py):\nweights de-quantised as q * scale + min "
        "and transposed to PyTorch layout, values unchanged.\n\nSources:\n"
        + "\n".join(notes)
        + "\n\n"
        + UPSTREAM_NOTE
        + "\nThe package's licence follows.\n\n"
        + licence.read_text()
    )
    return written


_ST_DTYPES = {torch.uint8: "U8", torch.float32: "F32", torch.float64: "F64"}


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]):
    """Write a safetensors file deterministically (sorted header keys, sorted data).

    `safetensors.torch.save_file` orders the metadata from a hash map, so two runs give
    different bytes; this writer follows the same format byte-for-byte reproducibly.
    """
    header: dict[str, object] = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for key in sorted(tensors):
        t = tensors[key].contiguous()
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[key] = {
            "dtype": _ST_DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # pad so the data starts 8-byte aligned
    Path(path).write_bytes(len(head).to_bytes(8, "little") + head + b"".join(blobs))


def _write_sums(out_dir: Path) -> None:
    lines = [f"{_sha256(p)}  {p.name}" for p in sorted(out_dir.glob("*.safetensors"))]
    (out_dir / "SHA256SUMS").write_text("\n".join(lines) + "\n")
