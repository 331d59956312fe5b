"""Core commands (network export, solve, train, bench) and the argument helpers every
command module shares (seeds, paths, --network, JSON output)."""

from __future__ import annotations

import argparse
import math
import os
import sys
import unicodedata
from pathlib import Path

from spicecl.errors import SpiceclError, check_count, check_range, warn


def ascii_number(text: str, kind=float):
    """``kind(text)`` (float or int) for a number written in ASCII without '_', else
    ValueError: float() and int() also read '1_0' as 10 and other scripts' digits, so a typo
    or a look-alike character passed as another number (the network readers are as strict:
    netio._double, netio._integer). Every form of an ASCII number they read still passes:
    '1e3', '-2', '.5', 'inf'."""
    if not text.isascii() or "_" in text:
        raise ValueError(f"not an ASCII number: {text!r}")
    return kind(text)


def real_arg(text: str) -> float:
    """The argparse type of real-valued options: an ASCII number (:func:`ascii_number`)."""
    try:
        return ascii_number(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def integer_arg(text: str) -> int:
    """The argparse type of integer options: an integer in ASCII digits (ascii_number)."""
    try:
        return ascii_number(text, int)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def seed_arg(text: str) -> int:
    """The argparse type of every seed option: a non-negative integer (numpy's seeds)."""
    try:
        value = ascii_number(text, int)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def path_arg(text: str) -> str:
    """The argparse type of file and directory options: a non-empty path (an empty one would
    silently mean "no output" or the current directory) that the system can name
    (:func:`path_length_problem`)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    problem = path_length_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def path_length_problem(text: str) -> str | None:
    """Why the system cannot name the path ``text`` (a name in it longer than NAME_MAX bytes,
    or the whole longer than PATH_MAX), or None. pathlib's exists() and is_dir() raise
    OSError "File name too long" for such a path (they are quiet only about missing ones),
    which every reader and writer of files met as a traceback."""
    def limit(name: str, default: int) -> int:
        try:
            return os.pathconf("/", name)
        except (OSError, ValueError, AttributeError):
            return default

    raw = os.fsencode(text)
    name_max = limit("PC_NAME_MAX", 255)
    longest = max((len(part) for part in raw.split(b"/")), default=0)
    if longest > name_max:
        return (f"a file or directory name in the path is {longest} bytes long, the system "
                f"allows {name_max}")
    path_max = limit("PC_PATH_MAX", 4096)
    if len(os.fsencode(os.path.abspath(text))) >= path_max:
        return f"the path is longer than the system allows ({path_max} bytes)"
    return None


def output_path_arg(text: str) -> str:
    """The argparse type of every output option (--out, -o): a non-empty path (path_arg)
    without control characters. A newline split the "wrote ..." lines and the manifest's
    command line, and ngspice decks cannot hold one (netlist -o: the decks' .include paths
    are relative to its directory)."""
    path_arg(text)
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise argparse.ArgumentTypeError(f"expected a path without control characters (a "
                                         f"newline, a tab), got {text!r}")
    return text


def add_network_args(p, required: bool = True) -> None:
    """--network and --network-seed, shared by every command that takes a network."""
    p.add_argument("--network", required=required, metavar="NETWORK",
                   help="built-in name (exp16, disordered143, disordered:NODES:EDGES), "
                        "GraphML file, or jammed-network text file")
    p.add_argument("--network-seed", type=seed_arg, default=None, metavar="SEED",
                   help="seed of the generated built-in networks (default 0)")


def network_from_args(args):
    """The network of --network and --network-seed (which only the generated built-ins take:
    for exp16 or a file it would be ignored)."""
    from spicecl.network import is_generated, load_network

    if args.network_seed is not None and not is_generated(args.network):
        raise SpiceclError(f"--network-seed applies to the generated networks (disordered143, "
                           f"disordered:NODES:EDGES), not {args.network} (it would be ignored)")
    return load_network(args.network, args.network_seed or 0)


def print_json(obj) -> None:
    """Print ``obj`` as JSON (numpy values and paths included) on standard output."""
    from spicecl.results import to_json

    sys.stdout.write(to_json(obj))


def register(sub) -> None:
    p = sub.add_parser("network", help="network utilities")
    nsub = p.add_subparsers(dest="network_command", metavar="ACTION")
    nsub.required = True
    e = nsub.add_parser("export", help="write a network as GraphML or JSON")
    _add_network_operand(e)
    e.add_argument("--format", choices=("graphml", "json"), default=None,
                   help="graphml (readable by every command) or json (for other tools); "
                        "default: from the -o suffix (.json), else graphml")
    e.add_argument("-o", "--output", type=output_path_arg, metavar="FILE",
                   help="output file (default stdout)")
    e.set_defaults(func=cmd_network_export)
    register_network_info(nsub)

    s = sub.add_parser("solve", help="node voltages of a network with some nodes held")
    add_network_args(s)
    s.add_argument("--fix", action="append", default=[], metavar="NODE=VOLTS",
                   help="hold node NODE (its id) at VOLTS; repeat")
    s.add_argument("--resistance", type=real_arg, default=None, metavar="OHMS",
                   help="resistance of every edge (default: the network file's own, else "
                        "1000)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_solve)

    register_train(sub)
    register_bench(sub)


def _add_network_operand(p) -> None:
    """The network of a ``network`` action: NETWORK or --network NETWORK, and --seed."""
    p.add_argument("network", metavar="NETWORK", nargs="?", default=None,
                   help="built-in name (exp16, disordered143, disordered:NODES:EDGES), GraphML "
                        "file, or jammed-network text file")
    p.add_argument("--network", dest="network_option", metavar="NETWORK", default=None,
                   help="the same, spelt as in the other commands")
    p.add_argument("--seed", "--network-seed", type=seed_arg, default=None,
                   dest="network_seed", help="seed of generated built-ins (default 0)")


def _take_network_operand(args, action: str) -> None:
    """Set ``args.network`` to the network of a ``network`` action, given once as NETWORK or
    --network NETWORK (:func:`_add_network_operand`), for :func:`network_from_args`."""
    if (args.network is None) == (args.network_option is None):
        raise SpiceclError(f"network {action}: give the network once, as NETWORK or --network "
                           f"NETWORK")
    if args.network is None:
        args.network = args.network_option


def register_network_info(nsub) -> None:
    import textwrap

    i = nsub.add_parser(
        "info", help="what spicecl reads from a network: sizes, degrees, resistances, node ids",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Summarize a network as spicecl reads it, before training on it: its source (a "
            "file's path and sha256, as manifests record them), nodes, edges, degrees, "
            "connectivity, resistances (or the learning default that applies without them), "
            "whether the file gave node positions, the node ids with the index each maps to "
            "(manifests record indices; --fix, --input-nodes and the like take ids), and the "
            "nodes a task needs.", 88),
        epilog="--json keys (stable):\n" + _json_keys_help())
    _add_network_operand(i)
    i.add_argument("--json", action="store_true",
                   help="print the summary as one JSON object (keys below)")
    i.add_argument("--plot", type=output_path_arg, metavar="FILE.png",
                   help="also draw the network into FILE.png: every node labelled by its id "
                        "(up to 200 nodes), edges coloured by resistance when it has them")
    i.set_defaults(func=cmd_network_info)


def _json_keys_help() -> str:
    """The key table of spicecl.netinfo's docstring, for `network info --help`."""
    from spicecl import netinfo

    doc = netinfo.__doc__
    return doc[doc.index("``network``"):].rstrip().replace("``", "") + "\n"


def cmd_network_info(args) -> int:
    from spicecl.netinfo import network_summary, plot_network, summary_text

    _take_network_operand(args, "info")
    if args.plot and Path(args.plot).suffix.lower() != ".png":
        raise SpiceclError(f"--plot {args.plot}: expected a .png file (the plot is a PNG)")
    net = network_from_args(args)
    summary = network_summary(net)
    if args.plot:
        plot_network(net, args.plot)
    if args.json:
        print_json(summary)
    else:
        sys.stdout.write(summary_text(summary))
    if args.plot:
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def cmd_network_export(args) -> int:
    from spicecl.netio import export_chunks
    from spicecl.results import atomic_write_bytes

    _take_network_operand(args, "export")
    fmt = args.format
    suffix = Path(args.output).suffix.lower() if args.output else ""
    if fmt is None:
        fmt = "json" if suffix == ".json" else "graphml"
    elif suffix in (".json", ".graphml", ".xml") and (suffix == ".json") != (fmt == "json"):
        raise SpiceclError(f"-o {args.output}: --format {fmt} into a {suffix} file; give "
                           f"the matching suffix or leave --format out")
    net = network_from_args(args)
    data = export_chunks(net, fmt)  # written piece by piece (a large network's GraphML)
    if args.output:
        atomic_write_bytes(args.output, data)
        print(f"wrote {args.output} ({fmt}, {net.n_nodes} nodes, {net.n_edges} edges)",
              file=sys.stderr)
    else:
        for piece in data:
            sys.stdout.buffer.write(piece)
    return 0


def node_index_of(net, node_id: str, where: str) -> int:
    """The index of node ``node_id`` of ``net``; a missing one is refused naming ``where``,
    the option and value that gave it (``--fix '9=1': network exp16: no node with id '9'``)."""
    try:
        return net.node_index(node_id)
    except SpiceclError as exc:
        raise SpiceclError(f"{where}: {exc}") from None


def parse_fix(items, net) -> dict[int, float]:
    fixed: dict[int, float] = {}
    for item in items:
        node, sep, volts = item.rpartition("=")  # a node id may itself hold '='
        if not sep:
            raise SpiceclError(f"--fix {item!r}: expected NODE=VOLTS")
        try:
            v = ascii_number(volts)
        except ValueError:
            v = float("nan")
        if not math.isfinite(v):
            raise SpiceclError(f"--fix {item!r}: {volts!r} is not a finite voltage")
        i = node_index_of(net, node.strip(), f"--fix {item!r}")
        if i in fixed:
            raise SpiceclError(f"--fix: node {node.strip()!r} is given twice")
        fixed[i] = v
    if not fixed:
        raise SpiceclError("solve needs at least one --fix NODE=VOLTS")
    return fixed


def cmd_solve(args) -> int:
    import numpy as np

    from spicecl.solver import solve_fixed

    net = network_from_args(args)
    fixed = parse_fix(args.fix, net)
    if net.resistance is not None and args.resistance is None:
        r = net.resistance
    else:
        value = 1000.0 if args.resistance is None else args.resistance
        check_range("--resistance", value, 0, math.inf, low_open=True, high_open=True)
        r = np.full(net.n_edges, value)
    v = solve_fixed(net, r, fixed)
    # current each held node's source drives into the network (Kirchhoff: L v), and the
    # power the network dissipates, for sizing the supplies
    inc = net.incidence()
    with np.errstate(over="ignore", invalid="ignore"):
        drop = inc @ v
        current = inc.T @ (drop / r)
        power = float(np.sum(drop ** 2 / r))
    if not (np.all(np.isfinite(v)) and np.all(np.isfinite(current)) and np.isfinite(power)):
        raise SpiceclError("solve: the voltages or currents overflow; lower --fix voltages or "
                           "raise --resistance")
    out = {"voltages": {nid: float(x) for nid, x in zip(net.node_ids, v)},
           "source_currents_amps": {net.node_ids[i]: float(current[i]) for i in fixed},
           "power_watts": power}
    if args.json:
        print_json(out)
    else:
        for nid, x in out["voltages"].items():
            # an id holding a tab or line break (GraphML allows any) would break the columns
            print(f"{_printable(nid)}\t{x:.12g}")
    return 0


# --- train -----------------------------------------------------------------------------------

def add_task_args(p) -> None:
    """Task options shared by train-like commands."""
    p.add_argument("--task", choices=("regression", "allostery"), default="regression",
                   help="task kind (default regression)")
    p.add_argument("--inputs", type=integer_arg, default=None, metavar="N",
                   help="input nodes (default 2)")
    p.add_argument("--outputs", type=integer_arg, default=None, metavar="N",
                   help="output nodes (default 2)")
    p.add_argument("--grounds", type=integer_arg, default=None, metavar="N",
                   help="ground nodes (default 1 for regression, outputs/2 for allostery)")
    add_role_args(p, grounds_flag=True)
    p.add_argument("--train-examples", type=integer_arg, default=None, metavar="B",
                   help="regression training examples (default 20)")
    p.add_argument("--test-examples", type=integer_arg, default=None, metavar="T",
                   help="regression test examples (default 50)")
    add_volts_arg(p)


def add_volts_arg(p, deck: bool = False) -> None:
    """--volts, shared by every command that draws a task: input voltages are drawn uniformly
    in [0, VOLTS] (an allosteric pattern in [VOLTS/2, VOLTS]); checked by make_task, to
    (0, inf). ``deck``: the command builds twin decks, whose 5 V supply also bounds it
    (spicecl.netlist.twin.check_deck_volts)."""
    p.add_argument("--volts", type=real_arg, default=1.0, metavar="VOLTS",
                   help="input voltages are drawn in [0, VOLTS] (default 1" +
                        ("; at most the decks' 5 V supply, which no network node may "
                         "exceed)" if deck else ")"))


def add_learning_args(p) -> None:
    from spicecl.learning import LearningConfig

    d = LearningConfig()
    p.add_argument("--rule", choices=("continuous", "discrete"), default="continuous",
                   help="Eq. 2 continuous resistances or Eq. 10 digipot taps (default "
                        "continuous)")
    p.add_argument("--p", type=real_arg, default=1.0,
                   help="edge update probability in (0, 1] (default 1)")
    p.add_argument("--p-mode", choices=("bernoulli", "fixed"), default="bernoulli",
                   help="bernoulli: each edge with probability p (default); fixed: round(p*E) "
                        "edges")
    p.add_argument("--batch", choices=("full", "single", "bernoulli", "fixed"), default=None,
                   help="examples per step: full batch (default), one random example, each "
                        "with probability --batch-fraction, or a fixed fraction")
    p.add_argument("--batch-fraction", type=real_arg, default=None, metavar="B",
                   help="b in (0, 1] for --batch bernoulli|fixed (alone: implies bernoulli)")
    p.add_argument("--eta", type=real_arg, default=d.eta,
                   help=f"nudge amplitude (default {d.eta})")
    p.add_argument("--gamma", type=real_arg, default=None,
                   help=f"continuous rule: learning rate of Eq. 2, ohm^3/V^2 (default "
                        f"{d.gamma:g} / VOLTS^2: {d.gamma:g} at 1 V, the same dynamics at any "
                        f"--volts)")
    p.add_argument("--sigma-max", type=real_arg, default=None, metavar="VOLTS",
                   help=f"discrete rule: comparator bias of Eq. 10 is U[0, VOLTS] "
                        f"(default {d.sigma_max})")
    p.add_argument("--sigma-mode", choices=("per-comparison", "per-edge"),
                   default=None,
                   help="discrete rule: Eq. 10 sigma drawn at every comparison (default, as "
                        "measured in the paper) or once per edge and fixed (a quenched "
                        "comparator bias)")
    p.add_argument("--r-init", type=real_arg, default=None, metavar="OHMS",
                   help=f"initial resistance when the network has none (default {d.r_init:.1f}, "
                        "the digipot mid-scale)")
    p.add_argument("--r-min", type=real_arg, default=None, metavar="OHMS",
                   help=f"lower bound of the continuous rule's resistances (default {d.r_min:g})")
    p.add_argument("--r-max", type=real_arg, default=None, metavar="OHMS",
                   help=f"upper bound of the continuous rule's resistances (default {d.r_max:g})")


def add_role_args(p, grounds_flag: bool = False) -> None:
    """--input-nodes, --output-nodes, --ground-nodes: roles by node id (roles_from_args);
    ``grounds_flag``: the command also has --grounds."""
    p.add_argument("--input-nodes", metavar="IDS", help="comma-separated node ids instead of "
                   "random inputs (then --output-nodes and --ground-nodes too" +
                   (", or --grounds 0 for no ground)" if grounds_flag else ")"))
    p.add_argument("--output-nodes", metavar="IDS")
    p.add_argument("--ground-nodes", metavar="IDS")


def roles_from_args(args, net):
    """(inputs, outputs, grounds) node indices from --input-nodes/--output-nodes/--ground-nodes,
    or None when none is given; checked against --inputs/--outputs/--grounds if present."""
    flags = ("--input-nodes", "--output-nodes", "--ground-nodes")
    given = [args.input_nodes, args.output_nodes, args.ground_nodes]
    if all(g is None for g in given):
        return None
    if args.input_nodes is None or args.output_nodes is None:
        raise SpiceclError("--input-nodes and --output-nodes go together")
    for flag, g in zip(flags, given):
        if g is not None and "" in [s.strip() for s in g.split(",")] and g.strip():
            raise SpiceclError(f"{flag} {g!r}: an empty node id (a stray comma?)")
    roles = [[node_index_of(net, s.strip(), f"{flag} {g!r}")
              for s in (g or "").split(",") if s.strip()]
             for flag, g in zip(flags, given)]
    counts = [getattr(args, k, None) for k in ("inputs", "outputs", "grounds")]
    if not (args.ground_nodes or "").strip() and counts[2] != 0:  # ("" is no ids either)
        raise SpiceclError("--input-nodes and --output-nodes need --ground-nodes too" + (
            " (or --grounds 0 for a task without a ground node)" if hasattr(args, "grounds")
            else ""))
    for flag, count, ids, named in zip(("--inputs", "--outputs", "--grounds"), counts, roles,
                                       ("--input-nodes", "--output-nodes", "--ground-nodes")):
        if count is not None and count != len(ids):
            raise SpiceclError(f"{flag} {count} but {named} names {len(ids)} node"
                               f"{'' if len(ids) == 1 else 's'}")
    return roles


def task_from_args(args, net, rng):
    from spicecl.tasks import make_task

    roles = roles_from_args(args, net)
    # only the sizes given: make_task's defaults stay the one place they are set
    sizes = {k: v for k, v in (("n_train", args.train_examples),
                               ("n_test", args.test_examples)) if v is not None}
    if sizes and args.task != "regression":
        flags = [f"--{k[2:]}-examples" for k in sizes]
        raise SpiceclError(f"{' and '.join(flags)} appl{'y' if len(flags) > 1 else 'ies'} to "
                           f"regression tasks; an allosteric task has one input pattern (it "
                           f"would be ignored)")
    # the counts are checked here, naming their options (make_task says n_in, n_train)
    for flag, value, low in (("--inputs", args.inputs, 1), ("--outputs", args.outputs, 1),
                             ("--grounds", args.grounds, 0),
                             ("--train-examples", args.train_examples, 1),
                             ("--test-examples", args.test_examples, 1)):
        if value is not None:
            check_count(flag, value, low)
    counts = {k: v for k, v in (("n_in", args.inputs), ("n_out", args.outputs)) if v is not None}
    return make_task(net, args.task, rng, n_ground=args.grounds, roles=roles, volts=args.volts,
                     **counts, **sizes)


def config_from_args(args):
    from spicecl.learning import LearningConfig, gamma_at_volts

    batch = args.batch or ("bernoulli" if args.batch_fraction is not None else "full")
    if args.batch_fraction is not None and batch in ("full", "single"):
        raise SpiceclError(f"--batch-fraction applies to --batch bernoulli or fixed, not "
                           f"--batch {batch} (it would be ignored)")
    if args.batch_fraction is None and batch in ("bernoulli", "fixed"):
        raise SpiceclError(f"--batch {batch} needs --batch-fraction b < 1 (with the default 1 "
                           f"every example is in every step: a full batch)")
    only = {"continuous": ("gamma", "r_min", "r_max"), "discrete": ("sigma_max", "sigma_mode")}
    for rule, names in only.items():
        wrong = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) is not None]
        if wrong and args.rule != rule:
            raise SpiceclError(f"{' and '.join(wrong)} appl{'y' if len(wrong) > 1 else 'ies'} "
                               f"to --rule {rule}, not --rule {args.rule} (it would be ignored)")
    kw = dict(rule=args.rule, eta=args.eta, p=args.p, p_mode=args.p_mode, batch=batch,
              batch_fraction=1.0 if args.batch_fraction is None else args.batch_fraction)
    for name in ("gamma", "sigma_max", "sigma_mode", "r_min", "r_max", "r_init"):
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
    if args.rule == "continuous" and args.gamma is None:
        check_range("--volts", args.volts, 0, float("inf"), low_open=True, high_open=True)
        gamma = gamma_at_volts(LearningConfig.gamma, args.volts)
        if not 0 < gamma < float("inf"):
            raise SpiceclError(f"--volts {args.volts:g}: the default --gamma "
                               f"{LearningConfig.gamma:g} / volts^2 is {gamma:g}; give --gamma")
        kw["gamma"] = gamma
    return LearningConfig(**kw)


