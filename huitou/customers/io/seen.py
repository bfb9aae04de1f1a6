"""Keys already seen in the file, to reject a second occurrence and name the line of the first.

A dict of a million keys costs ~100 MB; here each key is a 64-bit hash plus a 32-bit line number
in sorted numpy arrays (12 bytes a key), merged like a binary counter so lookups stay a few
``searchsorted`` calls per chunk. A hash collision (odds ~1e-8 at a million keys) would reject a
row as a duplicate; it cannot commit a wrong row.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class SeenKeys:
    def __init__(self) -> None:
        self._levels: list[tuple[np.ndarray, np.ndarray]] = []

    def earlier_lines(self, keys: Iterable[str]) -> dict[str, int]:
        """The first line of each of ``keys`` seen in earlier chunks."""
        keys = list(keys)
        if not keys or not self._levels:
            return {}
        wanted = np.fromiter((hash(k) for k in keys), dtype=np.int64, count=len(keys))
        found: dict[str, int] = {}
        for hashes, lines in self._levels:
            pos = np.searchsorted(hashes, wanted)
            pos[pos >= len(hashes)] = len(hashes) - 1
            hit = hashes[pos] == wanted
            for i in np.flatnonzero(hit):
                line = int(lines[pos[i]])
                key = keys[i]
                if key not in found or line < found[key]:
                    found[key] = line
        return found

    def add(self, first_lines: dict[str, int]) -> None:
        """Remember the keys of one chunk (key -> its line)."""
        if not first_lines:
            return
        hashes = np.fromiter((hash(k) for k in first_lines), dtype=np.int64, count=len(first_lines))
        lines = np.fromiter(first_lines.values(), dtype=np.int32, count=len(first_lines))
        order = np.argsort(hashes, kind="stable")
        self._levels.append((hashes[order], lines[order]))
        while len(self._levels) >= 2 and len(self._levels[-2][0]) <= 2 * len(self._levels[-1][0]):
            (h2, l2), (h1, l1) = self._levels.pop(), self._levels.pop()
            hashes = np.concatenate([h1, h2])
            lines = np.concatenate([l1, l2])
            order = np.argsort(hashes, kind="stable")
            self._levels.append((hashes[order], lines[order]))
