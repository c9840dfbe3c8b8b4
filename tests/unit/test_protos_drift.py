"""The committed generated protobuf code must match the .proto files."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_matches_protos() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "protos.generate", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_drift_is_detected(tmp_path: Path) -> None:
    """Editing a generated file must make the check fail (the check can fail)."""
    import shutil

    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "protos", copy / "protos", ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / "protos" / "edgefleet" / "v1" / "router_pb2.py"
    target.write_text(target.read_text() + "\n# drift\n")
    result = subprocess.run(
        [sys.executable, "-m", "protos.generate", "--check"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "router_pb2.py" in result.stdout


def test_kserve_service_name_matches_the_protocol() -> None:
    from protos.inference import grpc_service_pb2

    service = grpc_service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert service.full_name == "inference.GRPCInferenceService"
    assert {m.name for m in service.methods} >= {
        "ServerLive",
        "ServerReady",
        "ServerMetadata",
        "ModelReady",
        "ModelMetadata",
        "ModelInfer",
    }
