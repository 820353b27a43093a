"""Read TF.js "layers/graph" weight files: a JSON manifest plus binary shards.

A manifest is a list of groups; each group names its shard files (`paths`, concatenated in order)
and its weights (`name`, `shape`, `dtype`, optional `quantization`). Weights are stored back to
back in manifest order. Quantised weights hold `q` as uint8/uint16 and decode as
`value = q * scale + min`; float16-quantised weights hold raw halves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_PLAIN_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANT_DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}


class TfjsFormatError(ValueError):
    """A manifest or shard does not follow the TF.js weights format."""


@dataclass(frozen=True)
class WeightSpec:
    """One manifest entry.

    Attributes:
        name: weight name, e.g. "dense0/conv0/filters".
        shape: tensor shape (TF layout, e.g. HWIO for conv filters).
        dtype: decoded dtype ("float32" or "int32").
        quantization: {"dtype", "scale", "min"} or None for raw storage.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: dict | None = None

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def storage_dtype(self) -> np.dtype:
        """Dtype of the stored bytes."""
        if self.quantization is not None:
            return np.dtype(_QUANT_DTYPES[self.quantization["dtype"]])
        return np.dtype(_PLAIN_DTYPES[self.dtype])

    @property
    def nbytes(self) -> int:
        """Bytes this weight occupies in the shards."""
        return self.size * self.storage_dtype.itemsize


def read_manifest(manifest_path: Path) -> list[tuple[list[str], list[WeightSpec]]]:
    """Parse a manifest into [(shard file names, weight specs)] per group.

    Raises:
        TfjsFormatError: malformed JSON or an entry with unknown dtype/quantisation.
    """
    manifest_path = Path(manifest_path)
    try:
        groups = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TfjsFormatError(f"cannot read TF.js manifest {manifest_path}: {exc}") from exc
    return parse_manifest(groups, str(manifest_path))


def parse_manifest(groups: object, where: str) -> list[tuple[list[str], list[WeightSpec]]]:
    """Parse manifest groups already loaded from JSON (graph models embed them in model.json).

    Raises:
        TfjsFormatError: not a list of groups, or an entry with unknown dtype/quantisation.
    """
    if not isinstance(groups, list):
        raise TfjsFormatError(f"{where}: expected a list of weight groups")
    out = []
    for gi, group in enumerate(groups):
        try:
            paths = [str(p) for p in group["paths"]]
            specs = [_parse_spec(w) for w in group["weights"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise TfjsFormatError(f"{where}: bad weight group {gi}: {exc}") from exc
        out.append((paths, specs))
    return out


def _parse_spec(entry: dict) -> WeightSpec:
    dtype = entry["dtype"]
    if dtype not in ("float32", "int32"):
        raise ValueError(f"{entry['name']}: unsupported dtype {dtype!r}")
    quant = entry.get("quantization")
    if quant is not None:
        if quant.get("dtype") not in _QUANT_DTYPES:
            raise ValueError(f"{entry['name']}: unsupported quantization {quant.get('dtype')!r}")
        if quant["dtype"] != "float16" and ("scale" not in quant or "min" not in quant):
            raise ValueError(f"{entry['name']}: quantization needs 'scale' and 'min'")
        quant = dict(quant)
    shape = tuple(int(d) for d in entry["shape"])
    if any(d < 0 for d in shape):
        raise ValueError(f"{entry['name']}: negative dimension in {shape}")
    return WeightSpec(str(entry["name"]), shape, dtype, quant)


def decode_weight(spec: WeightSpec, raw: bytes) -> np.ndarray:
    """Decode the stored bytes of one weight into a float32/int32 array of `spec.shape`."""
    stored = stored_values(spec, raw)
    q = spec.quantization
    if q is None:
        values = stored
    elif q["dtype"] == "float16":
        values = stored.astype(np.float32)
    else:
        # De-quantise in float64 (as TF.js does in JavaScript numbers), then store at 32 bit.
        values = stored.astype(np.float64) * float(q["scale"]) + float(q["min"])
    if spec.dtype == "int32":
        values = np.floor(values + 0.5).astype(np.int32)  # JavaScript Math.round
    else:
        values = values.astype(np.float32)
    return values.reshape(spec.shape)


def load_tfjs_weights(
    manifest_path: Path, groups: list[tuple[list[str], list[WeightSpec]]] | None = None
) -> dict[str, np.ndarray]:
    """Load and de-quantise every weight of a manifest (shards are looked up next to it).

    Args:
        manifest_path: the manifest file, or any file in the shards' folder when `groups` is
            given (a graph model's model.json).
        groups: parsed groups (`parse_manifest`) instead of reading `manifest_path`.

    Returns:
        {weight name: float32/int32 array} in manifest order.

    Raises:
        FileNotFoundError: a shard named by the manifest is missing.
        TfjsFormatError: the shards are shorter/longer than the manifest says, or names repeat.
    """
    raw = load_tfjs_raw(manifest_path, groups)
    return {name: decode_weight(spec, data) for name, (spec, data) in raw.items()}


def stored_values(spec: WeightSpec, raw: bytes) -> np.ndarray:
    """The stored (still quantised) values of one weight as an array of `spec.shape`."""
    if len(raw) != spec.nbytes:
        raise TfjsFormatError(f"{spec.name}: expected {spec.nbytes} bytes, got {len(raw)}")
    stored = np.frombuffer(raw, dtype=spec.storage_dtype.newbyteorder("<"))
    return stored.astype(spec.storage_dtype.newbyteorder("=")).reshape(spec.shape)


def load_tfjs_raw(
    manifest_path: Path, groups: list[tuple[list[str], list[WeightSpec]]] | None = None
) -> dict[str, tuple[WeightSpec, bytes]]:
    """Split the shards of a manifest into {weight name: (spec, stored bytes)}.

    Args:
        manifest_path: see `load_tfjs_weights`.
        groups: see `load_tfjs_weights`.

    Raises:
        FileNotFoundError: a shard named by the manifest is missing.
        TfjsFormatError: the shards are shorter/longer than the manifest says, or names repeat.
    """
    manifest_path = Path(manifest_path)
    weights: dict[str, tuple[WeightSpec, bytes]] = {}
    for paths, specs in read_manifest(manifest_path) if groups is None else groups:
        shard_files = [manifest_path.parent / p for p in paths]
        for f in shard_files:
            if not f.is_file():
                raise FileNotFoundError(f"shard {f} named by {manifest_path} not found")
        blob = b"".join(f.read_bytes() for f in shard_files)
        need = sum(s.nbytes for s in specs)
        if len(blob) != need:
            raise TfjsFormatError(
                f"{manifest_path}: shards {paths} hold {len(blob)} bytes but the manifest "
                f"describes {need} (truncated or mismatched files)"
            )
        offset = 0
        for spec in specs:
            if spec.name in weights:
                raise TfjsFormatError(f"{manifest_path}: weight {spec.name!r} listed twice")
            weights[spec.name] = (spec, blob[offset : offset + spec.nbytes])
            offset += spec.nbytes
    return weights
