"""Core commands: network export, solve, train, bench, demo."""

from __future__ import annotations

import json
import sys

from spicecl.errors import SpiceclError


def add_network_args(p, required: bool = True) -> None:
    """--network and --network-seed, shared by every command that takes a network."""
    p.add_argument("--network", required=required, metavar="NETWORK",
                   help="built-in name (exp16, disordered143, disordered:NODES:EDGES), "
                        "GraphML file, or jammed-network text file")
    p.add_argument("--network-seed", type=int, default=0, metavar="SEED",
                   help="seed of the generated built-in networks (default 0)")


def print_json(obj) -> None:
    from spicecl.results import to_json

    sys.stdout.write(to_json(obj))


def register(sub) -> None:
    p = sub.add_parser("network", help="network utilities")
    nsub = p.add_subparsers(dest="network_command", metavar="ACTION")
    nsub.required = True
    e = nsub.add_parser("export", help="write a network as GraphML or JSON")
    e.add_argument("network", metavar="NETWORK")
    e.add_argument("--seed", type=int, default=0, help="seed of generated built-ins")
    e.add_argument("--format", choices=("graphml", "json"), default="graphml")
    e.add_argument("-o", "--output", metavar="FILE", help="output file (default stdout)")
    e.set_defaults(func=cmd_network_export)

    s = sub.add_parser("solve", help="node voltages of a network with some nodes held")
    add_network_args(s)
    s.add_argument("--fix", action="append", default=[], metavar="NODE=VOLTS",
                   help="hold node NODE (its id) at VOLTS; repeat")
    s.add_argument("--resistance", type=float, default=None, metavar="OHMS",
                   help="resistance of every edge when the network has none (default 1000)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_solve)


def cmd_network_export(args) -> int:
    from spicecl.netio import export_network
    from spicecl.network import load_network
    from spicecl.results import atomic_write_bytes

    net = load_network(args.network, args.seed)
    data = export_network(net, args.format)
    if args.output:
        atomic_write_bytes(args.output, data)
    else:
        sys.stdout.buffer.write(data)
    return 0


def parse_fix(items, net) -> dict[int, float]:
    fixed: dict[int, float] = {}
    for item in items:
        node, sep, volts = item.partition("=")
        if not sep:
            raise SpiceclError(f"--fix {item!r}: expected NODE=VOLTS")
        try:
            v = float(volts)
        except ValueError:
            raise SpiceclError(f"--fix {item!r}: {volts!r} is not a voltage") from None
        i = net.node_index(node.strip())
        if i in fixed:
            raise SpiceclError(f"--fix: node {node.strip()!r} is given twice")
        fixed[i] = v
    if not fixed:
        raise SpiceclError("solve needs at least one --fix NODE=VOLTS")
    return fixed


def cmd_solve(args) -> int:
    import numpy as np

    from spicecl.network import load_network
    from spicecl.solver import solve_fixed

    net = load_network(args.network, args.network_seed)
    fixed = parse_fix(args.fix, net)
    if net.resistance is not None and args.resistance is None:
        r = net.resistance
    else:
        value = 1000.0 if args.resistance is None else args.resistance
        if not value > 0:
            raise SpiceclError(f"--resistance must be positive, got {value}")
        r = np.full(net.n_edges, value)
    v = solve_fixed(net, r, fixed)
    out = {"voltages": {nid: float(x) for nid, x in zip(net.node_ids, v)}}
    if args.json:
        print_json(out)
    else:
        for nid, x in out["voltages"].items():
            print(f"{nid}\t{x:.12g}")
    return 0
