"""Writing a training run to disk: history, resistances, a plot, summary and manifest.

All files go through :mod:`spicecl.results` (atomic writes); the plot is drawn with
matplotlib on the Agg backend, imported only here.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from spicecl.results import (atomic_savefig, atomic_write_json, atomic_write_npz,
                             atomic_write_text, staged_outputs, write_manifest)


def history_csv(hist, k: int = 0) -> str:
    buf = io.StringIO()
    buf.write("step,train_error,test_error,train_scaled_error,test_scaled_error\n")
    for row in zip(hist.steps, hist.train_error[k], hist.test_error[k], hist.train_scaled[k],
                   hist.test_scaled[k]):
        buf.write(f"{row[0]},{row[1]:.10g},{row[2]:.10g},{row[3]:.10g},{row[4]:.10g}\n")
    return buf.getvalue()


def plot_training(hist, config, k: int = 0, title: str = ""):
    """Scaled errors against steps*p, and resistance traces against steps*p."""
    from spicecl.results import subplots

    fig, (ax1, ax2) = subplots(1, 2, figsize=(10, 3.8))
    x = hist.steps * config.p
    # step 0 has no place on a log axis (drawing it at x = p stacked it on step 1's point)
    pos = x > 0
    ax1.loglog(x[pos], hist.test_scaled[k][pos], label="test")
    ax1.loglog(x[pos], hist.train_scaled[k][pos], label="train", alpha=0.7)
    ax1.set_xlabel("training steps x p")
    ax1.set_ylabel("scaled error  (error / error(t=0))")
    ax1.legend()
    ax1.grid(True, which="both", alpha=0.3)
    xs = hist.snapshot_steps * config.p
    r = hist.resistance[k]
    show = np.linspace(0, r.shape[1] - 1, min(12, r.shape[1])).astype(int)
    ax2.plot(xs, r[:, show] / 1e3, lw=1)
    shown = r[:, show]
    shown = shown[np.isfinite(shown) & (shown > 0)]
    if shown.size and shown.max() > 10 * shown.min():
        # resistances spanning decades (an edge clipped at r_max): a linear axis flattened
        # every other trace onto zero
        ax2.set_yscale("log")
    ax2.set_xlabel("training steps x p")
    ax2.set_ylabel(f"resistance (kohm), {len(show)} of {r.shape[1]} edges")
    ax2.grid(True, alpha=0.3)
    fig.suptitle(title or f"{config.rule} rule, p = {config.p:g}")
    fig.tight_layout()
    return fig


def write_training_run(out_dir, net, task, config, hist, summary: dict, args: dict) -> Path:
    """Write one run's files into ``out_dir`` and return it."""
    with staged_outputs(out_dir) as out:
        atomic_write_text(out / "history.csv", history_csv(hist))
        # csv quotes node ids holding a comma, quote or newline (GraphML ids may hold any of them)
        import csv

        buf = io.StringIO()
        rows = csv.writer(buf, lineterminator="\n")
        rows.writerow(["edge", "source", "target", "resistance_ohm"])
        rows.writerows([i, net.node_ids[a], net.node_ids[b], f"{r:.10g}"]
                       for i, ((a, b), r) in enumerate(zip(net.edges, hist.final_resistance[0])))
        atomic_write_text(out / "final_resistance.csv", buf.getvalue())
        atomic_write_npz(out / "snapshots.npz", steps=hist.snapshot_steps,
                         resistance=hist.resistance[0])
        fig = plot_training(hist, config, title=f"{net.name}: {task.kind}, {config.rule} rule, "
                                                f"p = {config.p:g}, seed {args.get('seed')}")
        atomic_savefig(fig, out / "training.png")
        atomic_write_json(out / "summary.json", summary)
        config_record = {"args": {k: v for k, v in args.items() if k != "func"},
                         "learning": config.to_dict(),
                         "task": {**task.to_dict(), **task.node_ids(net)}}
        write_manifest(out, config_record, args.get("seed"),
                       **({"network_file": net.source} if net.source else {}))
    return Path(out_dir)
