"""The catalog of vision models, in tiers, and the choice of one for the machine at hand.

Tiers: fast (a small model and vision tower for 2 to 4 cores), balanced (today's default, 4 to 8 cores) and best
(for 12 cores or more, or a GPU). `choose` picks an entry and quant from the machine's cores, memory and GPU
memory, and says why in words the user hears from `assistant doctor`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import BadInputError
from assistant.think.machine import Machine

TIERS = ("fast", "balanced", "best")
QUANTS = ("Q4_0", "Q4_K_M", "Q8_0", "F16")
GB = 1e9
RUNTIME_GB = 0.6
"""Memory the model needs beyond its files: KV cache for 4,096 tokens, compute buffers, the picture's embeddings."""
GPU_HEADROOM_GB = 1.5
"""GPU memory left free beside the model: the KV cache, compute buffers, and what the desktop holds."""
FAST_CORES = 4
"""Up to this many cores, the fast tier: the balanced one takes over 6 s to a new picture's first word on 2."""
BEST_CPU_CORES = 12
"""From this many cores (with memory to match), the best tier's 4B runs on the CPU alone."""
SMALLEST_FAST_CORES = 2
"""At this many cores or fewer, the fast tier's smallest model."""


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    repo: str
    """The Hugging Face repository."""
    description: str
    mmproj_patterns: tuple[str, ...]
    quants: dict[str, float] = field(default_factory=lambda: {"Q4_K_M": 0.0})
    """Published model-file size in GB, by quant."""
    quant: str = "Q4_K_M"
    """The quant pulled when none is asked for."""
    mmproj_gb: float = 0.0
    tier: str = "balanced"
    default: bool = False
    modelscope: str = ""
    """The repository on ModelScope, when its name differs from the Hugging Face one."""

    def model_patterns(self, quant: str) -> tuple[str, ...]:
        return (f"*{quant}.gguf",)

    def size_gb(self, quant: str) -> float:
        """Model and mmproj files together."""
        return self.quants.get(quant, 0.0) + self.mmproj_gb

    def folder(self, quant: str) -> str:
        """Where `models pull` puts this quant, inside the models folder."""
        return f"{self.name}-{quant}"

    def check_quant(self, quant: str) -> str:
        if quant not in self.quants:
            quants = ", ".join(self.quants)
            raise BadInputError(f"{self.name} comes in {quants}, not {quant}.", f"Choose one of {quants}.")
        return quant


@dataclass(frozen=True)
class Choice:
    entry: CatalogEntry
    quant: str
    reason: str

    @property
    def label(self) -> str:
        return f"{self.entry.name} {self.quant} ({self.entry.tier} tier)"


def bundled_catalog() -> Path:
    return Path(__file__).resolve().parent.parent.parent / "models" / "catalog.toml"


def load_catalog(models_dir: Path) -> list[CatalogEntry]:
    """The catalog in the models folder if there is one there, else the project's."""
    path = models_dir / "catalog.toml"
    if not path.is_file():
        path = bundled_catalog()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        entries = [
            CatalogEntry(
                name=name,
                repo=entry["repo"],
                description=entry.get("description", ""),
                mmproj_patterns=tuple(entry["mmproj"]),
                quants={str(q): float(size) for q, size in entry["quants"].items()},
                quant=entry["quant"],
                mmproj_gb=float(entry.get("mmproj_gb", 0.0)),
                tier=entry.get("tier", "balanced"),
                default=bool(entry.get("default", False)),
                modelscope=entry.get("modelscope", ""),
            )
            for name, entry in data.items()
        ]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise BadInputError(f"The model catalog {path} cannot be read: {e}.") from e
    for entry in entries:
        if entry.tier not in TIERS or entry.quant not in entry.quants:
            raise BadInputError(f"The model catalog {path} has {entry.name} with an unknown tier or quant.")
    return entries


def catalog_entry(models_dir: Path, name: str | None) -> CatalogEntry:
    entries = load_catalog(models_dir)
    if name is None:
        return next((e for e in entries if e.default), entries[0])
    for entry in entries:
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in entries)
    raise BadInputError(f"There is no model called {name} in the catalog.", f"Choose one of: {known}.")


def _fits_gpu(machine: Machine, size_gb: float) -> bool:
    return (size_gb + GPU_HEADROOM_GB) * GB <= machine.gpu_memory


def _fits_memory(machine: Machine, size_gb: float) -> bool:
    # with a GPU the weights live there; the process keeps a little of them and the runtime
    return (size_gb + RUNTIME_GB) * GB <= machine.memory * 0.75


def _largest_fitting(entries: list[CatalogEntry], machine: Machine, quant: str) -> Choice | None:
    """On the GPU: the biggest model and quant of `entries` that fits its memory, best first."""
    options = [(entry.size_gb(q), entry, q) for entry in entries for q in entry.quants if not quant or q == quant]
    for size, entry, q in sorted(options, key=lambda option: -option[0]):
        if _fits_gpu(machine, size):
            return Choice(
                entry,
                q,
                f"the GPU has {machine.gpu_memory / GB:.0f} GB free, enough for its {size:.1f} GB of files "
                f"with {GPU_HEADROOM_GB} GB to spare",
            )
    return None


def choose(entries: list[CatalogEntry], machine: Machine, tier: str = "auto", quant: str = "") -> Choice:
    """The entry and quant for this machine: `tier` "auto" picks the tier too; `quant` "" picks it."""
    if tier not in ("auto", *TIERS):
        raise BadInputError(f"vlm.tier is {tier!r}; it can be auto, {', '.join(TIERS)}.")
    if quant and quant not in QUANTS:
        raise BadInputError(f"vlm.quant is {quant!r}; it can be {', '.join(QUANTS)}, or empty to let the tier choose.")
    by_tier = {t: [e for e in entries if e.tier == t] for t in TIERS}
    if machine.gpus:
        # the best tier that fits the GPU, the biggest quant first: on a GPU a bigger model costs little time
        for candidate in [tier] if tier != "auto" else ["best", "balanced", "fast"]:
            chosen = _largest_fitting(by_tier[candidate], machine, quant)
            if chosen is not None:
                return chosen
    cpu = f"{machine.cores} cores and {machine.memory / GB:.0f} GB of memory"
    if tier == "auto":
        if machine.cores <= FAST_CORES or machine.memory < 4 * GB:
            tier, why = "fast", f"{cpu}, no GPU: the fast tier answers a new picture within about 3 s"
        elif machine.cores >= BEST_CPU_CORES and machine.memory >= 12 * GB:
            tier, why = "best", f"{cpu}, no GPU: enough for the 4B on the CPU"
        else:
            tier, why = "balanced", f"{cpu}, no GPU"
    else:
        why = f"vlm.tier is {tier}; {cpu}" + ("" if machine.gpus else ", no GPU")
    # on the CPU: each entry's own quant, the smallest model of the tier first, but for the fast tier on more
    # than two cores, where the larger fast model still answers within about 3 s
    larger_first = tier == "fast" and machine.cores > SMALLEST_FAST_CORES
    candidates = sorted(by_tier[tier], key=lambda e: e.size_gb(e.quant), reverse=larger_first)
    for entry in candidates:
        q = entry.check_quant(quant) if quant and quant in entry.quants else entry.quant
        if _fits_memory(machine, entry.size_gb(q)):
            return Choice(entry, q, why)
    smallest = min(entries, key=lambda e: min(e.size_gb(q) for q in e.quants))
    q = min(smallest.quants, key=smallest.size_gb)
    return Choice(smallest, q, f"{cpu}: only the smallest model fits")
