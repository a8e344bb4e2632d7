"""llama.cpp's native libraries, loaded before anything else.

On a CUDA build of llama-cpp-python, loading a model segfaults when numpy was imported before llama_cpp (seen on
an H100 with numpy 2.5 and CUDA 12); with llama_cpp first, it loads and runs. Entry points call load_llama_cpp()
before importing numpy.
"""

from __future__ import annotations

import contextlib


def load_llama_cpp() -> None:
    """Load llama_cpp's libraries now, if it is installed (the assistant also runs without a vision model)."""
    with contextlib.suppress(ImportError):
        import llama_cpp  # noqa: F401
