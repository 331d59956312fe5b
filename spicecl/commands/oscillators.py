"""``spicecl oscillators``: the oscillator bank's update probability, correlation and locking."""

from __future__ import annotations

import math

from spicecl.commands.core import (integer_arg, network_from_args, output_path_arg, real_arg,
                                   seed_arg)
from spicecl.commands.spice import add_deck_option, load_tolerance_spec
from spicecl.errors import SpiceclError, warn


def register(sub) -> None:
    from spicecl.oscbank.design import OscillatorDesign
    from spicecl.variation import COMPONENT_CLASSES

    left_out = ", ".join(f"{name} {COMPONENT_CLASSES[name][2]:g}"
                         for name in ("resistor", "capacitor", "comparator_offset")) + " V"

    p = sub.add_parser(
        "oscillators",
        help="per-edge oscillator bank: p against bias, Pearson correlation, locking checks",
        description="Simulate the bank of per-edge RC relaxation oscillators (models/"
                    "oscillator.lib) in ngspice, sample each edge's enable at the global clock, "
                    "and report p per edge, p against bias, Pearson correlation between edges "
                    "and frequency locking. --out writes the variation file learning runs read.")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--edges", type=integer_arg, metavar="N", help="number of edges (oscillators)")
    g.add_argument("--network", metavar="NETWORK",
                   help="one oscillator per edge of this network: built-in name (exp16, "
                        "disordered143, disordered:NODES:EDGES), GraphML or text file")
    p.add_argument("--network-seed", type=seed_arg, default=None, metavar="SEED",
                   help="seed of the generated built-in networks (default 0)")
    p.add_argument("--bias", type=real_arg, action="append", required=True, metavar="V",
                   help="bias voltage (repeat for a sweep); nominal swing 1.667-3.333 V, "
                        "2.5 V gives p = 0.5")
    p.add_argument("--samples", type=integer_arg, required=True, metavar="K",
                   help="number of global clock samples (>= 2)")
    p.add_argument("--clock-hz", type=real_arg, default=37.0, metavar="F",
                   help=f"global clock frequency, Hz (default 37; at most "
                        f"{1 / OscillatorDesign().settle_time:.4g} Hz, for the oscillators to "
                        f"settle within a clock period)")
    add_deck_option(p, "--tolerance", "relative tolerance of every R and C, uniform (default "
                    "0.05)", default=None, metavar="REL")
    add_deck_option(p, "--offset", "comparator offsets drawn uniformly in +/- VOLTS (default "
                    "0.005)", default=None, metavar="VOLTS")
    p.add_argument("--tolerance-spec", default=None, metavar="FILE",
                   help="JSON tolerance spec, as for netlist twin, instead of --tolerance and "
                        "--offset: its resistor class for the timing and hysteresis "
                        "resistors, capacitor for the timing capacitors, comparator_offset for "
                        f"both comparators (classes left out: {left_out}; the digipot classes "
                        f"are not used)")
    add_deck_option(p, "--supply-resistance", "resistance of the shared supply feeding every "
                    "oscillator (default 0)", default=0.0, metavar="OHMS")
    add_deck_option(p, "--decoupling", "decoupling capacitance on the shared rail (default 0)",
                    default=0.0, metavar="FARADS")
    p.add_argument("--method", choices=("fast", "transient"), default="fast",
                   help="fast: period/duty/phase from a short transient (default); transient: "
                        "full transient sampled at the clock (reference; hundreds of times slower: "
                        "`spicecl bench oscillators`)")
    add_deck_option(p, "--steps-per-period", "maximum ngspice time step T/N of both methods "
                    "(default 50: periods up to 0.6-0.7 %% short of converged, p within 0.002; "
                    "1000: periods within 0.03 %%, ~2x the cost)", default=50.0, metavar="N")
    p.add_argument("--draws", type=integer_arg, default=1, metavar="M",
                   help="Monte Carlo draws of the parts (default 1)")
    p.add_argument("--seed", type=seed_arg, required=True, help="seed of the part draws")
    p.add_argument("--workers", type=integer_arg, default=1, metavar="N",
                   help="local worker processes (default 1); results do not depend on it")
    p.add_argument("--out", type=output_path_arg, metavar="DIR",
                   help="write variation file, plots, CSV and manifest")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_oscillators)


