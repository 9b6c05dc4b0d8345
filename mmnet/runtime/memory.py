"""Keep freed memory in the process, instead of handing it back to the OS after every photo.

glibc's malloc returns the top of its heap to the OS once more than M_TRIM_THRESHOLD of it is free, and its
threshold adapts to the largest block freed so far: about twice one 600×800 float32 matte (1.9 MB). A photo's
matte, its upsampled coefficients and its decoded pixels free more than that together, so every `predict`
gave its pages back and faulted them in again: about 1,200 page faults per 600×800 photo, at about 3.5 µs
each on the 2-core VM of our benchmarks, 3–4 ms of an 18 ms call. Raising both thresholds keeps those pages.
The cost: a process keeps up to TRIM_THRESHOLD of freed memory (blocks above MMAP_THRESHOLD, such as the
floats of a 4K frame, still come from the OS and go back to it).

It changes malloc for the whole process, so the library never applies it by itself: the command line does, in
the processes it owns (`mmnet matte`, `serve`, `demo`, `bench`), and a program of yours may call
`keep_freed_memory()` for the same speed. Once per process, on glibc only, and not where the user has set
glibc's own MALLOC_TRIM_THRESHOLD_ or MALLOC_MMAP_THRESHOLD_ (theirs win).
"""
from __future__ import annotations

import ctypes
import functools
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, from glibc's malloc.h
MMAP_THRESHOLD = 32 << 20  # the largest glibc accepts on 64-bit
TRIM_THRESHOLD = 128 << 20


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's trim and mmap thresholds for this process; whether it was done."""
    if not sys.platform.startswith("linux") or any(os.environ.get(name) for name in
                                                   ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (glibc only: musl's mallopt does nothing)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # Setting either fixes both (glibc stops adapting them): the mmap threshold first, then the trim threshold.
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
