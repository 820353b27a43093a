"""Pair each camera image with its `Faces` by exact stamp (no message_filters on pip ROS).

Either message may arrive first. Unpaired entries wait in small bounded caches; the oldest is
evicted (and counted) when a cache is full, so memory stays bounded when one stream stalls.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

A = TypeVar("A")
B = TypeVar("B")


class StampPairer(Generic[A, B]):
    """Match items of two streams that carry the same integer stamp key (nanoseconds)."""

    def __init__(self, capacity: int = 8) -> None:
        if capacity < 1:
            raise ValueError(f"pair cache capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._a: OrderedDict[int, A] = OrderedDict()
        self._b: OrderedDict[int, B] = OrderedDict()
        self.evicted_a = 0  # images that never got their faces
        self.evicted_b = 0  # faces whose image never came (or was dropped upstream)

    def add_a(self, key: int, item: A) -> tuple[A, B] | None:
        """Add an item of stream A; return the pair if B with the same key is waiting."""
        if key in self._b:
            return item, self._b.pop(key)
        self.evicted_a += self._put(self._a, key, item)
        return None

    def add_b(self, key: int, item: B) -> tuple[A, B] | None:
        """Add an item of stream B; return the pair if A with the same key is waiting."""
        if key in self._a:
            return self._a.pop(key), item
        self.evicted_b += self._put(self._b, key, item)
        return None

    def _put(self, cache: OrderedDict, key: int, item: object) -> int:
        cache[key] = item
        cache.move_to_end(key)
        evicted = 0
        while len(cache) > self.capacity:
            cache.popitem(last=False)
            evicted += 1
        return evicted
