"""Reproductions of the reference paper's figures, one module per figure, and their runner.

Each figure module defines ``plan(quick, seed) -> Plan`` (the configuration and the list of
:class:`~spicecl.sweep.Chunk` jobs) and ``analyze(plan, results, out_dir) -> dict`` (data
files, the PNG, and the summary numbers). :func:`run_figure` runs a plan with
:func:`spicecl.sweep.run_sweep` into ``OUT/FIGURE/`` and writes ``summary.json`` and the
manifest (with the exact command, the configuration and its hash, timing and throughput).
"""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spicecl.errors import SpiceclError

#: Figure name -> module (imported only when the figure is run).
FIGURES = {
    "fig1": "spicecl.experiments.fig1",
    "fig2a": "spicecl.experiments.fig2",
    "fig2b": "spicecl.experiments.fig2",
    "fig4c": "spicecl.experiments.fig4c",
    "fig4d": "spicecl.experiments.fig4d",
    "fig4e": "spicecl.experiments.fig4e",
    "scaling": "spicecl.experiments.scaling",
}

DEFAULT_SEED = 20220414


@dataclass
class Plan:
    """What a figure runs: its JSON-able configuration and its chunks.

    ``task_steps`` is the total number of (network x training step) units, for throughput.
    """

    figure: str
    config: dict
    chunks: list
    task_steps: int = 0
    extra: dict = field(default_factory=dict)


def settings(figure: str, paper: dict, quick_scale: dict, settable: dict, quick: bool,
             overrides: dict | None) -> dict:
    """The scale of ``figure`` (its ``QUICK`` or ``PAPER`` dict) with ``overrides`` (from
    ``reproduce --set KEY=VALUE``) applied; each key must be in the figure's ``settable``
    (key -> checker returning the value or raising ValueError with the reason)."""
    s = dict(quick_scale if quick else paper)
    for key, value in (overrides or {}).items():
        if key not in settable:
            raise SpiceclError(f"--set {key}: {figure} has no setting {key!r}; it has "
                               f"{', '.join(sorted(settable))}")
        try:
            s[key] = settable[key](value)
        except (TypeError, ValueError) as exc:
            raise SpiceclError(f"--set {key}={json.dumps(value)} for {figure}: {exc}") from None
    return s


def figure_module(name: str):
    if name not in FIGURES:
        raise SpiceclError(f"unknown figure {name!r}; choose one of "
                           f"{', '.join(list(FIGURES) + ['all'])}")
    return importlib.import_module(FIGURES[name])


def _git_revision() -> str | None:
    """The source checkout's commit (with '+dirty' when spicecl/ has local changes), if any.

    None for an installed spicecl: its site-packages is no checkout of spicecl's, even when it
    lies inside some other git repository (a project's .venv), whose commit says nothing of
    the code that ran."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel", "--short",
                              "HEAD"], capture_output=True, text=True, timeout=5)
        lines = rev.stdout.splitlines()
        if rev.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != root:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                "spicecl"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return lines[1].strip() + ("+dirty" if dirty.stdout.strip() else "")


def _previous_run(path: Path) -> dict | None:
    """The "run" record of the figure's earlier summary.json (of a run that computed jobs),
    or None when there is none usable: missing, damaged, or of another shape."""
    from spicecl.results import read_json

    try:
        summary = read_json(path)
    except (OSError, ValueError):
        return None
    run = summary.get("run") if isinstance(summary, dict) else None
    if not isinstance(run, dict) or not isinstance(run.get("seconds"), (int, float)):
        return None  # (reproduce prints its seconds)
    return run if run.get("chunks_computed") else None


def make_plan(name: str, quick: bool, seed: int, overrides: dict | None = None) -> Plan:
    """Figure ``name``'s plan, its configuration completed with what else makes a run another
    run: the root seed and the ``--set`` overrides (only when there are any, so the paper's
    runs keep their configuration hash)."""
    plan = figure_module(name).plan(name, quick, seed, overrides)
    plan.config = {**plan.config, "seed": seed}
    if overrides:
        plan.config["overrides"] = dict(overrides)
        if "network" in overrides:  # one spelling (disordered:09:16 is disordered:9:16)
            plan.config["overrides"]["network"] = plan.config["network"]
    return plan


def run_figure(name: str, *, quick: bool = False, workers: int = 1, scheduler: str | None = None,
               out: str | Path = "results", seed: int = DEFAULT_SEED,
               progress: bool | None = None, overrides: dict | None = None) -> dict:
    """Run figure ``name`` into ``out/name/``; return its summary (also in summary.json).

    ``overrides``: settings of the figure's scale or hyperparameters (``reproduce --set``),
    recorded in the configuration (so another setting is another run); none gives the paper's
    (or the quick) configuration."""
    from spicecl.sweep import sweep_lock

    plan = make_plan(name, quick, seed, overrides)
    out_dir = Path(out) / name
    # (held until the summary and the final manifest are written: no second run meanwhile;
    # run_sweep checks the directory's configuration)
    with sweep_lock(out_dir):
        return _run_figure_locked(name, plan, out_dir, quick, workers, scheduler, seed,
                                  progress)


def _run_figure_locked(name, plan, out_dir: Path, quick, workers, scheduler, seed,
                       progress) -> dict:
    from spicecl.results import atomic_write_json, write_manifest
    from spicecl.sweep import run_sweep

    mod = figure_module(name)
    results = run_sweep(plan.chunks, out_dir, plan.config, seed, workers=workers,
                        scheduler=scheduler, progress=progress, desc=name,
                        unit="task-step")
    stats = results.pop("__stats__")
    summary = mod.analyze(plan, results, out_dir)
    # Chunk costs are task-steps (networks x steps), so this is the wall-clock throughput of
    # what this run computed (a resumed run counts only its own chunks).
    rate = stats["computed_cost"] / stats["seconds"] if stats["computed"] and \
        stats["seconds"] > 0 else None
    cpu = sum(float(r.get("cpu_seconds", np.nan)) for r in results.values())
    run = {
        "seconds": round(stats["seconds"], 2),
        # CPU seconds of the jobs themselves: on a shared machine the honest measure of cost.
        "job_cpu_seconds": round(cpu, 2),
        "task_steps_per_cpu_second": round(plan.task_steps / cpu, 1) if cpu > 0 else None,
        "chunks_computed": stats["computed"],
        "chunks_loaded": stats["loaded"],
        "task_steps": plan.task_steps,
        "task_steps_computed": int(stats["computed_cost"]),
        "task_steps_per_second": None if rate is None else round(rate, 1),
        "workers": None if scheduler else workers,
        "scheduler": scheduler,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git": _git_revision(),  # the code that computed the jobs
    }
    previous = _previous_run(out_dir / "summary.json")
    if stats["computed"] == 0 and previous:
        # Everything was loaded (a re-analysis): keep the timing of the run that computed it.
        run = {**previous, "reanalyzed": run["finished"]}
    # (jobs of a resumed sweep computed by other code or numerics: which did which)
    mixed = {"versions_of_jobs": stats["versions_of_jobs"]} if stats["versions_of_jobs"] else {}
    summary = {"figure": name, "quick": quick, "seed": seed, **summary, "run": run, **mixed,
               "config": plan.config}
    atomic_write_json(out_dir / "summary.json", summary)
    write_manifest(out_dir, plan.config, seed, status="done", run=run, **mixed)
    return summary
