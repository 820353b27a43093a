"""The training protocol's evaluation: every model on the same cached faces of every split.

`emotionaldan-eval --protocol config/train_fe.yaml` re-derives, from the training config, the
validation rows (the held-out people) and the cross-database test sets (`data.test`: cache rows
never trained on; people who also appear in training are removed from them), then scores:

- checkpoints (EmotionalDAN, CNN baselines) on the un-augmented 112-px crop of each cached face,
  exactly what they were trained on;
- the teachers (`teacher:faceapi`, `teacher:fer`) from the probabilities stored in the cache,
  which each teacher computed on the original photo with its own crop of the same face.

So every model sees the same faces; the full-pipeline evaluation (detector on the original
images, a missed face counted as wrong) is `emotionaldan-eval --dataset ... --box-source
pipeline`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from emotionaldan_ros.core import alignment
from emotionaldan_ros.core import metrics as M
from emotionaldan_ros.core.evaluate import add_recall_figures
from emotionaldan_ros.core.labels import emotion_names, valence_mapping_text

TEACHER_PREFIX = "teacher:"


def person_key(identity: object) -> str:
    """Identity compared across naming styles (`Hrithik_Roshan` is `HrithikRoshan`)."""
    return re.sub(r"[^0-9a-z]", "", str(identity).lower())


def protocol_sets(
    cfg: Mapping[str, Any], cache: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """{set name: cache rows} for "val" and every non-empty `data.test` set, plus report notes.

    The notes are one per kept set, in order, then one per set left out as empty.
    """
    from emotionaldan_ros.training.cached import select_rows
    from emotionaldan_ros.training.data import split_rows

    train_rows, val_rows = split_rows(cfg, cache)
    seen = {person_key(i) for i in cache["identity"][np.concatenate([train_rows, val_rows])]}
    sets = {"val": val_rows}
    notes = {"val": f"val: {val_rows.size} faces of people held out of training"}
    for name, pattern in (cfg["data"].get("test") or {}).items():
        rows = select_rows(cache, pattern)
        overlap = np.array([person_key(i) in seen for i in cache["identity"][rows]], bool)
        sets[name] = rows[~overlap]
        notes[name] = (
            f"{name}: {int((~overlap).sum())} faces never trained on "
            f"({int(overlap.sum())} removed: their people are in the training data)"
        )
    extra = [f"{k}: no face left, not evaluated" for k, r in sets.items() if r.size == 0]
    kept = {k: r for k, r in sets.items() if r.size}
    return kept, [notes[k] for k in kept] + extra


def model_crops(cache: Mapping[str, np.ndarray], rows: np.ndarray, size: int) -> np.ndarray:
    """(N, 1, size, size) normalised model-input crops of cache rows (no augmentation)."""
    from emotionaldan_ros.training.cache import model_crop_in_context

    mat = model_crop_in_context(size)
    crops = np.stack(
        [
            cv2.warpAffine(
                cache["crops"][r],
                mat,
                (size, size),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
            for r in rows
        ]
    ).astype(np.float32)
    return alignment.normalize_crops(crops)[:, None]


def checkpoint_probs(
    path: Path | str, cache: Mapping[str, np.ndarray], rows: np.ndarray, batch: int = 128
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class probabilities of a checkpoint's model on cache rows, and its class names."""
    from emotionaldan_ros.core.checkpoint import load_checkpoint

    model, info = load_checkpoint(path)
    model.eval()
    size = int(getattr(model, "size", alignment.MEAN_SHAPE_FRAME))
    classes = tuple(info.get("classes") or emotion_names(model.num_classes))
    out = []
    with torch.inference_mode():
        for start in range(0, rows.size, batch):
            x = torch.from_numpy(model_crops(cache, rows[start : start + batch], size))
            logits = model(x).logits
            if logits is None:
                raise ValueError(f"{path}: the model has no emotion head")
            out.append(torch.softmax(logits.float(), 1).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(classes))), classes


def evaluate_protocol(
    models: Sequence[str], cfg: Mapping[str, Any], surprise: str = "positive"
) -> dict[str, Any]:
    """Score every model on every protocol set; a report for `core.evaluate.write_report`.

    Args:
        models: checkpoint paths and/or `teacher:faceapi`, `teacher:fer`.
        cfg: the training config (`training.config.load_config`).
        surprise: valence of surprise in the 3-class figures.
    """
    from emotionaldan_ros.core.evaluate import model_label, restrict_predictions
    from emotionaldan_ros.training.cache import load_cache

    cache = load_cache(cfg["data"]["cache"])
    sets, notes = protocol_sets(cfg, cache)
    classes = emotion_names(int(cfg["num_classes"]))
    results, names = [], []
    for spec in models:
        name = spec if spec.startswith(TEACHER_PREFIX) else model_label(f"checkpoint:{spec}")
        names.append(name)
        for set_name, rows in sets.items():
            t0 = time.perf_counter()
            if spec.startswith(TEACHER_PREFIX):
                key = f"teacher_{spec.removeprefix(TEACHER_PREFIX)}"
                if key not in cache:
                    raise ValueError(f"{spec}: the cache has no {key}")
                probs, model_classes = cache[key][rows], emotion_names(7)
            else:
                probs, model_classes = checkpoint_probs(spec, cache, rows)
            y_true = cache["label"][rows]
            y_pred = restrict_predictions(probs, model_classes, classes)
            summary = M.classification_summary(y_true, y_pred, classes, surprise)
            add_recall_figures(summary)
            summary.update(
                model=name,
                dataset=set_name,
                classes=list(classes),
                nme_interocular=None,
                nme_interpupil=None,
                n_landmarks=0,
                box_sources={"cached face": int(rows.size)},
                failures=0,
                failure_examples=[],
                seconds=round(time.perf_counter() - t0, 2),
            )
            results.append(summary)

    def counts(rows: np.ndarray) -> str:
        c = np.bincount(cache["label"][rows], minlength=len(classes))
        return ", ".join(f"{classes[i]} {int(c[i])}" for i in range(len(classes)) if c[i])

    return {
        "models": names,
        "datasets": list(sets),
        "dataset_summaries": [
            *(
                f"{note} [{counts(rows)}]"
                for note, rows in zip(notes, sets.values(), strict=False)
            ),
            *notes[len(sets) :],
        ],
        "num_classes": int(cfg["num_classes"]),
        "valence_mapping": valence_mapping_text(classes, surprise),
        "box_source": "cache (pseudo-landmark crops, emotionaldan-cache)",
        "detector": "none (faces as cached)",
        "limit": None,
        "results": results,
    }
