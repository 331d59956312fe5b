"""``spicecl demo``: the whole pipeline on built-in defaults, in about 10 seconds on 2 cores.

oscillator check of the exp16 design (p against bias, Pearson correlation; models/oscillator.lib)
-> variation file -> idealized and hardware-faithful learning on the same tasks (update
sequences replayed from the variation file) -> a few steps with ngspice in the loop -> a short
report with plots under ``--out`` (default results/demo), and a closing summary on the terminal.
"""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import replace

from spicecl.commands.core import integer_arg, output_path_arg, seed_arg
from spicecl.errors import SpiceclError, check_count, warn


def register(sub) -> None:
    d = sub.add_parser("demo", help="the whole pipeline: oscillator check -> variation file -> "
                       "idealized vs hardware-faithful learning -> report (about 10 seconds)",
                       description="Run the whole pipeline at a small scale on exp16: the "
                                   "oscillator bank at three biases (ngspice) and its "
                                   "variation file, idealized against hardware-faithful "
                                   "learning on allosteric tasks with the bank's update "
                                   "sequences replayed, each imperfection alone, and a few "
                                   "steps with ngspice in the loop. Start with OUT/report.md.")
    d.add_argument("--out", type=output_path_arg, metavar="DIR", default="results/demo",
                   help="output directory (default results/demo)")
    d.add_argument("--seed", type=seed_arg, default=1, metavar="SEED",
                   help="seed of every stage (default 1)")
    d.add_argument("--tasks", type=integer_arg, default=10, metavar="K",
                   help="learning tasks (default 10)")
    d.add_argument("--steps", type=integer_arg, default=800, metavar="S",
                   help="training steps (default 800)")
    d.add_argument("--samples", type=integer_arg, default=1000, metavar="K",
                   help="clock samples of the oscillator check (default 1000)")
    d.add_argument("--cosim-steps", type=integer_arg, default=5, metavar="S",
                   help="steps with ngspice in the loop (0: skip; default 5)")
    d.set_defaults(func=cmd_demo)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cmd_demo(args) -> int:
    from spicecl.commands.oscillators import write_outputs
    from spicecl.compare import CompareConfig, findings, run_compare, write_compare
    from spicecl.cosim import MAX_COSIM_STEPS
    from spicecl.learning import MAX_STEPS
    from spicecl.network import exp16
    from spicecl.oscbank.design import OscillatorDesign, bias_for_p
    from spicecl.oscbank.run import MAX_SPAN_PERIODS, BankConfig, run_bank, summarize
    from spicecl.results import (atomic_write_json, atomic_write_text, ensure_output_dir,
                                 staged_outputs, write_manifest)
    from spicecl.variation_file import load_variation

    check_count("--tasks", args.tasks, 2)
    check_count("--cosim-steps", args.cosim_steps, 0, MAX_COSIM_STEPS)
    # Checked here too, not only by the stages, so that no stage runs before a bad value stops.
    check_count("--steps", args.steps, 1, MAX_STEPS)
    check_count("--samples", args.samples, 2)
    design = OscillatorDesign()
    max_samples = int(MAX_SPAN_PERIODS * design.clock_hz * design.period)
    if args.samples > max_samples:  # the bank's own message names --clock-hz, not a demo option
        raise SpiceclError(f"--samples must be <= {max_samples}, got {args.samples}")
    net = exp16()
    ps = (1.0, 0.5, 0.2)
    biases = tuple(round(float(bias_for_p(p)), 4) for p in (0.8, 0.5, 0.2))
    bank_cfg = BankConfig(net.n_edges, biases, args.samples, seed=args.seed, design=design)
    cfg = CompareConfig(task="allostery", ps=ps, n_tasks=args.tasks, steps=args.steps,
                        seed=args.seed, n_records=60)
    final = ensure_output_dir(args.out, command="demo")
    # Every file, the stages' runs (oscillators/, learning/) included, goes to a staging
    # directory first and into place with the manifest (spicecl.results.staged_outputs).
    with staged_outputs(final) as out:
        t0 = time.perf_counter()

        # 1. Oscillator check of the exp16 design (fast method: short transients + clock sampling).
        _say(f"demo 1/4: oscillator bank of {net.n_edges} edges at biases "
             f"{', '.join(f'{b:g}' for b in biases)} V, {args.samples} clock samples")
        run = run_bank(bank_cfg, workers=1, progress=False)
        for w in run.warnings:
            warn(w)
        osc = summarize(run)
        osc["network"] = net.name
        write_outputs(run, osc, out / "oscillators")

        # 2. The variation file it wrote, read back as the learning code reads any user's file.
        var = load_variation(out / "oscillators", n_edges=net.n_edges)
        # (the learning run records the file where it will be, not in the staging directory)
        var = replace(var, path=final / "oscillators" / var.path.name)

        # 3. Idealized vs hardware-faithful learning on the same tasks and seeds.
        _say(f"demo 2/4: learning, {args.tasks} allosteric tasks x p in {{1, 0.5, 0.2}}, "
             f"{args.steps} steps, idealized / hardware-faithful / each imperfection / clock-free")
        res = run_compare(net, cfg, variation=var)
        command = shlex.join(["spicecl", "demo", "--out", str(args.out), "--seed", str(args.seed),
                              "--tasks", str(args.tasks), "--steps", str(args.steps), "--samples",
                              str(args.samples), "--cosim-steps", str(args.cosim_steps)])
        write_compare(res, out / "learning", command)

        # 4. ngspice in the loop for a few steps.
        cos = None
        if args.cosim_steps:
            from spicecl.spice.runner import ngspice_available

            if ngspice_available():
                from spicecl.cosim import run_cosim

                _say(f"demo 3/4: {args.cosim_steps} steps with ngspice in the loop")
                cos = run_cosim(net, args.cosim_steps, args.seed)
            else:
                _say("demo 3/4: ngspice not installed: co-simulation skipped")

        _say("demo 4/4: report")
        summary = {"oscillators": {k: v for k, v in osc.items() if k != "results"},
                   "oscillator_results": [{k: r[k] for k in ("bias_volts", "p_mean", "p_analytic",
                                                             "mean_pearson_r", "max_abs_pearson_r")}
                                          for r in osc["results"]],
                   "learning": res.summary(),
                   "cosim": None if cos is None else {k: cos[k] for k in (
                       "steps", "decision_agreement", "taps_identical", "first_divergence_step",
                       "divergence_reason", "max_abs_voltage_error_volts")},
                   "seconds": round(time.perf_counter() - t0, 1)}
        atomic_write_json(out / "summary.json", summary)
        report = _report(summary, res, command)
        atomic_write_text(out / "report.md", report)
        write_manifest(out, {"command": command, "biases": list(biases), "ps": list(ps)}, args.seed)

    print(f"spicecl demo: done in {summary['seconds']:.0f} s; report {final / 'report.md'}")
    for r in summary["oscillator_results"]:
        print(f"  oscillators: bias {r['bias_volts']:.3f} V  p {r['p_mean']:.3f} "
              f"(analytic {r['p_analytic']:.3f})  mean r {r['mean_pearson_r']:+.4f}  "
              f"max |r| {r['max_abs_pearson_r']:.2f}")
    for v in ("idealized", "ideal_discrete", "hardware", "clock_free"):
        st = res.stats(v)
        if st:
            print(f"  {v:15s} final scaled error: " + "  ".join(
                f"p={k}: {s['mean']:.3f}±{s['sem']:.3f}" for k, s in st.items()))
    if cos is not None:
        steps = f"{cos['steps']} step{'s' if cos['steps'] != 1 else ''}"
        print(f"  cosim ({steps}): decision agreement {cos['decision_agreement']:.3f}, "
              f"taps identical {cos['taps_identical']}")
    for line in findings(res)[:4]:
        print("  - " + line)
    return 0


