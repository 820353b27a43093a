"""Validation of torch device names given as parameters ('cpu', 'cuda', 'cuda:N')."""

from __future__ import annotations

import re

_CUDA = re.compile(r"^cuda(?::(\d+))?$")


def device_problem(device: object, cuda_devices: int | None = None) -> str | None:
    """Why `device` cannot run the models here, or None.

    Args:
        device: 'cpu', 'cuda' (the current CUDA device) or 'cuda:N'.
        cuda_devices: CUDA devices present (None: ask torch).

    Returns:
        A one-line reason ('foo', '' and 'cuda:7' on a machine with one GPU are refused).
    """
    if not isinstance(device, str):
        return f"device must be a string, got {type(device).__name__}"
    if device == "cpu":
        return None
    match = _CUDA.match(device)
    if match is None:
        return f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}"
    if cuda_devices is None:
        import torch

        cuda_devices = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if cuda_devices == 0:
        return f"device {device!r}: no CUDA device here (torch sees none); use 'cpu'"
    index = int(match.group(1) or 0)
    if index >= cuda_devices:
        return (
            f"device {device!r}: this machine has {cuda_devices} CUDA device(s), "
            f"cuda:0..cuda:{cuda_devices - 1}"
        )
    return None
