"""The machine a measurement ran on, in words: what every benchmark prints beside its numbers."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else (platform.processor() or platform.machine())


def describe() -> str:
    """CPU, logical CPUs, load average now, and the OS, in one line."""
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{cpu_name()}, {os.cpu_count()} logical CPUs{load}; {platform.system()} {platform.release()}"
