"""Cross-database evaluation of any `Recognizer` (checkpoints, face-api, plug-ins).

For every (model, test set) pair: 7-class accuracy and 3-class valence accuracy (the layout of the
paper's Tables 1 and 2: rows models, columns test sets), per-class recall, macro-F1, confusion
matrices (PNG) and, where the test set has landmarks and the model predicts them, landmark NME.

Models see whole images plus one face box per sample, exactly like the ROS node: the box comes
from the dataset when it has one, else (box_source "detector_first") from a face detector, the
landmarks or the whole image, in that order; the report counts which source each box came from.

Class spaces: predictions are restricted to the test set's classes (an 8-class model on a 7-class
set never predicts contempt); 3-class accuracy maps both the true and the predicted class to its
valence (the mapping is stated in the report).
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotionaldan_ros.core import metrics as M
from emotionaldan_ros.core.data import load_dataset, parse_dataset_spec
from emotionaldan_ros.core.data.dataset import FaceDataset
from emotionaldan_ros.core.data.sample import SampleSet, read_image
from emotionaldan_ros.core.labels import VALENCES, valence_mapping_text
from emotionaldan_ros.core.recognizer import Recognizer

log = logging.getLogger(__name__)


# Accuracies reported in the paper (Tautkute et al., CVPRW 2018, Tables 1 and 2), keyed by this
# project's dataset names; printed as reference rows next to measured ones, never mixed in.
PAPER_ACCURACY_7: dict[str, dict[str, float]] = {
    "CNN(2)": {"ckplus": 0.628, "jaffe": 0.484, "ised": 0.516},
    "CNN(5)": {"ckplus": 0.728, "jaffe": 0.502, "ised": 0.593},
    "Inception-V3": {"ckplus": 0.304, "jaffe": 0.268, "ised": 0.479},
    "EmotionalDAN": {"ckplus": 0.736, "jaffe": 0.465, "ised": 0.620},
}
PAPER_ACCURACY_3: dict[str, dict[str, float]] = {
    "CNN(5)": {"ckplus": 0.920, "jaffe": 0.765, "ised": 0.867},
    "Inception-V3": {"ckplus": 0.582, "jaffe": 0.536, "ised": 0.673},
    "EmotionalDAN": {"ckplus": 0.921, "jaffe": 0.634, "ised": 0.896},
}


@dataclass
class PairResult:
    """Everything measured for one (model, test set) pair."""

    model: str
    dataset: str
    classes: tuple[str, ...]
    y_true: np.ndarray
    y_pred: np.ndarray
    nme_interocular: np.ndarray = field(default_factory=lambda: np.zeros(0))
    nme_interpupil: np.ndarray = field(default_factory=lambda: np.zeros(0))
    box_sources: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self, surprise: str = "positive") -> dict[str, Any]:
        """JSON-ready figures (see `metrics.classification_summary`) plus NME and counts."""
        out = M.classification_summary(self.y_true, self.y_pred, self.classes, surprise)
        add_recall_figures(out)
        out.update(
            model=self.model,
            dataset=self.dataset,
            classes=list(self.classes),
            nme_interocular=_mean_or_none(self.nme_interocular),
            nme_interpupil=_mean_or_none(self.nme_interpupil),
            n_landmarks=int(self.nme_interocular.size),
            box_sources=dict(self.box_sources),
            failures=len(self.failures),
            failure_examples=self.failures[:5],
            seconds=round(self.seconds, 2),
        )
        return out


def add_recall_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """Add `macro_recall` (mean over classes present) and `fear_recall` to a summary."""
    recalls = [v for v in summary["per_class_recall"].values() if v is not None]
    summary["macro_recall"] = float(np.mean(recalls)) if recalls else None
    summary["fear_recall"] = summary["per_class_recall"].get("fear")
    return summary


def _mean_or_none(a: np.ndarray) -> float | None:
    return float(np.mean(a)) if a.size else None


def restrict_predictions(
    probs: np.ndarray, model_classes: Sequence[str], classes: Sequence[str]
) -> np.ndarray:
    """(N,) argmax over the test set's `classes` of probabilities given in `model_classes` order.

    Classes the model lacks can never be predicted.

    Raises:
        ValueError: the model shares no class with the test set.
    """
    cols = [list(model_classes).index(c) if c in model_classes else -1 for c in classes]
    if all(c < 0 for c in cols):
        raise ValueError(f"model classes {list(model_classes)} share none with {list(classes)}")
    probs = np.asarray(probs, dtype=np.float64)
    scores = np.full((probs.shape[0], len(classes)), -np.inf)
    for j, c in enumerate(cols):
        if c >= 0:
            scores[:, j] = probs[:, c]
    return scores.argmax(axis=1)


def evaluate_recognizer(
    rec: Recognizer,
    dataset: SampleSet,
    model_name: str | None = None,
    box_source: str = "detector_first",
    detector: str | None = "haar",
    limit: int | None = None,
    progress: bool = False,
) -> PairResult:
    """Run `rec` on every labelled sample of `dataset` (one face box per image).

    Unreadable images are counted as failures (named in the report), not fatal.
    """
    import time

    samples = [s for s in dataset.samples if s.label >= 0][: limit or None]
    if not samples:
        raise ValueError(f"{dataset.name}: no labelled samples to evaluate")
    boxes = FaceDataset(samples, box_source=box_source, detector=detector)
    y_true, y_pred, nme_io, nme_ip, failures = [], [], [], [], []
    sources: Counter[str] = Counter()
    t0 = time.perf_counter()
    iterator: Any = range(len(samples))
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"{model_name or rec.name} on {dataset.name}", leave=False)
    for i in iterator:
        s = samples[i]
        try:
            image = read_image(s.image)
        except (OSError, ValueError) as exc:
            failures.append(f"{s.image}: {exc}")
            continue
        try:
            box, src = boxes.face_box(i, image)
        except ValueError as exc:
            if box_source != "pipeline":
                failures.append(f"{s.image}: {exc}")
                continue
            sources["no face found"] += 1  # the passenger gets no answer: wrong
            y_true.append(s.label)
            y_pred.append(M.NO_FACE)
            continue
        pred = rec.predict(image, box[None].astype(np.float32))
        sources[src] += 1
        y_true.append(s.label)
        y_pred.append(int(restrict_predictions(pred.probs, rec.classes, dataset.classes)[0]))
        if s.landmarks is not None and pred.landmarks.shape[1:] == (68, 2):
            nme_io.append(M.nme(pred.landmarks[:1], s.landmarks[None], "interocular")[0])
            nme_ip.append(M.nme(pred.landmarks[:1], s.landmarks[None], "interpupil")[0])
    return PairResult(
        model=model_name or rec.name,
        dataset=dataset.name,
        classes=dataset.classes,
        y_true=np.asarray(y_true, dtype=np.int64),
        y_pred=np.asarray(y_pred, dtype=np.int64),
        nme_interocular=np.asarray(nme_io),
        nme_interpupil=np.asarray(nme_ip),
        box_sources=dict(sources),
        failures=failures,
        seconds=time.perf_counter() - t0,
    )


def model_label(spec: str) -> str:
    """Short row name of a backend spec: a checkpoint's file stem (with its folder), else spec."""
    path = spec.split(":", 1)[1] if spec.startswith("checkpoint:") else spec
    if path.endswith((".pt", ".pth", ".safetensors")):
        p = Path(path)
        return f"{p.parent.name}/{p.stem}" if p.parent.name else p.stem
    return spec