def register_train(sub) -> None:
    t = sub.add_parser("train", help="train a network by coupled learning (idealized picture)")
    add_network_args(t)
    add_task_args(t)
    add_learning_args(t)
    t.add_argument("--steps", type=integer_arg, default=4000, help="training steps (default 4000)")
    t.add_argument("--seed", type=seed_arg, default=0,
                   help="seed of task, schedules and noise (default 0)")
    t.add_argument("--out", type=output_path_arg, metavar="DIR",
                   help="write history, resistances, plot, manifest")
    t.add_argument("--json", action="store_true", help="print a JSON summary")
    t.set_defaults(func=cmd_train)


def _warn_if_unlearned(hist, config, net, volts: float, steps: int) -> None:
    """A warning when training left the training error above where it started, or where it
    started (to rounding: then the resistances never moved the outputs)."""
    final = float(hist.train_scaled[0, -1])
    if final > 1.0 + 1e-9:
        msg = f"training raised the training error (scaled error {final:.4g} > 1)"
    elif final > 1.0 - 1e-9:
        msg = "training did not change the training error (scaled error 1)"
        updates = config.p * steps * net.n_edges
        if updates < 3:  # (nothing to do with the rate or the bias: hardly any edge was picked)
            warn(f"{msg}: --p {config.p:g} x --steps {steps} x {net.n_edges} edges is about "
                 f"{updates:.2g} edge updates; give more --steps or a larger --p")
            return
    else:
        return
    if config.rule == "continuous":
        from spicecl.learning import rate_hint

        size = "large" if final > 1 else "small"
        hint = rate_hint(config.gamma, net, config.r_init)
        if hint is None:
            msg += (f": --gamma {config.gamma:g} is too {size} for this task; try "
                    f"{config.gamma / 10 if final > 1 else config.gamma * 10:.3g}")
        else:
            msg += f": --gamma {config.gamma:g} is too {size} for this network. {hint}"
    else:
        msg += (f"; with inputs up to --volts {volts:g} the comparator bias "
                f"sigma (up to {config.sigma_max:g} V) can dominate the voltage drops: try a "
                f"larger --volts")
    warn(msg)