def config_from_args(args):
    from spicecl.oscbank.design import BankTolerance, OscillatorDesign
    from spicecl.oscbank.run import BankConfig

    if args.edges is not None:
        if args.network_seed is not None:
            raise SpiceclError("--network-seed goes with --network, not --edges (it would be "
                               "ignored)")
        n = args.edges
        if n < 1:
            raise SpiceclError(f"--edges must be >= 1, got {n}")
    else:
        n = network_from_args(args).n_edges
    if args.samples < 2:
        raise SpiceclError(f"--samples must be >= 2, got {args.samples}")
    twice = sorted({b for b in args.bias if args.bias.count(b) > 1})
    if twice:
        raise SpiceclError(f"--bias {twice[0]:g} is given twice (each bias is one row)")
    tmax = 1.0 / args.steps_per_period
    design = OscillatorDesign(clock_hz=args.clock_hz)
    if args.tolerance_spec is not None:
        for flag in ("tolerance", "offset"):
            if getattr(args, flag) is not None:
                raise SpiceclError(f"--tolerance-spec and --{flag} cannot be given together "
                                   f"(the spec holds every part's tolerance)")
        tol = load_tolerance_spec(args.tolerance_spec)
    else:
        default = BankTolerance()
        tol = BankTolerance.from_tolerance(
            default.r_rel if args.tolerance is None else args.tolerance,
            default.offset if args.offset is None else args.offset)
    return BankConfig(n, tuple(args.bias), args.samples, design=design, tolerance=tol,
                      supply_resistance=args.supply_resistance, decoupling=args.decoupling,
                      method=args.method, seed=args.seed, draws=args.draws,
                      fast_tmax=tmax, transient_tmax=tmax)


def cmd_oscillators(args) -> int:
    from spicecl.commands.core import print_json
    from spicecl.oscbank.run import large_bank_note, run_bank, summarize

    cfg = config_from_args(args)
    if args.workers < 1:
        raise SpiceclError(f"--workers must be >= 1, got {args.workers}")
    if args.out:
        from spicecl.results import ensure_output_dir

        ensure_output_dir(args.out, command="oscillators")
    note = large_bank_note(cfg, args.workers)
    if note:
        warn(note)
    run = run_bank(cfg, workers=args.workers)
    summary = summarize(run)
    if args.network is not None:
        summary["network"] = args.network
    for w in run.warnings:
        warn(w)
    if args.out:
        summary["files"] = write_outputs(run, summary, args.out)
    if args.json:
        print_json(summary)
    else:
        print(f"{cfg.n_edges} edges, {cfg.n_samples} clock samples at {cfg.design.clock_hz:g} Hz,"
              f" method {cfg.method}, locking {'DETECTED' if run.locking_detected else 'none'}")
        print("draw  bias_V  p_mean  p_analytic  mean_r    max|r|  period_ms")
        for r in summary["results"]:
            # no pair of edges (one edge, or every edge constant): no correlation to show
            mean_r = (f"{r['mean_pearson_r']:+.4f}" if math.isfinite(r["mean_pearson_r"])
                      else "      -")
            max_r = (f"{r['max_abs_pearson_r']:6.3f}" if math.isfinite(r["max_abs_pearson_r"])
                     else "     -")
            print(f"{r['draw']:4d}  {r['bias_volts']:6.3f}  {r['p_mean']:6.3f}  "
                  f"{r['p_analytic']:10.3f}  {mean_r}  {max_r}  "
                  f"{r['period_mean_s'] * 1e3:9.4f}")
        if args.out:
            print(f"wrote {args.out}")
    return 0


def write_outputs(run, summary: dict, out_dir) -> list[str]:
    """Variation file, summary JSON and CSV, plots and manifest in ``out_dir``."""
    from pathlib import Path

    from spicecl.oscbank import plots
    from spicecl.results import atomic_write_json, atomic_write_text, staged_outputs, write_manifest
    from spicecl.variation_file import arrays_from_run, write_variation

    with staged_outputs(out_dir) as out:
        cfg = run.config
        hashes = [{"draw": j["draw"], "bias_volts": j["bias_volts"], "deck_sha256": j["deck_hash"],
                   "characterization_deck_sha256": j["char_deck_hash"]} for j in run.jobs]
        man = {"config": cfg.to_dict(), "seed": cfg.seed, "netlist_hashes": hashes,
               "summary": {k: v for k, v in summary.items() if k != "results"},
               "results": summary["results"]}
        npz, js = write_variation(out, arrays_from_run(run), man)
        files = [npz, js, atomic_write_json(out / "summary.json", summary)]
        rows = ["draw,bias_volts,edge,p_edge,period_s,duty,lag1"]
        for j in run.jobs:
            for i in range(cfg.n_edges):
                rows.append(f"{j['draw']},{j['bias_volts']:.6g},{i},{j['p_edge'][i]:.6g},"
                            f"{j['period'][i]:.6g},{j['duty'][i]:.6g},{j['lag1'][i]:.6g}")
        files.append(atomic_write_text(out / "edges.csv", "\n".join(rows) + "\n"))
        files.append(plots.plot_p_vs_bias(run, out / "p_vs_bias.png"))
        files.append(plots.plot_correlation(run, out / "correlation.png"))
        files.append(plots.plot_waveforms(run, out / "waveforms.png"))
        files.append(write_manifest(out, cfg.to_dict(), cfg.seed,
                                    files=[Path(f).name for f in files],
                                    netlist_hashes=hashes))
    return [str(Path(out_dir) / Path(f).name) for f in files]  # (written to a staging directory)
