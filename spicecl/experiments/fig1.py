"""Fig. 1: continuous desynchronous coupled learning; test error collapses against steps x p.

143-edge disordered network, continuous rule (Eq. 2/3), 50 two-input two-output regression
tasks, p = 0.1 ... 1, 20,000 steps, one training example per step (as coupled learning is
described in the paper: "the system is then shown a new training example"). Every p value
trains the same 50 tasks.

The collapse number: the mean test scaled error over tasks, one curve per p, is interpolated
on a common grid of x in [0, x_max] with x_max = min_p(steps x p); at each x, the standard
deviation over p of log10(curve) is taken, and its root mean square over the grid is the
spread in decades. ``collapse_spread_steps_p`` uses x = steps x p, ``collapse_spread_steps``
uses x = steps; ``collapse_ratio`` is their ratio (small: a good collapse).
``final_error_by_p`` is taken after the same number of steps for every p (as in the paper),
so small p ends earlier on the common curve; ``mean_error_at_common_steps_p`` compares the p
values at the same steps x p (= x_max).
"""

from __future__ import annotations

import numpy as np

from spicecl.experiments import Plan, settings
from spicecl.experiments.common import (P_GRID, TaskSpec, TrainChunk, config_dict, count, mean_sem,
                                        p_colors, plot_title, run_train_chunk, styled,
                                        write_csv)
from spicecl.learning import MAX_STEPS, MAX_TASKS, LearningConfig
from spicecl.results import atomic_savefig, atomic_write_npz, subplots
from spicecl.sweep import Chunk, spawn_seeds

PAPER = dict(tasks=50, p=[round(0.1 * i, 1) for i in range(1, 11)], steps=20000, chunk=10,
             records=400)
QUICK = dict(tasks=6, p=[1.0, 0.5, 0.2], steps=1500, chunk=6, records=150)
#: what `reproduce fig1 --set KEY=VALUE` may change
SETTABLE = {"tasks": count(1, MAX_TASKS), "p": P_GRID, "steps": count(1, MAX_STEPS)}


def learning_config(p: float) -> LearningConfig:
    return LearningConfig(rule="continuous", eta=0.5, gamma=1e11, p=p, batch="single")


TASK = TaskSpec(kind="regression", n_in=2, n_out=2, n_ground=1, n_train=20, n_test=50,
                volts=1.0)
NETWORK = "disordered143"


def plan(name: str, quick: bool, seed: int, overrides: dict | None = None) -> Plan:
    s = settings(name, PAPER, QUICK, SETTABLE, quick, overrides)
    s["records"] = min(s["records"], s["steps"])
    task_seeds = spawn_seeds(seed, s["tasks"], stream=0)
    ps = s["p"]
    run_seeds = spawn_seeds(seed, s["tasks"] * len(ps), stream=1)
    chunks = []
    for ip, p in enumerate(ps):
        cfg = learning_config(p)
        for start in range(0, s["tasks"], s["chunk"]):
            idx = list(range(start, min(start + s["chunk"], s["tasks"])))
            spec = TrainChunk(NETWORK, 0, TASK, tuple(task_seeds[i] for i in idx),
                              (cfg,) * len(idx),
                              tuple(run_seeds[ip * s["tasks"] + i] for i in idx), s["steps"],
                              n_records=s["records"], meta={"p": p, "tasks": idx})
            chunks.append(Chunk(f"p{p:.3f}_t{start:03d}", run_train_chunk, spec,
                                cost=len(idx) * s["steps"], check=spec.holds))
    config = {
        "figure": name, "quick": quick, "network": NETWORK, "network_seed": 0,
        "task": TASK.__dict__, "learning": config_dict(learning_config(1.0)),
        "n_tasks": s["tasks"], "p": ps, "steps": s["steps"], "chunk_size": s["chunk"],
        "n_records": s["records"],
    }
    return Plan(name, config, chunks, task_steps=len(ps) * s["tasks"] * s["steps"])


def spread(curves: dict, x_of, x_max: float, n: int = 200) -> float:
    """RMS over a grid x in (0, x_max] of the std over p of log10(curve(x))."""
    grid = np.linspace(x_max / n, x_max, n)
    logs = []
    for p, (steps, y) in curves.items():
        logs.append(np.interp(grid, x_of(steps, p), np.log10(y)))
    return float(np.sqrt(np.mean(np.std(np.array(logs), axis=0) ** 2)))


