"""Co-simulation commands: ``spicecl cosim`` (ngspice in the loop) and ``spicecl compare``
(idealized versus hardware-faithful learning)."""

from __future__ import annotations

import sys
from dataclasses import replace

from spicecl.commands.core import (add_network_args, add_role_args, add_volts_arg,
                                   integer_arg, network_from_args, output_path_arg, path_arg,
                                   print_json, real_arg, roles_from_args, seed_arg)
from spicecl.commands.spice import add_deck_option, load_tolerance_spec
from spicecl.errors import warn


SPEC_HELP = ("JSON tolerance spec of the boards' parts, as for netlist twin (default: "
             "spicecl's; its digipot nominals also set the tap grid)")
#: compare without a spec draws its boards around the idealized runs' digipot grid, whose
#: wiper is not the decks' (so spicecl's own spec given as a file is another run)
COMPARE_SPEC_HELP = ("JSON tolerance spec of the boards' parts, as for netlist twin; its "
                     "digipot nominals also set the tap grid (default: spicecl's tolerances "
                     "around the learning grid's digipot, R_AB {rab:g} kohm and wiper "
                     "{rw:g} ohm, not the decks' {deck_rw:g} ohm wiper)")


def register(sub) -> None:
    from spicecl.compare import VARIATION_ORDERS
    from spicecl.learning import R_AB, R_WIPER
    from spicecl.variation import COMPONENT_CLASSES

    c = sub.add_parser("cosim", help="training steps with ngspice computing the twin networks' "
                       "state and every decision, against the fast hardware-faithful loop")
    add_network_args(c)
    c.add_argument("--steps", type=integer_arg, required=True, metavar="S", help="training steps")
    c.add_argument("--seed", type=seed_arg, required=True,
                   help="seed of task, parts, taps and draws")
    add_deck_option(c, "--p", "network update probability (each edge gated with its own p_i; "
                    "default 0.5)", default=0.5)
    c.add_argument("--task", choices=("allostery", "regression"), default="allostery",
                   help="task kind (default allostery; regression: its first example)")
    add_deck_option(c, "--eta", "nudge amplitude (default 0.5)", default=0.5)
    add_deck_option(c, "--sigma-max", "Eq. 10 comparator bias sigma ~ U[0, VOLTS], drawn per "
                    "comparison and carried into the deck's cells (default 0.05, as compare)",
                    default=0.05, metavar="VOLTS")
    add_volts_arg(c, deck=True)
    add_deck_option(c, "--timeout", "ngspice timeout per step (default 300)", default=300.0,
                    metavar="SECONDS")
    c.add_argument("--tolerance-spec", metavar="FILE", default=None, help=SPEC_HELP)
    add_role_args(c)
    c.add_argument("--json", action="store_true", help="print JSON")
    c.set_defaults(func=cmd_cosim)

    m = sub.add_parser("compare", help="idealized vs hardware-faithful learning on the same "
                       "tasks and seeds, each imperfection alone, clock-free mode")
    add_network_args(m)
    m.add_argument("--task", choices=("regression", "allostery"), required=True,
                   help="task kind, drawn per task from the seed")
    m.add_argument("--p", type=real_arg, nargs="+", required=True, metavar="P",
                   help="update probabilities")
    m.add_argument("--tasks", type=integer_arg, required=True, metavar="K", help="tasks per p")
    m.add_argument("--steps", type=integer_arg, required=True, metavar="S", help="training steps")
    m.add_argument("--seed", type=seed_arg, required=True,
                   help="root seed of tasks, boards and learning streams")
    m.add_argument("--variation", type=path_arg, metavar="FILE", default=None,
                   help="variation file (spicecl oscillators --out): oscillator parts and "
                        "replayed update sequences (default: none; each edge updates with "
                        "its own p_i from its drawn oscillator parts)")
    m.add_argument("--variation-order", choices=VARIATION_ORDERS, default="recorded",
                   help="recorded: clock sample t of the variation file at step t (default); "
                        "shuffled: each board's samples in a random order (from the seed) "
                        "common to all its edges, which keeps every edge's updates and the "
                        "edges' pattern on each sample but not runs in time")
    m.add_argument("--eta", type=real_arg, default=0.5, help="nudge amplitude (default 0.5)")
    m.add_argument("--gamma", type=real_arg, default=None,
                   help="learning rate of the continuous rule, ohm^3/V^2 (default 2e11 / "
                        "VOLTS^2: 2e11 at 1 V, 8e9 at 5 V, the same dynamics at any --volts)")
    m.add_argument("--sigma-max", type=real_arg, default=0.05, metavar="VOLTS",
                   help="discrete rules: Eq. 10 comparator bias sigma ~ U[0, VOLTS] (default "
                        "0.05)")
    add_volts_arg(m)
    m.add_argument("--no-imperfections", action="store_true",
                   help="skip the runs with each imperfection alone")
    m.add_argument("--no-clock-free", action="store_true", help="skip the clock-free run")
    m.add_argument("--tolerance-spec", metavar="FILE", default=None,
                   help=COMPARE_SPEC_HELP.format(
                       rab=R_AB / 1e3, rw=R_WIPER,
                       deck_rw=COMPONENT_CLASSES["digipot_wiper"][1]))
    add_role_args(m)
    m.add_argument("--out", type=output_path_arg, metavar="DIR", default=None,
                   help="write data, plots, summary.md")
    m.add_argument("--json", action="store_true", help="print JSON")
    m.set_defaults(func=cmd_compare)


