"""`Stats`: one video's run, frames, seconds and the time spent in each stage (`mmnet matte`, `mmnet demo`)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class Stats:
    """One video's run: frames written, seconds, and the seconds spent in each stage (summed over threads)."""

    frames: int = 0
    seconds: float = 0.0
    damage: str | None = None  # what damaged data in the input cost (`Reader.damage`)
    stages: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, stage: str, since: float) -> float:
        """Add the time since `since` to `stage`; the time now."""
        now = time.perf_counter()
        with self._lock:
            self.stages[stage] = self.stages.get(stage, 0.0) + now - since
        return now