def analyze(plan: Plan, results: dict, out_dir) -> dict:
    cfg = plan.config
    ps = cfg["p"]
    by_p = {}
    for p in ps:
        parts = [results[c.name] for c in plan.chunks if c.spec.meta["p"] == p]
        steps = parts[0]["steps"]
        test = np.concatenate([r["test_error"] for r in parts])
        by_p[p] = (steps, test / test[:, :1])
    curves = {p: (st, sc.mean(axis=0)) for p, (st, sc) in by_p.items()}
    x_max = min(cfg["steps"] * p for p in ps)
    spread_sp = spread(curves, lambda st, p: st * p, x_max)
    spread_s = spread(curves, lambda st, p: st.astype(float), x_max)
    final = {}
    rows = []
    for p in ps:
        f = by_p[p][1][:, -1]
        m, e = mean_sem(f)
        final[f"{p:g}"] = {"mean": float(m), "sem": float(e), "min": float(f.min()),
                           "max": float(f.max()), "median": float(np.median(f))}
        st, y = curves[p]
        rows += [(p, int(t), float(t * p), float(v)) for t, v in zip(st, y)]
    write_csv(out_dir / "curves.csv", ["p", "step", "step_times_p", "mean_test_scaled_error"],
              rows)
    write_csv(out_dir / "final_errors.csv", ["p", "task", "final_test_scaled_error"],
              [(p, i, float(v)) for p in ps for i, v in enumerate(by_p[p][1][:, -1])])
    atomic_write_npz(out_dir / "test_scaled.npz", p=np.array(ps),
                     steps=by_p[ps[0]][0], test_scaled=np.stack([by_p[p][1] for p in ps])
                     .astype(np.float32))
    _plot(by_p, curves, ps, out_dir, spread_sp, spread_s,
          title=plot_title("fig1", cfg) if cfg.get("overrides") else None)
    # Same number of expected updates for every p: the mean curve at steps x p = x_max.
    at_common = {f"{p:g}": float(np.interp(x_max / p, curves[p][0], curves[p][1])) for p in ps}
    return {
        "final_error_by_p": final,
        "mean_error_at_common_steps_p": at_common,
        "collapse_spread_steps_p": spread_sp,
        "collapse_spread_steps": spread_s,
        "collapse_ratio": spread_sp / spread_s if spread_s > 0 else float("nan"),
        "collapse_x_max": x_max,
        "hyperparameters": {"learning": config_dict(learning_config(1.0)), "task": TASK.__dict__,
                            "steps": cfg["steps"]},
    }


@styled
def _plot(by_p, curves, ps, out_dir, spread_sp, spread_s, title: str | None = None) -> None:
    fig, (ax, ax2) = subplots(1, 2, figsize=(8.4, 3.4),
                                  gridspec_kw={"width_ratios": [1.6, 1]})
    colors = p_colors(ps)
    for p, c in zip(ps, colors):
        st, y = curves[p]
        x = st * p
        ax.plot(x[1:], y[1:], color=c, lw=1.3, label=f"p = {p:g}")
        f = by_p[p][1][:, -1]
        # range bars; clipped at 0 (equal finals: the mean's rounding made one side -1e-17)
        bar = np.maximum([[y[-1] - f.min()], [f.max() - y[-1]]], 0.0)
        ax.errorbar([x[-1]], [y[-1]], yerr=bar, color=c,
                    capsize=2, lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    lo = min(float(np.min(y[1:])) for _, y in curves.values())
    ax.set_ylim(max(1e-4, lo / 10), 1.5)  # range bars of exactly solved tasks go to ~1e-28
    ax.set_xlabel("training steps x p")
    ax.set_ylabel("test scaled error (mean of tasks; bars: range)")
    ax.set_title(f"collapse spread {spread_sp:.3f} dec (vs steps: {spread_s:.3f})", fontsize=8)
    ax.legend(fontsize=6, ncol=2)
    for p, c in zip(ps, colors):
        f = by_p[p][1][:, -1]
        ax2.scatter(np.full(len(f), p), f, s=5, color=c, alpha=0.5)
        m, e = mean_sem(f)
        ax2.errorbar([p], [m], yerr=[e], color="k", marker="o", ms=3, capsize=2)
    ax2.set_yscale("log")
    ax2.set_xlabel("p")
    ax2.set_ylabel("final test scaled error")
    if title:  # a study's --set overrides (the paper-scale plot keeps its layout)
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    atomic_savefig(fig, out_dir / "fig1.png")
