"""An endless, resumable stream of (index, augmentation seed) pairs, sharded across data-parallel ranks."""
from __future__ import annotations

from typing import Iterator

import numpy as np


class ResumableSampler:
    """Global sample g (0, 1, 2, ...) is item `perm_e[g % n]` of epoch e = g // n, where `perm_e` is a
    permutation seeded by (seed, e), and gets augmentation seed (seed, g). Rank r of w takes g = r, r+w, ...
    Starting at `start` therefore continues a stream exactly where a previous run stopped."""

    def __init__(self, n: int, seed: int = 0, start: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if n <= 0:
            raise ValueError("cannot sample from an empty dataset")
        self.n, self.seed, self.start, self.rank, self.world_size = n, seed, start, rank, world_size

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        g = self.start + self.rank
        epoch, perm = -1, None
        while True:
            if g // self.n != epoch:
                epoch = g // self.n
                perm = self._permutation(epoch)
            yield int(perm[g % self.n]), self.seed * 2**40 + g
            g += self.world_size
