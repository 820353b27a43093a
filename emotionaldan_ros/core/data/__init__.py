"""Dataset loaders and the torch `Dataset` of aligned 112x112 training tensors.

Loaders: AffectNet, CK+, JAFFE, class folders / CSV (ISED and others), legend.csv
(muxspace/facial_expressions), .pts, synthetic.

`load_dataset(spec)` is the one entry point used by the training and evaluation CLIs; a spec is
`"name:root"` (optionally `"name:root?key=value&key=value"`) or a mapping
`{"name": ..., "root": ..., **options}`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from emotionaldan_ros.core.data.sample import FaceSample, SampleSet

__all__ = ["DATASETS", "FaceSample", "SampleSet", "load_dataset", "parse_dataset_spec"]


def _affectnet(root: str, **kw: Any) -> SampleSet:
    from emotionaldan_ros.core.data.affectnet import load_affectnet

    return load_affectnet(root, **kw)


def _ckplus(root: str, **kw: Any) -> SampleSet:
    from emotionaldan_ros.core.data.ckplus import load_ckplus

    return load_ckplus(root, **kw)


def _jaffe(root: str, **kw: Any) -> SampleSet:
    from emotionaldan_ros.core.data.jaffe import load_jaffe

    return load_jaffe(root, **kw)


def _folder(root: str, **kw: Any) -> SampleSet:
    from emotionaldan_ros.core.data.folder import load_class_folders

    kw.setdefault("name", Path(root).name or "folder")
    return load_class_folders(root, **kw)


def _csv(root: str, **kw: Any) -> SampleSet:
    from emotionaldan_ros.core.data.folder import load_csv

    kw.setdefault("name", Path(root).stem or "csv")
    return load_csv(root, **kw)


def _legend(root: str, **kw: Any) -> SampleSet:
    from emotionaldan_ros.core.data.legend import load_legend

    return load_legend(root, **kw)


def _pts(root: str, **kw: Any) -> SampleSet:
    from emotionaldan_ros.core.data.pts import load_pts_folder

    return load_pts_folder(root, **kw)


def _synthetic(root: str, **kw: Any) -> SampleSet:
    from emotionaldan_ros.core.data.synthetic import load_synthetic

    return load_synthetic(root, **kw)


DATASETS: dict[str, Callable[..., SampleSet]] = {
    "affectnet": _affectnet,
    "ckplus": _ckplus,
    "jaffe": _jaffe,
    "folder": _folder,
    "ised": _folder,  # ISED ships no standard tree: arrange it as class folders (docs/training.md)
    "csv": _csv,
    "legend": _legend,  # muxspace/facial_expressions (data/legend.csv + images/)
    "pts": _pts,
    "synthetic": _synthetic,
}


def parse_dataset_spec(spec: str | Mapping[str, Any]) -> dict[str, Any]:
    """Normalise a dataset spec into `{"name": ..., "root": ..., **options}`.

    Raises:
        ValueError: malformed spec or unknown dataset name.
    """
    if isinstance(spec, Mapping):
        out = dict(spec)
    else:
        name, sep, rest = str(spec).partition(":")
        if not sep or not rest:
            raise ValueError(f"dataset spec {spec!r}: expected NAME:ROOT (e.g. ckplus:/data/CK+)")
        root, _, query = rest.partition("?")
        out = {"name": name, "root": root}
        for item in filter(None, query.split("&")):
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise ValueError(f"dataset spec {spec!r}: option {item!r} is not key=value")
            out[key] = yaml.safe_load(value)
    name = str(out.get("name", "")).lower()
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    if not out.get("root"):
        raise ValueError(f"dataset {name!r}: missing root")
    out["name"] = name
    return out


def load_dataset(spec: str | Mapping[str, Any], num_classes: int | None = None) -> SampleSet:
    """Load a dataset from a spec (see the module docstring).

    Args:
        spec: "name:root[?k=v&...]" or a mapping with name, root and loader options.
        num_classes: label space (7 or 8) passed to loaders that take it, unless the spec sets it.
    """
    opts = parse_dataset_spec(spec)
    name, root = opts.pop("name"), str(Path(str(opts.pop("root"))).expanduser())
    if num_classes is not None and name != "pts":
        opts.setdefault("num_classes", num_classes)
    try:
        return DATASETS[name](root, **opts)
    except TypeError as exc:
        raise ValueError(f"dataset {name!r}: bad option(s) {sorted(opts)}: {exc}") from None