#: train warns when the continuous rule's final training error is this many times its minimum
#: over the run (and above RISE_FLOOR): the run found a better state and left it.
RISE_FACTOR, RISE_FLOOR = 100.0, 1e-6


def _warn_if_rose(hist, config, net) -> None:
    """A warning when the continuous rule left a much lower training error behind: the explicit
    step gamma / R^2 (Eq. 2) grows as a resistance shrinks, and once an edge is small enough
    (tens of ohms at the default rate) the steps overshoot and the error grows again."""
    if config.rule != "continuous":  # (the discrete rule's error wanders by design at p < 1)
        return
    import numpy as np

    err = hist.train_scaled[0]
    at = int(np.argmin(err))
    low, final = float(err[at]), float(err[-1])
    if not (final > RISE_FLOOR and final > RISE_FACTOR * low):
        return
    r = hist.final_resistance[0]
    i = int(np.argmin(r))
    a, b = (net.node_ids[j] for j in net.edges[i])
    warn(f"the training error rose {final / low:.3g}-fold after its minimum (scaled "
         f"{low:.2g} at step {int(hist.steps[at])}) to {final:.2g}: the continuous step "
         f"--gamma / R^2 is too large for the smallest resistances (edge {i}, between nodes "
         f"{a} and {b}, ends at {r[i]:.3g} ohm; --r-min {config.r_min:g}); try a smaller "
         f"--gamma, a larger --r-min or fewer --steps")


