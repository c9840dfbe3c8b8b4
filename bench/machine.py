"""The machine a benchmark ran on: cores, CPU model, memory and library versions.

Every results.json records this, so a figure is never quoted without its hardware.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("openvino", "ray", "grpcio", "protobuf", "numpy", "tokenizers", "nncf", "edgefleet")


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Processor") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


SIMD_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_bf16",
    "amx_int8",
)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The SIMD flags that decide FP32/INT8/bf16 speed (VNNI/AMX accelerate INT8, AVX-512 BF16/AMX bf16),
    as /proc/cpuinfo lists them."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "flags":
                present = set(value.split())
                return [f for f in SIMD_FLAGS if f in present]
    except OSError:
        pass
    return []


def openvino_cpu_capabilities() -> list[str]:
    """OpenVINO's OPTIMIZATION_CAPABILITIES of the CPU device (empty when unavailable)."""
    try:
        from fleet.serving.runtime import available_devices

        return next((d.capabilities for d in available_devices() if d.name == "CPU"), [])
    except Exception as exc:  # noqa: BLE001 - informative only; say why it is missing
        return [f"unavailable: {type(exc).__name__}"]


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask), else the CPU count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def memory_gib() -> float | None:
    """Total memory in GiB from /proc/meminfo, or None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that shape the figures ('absent' when missing)."""
    out: dict[str, str] = {"python": sys.version.split()[0]}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    try:
        import openvino

        out["openvino_build"] = str(openvino.get_version())
    except ImportError as exc:
        out["openvino_build"] = f"unavailable ({exc})"
    return out


def load_average() -> list[float]:
    """The 1/5/15-minute load averages (a busy machine makes noisy figures)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def describe_machine() -> dict[str, Any]:
    """Everything recorded about the machine in results.json (``isa``: see fleet.serving.cpu)."""
    from fleet.serving.cpu import cpu_isa

    return {
        "cpu_model": cpu_model(),
        "cores": usable_cores(),
        "isa": list(cpu_isa()),
        "cpu_flags": cpu_flags(),
        "openvino_cpu_capabilities": openvino_cpu_capabilities(),
        "logical_cpus": os.cpu_count() or 1,
        "memory_gib": memory_gib(),
        "platform": platform.platform(),
        "load_average_at_start": load_average(),
        "versions": package_versions(),
    }
