"""`Recognizer` for EmotionalDAN-style models, on PyTorch or ONNX Runtime.

One call handles every face of an image: all crops are cut with one batched `grid_sample`
(`core.alignment`), normalised, and run through the network in one forward pass; landmarks go
back to image pixels with the inverse crop transforms, logits become probabilities and valence.

Bad input is refused with a clear error rather than guessed at: zero-area boxes raise ValueError
listing the rows (drop them first with `alignment.degenerate_rows` if the caller prefers to go on
without them), and a non-finite network output raises FloatingPointError naming the faces.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emotionaldan_ros.core import alignment
from emotionaldan_ros.core.labels import emotion_names, to_valence_probs, valence_map
from emotionaldan_ros.core.recognizer import Prediction

# (N, 1, S, S) normalised crops → ((N, 68, 2) crop-frame landmarks or (N, 0, 2), (N, C) logits)
Runner = Callable[[torch.Tensor], tuple[np.ndarray, np.ndarray]]


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Copy of an eval-mode model with every conv/fc + BatchNorm pair folded into one layer.

    Covers the `conv`/`bn` pairs of the VGG and baseline blocks and DAN's `fc1`/`fc1_bn`; the
    folded BatchNorms become `nn.Identity`. Outputs are unchanged up to float rounding.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    model = copy.deepcopy(model).eval()
    for mod in model.modules():
        conv, bn = getattr(mod, "conv", None), getattr(mod, "bn", None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            mod.conv, mod.bn = fuse_conv_bn_eval(conv, bn), nn.Identity()
        fc, fc_bn = getattr(mod, "fc1", None), getattr(mod, "fc1_bn", None)
        if isinstance(fc, nn.Linear) and isinstance(fc_bn, nn.BatchNorm1d):
            mod.fc1, mod.fc1_bn = fuse_linear_bn_eval(fc, fc_bn), nn.Identity()
    return model


class _TorchRunner:
    def __init__(self, model: nn.Module, device: str | torch.device) -> None:
        self.device = torch.device(device)
        self.model = fold_batchnorm(model).to(self.device)
        if self.device.type == "cpu":
            # Max-pooling and convs are ~2x faster in NHWC on CPU.
            self.model = self.model.to(memory_format=torch.channels_last)

    def __call__(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            out = self.model(x.to(self.device))
        if out.logits is None:
            raise ValueError("the model has no emotion head (num_classes=0)")
        lms = out.landmarks[-1] if out.landmarks else x.new_zeros((x.shape[0], 0, 2))
        return lms.float().cpu().numpy(), out.logits.float().cpu().numpy()


class _OrtRunner:
    def __init__(self, session: Any) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_names = [o.name for o in session.get_outputs()]

    def __call__(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        outs = dict(
            zip(
                self.output_names,
                self.session.run(None, {self.input_name: x.numpy()}),
                strict=True,
            )
        )
        logits = outs["logits"]
        lms = outs.get("landmarks", np.zeros((logits.shape[0], 0, 2), np.float32))
        return lms, logits


def _ort_session(
    source: str | bytes, path: Path, num_threads: int | None, providers: list[str] | None
) -> Any:
    """ONNX Runtime session from a file name or serialized model; WeightsError if unusable."""
    import onnxruntime as ort

    from emotionaldan_ros.core.weights import GET_WEIGHTS_HINT, WeightsError

    opts = ort.SessionOptions()
    if num_threads:
        opts.intra_op_num_threads = num_threads
        opts.inter_op_num_threads = 1
    # No busy-waiting between ops: on a shared CPU (detector, ROS nodes) spinning worker threads
    # steal the cores they wait for; measured faster with 2 threads on the 2-core dev machine.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(
            source, opts, providers=providers or ["CPUExecutionProvider"]
        )
        json.loads(session.get_modelmeta().custom_metadata_map["emotionaldan"])
    except Exception as exc:  # any load failure means a bad file
        raise WeightsError(
            f"cannot load ONNX model {path}: {type(exc).__name__}: {exc}. {GET_WEIGHTS_HINT}"
        ) from exc
    return session


class DANRecognizer:
    """EmotionalDAN / baseline recogniser behind the `Recognizer` protocol.

    Args:
        model: an `EmotionalDAN` or baseline (any module returning `DANOutput` with logits).
        classes: class names in head order (default: from the head size, DESIGN §2 order).
        device: torch device for the model.
        surprise_valence: valence of "surprise" ("positive", "negative" or "neutral").
        crop: {"size", "margin", "shift"} crop parameters (default: `core.alignment`'s; use the
            ones the model was trained with, as stored in its checkpoint).
        name: recogniser name for logs and diagnostics.
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        classes: tuple[str, ...] | None = None,
        device: str | torch.device = "cpu",
        surprise_valence: str = "positive",
        crop: dict[str, float] | None = None,
        name: str = "emotionaldan",
        *,
        runner: Runner | None = None,
    ) -> None:
        if (model is None) == (runner is None):
            raise ValueError("give exactly one of model or runner")
        if classes is None:
            n = int(getattr(model, "num_classes", 0) or 0)
            classes = emotion_names(n) if n else ()
        if not classes:
            raise ValueError("a recogniser needs an emotion head (num_classes > 0)")
        self.classes = tuple(classes)
        self.surprise_valence = surprise_valence
        self._vmap = valence_map(self.classes, surprise_valence)
        crop = dict(crop or {})
        self.size = int(crop.get("size", alignment.MEAN_SHAPE_FRAME))
        self.margin = float(crop.get("margin", alignment.DEFAULT_MARGIN))
        self.shift = float(crop.get("shift", alignment.DEFAULT_SHIFT))
        self.name = name
        self._run: Runner = runner if runner is not None else _TorchRunner(model, device)

    @classmethod
    def from_checkpoint(
        cls,
        path: Path | str,
        device: str | torch.device = "cpu",
        surprise_valence: str = "positive",
        expected_sha256: str | None = None,
        backend: str | None = None,
        num_threads: int | None = None,
    ) -> DANRecognizer:
        """Load a verified checkpoint (.safetensors/.pt/.pth) or an exported `.onnx` model.

        On a CPU device the checkpoint runs on ONNX Runtime by default (exported in memory at
        load, ~2-4x faster than eager PyTorch for the small variants); PyTorch is the fallback
        (`backend="torch"`) and the engine for GPUs and training.

        Args:
            path: checkpoint or .onnx file.
            device: torch device (backend "torch").
            surprise_valence: valence of "surprise".
            expected_sha256: optional digest of the file.
            backend: "onnxruntime" to export the checkpoint to ONNX in memory at load time
                (a second or more for the larger variants) and run it with ONNX Runtime, or
                "torch"; None = "onnxruntime" on a CPU device, else "torch". `.onnx` files
                always run on ONNX Runtime.
            num_threads: ONNX Runtime intra-op threads (torch uses `torch.set_num_threads`).

        Raises:
            WeightsError: missing, corrupt or tampered file.
            ValueError: unknown backend.
        """
        if backend is None:
            backend = "onnxruntime" if torch.device(device).type == "cpu" else "torch"
        if backend not in ("torch", "onnxruntime"):
            raise ValueError(f"backend must be 'torch' or 'onnxruntime', got {backend!r}")
        path = Path(path)
        if path.suffix == ".onnx":
            return cls.from_onnx(path, surprise_valence, expected_sha256, num_threads)
        from emotionaldan_ros.core.checkpoint import load_checkpoint

        model, header = load_checkpoint(path, expected_sha256, device)
        name = f"{header['model']['name']}:{path.name}"
        if backend == "onnxruntime":
            from emotionaldan_ros.core.export import onnx_bytes, slim_header

            data = onnx_bytes(model.cpu(), slim_header(header, path.name))
            session = _ort_session(data, path, num_threads, None)
            return cls._on_ort(session, header, f"{name}:onnxruntime", surprise_valence)
        return cls(model, tuple(header["classes"]), device, surprise_valence, header["crop"], name)

    @classmethod
    def from_onnx(
        cls,
        path: Path | str,
        surprise_valence: str = "positive",
        expected_sha256: str | None = None,
        num_threads: int | None = None,
        providers: list[str] | None = None,
    ) -> DANRecognizer:
        """Run an ONNX model exported by `core.export` with ONNX Runtime.

        Args:
            path: the .onnx file (its metadata carries classes and crop parameters).
            surprise_valence: valence of "surprise".
            expected_sha256: optional digest of the file.
            num_threads: ONNX Runtime intra-op threads (default: its own choice).
            providers: execution providers (default: CPU).

        Raises:
            WeightsError: missing, corrupt or tampered file.
        """
        from emotionaldan_ros.core.weights import verify_file

        path = verify_file(Path(path), expected_sha256)
        session = _ort_session(str(path), path, num_threads, providers)
        header = json.loads(session.get_modelmeta().custom_metadata_map["emotionaldan"])
        name = f"{header['model']['name']}:{path.name}:onnxruntime"
        return cls._on_ort(session, header, name, surprise_valence)

    @classmethod
    def _on_ort(
        cls, session: object, header: dict, name: str, surprise_valence: str
    ) -> DANRecognizer:
        """A recogniser whose network runs in an ONNX Runtime session."""
        return cls(
            None,
            tuple(header["classes"]),
            surprise_valence=surprise_valence,
            crop=header["crop"],
            name=name,
            runner=_OrtRunner(session),
        )

    def preprocess(self, image: np.ndarray, boxes: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """Crops (N, 1, S, S) normalised and the (N, 2, 3) image → crop transforms."""
        mats = alignment.crop_transforms(boxes, self.size, self.margin, self.shift)
        crops = torch.from_numpy(alignment.crop_faces(image, mats, self.size))
        if crops.shape[0] == 0:
            return crops[:, None], mats
        return alignment.normalize_crops(crops)[:, None], mats

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> Prediction:
        """Landmarks, class and valence probabilities for the N faces of one image.

        Args:
            image: (H, W, 3) BGR uint8 or (H, W) grayscale uint8.
            boxes: (N, 4) x1, y1, x2, y2 in image pixels; N may be 0.

        Raises:
            ValueError: bad image or boxes (zero-area rows are listed).
            FloatingPointError: the network produced NaN/inf for some faces.
        """
        boxes = np.asarray(boxes, dtype=np.float32)
        if boxes.ndim == 1 and boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        x, mats = self.preprocess(image, boxes)
        n = len(boxes)
        if n == 0:
            return Prediction(
                boxes=boxes.reshape(0, 4),
                landmarks=np.zeros((0, 68, 2), np.float32),
                probs=np.zeros((0, len(self.classes)), np.float32),
                valence=np.zeros((0, 3), np.float32),
                classes=self.classes,
            )
        lms, logits = self._run(x)
        finite = np.isfinite(logits).all(axis=1) & np.isfinite(lms).all(axis=(1, 2))
        if not finite.all():
            raise FloatingPointError(
                f"{self.name}: non-finite network output for faces {np.flatnonzero(~finite)}"
            )
        if logits.shape != (n, len(self.classes)):
            raise ValueError(
                f"{self.name}: logits {logits.shape}, expected {(n, len(self.classes))}"
            )
        z = logits.astype(np.float64)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        probs = (z / z.sum(axis=1, keepdims=True)).astype(np.float32)
        landmarks = alignment.to_image(lms, mats) if lms.shape[1] else lms.astype(np.float32)
        return Prediction(
            boxes=boxes,
            landmarks=landmarks,
            probs=probs,
            valence=to_valence_probs(probs, self._vmap),
            classes=self.classes,
        )
