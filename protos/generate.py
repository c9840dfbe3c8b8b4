"""Regenerate the committed Python protobuf/gRPC code from the .proto files.

Run from the repository root: ``python -m protos.generate`` (``make protos``).
``python -m protos.generate --check`` exits 1 when the committed code differs
from what the .proto files generate (the drift test calls this).
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"


def proto_files() -> list[Path]:
    """All .proto sources, relative to the repository root."""
    return sorted(p.relative_to(ROOT) for p in PROTO_DIR.rglob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Generate *_pb2.py, *_pb2.pyi and *_pb2_grpc.py for every proto into out_dir."""
    import grpc_tools

    include = Path(grpc_tools.__file__).parent / "_proto"
    files = [str(p) for p in proto_files()]
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(p.relative_to(out_dir) for p in out_dir.rglob("*_pb2*.py*"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail on drift, write nothing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generated = generate(out)
        drift = [
            str(rel)
            for rel in generated
            if not (ROOT / rel).exists() or not filecmp.cmp(out / rel, ROOT / rel, shallow=False)
        ]
        if args.check:
            if drift:
                print("generated protobuf code is out of date: " + ", ".join(drift))
                print("run `make protos` and commit the result")
                return 1
            print(f"generated protobuf code up to date ({len(generated)} files)")
            return 0
        for rel in generated:
            shutil.copyfile(out / rel, ROOT / rel)
        print(f"wrote {len(generated)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
