"""llama.cpp's native libraries, loaded before anything else, and the C allocator set to give memory back.

On a CUDA build of llama-cpp-python, loading a model segfaults when numpy was imported before llama_cpp (seen on
an H100 with numpy 2.5 and CUDA 12); with llama_cpp first, it loads and runs. Entry points call load_llama_cpp()
before importing numpy.

glibc serves blocks under its mmap threshold from the heap, and raises that threshold (up to 32 MB) each time a
big block is freed, so the buffers that whisper, Piper and the vision encoder grow and free stay resident after
use. A fixed threshold hands every block of 128 KB or more straight back to the system when it is freed: about
100 MB less at the peak (benchmarks/memory.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

_M_MMAP_THRESHOLD = -3
"""mallopt's parameter number, from glibc's malloc.h."""
MMAP_THRESHOLD = 128 * 1024


def load_llama_cpp() -> None:
    """Load llama_cpp's libraries now, if it is installed (the assistant also runs without a vision model), and
    fix the allocator's mmap threshold."""
    give_back_freed_memory()
    with contextlib.suppress(ImportError):
        import llama_cpp  # noqa: F401


def give_back_freed_memory() -> bool:
    """Fix glibc's mmap threshold; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # macOS's and musl's C libraries have no mallopt
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
