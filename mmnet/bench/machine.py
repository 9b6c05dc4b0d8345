"""The machine a measurement ran on, in words: what every benchmark prints beside its numbers."""
from __future__ import annotations

import os
import platform
from pathlib import Path

# The instruction sets that decide this project's speeds (fp32 GEMM width, int8 dot products, bf16), as
# /proc/cpuinfo names them, and as we print them.
_FEATURES = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "VNNI", "avx_vnni": "AVX-VNNI",
             "avx512_bf16": "BF16", "amx_tile": "AMX"}


def cpu_name() -> str:
    """The CPU's model name, with its family and model numbers and the instruction sets of `_FEATURES` where
    /proc/cpuinfo says them: a virtual machine's name ("AMD EPYC") alone does not tell one host from another."""
    try:
        first_cpu = Path("/proc/cpuinfo").read_text().split("\n\n")[0].splitlines()
    except OSError:
        first_cpu = []
    fields = {key.strip(): value.strip() for key, value in (line.split(":", 1) for line in first_cpu if ":" in line)}
    name = fields.get("model name") or platform.processor() or platform.machine()
    details = [f"family {fields['cpu family']} model {fields['model']}"] if "cpu family" in fields else []
    flags = set(fields.get("flags", "").split())
    features = [label for flag, label in _FEATURES.items() if flag in flags]
    details += [" ".join(features)] if features else []
    return f"{name} ({'; '.join(details)})" if details else name


def describe() -> str:
    """CPU, logical CPUs, load average now, and the OS, in one line."""
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{cpu_name()}, {os.cpu_count()} logical CPUs{load}; {platform.system()} {platform.release()}"
