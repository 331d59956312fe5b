"""`spicecl reproduce FIGURE`: the paper's figures (and the scaling study) as parallel sweeps."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from spicecl.commands.core import integer_arg, output_path_arg, seed_arg
from spicecl.errors import SpiceclError, closest_name

FIGURE_NAMES = ("fig1", "fig2a", "fig2b", "fig4c", "fig4d", "fig4e", "scaling")


def register(sub) -> None:
    p = sub.add_parser("reproduce", help="reproduce a figure of the paper (sweeps)",
                       description="Reproduce a figure of the reference paper into "
                                   "OUT/FIGURE/: data, a PNG, summary.json and a manifest. "
                                   "An interrupted run resumes where it stopped.")
    p.add_argument("figure", metavar="FIGURE",
                   help=f"one of {', '.join(FIGURE_NAMES)}, all")
    p.add_argument("--quick", action="store_true",
                   help="a small version (under a minute per figure)")
    p.add_argument("--workers", type=integer_arg, default=None, metavar="N",
                   help="local worker processes (default 1)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on a Dask cluster at tcp://HOST:PORT instead")
    p.add_argument("--out", type=output_path_arg, default="results", metavar="DIR",
                   help="output directory; each figure goes to DIR/FIGURE (default results)")
    p.add_argument("--seed", type=seed_arg, default=None, metavar="SEED",
                   help="root seed of tasks and learning (default: the fixed paper seed)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="change a setting of the figure's scale or hyperparameters, e.g. "
                        "--set tasks=20 --set gamma=1e10 --set 'p=[1, 0.5]' (repeatable; "
                        "the figure's settable keys are listed when a wrong one is given); "
                        "the run is then another configuration, use another --out")
    p.add_argument("--progress", action="store_true", default=None,
                   help="force a progress bar (default: only on a terminal)")
    p.set_defaults(func=cmd_reproduce)


#: a --set VALUE that is not JSON but a bare name (a network), taken as a string
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]*")


def parse_settings(items) -> dict:
    """``--set KEY=VALUE`` items -> {key: JSON value, or a bare name as a string}; the figure
    checks keys and values."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SpiceclError(f"--set {item!r}: expected KEY=VALUE, e.g. --set tasks=20")
        if key in out:
            raise SpiceclError(f"--set {key}: given twice")
        try:
            out[key] = json.loads(text)
        except RecursionError:
            raise SpiceclError(f"--set {key}: VALUE is nested too deeply") from None
        except ValueError:
            if not _NAME.fullmatch(text):
                raise SpiceclError(f"--set {key}={text}: VALUE must be a number, true/false, "
                                   f"a JSON list or a name, e.g. 20, 1e10, false, [1, 0.5] or "
                                   f"disordered:9:16") from None
            out[key] = text
    return out


def cmd_reproduce(args) -> int:
    """Run the figures; an interrupted or terminated run says how to go on."""
    from spicecl.cli import say_when_stopped

    say_when_stopped(f"; the same command resumes from the jobs finished in {args.out}/")
    return _reproduce(args)


def _reproduce(args) -> int:
    from spicecl.experiments import DEFAULT_SEED, make_plan, run_figure
    from spicecl.sweep import check_out_dir

    names = FIGURE_NAMES if args.figure == "all" else (args.figure,)
    if args.figure != "all" and args.figure not in FIGURE_NAMES:
        hint = closest_name(args.figure, (*FIGURE_NAMES, "all"))
        raise SpiceclError(f"unknown figure {args.figure!r}; choose one of "
                           f"{', '.join(FIGURE_NAMES)}, all"
                           + (f" (maybe you meant {hint}?)" if hint else ""))
    if args.workers is not None and args.scheduler is not None:
        raise SpiceclError("--workers is for local processes; with --scheduler the cluster's "
                           "workers run the jobs (it would be ignored)")
    workers = 1 if args.workers is None else args.workers
    if workers < 1:
        raise SpiceclError(f"--workers must be >= 1, got {workers}")
    overrides = parse_settings(args.settings)
    seed = DEFAULT_SEED if args.seed is None else args.seed
    # every figure's settings and --out directory are checked before any work (plans are cheap)
    plans = [make_plan(name, args.quick, seed, overrides) for name in names]
    for plan in plans:
        check_out_dir(Path(args.out) / plan.figure, plan.config)
    if args.scheduler is not None:
        from spicecl.sweep import connect_scheduler

        connect_scheduler(args.scheduler).close()  # fail fast, before any work
    for name in names:
        s = run_figure(name, quick=args.quick, workers=workers, scheduler=args.scheduler,
                       out=args.out, seed=seed, progress=args.progress,
                       overrides=overrides or None)
        run = s["run"]
        if "reanalyzed" in run:
            print(f"{name}: {args.out}/{name}/ re-analysed from its saved jobs (computed earlier "
                  f"in {run['seconds']:.1f} s)", file=sys.stdout)
        else:
            rate = run["task_steps_per_second"]
            print(f"{name}: {args.out}/{name}/ in {run['seconds']:.1f} s"
                  + (f" ({rate:.0f} task-steps/s)" if rate else "")
                  + (f", {run['chunks_loaded']} chunks resumed" if run["chunks_loaded"] else ""),
                  file=sys.stdout)
        print(f"  {headline(s)}", file=sys.stdout)
    return 0