def _warn_if_rounded(config, n_edges: int, n_examples: int) -> None:
    """The fixed-fraction schedules update round(p E) edges and use round(b B) examples
    (at least one): say so when that is not the fraction asked for."""
    if config.p_mode == "fixed" and config.p < 1:
        k = config.gated_edges(n_edges)
        if k and k != config.p * n_edges:  # k = 0 is refused by the trainer
            warn(f"--p-mode fixed updates round({config.p:g} x {n_edges} edges) = {k} edges "
                 f"per step: p-bar = {k / n_edges:.4g}, not {config.p:g}")
    if config.batch == "fixed" and config.batch_fraction < 1:
        k = config.batch_size(n_examples)
        if k != config.batch_fraction * n_examples:
            warn(f"--batch fixed uses {k} of the {n_examples} training examples per step: "
                 f"b-bar = {k / n_examples:.4g}, not {config.batch_fraction:g}")


def cmd_train(args) -> int:
    import numpy as np

    from spicecl.learning import MAX_STEPS, train

    net = network_from_args(args)
    config = config_from_args(args)
    if args.r_init is not None and net.resistance is not None:
        raise SpiceclError(f"--r-init: network {net.name} has its own resistances, and "
                           f"training starts from them (it would be ignored)")
    check_count("--steps", args.steps, 1, MAX_STEPS)
    if args.out:
        from spicecl.results import ensure_output_dir

        ensure_output_dir(args.out, command="train")
    if config.rule == "discrete" and net.resistance is not None:
        # the discrete rule starts from the nearest taps: say so when that moves a resistance
        # off the file's value by more than half a tap (the ends of the digipot's range)
        from spicecl.variation import outside_digipot_range

        msg = outside_digipot_range(net.resistance, config.r_ab, config.r_wiper, net.name)
        if msg:
            warn(msg)
    root = np.random.SeedSequence(args.seed)
    task_seed, run_seed = root.spawn(2)
    task = task_from_args(args, net, np.random.default_rng(task_seed))
    _warn_if_rounded(config, net.n_edges, len(task.train_x))
    hist = train(net, task, config, np.random.default_rng(run_seed), args.steps,
                 progress=None)
    _warn_if_unlearned(hist, config, net, args.volts, args.steps)
    _warn_if_rose(hist, config, net)
    summary = {**hist.summary(0), "p": config.p, "seed": args.seed, "rule": config.rule,
               "network": net.name, "edges": net.n_edges, "task": args.task,
               **task.node_ids(net)}
    if config.rule == "continuous":  # edges pinned at a bound (e.g. 10 ohm: no digipot has it)
        r = hist.final_resistance[0]
        summary["edges_at_r_min"] = int(np.sum(r <= config.r_min))
        summary["edges_at_r_max"] = int(np.sum(r >= config.r_max))
    if args.out:
        from spicecl.report import write_training_run

        write_training_run(args.out, net, task, config, hist, summary, vars(args))
    if args.json:
        print_json(summary)
    else:
        print(f"{net.name}: {config.rule} rule, p={config.p:g}, {args.steps} steps: "
              f"test scaled error {summary['final_test_scaled_error']:.3g}, train scaled "
              f"error {summary['final_train_scaled_error']:.3g}")
    return 0