def _report(summary: dict, res, command: str) -> str:
    from spicecl.compare import findings

    o = summary["oscillators"]
    lines = ["# spicecl demo", "", f"Command: `{command}`", "",
             "## 1. Oscillator check (exp16 design, fast method)", "",
             f"{o['edges']} edges, {o['samples']} clock samples at {o['clock_hz']:g} Hz, "
             f"{o['tolerance'] * 100:g} % R/C tolerance; locking detected: "
             f"{o['locking_detected']}.", "",
             "| bias (V) | p measured | p analytic | mean Pearson r | max abs r |",
             "|---|---|---|---|---|"]
    for r in summary["oscillator_results"]:
        lines.append(f"| {r['bias_volts']:.3f} | {r['p_mean']:.3f} | {r['p_analytic']:.3f} | "
                     f"{r['mean_pearson_r']:+.4f} | {r['max_abs_pearson_r']:.2f} |")
    if o.get("warnings"):
        lines += [""] + [f"- Warning: {w}" for w in o["warnings"]]
    lines += ["", "Plots: oscillators/p_vs_bias.png, oscillators/correlation.png, "
              "oscillators/waveforms.png; variation file oscillators/variation.npz.", "",
              "## 2. Learning: idealized vs hardware-faithful (same tasks and seeds)", ""]
    lines += [f"- {t}" for t in findings(res)]
    lines += ["", "Details: learning/summary.md; plots learning/learning_curves.png, "
              "learning/final_vs_p.png, learning/imperfections.png.", ""]
    c = summary["cosim"]
    lines += ["## 3. ngspice in the loop", ""]
    if c is None:
        lines.append("Skipped (ngspice not installed or --cosim-steps 0).")
    else:
        lines.append(f"{c['steps']} steps: decision agreement {c['decision_agreement']:.3f}, "
                     f"taps identical {c['taps_identical']}, max SPICE-vs-solver node error "
                     f"{c['max_abs_voltage_error_volts']:.1e} V"
                     + (f"; first divergence at step {c['first_divergence_step']}: "
                        f"{c['divergence_reason']}" if not c["taps_identical"] else "") + ".")
    lines += ["", f"Total time {summary['seconds']:.0f} s.", ""]
    return "\n".join(lines)
