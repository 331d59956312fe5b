"""Fig. 2A/B: desynchronization acts like stochastic mini-batching (continuous rule, exp16).

16-edge network, continuous rule, 2-input 2-output regression with B = 16 training examples,
full batch (Eq. 7). For each task the deterministic solution R(p = b = 1) is compared with
the final resistances of stochastic runs; the L2 distance is averaged over the tasks and a
power law ``L2 ~ (1 - x)^a`` is fitted against 1 - x for

* fig2a: x = p (Bernoulli edge gating, Eq. 3), x = b (Bernoulli example inclusion), p = b = x;
* fig2b: the fixed-fraction variants p-bar (``p_mode='fixed'``), b-bar (``batch='fixed'``)
  and p-bar = b-bar.

Each stochastic run trains for ``steps / rate`` steps with rate = x (or x^2 for p = b), so
every run gets the same expected number of updates as the deterministic one; ``steps`` is
long enough that the runs have converged: summary.json's ``convergence`` compares the
distances after a third of every run with the final ones; the x grid uses
multiples of 1/16, so the fixed-fraction variants are exact. Every stochastic (mode, x) runs
in ``draws`` independent random draws on the same tasks; a task's distance is the mean over its
draws (the bootstrap over tasks then includes the draw-to-draw noise), and summary.json also
gives each draw's own exponents (``exponent_*_by_draw``). Targets come from a random
"teacher" network on the same graph (a zero-error solution exists; a random linear map is
often not realizable by 16 edges, and then the resistances pile up at their bounds).

Every run also accumulates its integrated update-noise variance
``N = sum_t E||xi_t||^2`` (``xi`` the step's update minus its conditional mean, exact for each
schedule, see :func:`spicecl.experiments.common.update_noise_variance`). In linear response
the final displacement along the zero-error manifold is the sum of the noise kicks of the
transient, so ``L2^2 ~ N``: plotting L2 against sqrt(N) is the "matching of effective rates"
of the paper, and the summary reports how well that collapses the modes (``collapse_*``; fig2b
also over all six modes when ``OUT/fig2a`` holds the same configuration's results).

fig2a also records the effective diffusion matrix of Eq. 6 along the Bernoulli-p runs
(trace and final-state spectrum) next to the SGD diffusion matrix of Eq. 5 (per-example
updates), see :func:`spicecl.experiments.common.diffusion_traces`.
"""

from __future__ import annotations

import math

import numpy as np

from spicecl.errors import SpiceclError, warn
from spicecl.experiments import Plan, settings
from spicecl.experiments.common import (TaskSpec, TrainChunk, boolean, builtin_network,
                                        check_network, config_dict, count, fraction, grid,
                                        mean_sem, plot_title, positive, power_law_fit,
                                        run_train_chunk, styled, write_csv)
from spicecl.learning import MAX_STEPS, MAX_TASKS, LearningConfig
from spicecl.results import atomic_savefig, atomic_write_npz, config_hash, subplots
from spicecl.sweep import Chunk, spawn_seeds

NETWORK = "exp16"
TASK = TaskSpec(kind="regression", n_in=2, n_out=2, n_ground=1, n_train=16, n_test=16,
                volts=1.0, targets="teacher")
GAMMA = 3e10
ETA = 0.5
PAPER = dict(tasks=50, draws=2, one_minus_x=[1, 2, 3, 4, 6, 8], steps=18000, chunk=25,
             snapshots=12, gamma=GAMMA, eta=ETA, scale_steps=True, network=NETWORK,
             network_seed=0)
QUICK = dict(tasks=6, draws=2, one_minus_x=[1, 2, 4, 8], steps=250, chunk=6, snapshots=6,
             gamma=GAMMA, eta=ETA, scale_steps=True, network=NETWORK, network_seed=0)
#: Convergence check: the distances are also taken at 1/CHECK of every run (snapshot counts
#: are multiples of CHECK so that a snapshot falls there).
CHECK = 3
#: ... and the runs count as converged when those distances moved by at most this fraction
CONVERGED = 0.05