#: fig2 modes as summary.json keys them and as the README and plots name them
_FIG2_MODES = {"fig2a": (("p", "p"), ("b", "b"), ("pb", "p = b")),
               "fig2b": (("pbar", "p-bar"), ("bbar", "b-bar"), ("pbbar", "p-bar = b-bar"))}


def headline(summary: dict) -> str:
    """The one line of a figure's summary.json that says what came out (the collapse, the
    exponents, low p against p = 1), printed under the figure's path."""
    figure = summary["figure"]
    if figure == "fig1":
        by_p = summary["final_error_by_p"]
        shown = dict.fromkeys(p for p in ("1", min(by_p, key=float)) if p in by_p)
        return (f"test-error curves spread {summary['collapse_spread_steps_p']:.3f} decades "
                f"against steps x p vs {summary['collapse_spread_steps']:.3f} against steps; "
                f"final test scaled error " + ", ".join(f"{by_p[p]['mean']:.3g} at p = {p}"
                                                       for p in shown))
    if figure in _FIG2_MODES:
        def exponent(key, label):
            low, high = summary[f"exponent_{key}_ci95"]
            return f"{label} {summary[f'exponent_{key}']:.2f} [{low:.2f}, {high:.2f}]"

        return ("L2 distance ~ (1-x)^exponent: "
                + ", ".join(exponent(*mode) for mode in _FIG2_MODES[figure])
                + " (95 % bootstrap; the paper: 2/3)")
    if figure in ("fig4c", "fig4e"):
        by_p = summary["final_error_by_p"]
        low = min(by_p, key=float)
        text = "final scaled error (mean ± s.e.m. over tasks) " + ", ".join(
            f"{by_p[p]['mean']:.3f} ± {by_p[p]['sem']:.3f} at p = {p}" for p in dict.fromkeys(
                [p for p in ("1", low) if p in by_p]))
        return text + (f" ({_below_p1(by_p[low])})" if "tasks_below_p1" in by_p[low] else "")
    groups = {"fig4d": ("final_error_by_outputs_and_p", "O = {}"),
              "scaling": ("final_error_by_edges_and_p", "{} edges")}
    if figure in groups:
        key, label = groups[figure]
        rows = summary[key]
        low = min(next(iter(rows.values())), key=float)
        parts = [f"{label.format(g)}: {v['tasks_below_p1']} of {v['n']}, "
                 f"{v['geomean_ratio_to_p1']:.2f}" for g, v in
                 ((g, by_p.get(low, {})) for g, by_p in rows.items()) if "tasks_below_p1" in v]
        if parts:
            return (f"p = {low} against p = 1 (tasks ending lower, geometric-mean ratio of the "
                    f"final errors): " + "; ".join(parts))
    return "summary.json holds the numbers"


def _below_p1(v: dict) -> str:
    """"3 of 6 tasks lower than at p = 1, geometric-mean ratio 1.05" for one p of a discrete
    figure's summary (its final errors task by task against the same tasks at p = 1)."""
    return (f"{v['tasks_below_p1']} of {v['n']} tasks lower than at p = 1, geometric-mean "
            f"ratio {v['geomean_ratio_to_p1']:.2f}")