# --- bench -----------------------------------------------------------------------------------

def register_bench(sub) -> None:
    from spicecl.cli import BENCHMARKS

    b = sub.add_parser(
        "bench", help="benchmarks (JSON; ratios against baselines in-process)",
        description="Time spicecl against a baseline in one process and report both and "
                    "their ratio, or measure its precision. learning: one training step of "
                    "the 143-edge network (continuous rule, full batch of 20; and the discrete "
                    "rule's, inputs up to 5 V) against a sparse LU per example and state, and "
                    "against one bare Cholesky factorization and solve (~15 s). oscillators: "
                    "the fast oscillator-bank method against the full ngspice transient "
                    "(needs ngspice; ~4 min at the defaults). solver: "
                    "the sparse factorization and solve of generated 1,000-20,000-node "
                    "networks against SuperLU's MMD ordering (~30 s). precision: the solver's "
                    "voltages against exact rational solutions on 840 small networks whose "
                    "resistances span 4 to 30 decades, with and without its precision check, "
                    "and how many of 100,000 results of numpy's power, exp and log differ "
                    "from the C library's (seed 0; ~8 s).")
    b.add_argument("name", metavar="NAME", choices=sorted(BENCHMARKS),
                   help=f"which benchmark: {', '.join(sorted(BENCHMARKS))}")
    b.add_argument("--json", action="store_true", help="print JSON only")
    b.add_argument("--out", type=output_path_arg, metavar="FILE",
                   help="also write the JSON to FILE")
    b.add_argument("--edges", type=integer_arg, default=None, metavar="N",
                   help="oscillators only: bank size (default 16)")
    b.add_argument("--samples", type=integer_arg, default=None, metavar="K",
                   help="oscillators only: clock samples (default 300; the full transient "
                        "takes ~0.75 s per sample at 16 edges, ~4 min at the default)")
    b.set_defaults(func=cmd_bench)