#: what `reproduce fig2a/fig2b --set KEY=VALUE` may change (with gamma, scale steps by the
#: inverse so that the runs still converge; summary.json's `convergence` says whether they did;
#: one_minus_x in sixteenths; scale_steps=false gives every run the same number of steps, so
#: that the slow (low-rate) runs stop short of convergence; network and network_seed put the
#: figure on another built-in graph, e.g. other 16-edge layouts, since exp16's is assumed)
SETTABLE = {"tasks": count(1, MAX_TASKS), "draws": count(1, MAX_TASKS),
            "steps": count(CHECK, MAX_STEPS),
            "one_minus_x": grid(count(1, 15)), "gamma": positive, "eta": fraction,
            "scale_steps": boolean, "network": builtin_network,
            "network_seed": count(0, 2**32 - 1)}
MODES = {
    "fig2a": ("p", "b", "pb"),
    "fig2b": ("pbar", "bbar", "pbbar"),
}
LABELS = {"p": "1 - p (b = 1)", "b": "1 - b (p = 1)", "pb": "1 - p, p = b",
          "pbar": "1 - p-bar", "bbar": "1 - b-bar", "pbbar": "1 - p-bar, p-bar = b-bar"}


def mode_config(mode: str, x: float, gamma: float = GAMMA,
                eta: float = ETA) -> tuple[LearningConfig, float]:
    """The LearningConfig of ``mode`` at value x, and its update rate (x or x^2)."""
    base = dict(rule="continuous", eta=eta, gamma=gamma)
    if mode == "ref":
        return LearningConfig(**base), 1.0
    fixed = mode.endswith("bar")
    kind = mode[:-3] if fixed else mode
    p = x if "p" in kind else 1.0
    b = x if "b" in kind else 1.0
    batch = "full" if b >= 1 else ("fixed" if fixed else "bernoulli")
    cfg = LearningConfig(**base, p=p, p_mode="fixed" if fixed else "bernoulli", batch=batch,
                         batch_fraction=b)
    return cfg, p * b


def plan(name: str, quick: bool, seed: int, overrides: dict | None = None) -> Plan:
    s = settings(name, PAPER, QUICK, SETTABLE, quick, overrides)
    net = check_network(name, s, overrides, TASK, edges_multiple_of=16 if name == "fig2b" else 1)
    n = s["tasks"]
    xs = [1 - k / 16 for k in s["one_minus_x"]]
    modes = ("ref",) + MODES[name]
    task_seeds = spawn_seeds(seed, n, stream=0)
    chunks = []
    task_steps = 0
    run_index = 0
    for mode in modes:
        for x in ([1.0] if mode == "ref" else xs):
            cfg, rate = mode_config(mode, x, s["gamma"], s["eta"])
            steps = int(math.ceil(s["steps"] / rate)) if s["scale_steps"] else s["steps"]
            # independent random draws of the same tasks (the reference is deterministic)
            for draw in range(1 if mode == "ref" else s["draws"]):
                diffusion = mode in ("ref", "p") and name == "fig2a" and draw == 0
                run_seeds = spawn_seeds(seed, n, stream=100 + run_index + 1000 * draw)
                for start in range(0, n, s["chunk"]):
                    idx = list(range(start, min(start + s["chunk"], n)))
                    spec = TrainChunk(*net, TASK, tuple(task_seeds[i] for i in idx),
                                      (cfg,) * len(idx), tuple(run_seeds[i] for i in idx),
                                      steps, n_records=20,
                                      n_snapshots=s["snapshots"] if diffusion else CHECK,
                                      diffusion=diffusion, noise=True,
                                      keep_snapshots=True,
                                      meta={"mode": mode, "x": x, "draw": draw, "tasks": idx})
                    chunks.append(Chunk(f"{mode}_{x:.4f}_d{draw}_t{start:03d}", run_train_chunk,
                                        spec, cost=len(idx) * steps,
                                        check=spec.holds))
                    task_steps += len(idx) * steps
            run_index += 1
    config = {
        "figure": name, "quick": quick, "network": s["network"],
        "network_seed": s["network_seed"],
        "task": TASK.__dict__,
        "learning": config_dict(mode_config("ref", 1, s["gamma"], s["eta"])[0]),
        "n_tasks": n, "draws": s["draws"], "modes": list(modes), "x": xs,
        "steps_at_rate_1": s["steps"],
        "steps_rule": ("ceil(steps_at_rate_1 / rate), rate = x (x^2 for p = b)"
                       if s["scale_steps"] else "steps_at_rate_1 for every run (not scaled)"),
        "chunk_size": s["chunk"],
        "noise_variance": "per run: sum over steps of E||xi||^2 at the state before the step "
                          "(update_noise_variance, clipping ignored)",
    }
    return Plan(name, config, chunks, task_steps=task_steps)


