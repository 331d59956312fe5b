"""The idealized and the hardware-faithful pictures side by side, on the same tasks and seeds.

:func:`run_compare` trains K tasks at each update probability p in

* the **idealized** picture: the continuous rule (Eq. 2) with independent Bernoulli(p) gating
  (Eq. 3);
* the **idealized discrete** picture: Eq. 10/11 on the nominal 128-tap grid (every hardware
  imperfection off);
* the **hardware-faithful** picture (:mod:`spicecl.hardware`): every imperfection on, on one
  drawn board per task (gating by each edge's own p_i, or replayed from a variation file);
* each imperfection **alone** (on the same boards), to attribute the difference;
* the **clock-free** mode (every imperfection on, no clock: each edge at its own oscillator's
  rising edges), at the same number of updates per edge as each p's clocked run.

Errors are scaled test errors (test error / its value at step 0); learning curves are plotted
against steps * p (updates per edge). :func:`write_compare` writes the data, the plots and a
short summary (only the CLI calls it).

Seeds: ``SeedSequence(seed).spawn(K)``, and each task's child spawns (task, learning, parts,
order); the learning seed of a task is the same in every picture and at every p. The order
seed draws the sample order of the task's board's recorded update sequences when they are
replayed shuffled in time (``variation_order='shuffled'``,
:meth:`~spicecl.hardware.HardwareParts.shuffled_in_time`): the control for the runs a real
bank's updates come in, with every edge's update count and every sample's cross-edge pattern
kept.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from spicecl.errors import SpiceclError, check_count, check_range, check_seed
from spicecl.hardware import (IMPERFECTIONS, HardwareConfig, HardwareParts, train_clock_free,
                              train_hardware)
from spicecl.learning import (MAX_STEPS, MAX_TASKS, LearningConfig, gamma_at_volts, rate_hint,
                              train)
from spicecl.network import Network
from spicecl.tasks import make_task
from spicecl.variation import ToleranceSpec, digipot_grid

#: Variant names, in report order (imperfections appear as "only:<name>").
IDEALIZED = "idealized"
DISCRETE = "ideal_discrete"
HARDWARE = "hardware"
CLOCK_FREE = "clock_free"


#: How the hardware rows replay a variation file's update sequences: clock sample t at step t,
#: or the samples in a random order common to all edges of a board.
VARIATION_ORDERS = ("recorded", "shuffled")

#: Continuous-rule rate (ohm^3/V^2) of compare's idealized runs with inputs up to 1 V.
GAMMA_AT_1V = 2e11


def default_gamma(volts: float) -> float:
    """compare's default rate for inputs up to ``volts``: Eq. 2's step scales as V^2 when
    every input and target scales by V, so GAMMA_AT_1V / V^2 gives the 1 V dynamics."""
    return gamma_at_volts(GAMMA_AT_1V, volts)


@dataclass(frozen=True)
class CompareConfig:
    """What to compare (validated)."""

    task: str = "allostery"
    ps: tuple = (1.0, 0.5, 0.2)
    n_tasks: int = 25
    steps: int = 2000
    seed: int = 0
    eta: float = 0.5
    gamma: float | None = None  # None: GAMMA_AT_1V / volts^2, the same dynamics at any volts
    sigma_max: float = 0.05
    volts: float = 1.0
    imperfections: bool = True
    clock_free: bool = True
    n_records: int = 100
    tolerance: dict | None = None  # a ToleranceSpec's to_dict(); None: the default spec
    roles: tuple | None = None  # (inputs, outputs, grounds) node indices; None: per task
    variation_order: str = "recorded"  # one of VARIATION_ORDERS

    def __post_init__(self):
        ps = self.ps
        ps = (ps,) if isinstance(ps, numbers.Real) else tuple(np.asarray(ps, object).ravel())
        # plain Python numbers (numpy scalars from np.linspace do not go into JSON)
        ps = tuple(float(p) if isinstance(p, numbers.Real) and type(p) not in (int, float)
                   else p for p in ps)
        object.__setattr__(self, "ps", ps)
        if not self.ps:
            raise SpiceclError("--p needs at least one value")
        for p in self.ps:
            check_range("--p", p, 0, 1, low_open=True)
        if len(set(self.ps)) != len(self.ps):
            raise SpiceclError("--p values must be distinct")
        keys = [_pkey(p) for p in self.ps]
        if len(set(keys)) != len(keys):  # results are keyed by p to 6 significant digits
            dup = next(k for k in keys if keys.count(k) > 1)
            same = " and ".join(repr(float(p)) for p in self.ps if _pkey(p) == dup)
            raise SpiceclError(f"--p values {same} are the same to 6 significant digits "
                               f"(results are keyed by p = {dup})")
        check_count("--tasks", self.n_tasks, 1, MAX_TASKS)
        check_count("--steps", self.steps, 1, MAX_STEPS)
        check_range("--eta", self.eta, 0, 1, low_open=True)
        check_range("--sigma-max", self.sigma_max, 0, float("inf"), high_open=True)
        check_range("--volts", self.volts, 0, float("inf"), low_open=True, high_open=True)
        if self.gamma is None:
            gamma = default_gamma(self.volts)
            if not 0 < gamma < float("inf"):
                raise SpiceclError(f"--volts {self.volts:g}: the default --gamma "
                                   f"{GAMMA_AT_1V:g} / volts^2 is {gamma:g}; give --gamma")
            object.__setattr__(self, "gamma", gamma)
        check_range("--gamma", self.gamma, 0, float("inf"), low_open=True, high_open=True)
        object.__setattr__(self, "seed", check_seed(self.seed))
        if self.variation_order not in VARIATION_ORDERS:
            raise SpiceclError(f"--variation-order must be one of {', '.join(VARIATION_ORDERS)}"
                               f", got {self.variation_order!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ps"] = list(self.ps)
        return d


@dataclass
class CompareResult:
    """Per variant and p: final scaled errors (K,) and mean learning curves."""

    config: CompareConfig
    final: dict = field(default_factory=dict)    # variant -> {p: (K,) final scaled error}
    curves: dict = field(default_factory=dict)   # variant -> {p: (x, mean, sem)}
    meta: dict = field(default_factory=dict)

    def stats(self, variant: str) -> dict:
        out = {}
        for p, v in self.final.get(variant, {}).items():
            v = np.asarray(v, float)
            out[_pkey(p)] = {"mean": float(v.mean()), "sem": _sem(v),
                             "median": float(np.median(v)), "n": int(v.size)}
        return out

    def summary(self) -> dict:
        variants = list(self.final)
        res = {
            "idealized": {k: s["mean"] for k, s in self.stats(IDEALIZED).items()},
            "hardware": {k: s["mean"] for k, s in self.stats(HARDWARE).items()},
            "stats": {v: self.stats(v) for v in variants},
            "config": self.config.to_dict(),
            **self.meta,
        }
        return res


def _pkey(p: float) -> str:
    return f"{float(p):g}"


def _sem(v) -> float:
    v = np.asarray(v, float)
    return float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0


def _curve(hist, p: float):
    """(updates per edge (T,), mean (T,), s.e.m. (T,)) of the scaled test errors (K, T)."""
    x = hist.steps * p
    s = hist.test_scaled
    return (x, s.mean(axis=0), s.std(axis=0, ddof=1) / np.sqrt(s.shape[0])
            if s.shape[0] > 1 else np.zeros(s.shape[1]))


def make_tasks(net: Network, cfg: CompareConfig):
    """Tasks, learning seeds (ints) and part seeds (ints) of the K tasks."""
    tasks, learn, parts = [], [], []
    for child in np.random.SeedSequence(int(cfg.seed)).spawn(int(cfg.n_tasks)):
        ts, ls, ps = child.spawn(3)
        tasks.append(make_task(net, cfg.task, np.random.default_rng(ts), volts=cfg.volts,
                               roles=cfg.roles))
        learn.append(int(ls.generate_state(1)[0]))
        parts.append(int(ps.generate_state(1)[0]))
    return tasks, learn, parts


def order_seeds(cfg: CompareConfig) -> list[int]:
    """The order seeds (ints) of the K tasks: each task child's fourth spawn (make_tasks
    takes the first three)."""
    return [int(child.spawn(4)[3].generate_state(1)[0])
            for child in np.random.SeedSequence(int(cfg.seed)).spawn(int(cfg.n_tasks))]


def check_variation_order(cfg: CompareConfig, variation) -> None:
    """Refuse a shuffled order without a variation file (independent draws have no order)."""
    if cfg.variation_order == "shuffled" and variation is None:
        raise SpiceclError("--variation-order shuffled needs --variation: without a variation "
                           "file edges are gated by independent draws, which have no order")


def run_compare(net: Network, cfg: CompareConfig, *, variation=None, log=None) -> CompareResult:
    """Train every picture (see the module docstring); ``log``: optional callable(str)."""
    check_variation_order(cfg, variation)
    say = log or (lambda _msg: None)
    t_start = time.perf_counter()
    tasks, learn, part_seeds = make_tasks(net, cfg)
    spec = None if cfg.tolerance is None else ToleranceSpec.from_dict(cfg.tolerance)
    grid = {} if spec is None else digipot_grid(spec)
    disc = LearningConfig(rule="discrete", eta=cfg.eta, sigma_max=cfg.sigma_max, **grid)
    cont = LearningConfig(rule="continuous", eta=cfg.eta, gamma=cfg.gamma,
                          **({"r_init": disc.r_init} if grid else {}))
    boards = [HardwareParts.draw(net.n_edges, s, disc, spec=spec) for s in part_seeds]
    var_draws = None
    if variation is not None:
        # one oscillator bank per board: the file's Monte Carlo draws in turn
        n_draws = int(variation.arrays["rt"].shape[0])
        var_draws = [k % n_draws for k in range(len(boards))]
        boards = [b.with_variation(variation, draw=d) for b, d in zip(boards, var_draws)]
    shuffled = cfg.variation_order == "shuffled"
    if shuffled:
        orders = order_seeds(cfg)
        boards = [b.shuffled_in_time(np.random.default_rng(s)) for b, s in zip(boards, orders)]
    res = CompareResult(cfg)
    gating_used = {}
    timing = {}
    rose = {}  # p -> tasks whose idealized (continuous) training error ended above its start

    def run(variant, p, fn):
        t0 = time.perf_counter()
        h = fn()
        timing.setdefault(variant, 0.0)
        timing[variant] += time.perf_counter() - t0
        res.final.setdefault(variant, {})[p] = h.test_scaled[:, -1].copy()
        res.curves.setdefault(variant, {})[p] = _curve(h, p)
        return h

    variants = [IDEALIZED, DISCRETE, HARDWARE]
    if cfg.imperfections:
        variants += [f"only:{n}" for n in IMPERFECTIONS]
    notes = []
    for p in cfg.ps:
        gating = "edge_p"
        if variation is not None and p < 1:
            seqs = [b.sequence_for(p) for b in boards]
            if all(q is not None for q in seqs):
                gating = "replay"
                n_samples = min(q.shape[0] for q in seqs)
                if cfg.steps > n_samples:
                    notes.append(f"p = {p:g}: the variation file's recorded sequence has "
                                 f"{n_samples} samples and the run {cfg.steps} steps, so it "
                                 f"is replayed cyclically")
            else:  # every board falls back, so that all tasks are gated alike
                k = next(i for i, q in enumerate(seqs) if q is None)
                have = ", ".join(f"{float(q.mean()):.2f}" for _b, q in
                                 sorted(boards[k].updates.items()))
                where = f" in draw {var_draws[k]}" if len(set(var_draws)) > 1 else ""
                notes.append(f"p = {p:g}: the variation file has no update sequence within "
                             f"0.05 of it{where} (recorded p: {have}); edges are gated by "
                             f"their own p_i instead")
        order = ", shuffled in time" if shuffled and gating == "replay" else ""
        gating_used[_pkey(p)] = gating + order if p < 1 else "none (p = 1)"
        for variant in variants:
            say(f"compare: p={p:g} {variant}")
            if variant == IDEALIZED:
                h = run(variant, p, lambda: train(net, tasks, replace(cont, p=p), learn,
                                                  cfg.steps, n_records=cfg.n_records))
                rose[p] = int(np.sum(h.train_scaled[:, -1] > 1.0 + 1e-9))
                continue
            if variant == DISCRETE:
                hw = HardwareConfig.ideal()
            elif variant == HARDWARE:
                hw = HardwareConfig(gating=gating)
            else:
                hw = HardwareConfig.only(variant.split(":", 1)[1], gating=gating)
            run(variant, p, lambda hw=hw: train_hardware(
                net, tasks, replace(disc, p=p), learn, cfg.steps, hardware=hw, parts=boards,
                n_records=cfg.n_records))
    if any(rose.values()):
        where = ", ".join(f"{k} of {len(tasks)} tasks at p = {p:g}"
                          for p, k in rose.items() if k)
        default = " (compare's default)" if cfg.gamma == default_gamma(cfg.volts) else ""
        note = (f"idealized (continuous rule): training raised the training error of {where}: "
                f"--gamma {cfg.gamma:g}{default} is likely too large for this network")
        hint = rate_hint(cfg.gamma, net, cont.r_init)
        notes.append(note + (f". {hint}" if hint else ""))
    if cfg.clock_free:
        # (a whole number of updates per edge, at least steps * p for every p; 1e-9: 700 * 0.7
        # is 490.00000000000006)
        budget = math.ceil(cfg.steps * max(cfg.ps) - 1e-9)
        say(f"compare: clock-free, {budget:g} updates per edge")
        t0 = time.perf_counter()
        h = train_clock_free(net, tasks, disc, learn, budget, hardware=HardwareConfig(),
                             parts=boards, phase_seed=int(cfg.seed), n_records=cfg.n_records)
        timing[CLOCK_FREE] = time.perf_counter() - t0
        for p in cfg.ps:
            x = cfg.steps * p
            res.final.setdefault(CLOCK_FREE, {})[p] = np.array(
                [np.interp(x, h.steps, row) for row in h.test_scaled])
        res.curves[CLOCK_FREE] = {None: _curve(h, 1.0)}
        res.meta["clock_free_events"] = h.meta["events"]
    res.meta.update({
        "network": net.name, "n_edges": net.n_edges, "n_nodes": net.n_nodes,
        "network_file": net.source,
        "gating": gating_used,
        "warnings": notes,
        "learning_seeds": learn, "part_seeds": part_seeds,
        "variation_file": None if variation is None else str(variation.path),
        # (the bytes it held: a later `oscillators --out` into the same path replaces them)
        **({} if variation is None else {"variation_sha256": variation.sha256}),
        "variation_draws": var_draws,
        **({"order_seeds": orders} if shuffled else {}),
        "boards": [b.summary() for b in boards[:3]],
        "seconds": {k: round(v, 2) for k, v in timing.items()},
        "wall_seconds": round(time.perf_counter() - t_start, 2),
        "error": "scaled test error (test MSE / its value at step 0), at the last step; "
                 "clock-free: at the same number of updates per edge as steps * p",
    })
    return res


# --------------------------------------------------------------------------------------------
# Output


def _label(v: str) -> str:
    return {IDEALIZED: "idealized (continuous)", DISCRETE: "idealized discrete",
            HARDWARE: "hardware-faithful", CLOCK_FREE: "clock-free (hardware)"}.get(
        v, v.replace("only:", "only ") if v.startswith("only:") else v)


def final_rows(res: CompareResult) -> list[dict]:
    rows = []
    for variant in res.final:
        for k, s in res.stats(variant).items():
            rows.append({"variant": variant, "p": k, **s})
    return rows


def summary_markdown(res: CompareResult, command: str) -> str:
    cfg = res.config
    s = {v: res.stats(v) for v in res.final}
    ps = [_pkey(p) for p in cfg.ps]

    def cell(v, k):
        if v not in s or k not in s[v]:
            return "-"
        return f"{s[v][k]['mean']:.3f} ± {s[v][k]['sem']:.3f}"

    lines = [f"# Idealized vs hardware-faithful: {res.meta['network']} {cfg.task}", "",
             f"Command: `{command}`", "",
             f"{cfg.n_tasks} tasks, {cfg.steps} steps, seed {cfg.seed}, eta {cfg.eta:g}, "
             f"continuous gamma {cfg.gamma:g}, Eq. 10 sigma ~ U[0, {cfg.sigma_max:g}] V, "
             f"inputs up to {cfg.volts:g} V. Final scaled test error (mean ± s.e.m. over tasks; "
             f"clock-free at the same updates per edge as steps × p).", "",
             "| picture | " + " | ".join(f"p = {k}" for k in ps) + " |",
             "|---|" + "---|" * len(ps)]
    for v in res.final:
        lines.append(f"| {_label(v)} | " + " | ".join(cell(v, k) for k in ps) + " |")
    lines += ["", "## What it shows", ""]
    lines += [f"- {t}" for t in findings(res)]
    lines += [f"- Note: {n}" for n in res.meta.get("warnings", [])]
    lines += ["", "Gating per p: " + ", ".join(f"p={k}: {g}" for k, g in res.meta["gating"].items()),
              "", "Plots: learning_curves.png, final_vs_p.png, imperfections.png. Data: "
              "final_errors.csv, task_errors.csv, curves.csv, summary.json.", ""]
    return "\n".join(lines)


def findings(res: CompareResult) -> list[str]:
    """Plain statements of what the numbers show (computed, not written by hand)."""
    cfg = res.config
    out = []
    ps = sorted(cfg.ps, reverse=True)

    def m(v, p):
        st = res.stats(v).get(_pkey(p))
        return None if st is None else (st["mean"], st["sem"])

    def trend(v):
        if len(ps) < 2 or v not in res.final:
            return None
        hi, lo = m(v, ps[0]), m(v, ps[-1])
        diff = lo[0] - hi[0]
        err = float(np.hypot(hi[1], lo[1]))
        if int(cfg.n_tasks) < 2:  # no s.e.m. from one task: nothing to test against
            word = "not tested (one task: no s.e.m.)"
        elif abs(diff) > 2 * err:
            word = "lower" if diff < 0 else "higher"
        else:
            word = "not significantly different (within 2 s.e.m.)"
        return (f"{_label(v)}: final error at p = {ps[-1]:g} is {lo[0]:.3f} ± {lo[1]:.3f} vs "
                f"{hi[0]:.3f} ± {hi[1]:.3f} at p = {ps[0]:g}: {word}"
                + ("" if "not" in word else " at low p"))

    for v in (IDEALIZED, DISCRETE, HARDWARE):
        t = trend(v)
        if t:
            out.append(t)
    for p in ps:
        a, b = m(IDEALIZED, p), m(HARDWARE, p)
        if a and b:
            out.append(f"p = {p:g}: hardware-faithful {b[0]:.3f} ± {b[1]:.3f} vs idealized "
                       f"{a[0]:.3f} ± {a[1]:.3f} (difference {b[0] - a[0]:+.3f})")
    if any(v.startswith("only:") for v in res.final):
        p = ps[0]
        base = m(DISCRETE, p)
        effects = []
        for n in IMPERFECTIONS:
            r = m(f"only:{n}", p)
            if r and base:
                effects.append((r[0] - base[0], n, r))
        effects.sort(key=lambda e: -abs(e[0]))
        if effects:
            out.append(f"at p = {p:g}, relative to the idealized discrete rule "
                       f"({base[0]:.3f}), each imperfection alone changes the final error by: "
                       + ", ".join(f"{n} {d:+.3f}" for d, n, _r in effects))
    if CLOCK_FREE in res.final:
        for p in ps:
            c, h = m(CLOCK_FREE, p), m(HARDWARE, p)
            if c and h:
                out.append(f"clock-free at {cfg.steps * p:g} updates per edge: {c[0]:.3f} ± "
                           f"{c[1]:.3f} vs clocked hardware at p = {p:g}: {h[0]:.3f} ± {h[1]:.3f}")
    return out


def write_compare(res: CompareResult, out_dir, command: str) -> list:
    """Write summary.json, final_errors.csv, task_errors.csv, curves.csv, summary.md, the plots
    and the manifest into ``out_dir`` (through :mod:`spicecl.results`)."""
    from spicecl.results import atomic_write_json, atomic_write_text, staged_outputs, write_manifest

    with staged_outputs(out_dir) as out:
        files = [atomic_write_json(out / "summary.json", res.summary())]
        rows = final_rows(res)
        csv = ["variant,p,mean,sem,median,n"] + [
            f"{r['variant']},{r['p']},{r['mean']:.6g},{r['sem']:.6g},{r['median']:.6g},{r['n']}"
            for r in rows]
        files.append(atomic_write_text(out / "final_errors.csv", "\n".join(csv) + "\n"))
        # each task's final error, for tests paired over tasks (the same tasks, boards and
        # learning draws in every row)
        tl = ["variant,p,task,final_scaled_error"] + [
            f"{v},{_pkey(p)},{k},{e:.10g}" for v, per_p in res.final.items()
            for p, errs in per_p.items() for k, e in enumerate(errs)]
        files.append(atomic_write_text(out / "task_errors.csv", "\n".join(tl) + "\n"))
        cl = ["variant,p,updates_per_edge,mean_scaled_error,sem"]
        for v, per_p in res.curves.items():
            for p, (x, mu, se) in per_p.items():
                for a, b, c in zip(x, mu, se):
                    cl.append(f"{v},{'' if p is None else _pkey(p)},{a:.6g},{b:.6g},{c:.6g}")
        files.append(atomic_write_text(out / "curves.csv", "\n".join(cl) + "\n"))
        files.append(atomic_write_text(out / "summary.md", summary_markdown(res, command)))
        files += plot_compare(res, out)
        # as network_file: where the variation file was, and its bytes (only when one was used)
        var = res.meta.get("variation_file")
        used = {} if var is None else {"variation_file": {
            "path": str(Path(var).resolve()), "sha256": res.meta["variation_sha256"]}}
        files.append(write_manifest(out, res.config.to_dict(), res.config.seed,
                                    network=res.meta["network"],
                                    network_seed=res.meta.get("network_seed", 0),
                                    network_file=res.meta.get("network_file"), **used))
    return [Path(out_dir) / Path(f).name for f in files]  # (written to a staging directory)


def plot_compare(res: CompareResult, out) -> list:
    from spicecl.results import atomic_savefig, subplots

    cfg = res.config
    files = []
    colors = {p: f"C{i % 10}" for i, p in enumerate(sorted(cfg.ps, reverse=True))}
    fig, axes = subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, v in zip(axes, (IDEALIZED, HARDWARE)):
        for p, (x, mu, se) in res.curves.get(v, {}).items():
            ax.plot(x[1:], mu[1:], color=colors[p], label=f"p = {p:g}")
            ax.fill_between(x[1:], (mu - se)[1:], (mu + se)[1:], color=colors[p], alpha=0.2)
        if v == HARDWARE and CLOCK_FREE in res.curves:
            x, mu, se = res.curves[CLOCK_FREE][None]
            ax.plot(x[1:], mu[1:], "k--", label="clock-free")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("steps × p (updates per edge)")
        ax.set_title(_label(v))
        ax.legend(fontsize=8)
    axes[0].set_ylabel("scaled test error (mean ± s.e.m.)")
    fig.suptitle(f"{res.meta['network']} {cfg.task}: {cfg.n_tasks} tasks, seed {cfg.seed}")
    files.append(atomic_savefig(fig, out / "learning_curves.png"))

    fig, ax = subplots(figsize=(5.5, 3.8))
    ps = np.array(sorted(cfg.ps))
    for v, style in ((IDEALIZED, "o-"), (DISCRETE, "s--"), (HARDWARE, "D-"), (CLOCK_FREE, "k^:")):
        if v not in res.final:
            continue
        st = res.stats(v)
        mu = [st[_pkey(p)]["mean"] for p in ps]
        se = [st[_pkey(p)]["sem"] for p in ps]
        ax.errorbar(ps, mu, yerr=se, fmt=style, capsize=3, label=_label(v))
    ax.set_xlabel("p")
    ax.set_ylabel("final scaled test error")
    ax.set_title(f"{res.meta['network']} {cfg.task}: final error vs p (seed {cfg.seed})")
    # right of the axes: inside, it sat on error bars (loc="best" does not avoid them)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    files.append(atomic_savefig(fig, out / "final_vs_p.png"))

    names = [DISCRETE] + [f"only:{n}" for n in IMPERFECTIONS] + [HARDWARE]
    names = [n for n in names if n in res.final]
    fig, ax = subplots(figsize=(8, 3.8))
    width = 0.8 / len(cfg.ps)
    for j, p in enumerate(sorted(cfg.ps, reverse=True)):
        mu = [res.stats(n)[_pkey(p)]["mean"] for n in names]
        se = [res.stats(n)[_pkey(p)]["sem"] for n in names]
        ax.bar(np.arange(len(names)) + j * width, mu, width, yerr=se, capsize=2,
               color=colors[p], label=f"p = {p:g}")
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
    ax.set_xticklabels([_label(n) for n in names], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("final scaled test error")
    ax.set_title("each imperfection alone (discrete rule)")
    ax.legend(fontsize=8)
    files.append(atomic_savefig(fig, out / "imperfections.png"))
    return files