def dataset_label(spec: str | Mapping[str, Any], taken: set[str]) -> str:
    """Column name of a test set: its dataset name, made unique."""
    parsed = parse_dataset_spec(spec)
    name = parsed["name"] if parsed["name"] not in ("folder", "csv") else Path(parsed["root"]).stem
    if parsed.get("subset"):  # e.g. legend:ROOT?subset=movies → legend-movies
        name = f"{name}-{parsed['subset']}"
    label, k = name, 2
    while label in taken:
        label, k = f"{name}-{k}", k + 1
    taken.add(label)
    return label


def run_evaluation(
    models: Sequence[str],
    datasets: Sequence[str | Mapping[str, Any]],
    num_classes: int = 7,
    box_source: str = "detector_first",
    detector: str | None = "haar",
    surprise: str = "positive",
    limit: int | None = None,
    device: str = "cpu",
    progress: bool = False,
    recognizer_factory: Callable[..., Recognizer] | None = None,
) -> dict[str, Any]:
    """Evaluate every model on every dataset; returns the JSON report (see `write_report`)."""
    if recognizer_factory is None:
        from emotionaldan_ros.core.backends import create_recognizer

        recognizer_factory = create_recognizer
    taken: set[str] = set()
    sets = []
    for spec in datasets:
        label = dataset_label(spec, taken)
        ds = load_dataset(spec, num_classes=num_classes)
        ds.name = label
        sets.append(ds)
    results = []
    model_names = []
    for spec in models:
        rec = recognizer_factory(spec, device=device)
        name = model_label(spec)
        model_names.append(name)
        for ds in sets:
            pair = evaluate_recognizer(rec, ds, name, box_source, detector, limit, progress)
            results.append(pair.summary(surprise))
    names = tuple(sets[0].classes) if sets else ()
    return {
        "models": model_names,
        "datasets": [ds.name for ds in sets],
        "dataset_summaries": [ds.summary() for ds in sets],
        "num_classes": num_classes,
        "valence_mapping": valence_mapping_text(names, surprise) if names else "",
        "box_source": box_source,
        "detector": detector,
        "limit": limit,
        "results": results,
    }


# --- report -------------------------------------------------------------------------------------