def _gather(plan: Plan, results: dict, mode: str, x: float, key: str,
            draw: int = 0) -> np.ndarray:
    """``key`` of every task's run of (mode, x, draw), in task order."""
    parts = [(c.spec.meta["tasks"], results[c.name][key]) for c in plan.chunks
             if (c.spec.meta["mode"], c.spec.meta["x"], c.spec.meta["draw"]) == (mode, x, draw)]
    parts.sort(key=lambda t: t[0][0])
    return np.concatenate([a for _, a in parts])


def _draws(plan: Plan, results: dict, mode: str, x: float, key: str) -> np.ndarray:
    """``key`` of (mode, x) for every draw: (draws, tasks, ...)."""
    return np.stack([_gather(plan, results, mode, x, key, k)
                     for k in range(plan.config["draws"])])


def analyze(plan: Plan, results: dict, out_dir) -> dict:
    cfg = plan.config
    xs = cfg["x"]
    modes = [m for m in cfg["modes"] if m != "ref"]
    r_ref = _gather(plan, results, "ref", 1.0, "final_resistance")
    ref_err = _gather(plan, results, "ref", 1.0, "train_error")
    dist, noise, rows, fits, final_err, by_draw = {}, {}, [], {}, {}, {}
    one = 1 - np.array(xs)
    for mode in modes:
        # (draws, X, tasks); a task's L2 and N are the means over its draws
        dd = np.stack([np.linalg.norm(_draws(plan, results, mode, x, "final_resistance") - r_ref,
                                      axis=2) for x in xs], axis=1)
        nd = np.stack([_draws(plan, results, mode, x, "noise_variance") for x in xs], axis=1)
        dist[mode], noise[mode] = dd.mean(0), nd.mean(0)
        if not (dist[mode].mean(axis=1) > 0).all():
            lr = cfg["learning"]
            raise SpiceclError(
                f"{plan.figure}: the {mode} runs ended exactly on the deterministic solution "
                f"(L2 = 0): nothing learned; gamma = {lr['gamma']:g}, eta = {lr['eta']:g} too "
                f"small for {cfg['steps_at_rate_1']} steps?")
        for (k, ix, t), v in np.ndenumerate(dd):
            rows.append((mode, xs[ix], 1 - xs[ix], t, k, float(v), float(nd[k, ix, t])))
        fits[mode] = power_law_fit(one, dist[mode].mean(axis=1))
        by_draw[mode] = [power_law_fit(one, d.mean(axis=1))[0] for d in dd]
        # (draws, tasks, records); runs shorter than their record count have fewer records
        err = [_draws(plan, results, mode, x, "train_error") for x in xs]
        final_err[mode] = {f"{x:g}": float(np.mean(e[..., -1] / e[..., 0]))
                           for x, e in zip(xs, err)}
    write_csv(out_dir / "distances.csv", ["mode", "x", "one_minus_x", "task", "draw", "l2_ohm",
                                          "noise_variance_ohm2"], rows)
    summary = {}
    rng = np.random.default_rng(0)  # bootstrap over tasks (fixed seed: a reproducible CI)
    for mode in modes:
        summary[f"exponent_{mode}"] = fits[mode][0]
        summary[f"prefactor_{mode}_ohm"] = fits[mode][1]
        d = dist[mode]
        boot = [power_law_fit(one, d[:, rng.integers(d.shape[1], size=d.shape[1])].mean(1))[0]
                for _ in range(500)]
        summary[f"exponent_{mode}_ci95"] = [float(np.nanpercentile(boot, 2.5)),
                                            float(np.nanpercentile(boot, 97.5))]
        summary[f"exponent_{mode}_median_fit"] = power_law_fit(one, np.median(d, 1))[0]
        summary[f"exponent_{mode}_by_draw"] = by_draw[mode]
    summary.update(_noise_summary(modes, one, dist, noise))
    summary["mean_l2_ohm"] = {m: {f"{1 - x:.4f}": float(v) for x, v in zip(xs, dist[m].mean(1))}
                              for m in modes}
    summary["mean_noise_variance_ohm2"] = {
        m: {f"{1 - x:.4f}": float(v) for x, v in zip(xs, noise[m].mean(1))} for m in modes}
    summary["final_train_scaled_error"] = {
        "ref": float(np.mean(ref_err[:, -1] / ref_err[:, 0])), **final_err}
    summary["convergence"] = _convergence(plan, results, modes, xs, dist)
    summary["warnings"] = _fit_warnings(plan, summary)
    for msg in summary["warnings"]:
        warn(f"{plan.figure}: {msg}")
    summary["paper_exponent"] = 2 / 3
    summary["hyperparameters"] = {"learning": cfg["learning"], "task": cfg["task"],
                                  "steps_at_rate_1": cfg["steps_at_rate_1"],
                                  "steps_rule": cfg["steps_rule"]}
    diff = None
    if plan.figure == "fig2a":
        diff = _diffusion(plan, results, xs, out_dir)
        summary["diffusion"] = diff
    # The six-mode collapse: fig2b adds fig2a's runs when OUT/fig2a holds the same configuration.
    all_dist, all_noise = dict(dist), dict(noise)
    if plan.figure == "fig2b":
        other = _sibling_fig2a(plan, out_dir, r_ref)
        if other is None:
            summary["collapse_all_modes"] = None
        else:
            all_dist = {**other[0], **dist}
            all_noise = {**other[1], **noise}
            summary["collapse_all_modes"] = {
                "modes": list(all_dist),
                **_collapse(list(all_dist), all_dist, all_noise, boot=True)}
    atomic_write_npz(out_dir / "distances.npz", x=np.array(xs), r_ref=r_ref,
                     **{f"l2_{m}": dist[m] for m in modes},
                     **{f"noise_{m}": noise[m] for m in modes})
    _plot(plan.figure, xs, dist, fits, diff, out_dir, all_dist, all_noise,
          title=plot_title(plan.figure, plan.config))
    return summary


