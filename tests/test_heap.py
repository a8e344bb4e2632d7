import ctypes
import ctypes.util
from pathlib import Path

import pytest

from assistant.core.heap import give_back_freed_memory

_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
_BLOCK = 64 * 1024  # under glibc's mmap threshold: from the heap, and kept there when freed


def _resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not hasattr(_LIBC, "malloc_trim"), reason="glibc's heap only")
def test_the_heap_freed_behind_a_live_block_goes_back_to_the_system() -> None:
    _LIBC.malloc.restype, _LIBC.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    blocks = [_LIBC.malloc(_BLOCK) for _ in range(1600)]  # 100 MB
    for block in blocks:
        ctypes.memset(block, 1, _BLOCK)
    for block in blocks[:-1]:  # the last stays, so that glibc cannot just lower the top of the heap
        _LIBC.free(ctypes.c_void_p(block))
    kept = _resident_mb()
    give_back_freed_memory()
    assert _resident_mb() < kept - 50
    _LIBC.free(ctypes.c_void_p(blocks[-1]))
