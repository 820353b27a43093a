"""Train / validation splits that keep every person on one side.

A random per-image split of a dataset with many photos per person puts the same face in both
halves and overstates validation accuracy; `split_by_identity` assigns whole identities instead,
while aiming at the requested fraction of every class (rare classes such as fear would otherwise
easily end up entirely on one side).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from emotionaldan_ros.core.data.sample import FaceSample


def split_by_identity(
    samples: Sequence[FaceSample], fraction: float, seed: int = 0
) -> tuple[list[FaceSample], list[FaceSample]]:
    """Hold out about `fraction` of each class, whole identities at a time.

    Samples without an identity count as their own person (one image each). Identities are
    visited in a seeded random order; one goes to validation when most of its images fill a
    class quota that is still open, so the split is reproducible and roughly stratified.

    Returns:
        (train, val) lists; no identity appears in both.

    Raises:
        ValueError: fraction outside [0, 1).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    if fraction == 0.0 or not samples:
        return list(samples), []
    groups: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        groups[s.identity or f"\0{i}"].append(i)
    labels = np.asarray([max(s.label, -1) for s in samples])
    classes = np.unique(labels)
    quota = {c: fraction * float((labels == c).sum()) for c in classes}
    rng = np.random.default_rng(seed)
    names = sorted(groups)
    val_idx: set[int] = set()
    for k in rng.permutation(len(names)):
        members = groups[names[k]]
        counts = {c: int((labels[members] == c).sum()) for c in classes}
        wanted = sum(min(n, quota[c]) for c, n in counts.items() if n)
        if wanted >= 0.5 * len(members):
            val_idx.update(members)
            for c, n in counts.items():
                quota[c] -= n
    train = [s for i, s in enumerate(samples) if i not in val_idx]
    val = [s for i, s in enumerate(samples) if i in val_idx]
    return train, val
