"""ONNX Runtime engine for the converted face-api nets (the default; PyTorch is the fallback).

Each net is exported from its PyTorch port (`nets.py`, shipped safetensors weights) to ONNX **in
memory when it is loaded** and run by an ONNX Runtime session: nothing is written to disk, so a
read-only install or a fresh clone without network works, and the ONNX graph can never drift from
the checksum-verified weights. The export costs ~0.3–0.8 s per net at start-up (docs/realtime.md).

The exported graph takes the **uint8 NHWC BGR** batch that `image.warp_regions` writes and does
the channel flip, mean subtraction and scaling itself, so the hot path hands OpenCV's output to
ONNX Runtime without a float copy in Python. Only the batch axis is dynamic; the spatial size is
fixed at export (the detector's input size, 112 for the face nets), which lets ONNX Runtime fold
every TF-"SAME" pad into its convolution (see `nets.tf_same_pad`) and pick its blocked NCHWc
kernels. Sessions use full graph optimisation, one intra-op thread by default and no spinning.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from emotionaldan_ros.core.faceapi.image import FACE_MEAN_RGB, TINY_MEAN_RGB
from emotionaldan_ros.core.faceapi.pretrained import load_net

ENGINES = ("onnxruntime", "torch")
DEFAULT_ENGINE = "onnxruntime"
ONNX_OPSET = 17

# (mean RGB, scale) of each net's input normalisation: x_rgb = (bgr[..., ::-1] - mean) / scale.
_NORMALISATION: dict[str, tuple[tuple[float, float, float], float]] = {
    "tiny_face_detector": (TINY_MEAN_RGB, 255.0),
    "ssd_mobilenetv1": ((127.5, 127.5, 127.5), 127.5),
    "face_landmark_68": (FACE_MEAN_RGB, 255.0),
    "face_landmark_68_tiny": (FACE_MEAN_RGB, 255.0),
    "face_expression": (FACE_MEAN_RGB, 255.0),
}


def check_engine(engine: str) -> str:
    """Return `engine` if known, else raise ValueError naming the choices."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    return engine


class Uint8BgrInput(nn.Module):
    """(N, S, S, 3) uint8 BGR → the net's normalised NCHW RGB input → the net's outputs."""

    def __init__(self, net: nn.Module, mean_rgb: Sequence[float], scale: float) -> None:
        super().__init__()
        self.net = net.eval()
        self.register_buffer("mean", torch.tensor(mean_rgb, dtype=torch.float32))
        self.scale = float(scale)

    def forward(self, bgr: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:  # noqa: D102
        rgb = bgr.flip(-1).float()
        return self.net(((rgb - self.mean) / self.scale).permute(0, 3, 1, 2))


def export_net(net: nn.Module, name: str, size: int) -> bytes:
    """Serialized ONNX model of face-api net `name` taking (N, size, size, 3) uint8 BGR."""
    mean, scale = _NORMALISATION[name]
    wrapper = Uint8BgrInput(net, mean, scale).cpu()
    example = torch.zeros((2, size, size, 3), dtype=torch.uint8)
    with torch.no_grad():
        out = wrapper(example)
    outputs = [f"out{i}" for i in range(len(out) if isinstance(out, tuple) else 1)]
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The fixed spatial size turns into trace constants on purpose (static pads).
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(
            wrapper,
            (example,),
            buf,
            input_names=["image"],
            output_names=outputs,
            dynamic_axes={k: {0: "batch"} for k in ["image", *outputs]},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    return buf.getvalue()


def session_options(threads: int = 1) -> object:
    """ONNX Runtime options of every shipped net: full optimisation, `threads`, no spinning."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads > 0:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # Spinning worker threads would steal the cores the other model and ROS need.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


class OrtNet:
    """One face-api net in an ONNX Runtime session; call it with a uint8 BGR batch.

    Args:
        name: net name (`nets.NETS`).
        size: spatial input size (the detector's input size; 112 for the face nets).
        threads: intra-op threads (0 = ONNX Runtime's default: one per core).
        weights_dir: folder with the converted weights (default: the shipped ones).

    Raises:
        WeightsError: missing or corrupt weights (from `load_net`).
    """

    def __init__(
        self, name: str, size: int, threads: int = 1, weights_dir: Path | None = None
    ) -> None:
        import onnxruntime as ort

        if threads < 0:
            raise ValueError(f"threads must be >= 0, got {threads}")
        self.name = name
        self.size = int(size)
        data = export_net(load_net(name, "cpu", weights_dir), name, self.size)
        self.session = ort.InferenceSession(
            data, session_options(threads), providers=["CPUExecutionProvider"]
        )
        self._input = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        """Run (N, size, size, 3) uint8 BGR → the net's outputs as float32 arrays."""
        if batch.dtype != np.uint8 or batch.shape[1:] != (self.size, self.size, 3):
            raise ValueError(
                f"{self.name}: expected (N, {self.size}, {self.size}, 3) uint8, "
                f"got {batch.shape} {batch.dtype}"
            )
        return self.session.run(None, {self._input: batch})