def _at_check(plan: Plan, results: dict, mode: str, x: float, draw: int = 0) -> np.ndarray:
    """Resistances (tasks, E) at 1/CHECK of the runs of (mode, x, draw)."""
    snaps = _gather(plan, results, mode, x, "resistance_snapshots", draw)  # (tasks, S + 1, E)
    return snaps[:, (snaps.shape[1] - 1) // CHECK]


def _convergence(plan: Plan, results: dict, modes, xs, dist) -> dict:
    """Distances and exponents after 1/CHECK of the steps against the full runs: when they
    agree, the runs have converged and the result does not depend on the run length."""
    one = 1 - np.array(xs)
    r_ref = _at_check(plan, results, "ref", 1.0)
    out = {"steps_at_rate_1": [plan.config["steps_at_rate_1"] // CHECK,
                               plan.config["steps_at_rate_1"]]}
    change = []
    for mode in modes:
        d = np.array([np.mean([np.linalg.norm(_at_check(plan, results, mode, x, k) - r_ref, axis=1)
                               for k in range(plan.config["draws"])]) for x in xs])
        full = dist[mode].mean(axis=1)
        out[f"exponent_{mode}"] = [power_law_fit(one, d)[0], power_law_fit(one, full)[0]]
        out[f"mean_l2_{mode}_ohm"] = [[float(a), float(b)] for a, b in zip(d, full)]
        change.append(np.max(np.abs(full - d) / full))
    out["max_relative_change_of_mean_l2"] = float(np.max(change))
    out["converged"] = bool(out["max_relative_change_of_mean_l2"] <= CONVERGED)
    return out


def _fit_warnings(plan: Plan, summary: dict) -> list[str]:
    """Why the exponents may not mean what they seem: runs that raised their training error
    (a learning rate too large) or that had not converged."""
    out = []
    errs = [summary["final_train_scaled_error"]["ref"]] + [
        v for m, by_x in summary["final_train_scaled_error"].items() if m != "ref"
        for v in by_x.values()]
    if max(errs) > 1.0:
        gamma = plan.config["learning"]["gamma"]
        out.append(f"training raised the mean training error (up to {max(errs):.3g} x its "
                   f"start): gamma = {gamma:g} is too large, the distances measure divergence")
    conv = summary["convergence"]
    if not conv["converged"]:
        out.append(f"the runs had not converged: the mean distances moved by up to "
                   f"{conv['max_relative_change_of_mean_l2']:.0%} from a third into the runs "
                   f"to their end (more than {CONVERGED:.0%})"
                   + ("; --quick runs are short" if plan.config["quick"] else
                      "; give more --set steps"))
    return out


def _loglog_fit(x, y) -> dict:
    """Power law ``y = c x^a`` by log-log least squares, with its R^2 and rms residual (in
    decades) on the log scale."""
    a, c = power_law_fit(x, y)
    ly = np.log10(y)
    res = ly - np.log10(c * np.asarray(x) ** a)
    return {"exponent": a, "prefactor": c,
            "r2": float(1 - np.sum(res ** 2) / np.sum((ly - ly.mean()) ** 2)),
            "rms_log10_residual": float(np.sqrt(np.mean(res ** 2)))}


def _collapse(modes, dist, noise, boot: bool = False) -> dict:
    """Fit mean L2 = c sqrt(mean N)^a over every (mode, x) point together (log-log least
    squares), its quality, and the same for the individual runs.

    ``dist``/``noise``: per mode, (X, tasks) L2 (ohm) and N (ohm^2). With ``boot``, a 95 %
    bootstrap interval of the exponent over tasks (one resample shared by all modes).
    """
    def points(idx=None):
        sl = (slice(None), idx) if idx is not None else (slice(None), slice(None))
        return (np.concatenate([np.sqrt(noise[m][sl].mean(1)) for m in modes]),
                np.concatenate([dist[m][sl].mean(1) for m in modes]))

    out = {**_loglog_fit(*points()), "n_points": int(len(points()[1]))}
    if boot:
        n = next(iter(dist.values())).shape[1]
        rng = np.random.default_rng(1)
        bs = [power_law_fit(*points(rng.integers(n, size=n)))[0] for _ in range(500)]
        out["exponent_ci95"] = [float(np.nanpercentile(bs, 2.5)), float(np.nanpercentile(bs, 97.5))]
    # N is heavy-tailed over tasks (a few tasks dominate its mean): the same with medians
    out["median"] = _loglog_fit(
        np.concatenate([np.sqrt(np.median(noise[m], axis=1)) for m in modes]),
        np.concatenate([np.median(dist[m], axis=1) for m in modes]))
    # the individual runs (each L2 against its own sqrt(N))
    out["per_run"] = _loglog_fit(np.concatenate([np.sqrt(noise[m]).ravel() for m in modes]),
                                 np.concatenate([dist[m].ravel() for m in modes]))
    # per mode: the mean of L2 / sqrt(N) over x (equal for all modes if they collapse on L2 ~ sqrt N)
    out["l2_per_sqrt_noise"] = {m: float(np.mean(dist[m].mean(1) / np.sqrt(noise[m].mean(1))))
                                for m in modes}
    return out


def _noise_summary(modes, one, dist, noise) -> dict:
    """Per-mode exponents against sqrt(N) and of sqrt(N) against 1 - x; the collapse over the
    modes against sqrt(N), and for comparison the best single power law in 1 - x."""
    out = {}
    rng = np.random.default_rng(2)  # bootstrap over tasks (fixed seed)
    for m in modes:
        d, nv = dist[m], noise[m]
        sx = np.sqrt(nv.mean(1))
        out[f"exponent_{m}_vs_noise"] = power_law_fit(sx, d.mean(1))[0]
        bs = []
        for _ in range(500):
            i = rng.integers(d.shape[1], size=d.shape[1])
            bs.append(power_law_fit(np.sqrt(nv[:, i].mean(1)), d[:, i].mean(1))[0])
        out[f"exponent_{m}_vs_noise_ci95"] = [float(np.nanpercentile(bs, 2.5)),
                                              float(np.nanpercentile(bs, 97.5))]
        out[f"sqrt_noise_exponent_{m}"] = power_law_fit(one, sx)[0]
    out["collapse"] = _collapse(modes, dist, noise, boot=True)
    out["collapse_exponent"] = out["collapse"]["exponent"]
    out["collapse_r2"] = out["collapse"]["r2"]
    # the same modes against 1 - x, without matching the rates: one power law for all
    fit = _loglog_fit(np.concatenate([one for _ in modes]),
                      np.concatenate([dist[m].mean(1) for m in modes]))
    out["no_collapse_vs_one_minus_x"] = {k: fit[k] for k in ("exponent", "rms_log10_residual",
                                                             "r2")}
    return out


def _sibling_fig2a(plan: Plan, out_dir, r_ref) -> tuple[dict, dict] | None:
    """fig2a's (L2, N) per mode from ``out_dir/../fig2a`` if it holds this configuration
    (same seed, scale, tasks and deterministic reference), else None."""
    from spicecl.results import read_json, read_npz

    d = out_dir.parent / "fig2a"
    try:
        other = read_json(d / "summary.json")
        arrays = read_npz((d / "distances.npz").read_bytes())
    except (OSError, ValueError):
        return None
    other = other.get("config") if isinstance(other, dict) else None
    if not isinstance(other, dict):  # a damaged summary: fig2a's runs are not reused
        return None
    same = {k: v for k, v in plan.config.items() if k not in ("figure", "modes")}
    theirs = {k: v for k, v in other.items() if k not in ("figure", "modes")}
    if config_hash(same) != config_hash(theirs) or "r_ref" not in arrays or \
            not np.array_equal(arrays["r_ref"], r_ref):
        return None
    modes = [m for m in MODES["fig2a"] if f"l2_{m}" in arrays and f"noise_{m}" in arrays]
    if len(modes) != len(MODES["fig2a"]):
        return None
    return {m: arrays[f"l2_{m}"] for m in modes}, {m: arrays[f"noise_{m}"] for m in modes}


def _diffusion(plan: Plan, results: dict, xs, out_dir) -> dict:
    """Eq. 6 and Eq. 5 traces along the Bernoulli-p runs, time-averaged, against p."""
    ps = [1.0] + list(xs)
    out = {"p": ps, "trace_deff": [], "trace_dsgd": [], "trace_gated_noise": [],
           "spectrum_deff_final": []}
    rows = []
    for p in ps:
        mode = "ref" if p == 1.0 else "p"
        t_eff = _gather(plan, results, mode, p, "trace_deff")  # (tasks, S)
        t_sgd = _gather(plan, results, mode, p, "trace_dsgd")
        sq = _gather(plan, results, mode, p, "update_sq")
        spec = _gather(plan, results, mode, p, "spectrum_deff")
        # Covariance of the gated update m * dR, m_i ~ Bernoulli(p): p (1 - p) diag(dR^2).
        gated = p * (1 - p) * sq
        vals = [float(np.mean(t_eff.mean(axis=1))), float(np.mean(t_sgd.mean(axis=1))),
                float(np.mean(gated.mean(axis=1)))]
        out["trace_deff"].append(vals[0])
        out["trace_dsgd"].append(vals[1])
        out["trace_gated_noise"].append(vals[2])
        out["spectrum_deff_final"].append([float(v) for v in spec.mean(axis=0)[:4]])
        rows.append((p, *vals))
    out["note"] = ("traces in ohm^2 per step^2 (gamma^2 D), averaged over the run's snapshots "
                   "and the tasks; spectrum: the 4 largest eigenvalues at the final state")
    write_csv(out_dir / "diffusion.csv", ["p", "trace_eq6_deff", "trace_eq5_dsgd",
                                          "trace_gated_update_noise"], rows)
    return out


@styled
def _plot(figure, xs, dist, fits, diff, out_dir, all_dist, all_noise, title=None) -> None:
    from matplotlib.ticker import NullFormatter

    ncol = 3 if diff else 2
    fig, axes = subplots(1, ncol, figsize=(4.2 * ncol, 3.4), squeeze=False)
    ax = axes[0, 0]
    one = 1 - np.array(xs)
    markers = {"p": "o", "b": "s", "pb": "^", "pbar": "o", "bbar": "s", "pbbar": "^"}
    colors = {"p": "C0", "b": "C3", "pb": "C2", "pbar": "C0", "bbar": "C3", "pbbar": "C2"}
    for mode, d in dist.items():
        m, e = mean_sem(d, axis=1)
        a, c = fits[mode]
        ax.errorbar(one, m, yerr=e, marker=markers[mode], ls="none", color=colors[mode], ms=4,
                    capsize=2, label=f"{LABELS[mode]}: slope {a:.2f}")
        ax.plot(one, c * one ** a, color=colors[mode], lw=0.8)
    ax.plot(one, m[-1] * (one / one[-1]) ** (2 / 3), "k--", lw=0.8, label="slope 2/3 (paper)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.minorticks_off()
    ax.set_xticks(one)
    ax.set_xticklabels([f"{v:.3g}" for v in one], fontsize=7)
    ax.set_xlabel("1 - p  or  1 - b")
    ax.set_ylabel("L2 distance from R(p = b = 1) (ohm)")
    ax.legend(fontsize=6)
    ax.set_title(title or figure, fontsize=9)
    if diff:
        ax2 = axes[0, 1]
        ax2.plot(diff["p"], diff["trace_deff"], "o-", ms=3, label="tr D_eff (Eq. 6)")
        ax2.plot(diff["p"], diff["trace_dsgd"], "s-", ms=3, label="tr D_SGD (Eq. 5, per example)")
        ax2.plot(diff["p"][1:], diff["trace_gated_noise"][1:], "^-", ms=3,
                 label="tr Cov(gated update) = p(1-p)|dR|^2")
        ax2.set_yscale("log")
        ax2.set_xlabel("p")
        ax2.set_ylabel("gamma^2 x trace (ohm^2), run average")
        ax2.legend(fontsize=6)
    # the collapse: mean L2 against sqrt(mean N) for every mode at hand, one fitted line
    ax3 = axes[0, -1]
    for mode, d in all_dist.items():
        sx = np.sqrt(all_noise[mode].mean(axis=1))
        m, e = mean_sem(d, axis=1)
        ax3.errorbar(sx, m, yerr=e, marker=markers[mode], ls="none", color=colors[mode], ms=4,
                     capsize=2, mfc="none" if mode.endswith("bar") else colors[mode],
                     label=LABELS[mode].replace("1 - ", "", 1))
    col = _collapse(list(all_dist), all_dist, all_noise)
    lo = min(np.sqrt(n.mean(1)).min() for n in all_noise.values())
    hi = max(np.sqrt(n.mean(1)).max() for n in all_noise.values())
    grid = np.geomspace(lo, hi, 20)
    ax3.plot(grid, col["prefactor"] * grid ** col["exponent"], "k-", lw=0.8,
             label=f"all: slope {col['exponent']:.2f}, R^2 {col['r2']:.2f}")
    ax3.set_xscale("log")
    ax3.set_yscale("log")
    ax3.xaxis.set_minor_formatter(NullFormatter())
    ticks = [t for t in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if lo <= t <= hi]
    ax3.set_xticks(ticks)
    ax3.set_xticklabels([f"{t:g}" for t in ticks])
    ax3.set_xlabel("sqrt(N), N = integrated update-noise variance (ohm)")
    ax3.set_ylabel("mean L2 distance (ohm)")
    ax3.set_title("matched effective rates", fontsize=9)
    ax3.legend(fontsize=6)
    fig.tight_layout()
    atomic_savefig(fig, out_dir / f"{figure}.png")
