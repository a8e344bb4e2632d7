"""What this machine offers the vision model: its cores, its memory, and the GPUs llama.cpp was built for."""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_GPU_DEVICE_TYPES = {1: "GPU", 2: "integrated GPU"}
"""ggml_backend_dev_type: 0 is the CPU, 1 a GPU, 2 an integrated GPU (Apple's, whose memory is the system's)."""


@dataclass(frozen=True)
class Gpu:
    name: str
    """llama.cpp's name for it: CUDA0, Metal, Vulkan0."""
    description: str
    memory_total: int
    memory_free: int


@dataclass(frozen=True)
class Machine:
    cores: int
    memory: int
    """Bytes of memory this process may use."""
    gpus: tuple[Gpu, ...] = ()

    @property
    def gpu_memory(self) -> int:
        """Free memory of the roomiest GPU, in bytes; 0 without one."""
        return max((gpu.memory_free for gpu in self.gpus), default=0)

    def describe(self) -> str:
        gpus = ", ".join(f"{gpu.name} {gpu.description} ({gpu.memory_free / 1e9:.0f} GB free)" for gpu in self.gpus)
        return f"{self.cores} cores, {self.memory / 1e9:.0f} GB of memory, " + (gpus or "no GPU that llama.cpp can use")


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def memory_bytes() -> int:
    """Physical memory, or the container's limit when that is lower."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        physical = 0
    limit = _cgroup_limit()
    return min(physical, limit) if physical and limit else physical or limit


def _cgroup_limit() -> int:
    for path in (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:  # "max", or cgroup v1's huge number, mean no limit
            return int(text)
    return 0


def llama_gpus() -> tuple[Gpu, ...]:
    """The GPUs of the llama.cpp build in use, with their memory; none for a CPU-only build or without llama.cpp."""
    try:
        import llama_cpp
    except ImportError:
        return ()
    if not llama_cpp.llama_supports_gpu_offload():
        return ()
    ggml = _ggml(llama_cpp)
    gpus = []
    for index in range(ggml.ggml_backend_dev_count()):
        device = ggml.ggml_backend_dev_get(index)
        if ggml.ggml_backend_dev_type(device) not in _GPU_DEVICE_TYPES:
            continue
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        ggml.ggml_backend_dev_memory(device, ctypes.byref(free), ctypes.byref(total))
        name = (ggml.ggml_backend_dev_name(device) or b"").decode(errors="replace")
        description = (ggml.ggml_backend_dev_description(device) or b"").decode(errors="replace")
        gpus.append(Gpu(name, description, total.value, free.value))
    return tuple(gpus)


def _ggml(llama_cpp: Any) -> Any:
    """ggml's device functions, found through the loaded libllama (which links ggml)."""
    library = llama_cpp.llama_cpp._lib
    library.ggml_backend_dev_count.restype = ctypes.c_size_t
    library.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    library.ggml_backend_dev_get.restype = ctypes.c_void_p
    for name in ("ggml_backend_dev_name", "ggml_backend_dev_description"):
        getattr(library, name).argtypes = [ctypes.c_void_p]
        getattr(library, name).restype = ctypes.c_char_p
    library.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
    library.ggml_backend_dev_type.restype = ctypes.c_int
    library.ggml_backend_dev_memory.argtypes = [ctypes.c_void_p] + [ctypes.POINTER(ctypes.c_size_t)] * 2
    library.ggml_backend_dev_memory.restype = None
    return library


def detect_machine() -> Machine:
    return Machine(usable_cores(), memory_bytes(), llama_gpus())
