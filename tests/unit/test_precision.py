"""The inference precision choice (compile config per setting) and the CPU ISA parser."""

from __future__ import annotations

from pathlib import Path

import openvino as ov
import pytest

from fleet.serving import cpu
from fleet.serving.cpu import cpuinfo_flags, isa_from_capabilities, isa_from_flags
from fleet.serving.runtime import choose_precision, compile_config, precision_name

# Real flag lines, shortened to the SIMD part (from /proc/cpuinfo of each CPU family).
HASWELL = "fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi1 bmi2"
ZEN2_NO_VNNI = "sse4_2 avx f16c avx2 sha_ni clzero"
ALDER_LAKE = "sse4_2 avx avx2 fma avx_vnni serialize"
ICE_LAKE_SP = "avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni avx512_vbmi2"
ZEN4 = "avx2 avx512f avx512bw avx_vnni avx512_bf16 avx512_vnni avx512_vp2intersect"
SAPPHIRE_RAPIDS = "avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8 avx512_fp16"
GRAVITON3 = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics sve i8mm bf16 dgh rng"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (HASWELL, ["AVX2"]),
        (ZEN2_NO_VNNI, ["AVX2"]),
        (ALDER_LAKE, ["AVX2", "VNNI"]),
        (ICE_LAKE_SP, ["AVX2", "AVX512", "VNNI"]),
        (ZEN4, ["AVX2", "AVX512", "VNNI", "BF16"]),
        (SAPPHIRE_RAPIDS, ["AVX2", "AVX512", "VNNI", "AMX", "BF16"]),
        (GRAVITON3, ["BF16"]),
        ("", []),
    ],
)
def test_isa_from_flags(flags: str, expected: list[str]) -> None:
    assert isa_from_flags(flags) == expected
    assert isa_from_flags(flags.split()) == expected


def test_avx512_variants_alone_are_not_avx512_foundation() -> None:
    assert isa_from_flags("avx512_bf16 avx512_fp16") == ["BF16"]  # no avx512f: not "AVX512"


def test_isa_from_openvino_capabilities() -> None:
    assert isa_from_capabilities(["BF16", "WINOGRAD", "FP32", "INT8", "BIN", "EXPORT_IMPORT"]) == ["BF16"]
    assert isa_from_capabilities(["FP32", "INT8", "BIN", "EXPORT_IMPORT"]) == []


def test_cpuinfo_flags_reads_x86_and_arm_files(tmp_path: Path) -> None:
    x86 = tmp_path / "x86"
    x86.write_text(
        f"processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: {ZEN4}\n\nprocessor\t: 1\nflags\t: sse\n"
    )
    assert cpuinfo_flags(x86) == ZEN4.split()
    arm = tmp_path / "arm"
    arm.write_text(f"processor\t: 0\nFeatures\t: {GRAVITON3}\nCPU implementer\t: 0x41\n")
    assert isa_from_flags(cpuinfo_flags(arm) or []) == ["BF16"]
    (tmp_path / "none").write_text("processor\t: 0\n")
    assert cpuinfo_flags(tmp_path / "none") is None
    assert cpuinfo_flags(tmp_path / "missing") is None


def test_cpu_isa_falls_back_to_openvino(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu, "_openvino_cpu_capabilities", lambda: ["BF16", "FP32"])
    assert cpu.cpu_isa(tmp_path / "missing") == ("BF16",)
    info = tmp_path / "cpuinfo"
    info.write_text(f"flags\t: {ICE_LAKE_SP}\n")
    assert cpu.cpu_isa(info) == ("AVX2", "AVX512", "VNNI")


@pytest.mark.parametrize(
    ("precision", "hint"),
    [("auto", None), ("f32", "f32"), ("bf16", "bf16")],
)
def test_compile_config_sets_the_precision_hint(precision: str, hint: str | None) -> None:
    for device, kind in (("CPU", "hashed"), ("CPU", "wordpiece"), ("GPU.0", "wordpiece")):
        config = compile_config(device, kind, precision=precision)
        assert config.get("INFERENCE_PRECISION_HINT") == hint
        assert config["PERFORMANCE_HINT"] == "LATENCY"
    assert compile_config("CPU", "hashed", precision=precision)["INFERENCE_NUM_THREADS"] == 1


def test_compile_config_refuses_unknown_precision() -> None:
    with pytest.raises(ValueError, match="auto, f32, bf16"):
        compile_config("CPU", "hashed", precision="fp16")


def test_choose_precision_falls_back_to_f32_without_bf16() -> None:
    assert choose_precision("auto", "CPU", bf16_supported=False) == ("auto", "")
    assert choose_precision("f32", "CPU", bf16_supported=True) == ("f32", "")
    assert choose_precision("bf16", "CPU", bf16_supported=True) == ("bf16", "")
    asked, why = choose_precision("bf16", "CPU", bf16_supported=False)
    assert asked == "f32" and "bf16 requested" in why and "CPU has no BF16" in why and "f32" in why
    asked, why = choose_precision("bf16", "GPU.0", bf16_supported=False)
    assert asked == "f32" and "GPU.0 has no BF16" in why
    with pytest.raises(ValueError):
        choose_precision("int8", "CPU", bf16_supported=True)


def test_precision_name_of_openvino_types() -> None:
    assert precision_name(ov.Type.f32) == "f32"
    assert precision_name(ov.Type.bf16) == "bf16"
    assert precision_name(ov.Type.f16) == "f16"
    assert precision_name("bfloat16") == "bf16"
    assert precision_name("f32") == "f32"
