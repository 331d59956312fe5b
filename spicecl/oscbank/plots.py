"""Figures of an oscillator-bank run (matplotlib with the Agg backend, imported here only).

p against bias with the analytic curve, the Pearson-r histogram against the null, the
correlation matrix, and a few capacitor/enable waveforms with the clock samples marked.
Each function returns the path written (through :func:`spicecl.results.atomic_savefig`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_p_vs_bias(run, path) -> Path:
    from spicecl.oscbank.design import analytic_p
    from spicecl.results import atomic_savefig, subplots

    d = run.config.design
    lo, hi = d.swing
    fig, ax = subplots(figsize=(5, 3.6))
    b = np.linspace(lo * 0.97, hi * 1.03, 300)
    ax.plot(b, analytic_p(b, d.vdd), "k-", lw=1.2,
            label=r"analytic $\frac{1}{2}+\frac{1}{2}\log_2\frac{V_{DD}-b}{b}$")
    for j in run.jobs:
        x = np.full(len(j["p_edge"]), j["bias_volts"])
        ax.plot(x, j["p_edge"], ".", color="0.6", ms=3)
    bias = [j["bias_volts"] for j in run.jobs]
    ax.plot(bias, [j["p_mean"] for j in run.jobs], "o", color="C3", label="network p (mean)")
    ax.plot([], [], ".", color="0.6", label="p_i per edge")
    ax.set_xlabel("bias (V)")
    ax.set_ylabel("update probability p")
    ax.set_title(f"{run.config.n_edges} edges, {run.config.n_samples} clock samples, "
                 f"{run.config.method}", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    out = atomic_savefig(fig, path)
    return out


def plot_correlation(run, path, job: int | None = None) -> Path:
    """Histogram of pairwise r (with the N(0, 1/K) null) and the matrix of one job (the one
    closest to p = 0.5 by default)."""
    from spicecl.oscbank.measure import pair_values
    from spicecl.results import atomic_savefig, subplots

    if job is None:
        job = int(np.argmin([abs(j["p_mean"] - 0.5) for j in run.jobs]))
    j = run.jobs[job]
    r = j["pearson"]
    vals = pair_values(r)
    vals = vals[np.isfinite(vals)]
    k = run.config.n_samples
    fig, (a1, a2) = subplots(1, 2, figsize=(9, 3.6))
    lim = max(0.15, float(np.max(np.abs(vals))) if len(vals) else 0.15)
    bins = np.linspace(-lim, lim, 41)
    x = np.linspace(-lim, lim, 300)
    s = 1.0 / np.sqrt(k)
    null = np.exp(-0.5 * (x / s) ** 2) / (s * np.sqrt(2 * np.pi))
    # Log density, down to below one pair per bin: on a linear axis a few aliasing pairs
    # among thousands (143 edges: 10,153 pairs) had invisible bars and the histogram looked
    # like the null.
    one_pair = 1.0 / (max(len(vals), 1) * (bins[1] - bins[0]))
    top = float(null.max())
    if len(vals):  # (none when no edge toggled in the samples: no r is defined)
        h, _, _ = a1.hist(vals, bins=bins, density=True, color="C0", alpha=0.7,
                          label="edge pairs")
        top = max(top, float(h.max()))
    a1.plot(x, null, "k-", lw=1, label=f"null N(0, 1/K), K={k}")
    a1.set_yscale("log")
    a1.set_ylim(0.2 * one_pair, 3.0 * top)
    a1.set_xlabel("Pearson r of update sequences")
    a1.set_ylabel("density (log)")
    c = j["correlation"]
    a1.set_title(f"bias {j['bias_volts']:g} V: mean r = {c['mean_pearson_r']:+.4f}, "
                 f"max |r| = {c['max_abs_pearson_r']:.3f}", fontsize=9)
    a1.legend(fontsize=7)
    m = r.copy()
    np.fill_diagonal(m, np.nan)
    im = a2.imshow(m, cmap="RdBu_r", vmin=-max(lim, 0.1), vmax=max(lim, 0.1))
    a2.set_xlabel("edge")
    a2.set_ylabel("edge")
    a2.set_title("correlation matrix (diagonal blank)", fontsize=9)
    fig.colorbar(im, ax=a2, shrink=0.8)
    out = atomic_savefig(fig, path)
    return out


def plot_waveforms(run, path, job: int = 0) -> Path:
    """Capacitor voltages and enables of the first edges at the end of the characterization
    transient, with the bias, and the enable sampled at the first clock samples (fast-method
    phases) as markers."""
    from spicecl.results import atomic_savefig, subplots

    j = run.jobs[job]
    w = j["wave"]
    d = run.config.design
    t = w["t"]
    fig, axes = subplots(2, 1, figsize=(7, 4.6), sharex=False)
    ax = axes[0]
    for i in range(w["cap"].shape[1]):
        ax.plot((t - t[0]) * 1e3, w["cap"][:, i], lw=1, label=f"cap, edge {i}")
        ax.plot((t - t[0]) * 1e3, w["en"][:, i] / d.vdd * 0.3 + 0.2 + 0.4 * i, lw=0.8,
                color=f"C{i}", alpha=0.6)
    ax.axhline(j["bias_volts"], color="k", ls="--", lw=0.8, label="bias")
    ax.plot([], [], color="0.5", lw=0.8, alpha=0.6, label="enable (scaled, offset per edge)")
    ax.set_xlabel("time within the last 3 periods of the characterization (ms)")
    ax.set_ylabel("capacitor voltage (V)")
    # above the axes: inside, it covered the enable traces (drawn low, where "best" put it)
    ax.legend(fontsize=6, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax = axes[1]
    u = j["updates"]
    ks = min(40, u.shape[0])
    for i in range(min(3, u.shape[1])):
        ax.step(np.arange(ks), u[:ks, i] + 1.5 * i, where="mid", color=f"C{i}", lw=0.8)
        ax.plot(np.arange(ks), u[:ks, i] + 1.5 * i, "o", color=f"C{i}", ms=3)
    ax.set_xlabel(f"clock sample k ({d.clock_hz:g} Hz)")
    ax.set_ylabel("enable at clock (offset per edge)")
    ax.set_title(f"bias {j['bias_volts']:g} V: update sequences of edges 0-2", fontsize=9)
    fig.tight_layout()
    out = atomic_savefig(fig, path)
    return out