def _fmt(v: float | None, digits: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _table(
    report: Mapping[str, Any],
    key: str,
    digits: int = 3,
    paper: Mapping[str, Mapping[str, float]] | None = None,
) -> list[str]:
    by = {(r["model"], r["dataset"]): r for r in report["results"]}
    lines = [
        "| model | " + " | ".join(report["datasets"]) + " |",
        "|---|" + "---|" * len(report["datasets"]),
    ]
    for m in report["models"]:
        cells = [_fmt(by[(m, d)].get(key), digits) for d in report["datasets"]]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    # Reference rows from the paper, for test sets it reports (matched by dataset name).
    if paper and report.get("num_classes") == 7:
        names = [d.split("-")[0].lower() for d in report["datasets"]]
        if any(n in row for row in paper.values() for n in names):
            for m, row in paper.items():
                cells = [_fmt(row.get(n), digits) for n in names]
                lines.append(f"| *{m} (paper)* | " + " | ".join(cells) + " |")
    return lines


def plot_confusion(cm: np.ndarray, classes: Sequence[str], title: str, path: Path) -> None:
    """Row-normalised confusion matrix with counts, as a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * n, 0.8 + 0.7 * n), dpi=100)
    ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                color = "white" if norm[i, j] > 0.5 else "black"
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", color=color)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def write_report(report: Mapping[str, Any], out_dir: Path | str) -> Path:
    """Write `report.md`, `report.json` and `confusion_*.png` under `out_dir`; returns the .md."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = [
        "# Cross-database evaluation",
        "",
        f"Test sets: {'; '.join(report['dataset_summaries'])}.",
        "",
        f"Face boxes: source `{report['box_source']}` (detector `{report['detector']}`); "
        f"{report['num_classes']}-class label space.",
        "",
        f"## Accuracy, {report['num_classes']} classes (paper Table 1 layout)",
        "",
        *_table(report, "accuracy", paper=PAPER_ACCURACY_7),
        "",
        "## Accuracy, 3 classes (paper Table 2 layout)",
        "",
        f"Valence mapping: {report['valence_mapping']} (true and predicted classes both mapped).",
        "",
        *_table(report, "valence_accuracy", paper=PAPER_ACCURACY_3),
        "",
        "Rows in *italics* are the accuracies published in the paper (Tautkute et al., CVPRW "
        "2018), shown for comparison where a test set has the paper's name; they were not "
        "measured here.",
        "",
        "## Fear recall (the class the planner acts on)",
        "",
        *_table(report, "fear_recall"),
        "",
        "## Macro recall (mean per-class recall over the classes present in each test set)",
        "",
        *_table(report, "macro_recall"),
        "",
        "## Macro-F1 (over the classes present in each test set)",
        "",
        *_table(report, "macro_f1"),
        "",
    ]
    if any(r["n_landmarks"] for r in report["results"]):
        md += ["## Landmark NME (inter-ocular, where the test set has landmarks)", ""]
        md += [*_table(report, "nme_interocular", 4), ""]
    md += ["## Per pair", ""]
    for r in report["results"]:
        png = f"confusion_{_safe(r['model'])}_{_safe(r['dataset'])}.png"
        plot_confusion(
            np.asarray(r["confusion"]),
            r["classes"],
            f"{r['model']} on {r['dataset']}",
            out_dir / png,
        )
        vpng = png.replace("confusion_", "confusion3_")
        plot_confusion(
            np.asarray(r["valence_confusion"]),
            VALENCES,
            f"{r['model']} on {r['dataset']} (3 classes)",
            out_dir / vpng,
        )
        r["confusion_png"], r["valence_confusion_png"] = png, vpng
        order = sorted(r["per_class_recall"], key=lambda k: k != "fear")  # fear first
        recall = ", ".join(f"{k} {_fmt(r['per_class_recall'][k])}" for k in order)
        md += [
            f"### {r['model']} on {r['dataset']}",
            "",
            f"- faces: {r['n']} (boxes: "
            + ", ".join(f"{k} {v}" for k, v in sorted(r["box_sources"].items()))
            + f"; unreadable: {r['failures']}), {r['seconds']} s",
            f"- accuracy {_fmt(r['accuracy'])}, macro-F1 {_fmt(r['macro_f1'])}, "
            f"3-class accuracy {_fmt(r['valence_accuracy'])}",
            f"- per-class recall: {recall}",
            f"- faces not found by the detector (counted wrong): {r.get('missed', 0)}",
        ]
        if r["n_landmarks"]:
            md.append(
                f"- landmark NME on {r['n_landmarks']} faces: inter-ocular "
                f"{_fmt(r['nme_interocular'], 4)}, inter-pupil {_fmt(r['nme_interpupil'], 4)}"
            )
        md += ["", f"![confusion]({png}) ![3-class confusion]({vpng})", ""]
    if not any("(paper)*" in line for line in md):
        md = [line for line in md if not line.startswith("Rows in *italics*")]
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    path = out_dir / "report.md"
    path.write_text("\n".join(md))
    return path
