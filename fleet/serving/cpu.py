"""The CPU's instruction-set features that decide inference speed and precision.

:func:`cpu_isa` names them in a fixed order (:data:`ISA_FEATURES`): ``AVX2``, ``AVX512``
(AVX-512 foundation), ``VNNI`` (AVX-512 VNNI or AVX-VNNI: fast INT8), ``AMX`` (Advanced Matrix
Extensions) and ``BF16`` (AVX-512 BF16 or AMX-BF16 on x86, ``bf16`` on Arm: OpenVINO's CPU
plugin then infers in bf16 by default). They come from the ``flags`` (x86) or ``Features`` (Arm)
line of ``/proc/cpuinfo``; where that file is missing, from OpenVINO's ``OPTIMIZATION_CAPABILITIES``
of the CPU, which can only tell ``BF16``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
ISA_FEATURES = ("AVX2", "AVX512", "VNNI", "AMX", "BF16")
_FLAGS: dict[str, frozenset[str]] = {
    "AVX2": frozenset({"avx2"}),
    "AVX512": frozenset({"avx512f"}),
    "VNNI": frozenset({"avx512_vnni", "avx_vnni"}),
    "AMX": frozenset({"amx_tile", "amx_int8", "amx_bf16"}),
    "BF16": frozenset({"avx512_bf16", "amx_bf16", "bf16"}),
}


def isa_from_flags(flags: str | Iterable[str]) -> list[str]:
    """The :data:`ISA_FEATURES` present in a cpuinfo flag list (a string or the flags themselves)."""
    present = set(flags.split() if isinstance(flags, str) else flags)
    return [feature for feature in ISA_FEATURES if present & _FLAGS[feature]]


def isa_from_capabilities(capabilities: Sequence[str]) -> list[str]:
    """What OpenVINO's ``OPTIMIZATION_CAPABILITIES`` of the CPU tell about its ISA (only ``BF16``)."""
    return ["BF16"] if "BF16" in capabilities else []


def cpuinfo_flags(cpuinfo: Path = CPUINFO) -> list[str] | None:
    """The first ``flags``/``Features`` line of ``cpuinfo`` as a list; None when there is none."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return value.split()
    return None


def _openvino_cpu_capabilities() -> list[str]:
    try:
        from fleet.serving.runtime import shared_core

        return [str(c) for c in shared_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")]
    except Exception:  # noqa: BLE001 - OpenVINO missing or without a CPU plugin: nothing known
        return []


@lru_cache(maxsize=4)
def cpu_isa(cpuinfo: Path = CPUINFO) -> tuple[str, ...]:
    """This machine's :data:`ISA_FEATURES` (cpuinfo flags, else OpenVINO's capabilities); cached."""
    flags = cpuinfo_flags(cpuinfo)
    if flags is not None:
        return tuple(isa_from_flags(flags))
    return tuple(isa_from_capabilities(_openvino_cpu_capabilities()))


__all__ = ["ISA_FEATURES", "cpu_isa", "cpuinfo_flags", "isa_from_capabilities", "isa_from_flags"]
