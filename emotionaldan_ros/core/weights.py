"""Safe, checksum-verified weight files.

Weights are never unpickled with code execution: safetensors, or `torch.load(weights_only=True)`.
A missing, truncated or tampered file raises `WeightsError` naming the file and what to do.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

GET_WEIGHTS_HINT = (
    "Shipped weights live in emotionaldan_ros/models/ (see MODELS.md); train your own with "
    "`emotionaldan-train` or re-convert the face-api nets with `emotionaldan-convert-faceapi`."
)


class WeightsError(RuntimeError):
    """A weight file is missing, unreadable, or fails its checksum."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_sums(sums_file: Path) -> dict[str, str]:
    """Parse a `sha256sum`-style file into {file name: hex digest}."""
    out: dict[str, str] = {}
    for line in Path(sums_file).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            out[name.lstrip("*").strip()] = digest.lower()
    return out


def verify_file(path: Path, expected_sha256: str | None) -> Path:
    """Check that `path` exists and, when a digest is given, matches it.

    Raises:
        WeightsError: the file is missing or its SHA-256 differs.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file not found: {path}. {GET_WEIGHTS_HINT}")
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual != expected_sha256.lower():
            raise WeightsError(
                f"checksum mismatch for {path}: expected sha256 {expected_sha256}, got {actual} "
                f"(truncated or modified file). {GET_WEIGHTS_HINT}"
            )
    return path


def verify_with_sums(path: Path, sums_file: Path | None = None) -> Path:
    """Verify `path` against the SHA256SUMS file next to it (or `sums_file`)."""
    path = Path(path)
    sums_file = Path(sums_file) if sums_file else path.parent / "SHA256SUMS"
    if not sums_file.is_file():
        raise WeightsError(f"no checksum file {sums_file} for {path}. {GET_WEIGHTS_HINT}")
    sums = read_sums(sums_file)
    if path.name not in sums:
        raise WeightsError(f"{path.name} is not listed in {sums_file}. {GET_WEIGHTS_HINT}")
    return verify_file(path, sums[path.name])


def load_safetensors(path: Path, expected_sha256: str | None = None) -> dict:
    """Load a safetensors file into a {name: torch.Tensor} dict after verifying it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    verify_file(path, expected_sha256)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"cannot read weights {path}: {exc}. {GET_WEIGHTS_HINT}") from exc
