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


def test_generated_imports_are_rewritten_to_the_protos_package() -> None:
    from protos.generate import own_modules, rewrite_imports

    modules = own_modules([Path("edgefleet/v1/common.proto"), Path("edgefleet/v1/router.proto")])
    assert modules == {"edgefleet.v1.common_pb2", "edgefleet.v1.router_pb2"}
    source = (
        "from google.protobuf import descriptor as _descriptor\n"
        "from edgefleet.v1 import common_pb2 as edgefleet_dot_v1_dot_common__pb2\n"
        "from other.v1 import thing_pb2 as other\n"
        "_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, 'edgefleet.v1.router_pb2', _globals)\n"
    )
    assert rewrite_imports(source, modules).splitlines() == [
        "from google.protobuf import descriptor as _descriptor",
        "from protos.edgefleet.v1 import common_pb2 as edgefleet_dot_v1_dot_common__pb2",
        "from other.v1 import thing_pb2 as other",
        "_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, 'protos.edgefleet.v1.router_pb2', _globals)",
    ]


def test_files_are_named_from_the_proto_root_and_classes_from_the_package() -> None:
    """Descriptors name files as protoc -I protos does (reflection serves them so), while the
    message classes live in the committed package (so they pickle and import back)."""
    import pickle

    from protos.edgefleet.v1 import fleet_pb2, router_pb2

    assert router_pb2.DESCRIPTOR.name == "edgefleet/v1/router.proto"
    assert [d.name for d in fleet_pb2.DESCRIPTOR.dependencies] == ["edgefleet/v1/common.proto"]
    request = router_pb2.InferRequest(text="hi", task="classify")
    assert type(request).__module__ == "protos.edgefleet.v1.router_pb2"
    assert pickle.loads(pickle.dumps(request)) == request
