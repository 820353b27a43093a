"""Export EmotionalDAN / baselines to ONNX and TorchScript.

Both exports wrap the model so that it maps (N, 1, 112, 112) normalised crops to plain tensors:
`landmarks` (N, 68, 2) of the last stage in the crop frame (absent for emotion-only baselines) and
`logits` (N, C). The batch dimension is dynamic. Preprocessing (crop, normalisation) and
postprocessing (softmax, landmarks back to image pixels) stay in `DANRecognizer`, so the PyTorch
and ONNX Runtime backends share them. The checkpoint header (model, classes, crop parameters)
travels inside the exported file: ONNX metadata property / TorchScript extra file "emotionaldan".

ONNX uses the TorchScript-based exporter (`dynamo=False`), which needs no extra package; the
connection layers need opset ≥ 16 (GridSample), 17 is the default.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

HEADER_KEY = "emotionaldan"
DEFAULT_OPSET = 17


class ExportWrapper(nn.Module):
    """(N, 1, S, S) crops → (landmarks, logits) or (logits,) as plain tensors."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval()
        self.has_landmarks = int(getattr(model, "num_stages", 0) or 0) > 0
        if not int(getattr(model, "num_classes", 0) or 0):
            raise ValueError("export needs a model with an emotion head (num_classes > 0)")

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:  # noqa: D102
        out = self.model(x)
        if self.has_landmarks:
            return out.landmarks[-1], out.logits
        return (out.logits,)

    @property
    def output_names(self) -> list[str]:
        """Names of the exported outputs."""
        return ["landmarks", "logits"] if self.has_landmarks else ["logits"]


def _example(model: nn.Module, batch: int = 2) -> Tensor:
    size = int(getattr(model, "size", 112))
    return torch.randn(batch, 1, size, size, generator=torch.Generator().manual_seed(0))


def onnx_bytes(model: nn.Module, header: dict[str, Any], opset: int = DEFAULT_OPSET) -> bytes:
    """Serialized ONNX model (dynamic batch axis, header in its metadata), checked."""
    import onnx

    if opset < 16:
        raise ValueError(f"opset must be >= 16 (GridSample), got {opset}")
    wrapper = ExportWrapper(model).cpu()
    axes = {name: {0: "batch"} for name in ["input", *wrapper.output_names]}
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # Shape checks and the fixed crop size become trace constants, as intended; the
        # TorchScript-based exporter's deprecation notice is torch's own.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            wrapper,
            (_example(model),),
            buf,
            input_names=["input"],
            output_names=wrapper.output_names,
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    proto = onnx.load_from_string(buf.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = HEADER_KEY, json.dumps(header)
    proto.producer_name = "emotionaldan-ros"
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def export_onnx(
    model: nn.Module, path: Path | str, header: dict[str, Any], opset: int = DEFAULT_OPSET
) -> Path:
    """Write an ONNX model with a dynamic batch axis and the header in its metadata."""
    data = onnx_bytes(model, header, opset)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def export_torchscript(model: nn.Module, path: Path | str, header: dict[str, Any]) -> Path:
    """Write a traced TorchScript module with the header as extra file "emotionaldan"."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = ExportWrapper(model).cpu()
    with torch.no_grad(), warnings.catch_warnings():
        # torch 2.13 marks TorchScript deprecated (still supported; see docs/model.md).
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(wrapper, (_example(model),), check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={HEADER_KEY: json.dumps(header)})
    return path


def slim_header(header: dict[str, Any], source: str) -> dict[str, Any]:
    """The part of a checkpoint header an exported model carries (no training config)."""
    slim = {k: header[k] for k in ("format", "model", "classes", "crop", "tensors_sha256")}
    slim["source"] = source
    return slim


def export_checkpoint(
    checkpoint: Path | str,
    onnx_path: Path | str | None = None,
    torchscript_path: Path | str | None = None,
    opset: int = DEFAULT_OPSET,
    expected_sha256: str | None = None,
) -> dict[str, Path]:
    """Load a verified checkpoint and export it; returns {"onnx": path, "torchscript": path}."""
    from emotionaldan_ros.core.checkpoint import load_checkpoint

    if onnx_path is None and torchscript_path is None:
        raise ValueError("nothing to export: give an ONNX and/or a TorchScript output path")
    model, header = load_checkpoint(checkpoint, expected_sha256)
    slim = slim_header(header, Path(checkpoint).name)
    out: dict[str, Path] = {}
    if onnx_path is not None:
        out["onnx"] = export_onnx(model, onnx_path, slim, opset)
    if torchscript_path is not None:
        out["torchscript"] = export_torchscript(model, torchscript_path, slim)
    return out
