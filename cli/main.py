"""The ``edgefleet`` command line. Parses arguments and dispatches; every
command's work lives in its own module, imported only when the command runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cli.key_commands import add_parser as add_keys_parser
from cli.runstate import add_tls_flags


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="edgefleet",
        description="Run OpenVINO specialist models on a Ray edge fleet and route requests "
        "between them and a hosted model.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "up", help="start a local fleet: Ray head + simulated nodes, replicas, stand-in, router"
    )
    up.add_argument("--config", default="edgefleet.yaml", help="policy file (default: edgefleet.yaml)")
    up.add_argument("--detach", action="store_true", help="run in the background; stop with `edgefleet down`")
    up.add_argument("--ready-timeout", type=float, default=300.0, help="seconds to wait for the fleet")
    up.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="fleet log lines (router, controller, replicas): text, or JSON (ts, level, logger, message, ids)",
    )
    up.add_argument(
        "--tls",
        choices=("off", "dev"),
        default="off",
        help="dev: make a local CA ($EDGEFLEET_HOME/tls) and use mutual TLS for the router, replicas and "
        "stand-in (off: the policy's own TLS settings)",
    )

    down = sub.add_parser("down", help="stop the fleet started by `edgefleet up`")
    down.add_argument("--timeout", type=float, default=60.0)

    status = sub.add_parser("status", help="show nodes, deployments and routes")
    status.add_argument("--router", help="router address host:port (default: the running fleet's)")
    status.add_argument("--json", action="store_true", help="print the snapshot as JSON")
    status.add_argument("--api-key", help="a viewer or operator key (or set EDGEFLEET_API_KEY)")
    add_tls_flags(status)

    infer = sub.add_parser("infer", help="send one request to the router and print the response as JSON")
    infer.add_argument("--text", required=True, action="append", help="text (repeat for a batch)")
    infer.add_argument("--task", default="classify", help="classify or embed")
    infer.add_argument("--domain", default="", help="skip domain detection")
    infer.add_argument("--route", default="", help="force a named route")
    infer.add_argument("--max-latency-ms", type=float)
    infer.add_argument("--max-cost-usd", type=float)
    infer.add_argument("--min-confidence", type=float)
    infer.add_argument("--router", help="router address host:port")
    infer.add_argument("--api-key", help="API key (or set EDGEFLEET_API_KEY)")
    infer.add_argument("--timeout", type=float, default=30.0)
    add_tls_flags(infer)

    policy = sub.add_parser("policy", help="policy files")
    psub = policy.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    check = psub.add_parser("check", help="validate a policy file")
    check.add_argument("file")

    node = sub.add_parser("node", help="edge nodes")
    nsub = node.add_subparsers(dest="node_command", required=True, metavar="ACTION")
    join = nsub.add_parser("join", help="join this machine to a fleet's Ray cluster (runs in the background)")
    join.add_argument("--head", required=True, help="Ray head address host:port")
    join.add_argument("--labels", default="", help="k=v,k2=v2")
    join.add_argument("--num-cpus", type=float)
    join.add_argument("--name", help="node name (default: hostname)")
    join.add_argument("--dry-run", action="store_true", help="print the ray start command only")
    join.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the node to start")
    leave = nsub.add_parser("leave", help="drain this machine's node, then stop what `node join` started")
    leave.add_argument("--name", help="the node (default: the only one joined from here)")
    leave.add_argument("--namespace", default=None, help="Ray namespace of the fleet (default: edgefleet)")
    leave.add_argument(
        "--controller", default=None, help="controller actor name (default: edgefleet-controller)"
    )
    leave.add_argument("--no-drain", action="store_true", help="stop at once, without moving replicas first")
    leave.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the drain")

    models = sub.add_parser("models", help="build, evaluate and register models")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    mb = msub.add_parser("build", help="build the model registry (idempotent)")
    mb.add_argument("--out", default=".edgefleet/models")
    mb.add_argument("--hashed-only", action="store_true", help="only the hashed models (about a minute)")
    mb.add_argument(
        "--quick",
        action="store_true",
        help="factory models on small data slices (a smoke build, lower accuracy)",
    )
    me = msub.add_parser("eval", help="evaluate every model; write JSON, markdown and a PNG plot")
    me.add_argument("--registry", default=".edgefleet/models")
    me.add_argument("--out", help="report folder (default: REGISTRY/report)")
    me.add_argument(
        "--no-bf16",
        action="store_true",
        help="f32 only: skip the bf16 measurement of the MiniLM models (done where the CPU has BF16)",
    )
    md = msub.add_parser("distill", help="retrain the students with escalated requests")
    md.add_argument("--from-log", required=True)
    md.add_argument("--registry", default=".edgefleet/models")
    md.add_argument(
        "--max-drop",
        type=float,
        default=0.0,
        help="a new version may be this much less accurate on a held-out set and still become latest "
        "(default 0: not worse)",
    )
    ma = msub.add_parser("add", help="register your own model (IR, ONNX, or PyTorch when installed)")
    ma.add_argument("path")
    ma.add_argument("--name", required=True)
    ma.add_argument("--task", default="classify", choices=["classify", "embed"])
    ma.add_argument("--labels", help="file with one label per line (classify)")
    ma.add_argument("--registry", default=".edgefleet/models")
    ma.add_argument(
        "--trust-pickle",
        action="store_true",
        help="load a pickled PyTorch file (.pt/.pth): unpickling runs any code it holds, so only for files you trust",
    )

    ml = msub.add_parser("add-llm", help="register a generative model (GGUF file or OpenVINO IR folder)")
    ml.add_argument("path", help="a .gguf file or an OpenVINO GenAI IR folder")
    ml.add_argument("--name", help="registry name (default: from the file name)")
    ml.add_argument(
        "--compress", default="none", choices=["none", "int8", "int4"], help="NNCF weight compression"
    )
    ml.add_argument("--registry", default=".edgefleet/models")

    mp = msub.add_parser("policy", help="train a learned escalation policy on TUNE outcomes (rag outcomes)")
    mp.add_argument("--outcomes", default=".edgefleet/rag/outcomes-tune.jsonl")
    mp.add_argument("--name", default="squad-policy", help="registry name of the policy model")
    mp.add_argument("--good-f1", type=float, default=0.5, help="an edge answer is good at this token F1")
    mp.add_argument("--registry", default=".edgefleet/models")

    rag = sub.add_parser("rag", help="retrieval collections for the edge LLMs")
    rsub = rag.add_subparsers(dest="rag_command", required=True, metavar="ACTION")
    ri = rsub.add_parser("index", help="chunk, embed and index files as a collection (idempotent)")
    ri.add_argument("files", nargs="+", help="plain text (.txt), Markdown (.md) or JSON lines (.jsonl)")
    ri.add_argument("--collection", required=True, help="collection name in the registry")
    rs = rsub.add_parser("squad", help="build the squad-dev collection (SQuAD v1.1 dev paragraphs)")
    for action in (ri, rs):
        action.add_argument("--registry", default=".edgefleet/models")
        action.add_argument(
            "--passage-precision",
            default="INT8",
            choices=["FP32", "INT8", "fp32", "int8"],
            help="passage encoder",
        )
        action.add_argument(
            "--query-precision",
            default="INT8",
            choices=["FP32", "INT8", "fp32", "int8"],
            help="query encoder",
        )
    re_ = rsub.add_parser("eval", help="recall@1/@5 of a squad-dev collection on SQuAD tune and report")
    re_.add_argument("--registry", default=".edgefleet/models")
    re_.add_argument("--collection", default="", help="default squad-dev")
    re_.add_argument("--version", default="latest")
    re_.add_argument(
        "--address", default="", help="a retriever replica's KServe address (default: in process)"
    )
    re_.add_argument("--limit", type=int, default=0, help="questions per split (0: all)")
    rf = rsub.add_parser(
        "fewshot",
        help="few-shot examples for extractive answering, from SQuAD's tune split, beside a collection",
    )
    rf.add_argument(
        "--split", default="tune", choices=["tune"], help="the split examples come from (tune only)"
    )
    rf.add_argument("--per-type", type=int, default=16, help="examples per question type")
    rf.add_argument("--collection", default="squad-dev", help="the collection they are stored beside")
    rf.add_argument("--registry", default=".edgefleet/models")
    ro = rsub.add_parser(
        "outcomes",
        help="edge and hosted answers to SQuAD questions through a local router (policy training data)",
    )
    ro.add_argument(
        "--split", default="tune", choices=["tune", "report"], help="tune: to train and calibrate"
    )
    ro.add_argument("--n", type=int, default=300, help="questions (a fixed shuffle of the split)")
    ro.add_argument("--llm", default="smollm2-135m", help="the edge LLM (any generative registry model)")
    ro.add_argument("--collection", default="squad-dev")
    ro.add_argument("--out", default=".edgefleet/rag/outcomes-tune.jsonl")
    ro.add_argument(
        "--refeaturize", action="store_true", help="recompute the features of the outcomes in --out (no LLM)"
    )
    ro.add_argument("--registry", default=".edgefleet/models")

    from cli.route_commands import add_parser as add_route_parser

    add_route_parser(sub)

    tui = sub.add_parser("tui", help="the operator dashboard")
    tui.add_argument("--router", help="router address host:port")
    tui.add_argument("--demo", action="store_true", help="show built-in DEMO DATA (no router)")
    tui.add_argument("--api-key", help="a viewer or operator key (or set EDGEFLEET_API_KEY)")
    add_tls_flags(tui)

    from bench.runner import SUITES

    bench = sub.add_parser("bench", help="run the benchmark suites")
    bench.add_argument("suites", nargs="*", help=f"{' '.join(SUITES)} (default: all)")
    bench.add_argument("--out", default="bench-out")
    bench.add_argument("--tiny", action="store_true", help="a tiny configuration (smoke test)")

    chat = sub.add_parser("chat", help="generate: stream an answer from the router (edge LLM or hosted)")
    chat.add_argument("prompt", help="the user message")
    chat.add_argument("--system", help="a system message")
    chat.add_argument("--route", default="", help="a generate route (default: the first one)")
    chat.add_argument("--max-tokens", type=int, default=128)
    chat.add_argument("--temperature", type=float)
    chat.add_argument("--seed", type=int)
    chat.add_argument("--stop", action="append", help="a stop string (repeat for more)")
    chat.add_argument("--max-latency-ms", type=float)
    chat.add_argument("--max-ttft-ms", type=float, help="most milliseconds to the first token")
    chat.add_argument("--max-cost-usd", type=float)
    chat.add_argument("--min-confidence", type=float)
    chat.add_argument(
        "--allow-retraction", action="store_true", help="accept edge text that may be retracted"
    )
    chat.add_argument("--trace", action="store_true", help="print the route trace")
    chat.add_argument("--router", help="router address host:port")
    chat.add_argument("--api-key", help="API key (or set EDGEFLEET_API_KEY)")
    chat.add_argument("--timeout", type=float, default=60.0)
    add_tls_flags(chat)

    spend = sub.add_parser("spend", help="spend per day, route and tier from the durable ledger")
    spend.add_argument("--config", default="edgefleet.yaml", help="policy file naming router.ledger")
    spend.add_argument("--ledger", help="ledger file (default: router.ledger of the policy)")
    spend.add_argument("--days", type=int, default=30)

    add_keys_parser(sub)

    demo = sub.add_parser("demo", help="start the fleet, route a CLINC150 sample, print a summary, stop")
    demo.add_argument("--config", default="edgefleet.yaml")
    demo.add_argument("--requests", type=int, default=600)
    demo.add_argument("--concurrency", type=int, default=8)
    demo.add_argument("--log-format", choices=("text", "json"), default="text", help="fleet log lines")

    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``edgefleet`` console script."""
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd in ("up", "down", "status"):
        from cli import ops_commands

        return int(getattr(ops_commands, cmd)(args))
    if cmd == "infer":
        from cli.client_commands import infer

        return infer(args)
    if cmd == "policy":
        from cli.client_commands import policy_check

        return policy_check(args)
    if cmd == "node":
        from cli import node_commands

        return int(getattr(node_commands, f"node_{args.node_command}")(args))
    if cmd == "models":
        from cli import model_commands

        return int(getattr(model_commands, args.models_command.replace("-", "_"))(args))
    if cmd == "rag":
        from cli import rag_commands

        return int(getattr(rag_commands, args.rag_command)(args))
    if cmd == "route":
        from cli import route_commands

        return int(getattr(route_commands, args.route_command)(args))
    if cmd == "tui":
        from cli.client_commands import tui

        return tui(args)
    if cmd == "bench":
        from cli.client_commands import bench

        return bench(args)
    if cmd == "chat":
        from cli.chat_command import chat

        return chat(args)
    if cmd == "spend":
        from cli.client_commands import spend

        return spend(args)
    if cmd == "keys":
        from cli.key_commands import add

        return add(args)
    if cmd == "demo":
        from cli.demo import run_demo

        return run_demo(args)
    raise AssertionError(cmd)


if __name__ == "__main__":
    sys.exit(main())