def _is_bench_result(path: Path) -> bool:
    from spicecl.results import read_json

    try:
        data = read_json(path)
    except (OSError, ValueError):
        return False
    # (a run's manifest.json also records versions, and the command)
    return isinstance(data, dict) and "versions" in data and "command" not in data


def _printable(text: str) -> str:
    """``text`` with control characters escaped as in a Python string (for tab-separated
    output)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def cmd_bench(args) -> int:
    import importlib

    from spicecl.cli import BENCHMARKS
    from spicecl.results import atomic_write_json, ensure_output_dir, versions

    if args.out:
        out = Path(args.out)
        if args.out == "-":  # (a file named '-' is not what anyone means)
            raise SpiceclError("--out -: --json prints the result to standard output; --out "
                               "takes a file")
        if out.is_dir():
            raise SpiceclError(f"--out {out}: is a directory (a JSON file is expected)")
        if out.exists() and out.stat().st_size > 0 and not _is_bench_result(out):
            raise SpiceclError(f"--out {out}: exists and is not a spicecl bench result; it "
                               f"would be overwritten; remove it or choose another --out")
        ensure_output_dir(out.parent, option=f"--out {out}: its directory")
    if args.name != "oscillators" and (args.edges is not None or args.samples is not None):
        raise SpiceclError(f"--edges and --samples are options of bench oscillators, not of "
                           f"bench {args.name}")
    if args.edges is not None and not 1 <= args.edges <= 10_000:
        raise SpiceclError(f"--edges must be in [1, 10000], got {args.edges}")
    if args.samples is not None and not 2 <= args.samples <= 1_000_000:
        raise SpiceclError(f"--samples must be in [2, 1000000], got {args.samples}")
    module, _, func = BENCHMARKS[args.name].partition(":")
    result = getattr(importlib.import_module(module), func)(args)
    result = {**result, "versions": versions()}
    if args.out:
        atomic_write_json(args.out, result)
    if args.json:
        print_json(result)
    else:
        rows = list(_flat_items(result))
        width = max(32, *(len(k) for k, _ in rows))
        for k, v in rows:
            print(f"{k:{width}s} {v:.4g}" if isinstance(v, float) else f"{k:{width}s} {v}")
    return 0


def _flat_items(obj, prefix: str = ""):
    """(dotted key, value) pairs of a nested JSON-able result, for the text output of bench:
    ``sizes[0].network``, ``versions.numpy``."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _flat_items(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in obj):
        for i, v in enumerate(obj):
            yield from _flat_items(v, f"{prefix}[{i}]")
    else:
        yield prefix, obj
