"""Plot and table helpers of the discrete-rule figures (final error against p)."""

from __future__ import annotations

import numpy as np

from spicecl.experiments.common import p_colors, styled, write_csv
from spicecl.results import atomic_savefig, subplots


@styled
def plot_final_vs_p(out_dir, figure: str, finals: dict, curves: dict | None, ylabel: str,
                    csv_path, title: str | None = None, curves_label: str = "") -> None:
    """Left: mean final error (+- s.e.m.) vs p per series; right: mean curves vs steps x p.

    finals : {series label: {p: {mean, sem, ...}}}
    curves : {p: (steps, mean scaled error)} of one series, or None
    curves_label : which series the curves are, when there are several (the right panel's
        title)
    """
    rows = [(label, float(p), v["mean"], v["sem"], v.get("median", float("nan")), v["n"])
            for label, fin in finals.items() for p, v in fin.items()]
    write_csv(csv_path, ["series", "p", "mean", "sem", "median", "n_tasks"], rows)
    ncol = 2 if curves else 1
    fig, axes = subplots(1, ncol, figsize=(4.0 * ncol, 3.3), squeeze=False)
    ax = axes[0, 0]
    for i, (label, fin) in enumerate(finals.items()):
        ps = np.array([float(p) for p in fin])
        m = np.array([v["mean"] for v in fin.values()])
        e = np.array([v["sem"] for v in fin.values()])
        ax.errorbar(ps, m, yerr=e, marker="o", ms=4, capsize=2, label=label, color=f"C{i}")
    ax.set_xlabel("update probability p")
    ax.set_ylabel(ylabel)
    head = title or figure
    if len(finals) == 1:  # no legend: the title names the one series (fig4c's network, task)
        head = f"{head}: {next(iter(finals))}"
    ax.set_title(head, fontsize=9)
    if len(finals) > 1:
        # below the axes: inside, the error bars (which loc="best" does not avoid) ran under it
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2),
                  ncol=min(len(finals), 4))
    if curves:
        ax2 = axes[0, 1]
        ps = list(curves)
        for p, c in zip(ps, p_colors(ps)):
            st, y = curves[p]
            ax2.plot(st[1:] * p, y[1:], color=c, label=f"p = {p:g}")
        ax2.set_xscale("log")
        ax2.set_yscale("log")
        ax2.set_xlabel("training steps x p")
        ax2.set_ylabel("mean scaled error")
        if curves_label:
            ax2.set_title(curves_label, fontsize=9)
        ax2.legend(fontsize=6)
    fig.tight_layout()
    atomic_savefig(fig, out_dir / f"{figure}.png")
