"""Regenerate the committed Python protobuf/gRPC code from the .proto files.

Run from the repository root: ``python -m protos.generate`` (``make protos``).
``python -m protos.generate --check`` exits 1 when the committed code differs
from what the .proto files generate (the drift test calls this).

The .proto files live under ``protos/`` as their *proto root*: they import each other as
``import "edgefleet/v1/common.proto";``, so ``protoc -I protos``, buf (module ``protos``) and
grpc-js's proto-loader (``includeDirs: ["protos"]``) all read them as they are. protoc therefore
names the Python modules after the proto packages (``edgefleet.v1.router_pb2``); since the code is
committed *inside* the ``protos`` package, and ``edgefleet`` is our shared kernel, the generated
modules are rewritten to import each other as ``protos.edgefleet.v1.router_pb2`` (and to name
that module as the home of their message classes, so they pickle). Nothing else is changed.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"
PY_PACKAGE = "protos"  # the Python package the proto root is committed as


def proto_files() -> list[Path]:
    """All .proto sources, relative to the proto root (``protos/``)."""
    return sorted(p.relative_to(PROTO_DIR) for p in PROTO_DIR.rglob("*.proto"))


def own_modules(files: list[Path]) -> set[str]:
    """Dotted module names protoc gives the generated code of `files` (``edgefleet.v1.router_pb2``)."""
    return {".".join((*p.parent.parts, f"{p.stem}_pb2")) for p in files}


def rewrite_imports(source: str, modules: set[str]) -> str:
    """Make generated code refer to our own generated modules under the ``protos`` package.

    Rewrites ``from edgefleet.v1 import common_pb2`` (in .py, _grpc.py and .pyi) and the module
    name handed to the protobuf builder (``'edgefleet.v1.router_pb2'``, which becomes the message
    classes' ``__module__``). Imports of other modules (``google.protobuf``...) are left alone.
    """

    def from_import(match: re.Match[str]) -> str:
        package, name = match.group(1), match.group(2)
        if f"{package}.{name}" in modules:
            return f"from {PY_PACKAGE}.{package} import {name}"
        return match.group(0)

    def builder_name(match: re.Match[str]) -> str:
        name = match.group(2)
        return f"{match.group(1)}'{PY_PACKAGE}.{name}'" if name in modules else match.group(0)

    source = re.sub(r"^from ([\w.]+) import (\w+_pb2)\b", from_import, source, flags=re.MULTILINE)
    return re.sub(r"(BuildTopDescriptorsAndMessages\(DESCRIPTOR, )'([\w.]+)'", builder_name, source)


def generate(out_dir: Path) -> list[Path]:
    """Generate *_pb2.py, *_pb2.pyi and *_pb2_grpc.py for every proto into out_dir, laid out as
    under ``protos/`` (``edgefleet/v1/router_pb2.py``); returns their paths relative to out_dir."""
    import grpc_tools

    include = Path(grpc_tools.__file__).parent / "_proto"
    files = proto_files()
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p) for p in files),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    generated = sorted(p.relative_to(out_dir) for p in out_dir.rglob("*_pb2*.py*"))
    modules = own_modules(files)
    for rel in generated:
        path = out_dir / rel
        path.write_text(rewrite_imports(path.read_text(encoding="utf-8"), modules), encoding="utf-8")
    return generated


def main() -> int:
    """Write the generated code into ``protos/`` (or, with --check, report drift)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail on drift, write nothing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generated = generate(out)
        drift = [
            f"{PY_PACKAGE}/{rel}"
            for rel in generated
            if not (PROTO_DIR / rel).exists() or not filecmp.cmp(out / rel, PROTO_DIR / rel, shallow=False)
        ]
        if args.check:
            if drift:
                print("generated protobuf code is out of date: " + ", ".join(drift))
                print("run `make protos` and commit the result")
                return 1
            print(f"generated protobuf code up to date ({len(generated)} files)")
            return 0
        for rel in generated:
            shutil.copyfile(out / rel, PROTO_DIR / rel)
        print(f"wrote {len(generated)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