def _progress(enabled: bool):
    if not enabled:
        return None

    def show(msg):
        print(msg, file=sys.stderr, flush=True)

    return show


def cmd_cosim(args) -> int:
    from spicecl.cosim import run_cosim

    net = network_from_args(args)
    tty = sys.stderr.isatty()

    def prog(t, n):
        if tty:
            print(f"\rcosim: step {t}/{n}", end="" if t < n else "\n", file=sys.stderr,
                  flush=True)

    spec = load_tolerance_spec(args.tolerance_spec)
    out = run_cosim(net, args.steps, args.seed, p=args.p, eta=args.eta, task_kind=args.task,
                    timeout=args.timeout, progress=prog, spec=spec,
                    roles=roles_from_args(args, net), volts=args.volts,
                    sigma_max=args.sigma_max)
    # what else picked the run: net.name is the same for every --network-seed, and the
    # parts' tolerances (--tolerance-spec) appeared nowhere
    out.update(network_seed=args.network_seed or 0, tolerance=spec.to_dict())
    if args.json:
        print_json(out)
    else:
        print(f"cosim {out['network']}: {out['steps']} steps, seed {out['seed']}, p {out['p']:g}, "
              f"inputs up to {out['volts']:g} V")
        print(f"  decision agreement   {out['decision_agreement']:.4f} "
              f"({out['n_decision_mismatches']} mismatches of {out['steps'] * out['n_edges']})")
        print(f"  taps identical       {out['taps_identical']}")
        if not out["taps_identical"]:
            print(f"  first divergence     step {out['first_divergence_step']}: "
                  f"{out['divergence_reason']}")
        print(f"  smallest margin      {out['min_margin_volts']:.3g} V")
        print(f"  SPICE vs solver      {out['max_abs_voltage_error_volts']:.2e} V (max node error)")
        print(f"  ngspice time         {out['ngspice_seconds']:.1f} s")
    return 0


def cmd_compare(args) -> int:
    from spicecl.compare import CompareConfig, check_variation_order, run_compare, write_compare

    spec = load_tolerance_spec(args.tolerance_spec) if args.tolerance_spec else None
    cfg = CompareConfig(task=args.task, ps=tuple(args.p), n_tasks=args.tasks, steps=args.steps,
                        seed=args.seed, eta=args.eta, gamma=args.gamma,
                        sigma_max=args.sigma_max, volts=args.volts,
                        imperfections=not args.no_imperfections,
                        clock_free=not args.no_clock_free,
                        tolerance=None if spec is None else spec.to_dict(),
                        variation_order=args.variation_order)
    net = network_from_args(args)
    roles = roles_from_args(args, net)
    if roles is not None:
        cfg = replace(cfg, roles=tuple(tuple(r) for r in roles))
    variation = None
    if args.variation is not None:
        from spicecl.variation_file import load_variation

        variation = load_variation(args.variation, n_edges=net.n_edges)
    check_variation_order(cfg, variation)
    if args.out:
        from spicecl.results import ensure_output_dir

        ensure_output_dir(args.out, command="compare")
    res = run_compare(net, cfg, variation=variation, log=_progress(sys.stderr.isatty()))
    res.meta["network_seed"] = args.network_seed or 0  # (net.name is the same for every seed)
    for note in res.meta["warnings"]:
        warn(f"compare: {note}")
    if args.out:
        from spicecl.results import command_line

        write_compare(res, args.out, command_line())
    if args.json:
        print_json(res.summary())
    else:
        from spicecl.compare import findings

        print(f"compare {res.meta['network']} {cfg.task}: {cfg.n_tasks} tasks, {cfg.steps} steps")
        print("  gating: " + ", ".join(f"p={k}: {g}" for k, g in res.meta["gating"].items()))
        for v in res.final:
            st = res.stats(v)
            print(f"  {v:28s} " + "  ".join(f"p={k}: {s['mean']:.3f}±{s['sem']:.3f}"
                                          for k, s in st.items()))
        for line in findings(res):
            print("  - " + line)
        if args.out:
            print(f"  written to {args.out}")
    return 0

