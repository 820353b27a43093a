"""Model checkpoints: weights + everything needed to rebuild and run the model.

A checkpoint holds the registry name and constructor arguments of the model, its state dict (the
mean shape S0 is a buffer in it), the class names, the crop parameters the model was trained with,
the training config and metrics, and a SHA-256 digest of the tensors themselves.

Two containers, same content:

- `.safetensors` (recommended for shipped weights): tensors + a JSON header in the safetensors
  metadata. No pickle at all, so nothing in the file can execute code; the header can be read
  without loading the tensors.
- `.pt` / `.pth`: a plain dict read with `torch.load(weights_only=True)` (only tensors and
  primitive containers are accepted), convenient when a trainer wants to add its own entries
  (e.g. optimiser state for resuming) to the same file.

Loading checks, in order: the file exists (and matches `expected_sha256`, or the SHA256SUMS file
next to it when that lists it), it parses, the header is complete, the tensors' digest matches the
one recorded at save time (catches corruption and tampering even without a sums file), the state
dict fits the model, and every weight is finite. Any failure is a `WeightsError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emotionaldan_ros.core.alignment import DEFAULT_MARGIN, DEFAULT_SHIFT, MEAN_SHAPE_FRAME
from emotionaldan_ros.core.labels import emotion_names
from emotionaldan_ros.core.weights import (
    GET_WEIGHTS_HINT,
    WeightsError,
    read_sums,
    verify_file,
)

FORMAT = "emotionaldan-checkpoint/1"
_HEADER_KEY = "emotionaldan"  # safetensors metadata key / .pt dict key of the JSON header


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic | np.ndarray):
        return obj.tolist()
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise TypeError(f"checkpoint config/meta value of type {type(obj).__name__} is not JSON-able")


def tensors_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of a state dict, in sorted key order."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def save_checkpoint(
    path: Path | str,
    model: nn.Module,
    config: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    crop: dict[str, float] | None = None,
) -> Path:
    """Write a checkpoint (format chosen by the suffix: .safetensors, .pt or .pth).

    Args:
        path: output file.
        model: a model built by `core.model.create_model` (it carries `model_name` and
            `model_kwargs`).
        config: the training config (JSON-able), stored as is.
        meta: anything else to keep: metrics, dataset names, licence, notes (JSON-able).
            `meta["classes"]` overrides the class names derived from the head size.
        crop: crop parameters used in training: {"size", "margin", "shift"} (default: the
            `core.alignment` defaults).

    Returns:
        The path written.
    """
    path = Path(path)
    name = getattr(model, "model_name", None)
    if name is None:
        raise ValueError("model has no `model_name`: build it with core.model.create_model")
    meta = dict(meta or {})
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    classes = list(meta.pop("classes", emotion_names(num_classes) if num_classes else ()))
    if len(classes) != num_classes:
        raise ValueError(f"{len(classes)} class names for a {num_classes}-class head")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    header = {
        "format": FORMAT,
        "model": {"name": name, "kwargs": dict(getattr(model, "model_kwargs", {}))},
        "classes": classes,
        "crop": {"size": MEAN_SHAPE_FRAME, "margin": DEFAULT_MARGIN, "shift": DEFAULT_SHIFT}
        | dict(crop or {}),
        "config": config or {},
        "meta": meta,
        "tensors_sha256": tensors_digest(state),
    }
    text = json.dumps(header, default=_jsonable)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path), metadata={_HEADER_KEY: text})
    elif path.suffix in (".pt", ".pth"):
        torch.save({_HEADER_KEY: text, "state_dict": state}, path)
    else:
        raise ValueError(f"checkpoint suffix must be .safetensors, .pt or .pth, got {path.name}")
    return path


def _read(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                text = (f.metadata() or {}).get(_HEADER_KEY)
                state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        else:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(blob, dict):
                raise ValueError(f"top level is {type(blob).__name__}, not a dict")
            text, state = blob.get(_HEADER_KEY), blob.get("state_dict")
            if not isinstance(state, dict):
                raise ValueError("no 'state_dict' entry")
        if text is None:
            raise ValueError(f"no {_HEADER_KEY!r} header: not an emotionaldan-ros checkpoint")
        header = json.loads(text)
    except WeightsError:
        raise
    except Exception as exc:  # any parse failure means a bad file
        raise WeightsError(
            f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}. {GET_WEIGHTS_HINT}"
        ) from exc
    return header, state


def convert_checkpoint(
    src: Path | str,
    dst: Path | str,
    meta: dict[str, Any] | None = None,
    crop: dict[str, Any] | None = None,
) -> Path:
    """Re-write a verified checkpoint in the format of `dst`'s suffix (e.g. .pt → .safetensors).

    The header (model, classes, crop, config, metrics) and the tensors are kept as they are;
    `meta` entries are merged into the header's meta (e.g. a note on where the weights come
    from) and `crop` entries into its crop parameters (e.g. a detector calibration).
    """
    src, dst = Path(src), Path(dst)
    model, header = load_checkpoint(src)
    merged = dict(header.get("meta", {})) | dict(meta or {})
    merged["classes"] = header["classes"]
    new_crop = dict(header.get("crop", {})) | dict(crop or {})
    return save_checkpoint(dst, model, header.get("config"), merged, new_crop)


def read_header(path: Path | str) -> dict[str, Any]:
    """The JSON header of a checkpoint (model name/kwargs, classes, crop, config, meta)."""
    path = verify_file(Path(path), None)
    return _read(path)[0]


def load_checkpoint(
    path: Path | str, expected_sha256: str | None = None, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a checkpoint, verified (see the module docstring).

    Args:
        path: .safetensors, .pt or .pth file written by `save_checkpoint`.
        expected_sha256: hex digest of the whole file; when None, a SHA256SUMS file next to it
            is used if it lists the file.
        device: where to put the model.

    Returns:
        (model in eval mode, header) where header has "model", "classes", "crop", "config",
        "meta".

    Raises:
        WeightsError: missing, unreadable, corrupt, tampered or mismatching file.
    """
    from emotionaldan_ros.core.model import create_model

    path = Path(path)
    if expected_sha256 is None and (path.parent / "SHA256SUMS").is_file():
        expected_sha256 = read_sums(path.parent / "SHA256SUMS").get(path.name)
    verify_file(path, expected_sha256)
    header, state = _read(path)

    def fail(why: str) -> WeightsError:
        return WeightsError(f"bad checkpoint {path}: {why}. {GET_WEIGHTS_HINT}")

    if header.get("format") != FORMAT:
        raise fail(f"format {header.get('format')!r}, expected {FORMAT!r}")
    for key in ("model", "classes", "crop", "tensors_sha256"):
        if key not in header:
            raise fail(f"header lacks {key!r}")
    if tensors_digest(state) != header["tensors_sha256"]:
        raise fail("tensor digest differs from the one recorded at save time (corrupt/tampered)")
    try:
        model = create_model(header["model"]["name"], **header["model"]["kwargs"])
        model.load_state_dict(state, strict=True)
    except (ValueError, RuntimeError, TypeError, KeyError) as exc:
        raise fail(f"does not fit model {header['model']}: {exc}") from exc
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise fail(f"non-finite values in {bad[:5]}")
    if len(header["classes"]) != int(getattr(model, "num_classes", 0) or 0):
        raise fail(f"{len(header['classes'])} class names for the model's head")
    return model.to(device).eval(), header
