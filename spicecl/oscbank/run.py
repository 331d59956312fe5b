"""Running oscillator banks in ngspice: characterization, fast method, full transient, sweeps.

A job is one (Monte Carlo draw, bias) pair. Each job runs a short transient of the bank (the
characterization: periods, enable duty cycles and phases; also the same parts on an ideal
supply when the supply has a resistance, for the locking check), then makes the K x N update
sequence either by the fast method (from period, duty and phase) or by the full transient
sampled at the global clock (the reference, hundreds of times dearer: ``spicecl bench
oscillators``). :func:`run_bank` spreads the jobs over local processes; seeds are spawned
with ``numpy.random.SeedSequence`` so results do not depend on the number of workers.
Only :mod:`spicecl.spice.runner` starts ngspice.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from spicecl.errors import SpiceclError
from spicecl.oscbank import measure
from spicecl.oscbank.design import (PLOT_EDGES, SETTLE_PERIODS, BankDraw, BankTolerance,
                                    OscillatorDesign, analytic_p, bank_classes, bank_deck,
                                    check_bias, check_clock, clock_times, deck_hash, draw_bank,
                                    enable_levels, save_vectors)
from spicecl.variation import ToleranceSpec

METHODS = ("fast", "transient")
#: Largest bank: far beyond what ngspice can simulate (1e9 edges exhausted memory in Python).
MAX_BANK_EDGES = 1_000_000
#: Bounds of the maximum time step, in nominal periods: coarser than T/10 cannot resolve the
#: waveform; finer than T/100,000 gains nothing (converged at T/1000) and only costs time.
MIN_TMAX, MAX_TMAX = 1e-5, 0.1

#: Longest run, in nominal oscillator periods, whose clock-sample phases a double resolves.
MAX_SPAN_PERIODS = 1e12


@dataclass(frozen=True)
class BankConfig:
    """What to simulate: a bank of ``n_edges`` oscillators at each bias, K clock samples.

    ``tolerance``: a :class:`BankTolerance` or a tolerance spec (see
    :func:`spicecl.oscbank.design.draw_bank`);
    ``char_periods``: oscillator periods simulated by the characterization transient after
    the start-up (periods, duty cycles and phases are measured over the second half);
    ``fast_tmax`` / ``transient_tmax``: maximum time step as a fraction of the nominal period
    (1/50: periods up to 0.6-0.7 % short of converged, duty cycles within 0.002; 1/1000: periods
    within 0.03 %; see models/oscillator.lib); ``lock_rtol``: relative period agreement that
    counts as locked.
    """

    n_edges: int
    biases: tuple
    n_samples: int
    design: OscillatorDesign = field(default_factory=OscillatorDesign)
    tolerance: BankTolerance | ToleranceSpec = field(default_factory=BankTolerance)
    supply_resistance: float = 0.0
    decoupling: float = 0.0
    method: str = "fast"
    seed: int = 0
    draws: int = 1
    char_periods: float = 40.0
    fast_tmax: float = 1.0 / 50.0
    transient_tmax: float = 1.0 / 50.0
    lock_rtol: float = 1e-3
    timeout: float = 3600.0

    def __post_init__(self):
        if int(self.n_edges) < 1:
            raise SpiceclError(f"--edges must be >= 1, got {self.n_edges!r}")
        if int(self.n_edges) > MAX_BANK_EDGES:
            raise SpiceclError(f"an oscillator bank has at most {MAX_BANK_EDGES} edges "
                               f"(--edges or --network), got {self.n_edges!r}")
        if int(self.n_samples) < 2:
            raise SpiceclError(f"--samples must be >= 2, got {self.n_samples!r}")
        if self.method not in METHODS:
            raise SpiceclError(f"--method must be one of {', '.join(METHODS)}, "
                               f"got {self.method!r}")
        if not self.biases:
            raise SpiceclError("--bias: give at least one bias voltage")
        if int(self.draws) < 1:
            raise SpiceclError(f"--draws must be >= 1, got {self.draws!r}")
        for name in ("fast_tmax", "transient_tmax"):
            v = getattr(self, name)
            if not (np.isfinite(v) and MIN_TMAX <= v <= MAX_TMAX):
                raise SpiceclError(f"--steps-per-period must be in [{1 / MAX_TMAX:g}, "
                                   f"{1 / MIN_TMAX:g}], got {1 / v if v else v!r}")
        for name in ("supply_resistance", "decoupling"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                flag = "--" + name.replace("_", "-")
                raise SpiceclError(f"{flag} must be >= 0, got {v!r}")
        object.__setattr__(self, "biases",
                           tuple(check_bias(b, self.design) for b in self.biases))
        check_clock(self.design)
        # The fast method places each clock sample in its oscillator's phase: beyond ~1e12
        # periods a double cannot resolve the phase, and the transient could never run that.
        span = int(self.n_samples) / self.design.clock_hz / self.design.period
        if span > MAX_SPAN_PERIODS:
            raise SpiceclError(f"--samples {self.n_samples} at --clock-hz "
                               f"{self.design.clock_hz:g} span {span:.3g} oscillator periods "
                               f"(at most {MAX_SPAN_PERIODS:.0e}): lower --samples or raise "
                               f"--clock-hz")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["biases"] = list(self.biases)
        if isinstance(self.tolerance, ToleranceSpec):
            d["tolerance"] = bank_classes(self.tolerance)
        return d


#: Most edges in one deck when the oscillators are electrically independent (an ideal supply:
#: no supply resistance, no decoupling). A larger bank runs as several decks of at most this
#: many edges, one after another: a deck's ngspice time grows about as the square of its
#: edges (each oscillator's switching cuts every edge's time steps) and its memory about as
#: E^1.8, so split banks cost time and memory linear in E. Banks up to this size (every
#: committed result) run as one deck, as before splitting existed.
DECK_EDGES = 64


def coupled_supply(supply_resistance: float, decoupling: float) -> bool:
    """Whether the oscillators are coupled through the rail, so the bank must be one deck."""
    return supply_resistance > 0 or decoupling > 0


def deck_parts(n_edges: int, coupled: bool) -> list[slice]:
    """The bank's edges as the contiguous ranges simulated one deck each, in edge order.

    A coupled bank (:func:`coupled_supply`) and one of up to :data:`DECK_EDGES` edges are one
    deck; a larger independent bank is split into ceil(E / DECK_EDGES) parts of near-equal
    size (70 edges: 0-34 and 35-69).
    """
    n = int(n_edges)
    k = 1 if coupled else -(-n // DECK_EDGES)
    bounds = [n * q // k for q in range(k + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def _part_title(what: str, part: slice, n_edges: int, n_parts: int) -> str:
    if n_parts == 1:
        return f"({what})"
    return f"({what}, edges {part.start}-{part.stop - 1} of {n_edges})"


def _characterize(draw: BankDraw, cfg: BankConfig, bias: float, supply_resistance: float,
                  decoupling: float, name: str) -> tuple[dict, dict, str, float]:
    """Periods, duty cycles and phases of every edge from a short transient of the bank.

    An ideal supply's bank of more than :data:`DECK_EDGES` edges runs as several decks
    (:func:`deck_parts`) whose per-edge measurements are joined in edge order; the returned
    deck text is theirs joined in that order (what :func:`deck_hash` hashes), the waveforms
    those of the first deck (which holds the plotted edges) and the elapsed time their sum.
    """
    parts = deck_parts(draw.n_edges, coupled_supply(supply_resistance, decoupling))
    got = []
    for q, part in enumerate(parts):
        sub = draw if len(parts) == 1 else draw.select(part)
        got.append(_characterize_deck(
            sub, part.start, cfg, bias, supply_resistance, decoupling,
            name if len(parts) == 1 else f"{name}_part{q}",
            _part_title("characterization", part, draw.n_edges, len(parts))))
    if len(got) == 1:
        return got[0]
    m = {key: np.concatenate([g[0][key] for g in got])
         for key in ("period", "duty", "t_rise", "n_periods")}
    m["vcc_mean"] = got[0][0]["vcc_mean"]  # (an ideal rail: the same source in every deck)
    return m, got[0][1], "".join(g[2] for g in got), sum(g[3] for g in got)


def _characterize_deck(draw: BankDraw, first: int, cfg: BankConfig, bias: float,
                       supply_resistance: float, decoupling: float, name: str,
                       title: str) -> tuple[dict, dict, str, float]:
    """One deck of :func:`_characterize`: ``draw``'s edges, the bank's from ``first`` on."""
    d = cfg.design
    tstop = (SETTLE_PERIODS + cfg.char_periods) * d.period * 1.12
    deck = bank_deck(draw, d, bias, tstop, supply_resistance=supply_resistance,
                     decoupling=decoupling, tmax=cfg.fast_tmax * d.period, save="measure",
                     title=title, first_edge=first)
    from spicecl.spice.runner import run_ngspice

    res = run_ngspice(deck, ["time"] + save_vectors(draw.n_edges, "measure", first), name=name,
                      timeout=cfg.timeout)
    t = res.vectors["time"]
    edges = range(first + 1, first + draw.n_edges + 1)
    out = np.stack([res.vectors[f"v(out{j})"] for j in edges], axis=1)
    cap = np.stack([res.vectors[f"v(cap{j})"] for j in edges], axis=1)
    # Measure over the second half of the window: coupled oscillators need some periods to
    # pull into lock, and the fast method must extrapolate the state they end up in.
    t_meas = d.settle_time + 0.5 * cfg.char_periods * d.period
    m = measure.measure_bank(t, out, cap, enable_levels(draw, bias), d.vdd, t_meas)
    # A few waveforms for plots: the bank's first edges (in this deck), last 3 nominal periods.
    sel = t >= t[-1] - 3.0 * d.period
    plotted = [j for j in edges if j <= PLOT_EDGES]
    en = (np.stack([res.vectors[f"v(en{j})"][sel] for j in plotted], axis=1) if plotted
          else np.empty((int(np.count_nonzero(sel)), 0)))
    wave = {"t": t[sel], "cap": cap[sel, :len(plotted)], "en": en,
            "vcc": res.vectors["v(vcc)"][sel]}
    late = t >= d.settle_time
    tv, vv = t[late], res.vectors["v(vcc)"][late]
    m["vcc_mean"] = float(np.sum(0.5 * (vv[1:] + vv[:-1]) * np.diff(tv)) / (tv[-1] - tv[0]))
    return m, wave, deck, res.elapsed


def _transient_updates(draw: BankDraw, cfg: BankConfig, bias: float, times: np.ndarray,
                       name: str) -> tuple[np.ndarray, str, float]:
    """The reference: one transient over all K clock periods, enables read at clock times.

    ``.options interp`` with a step of a quarter clock period keeps only points on the clock
    grid; the enable of edge i at t_k is V(cap_i)(t_k) > bias - voff_i (see enable_levels).
    Split into decks as :func:`_characterize` is (an ideal supply, more than
    :data:`DECK_EDGES` edges), their columns joined in edge order.
    """
    d = cfg.design
    tclk = 1.0 / d.clock_hz
    from spicecl.spice.runner import run_ngspice

    parts = deck_parts(draw.n_edges, coupled_supply(cfg.supply_resistance, cfg.decoupling))
    caps, decks, elapsed = [], [], 0.0
    for q, part in enumerate(parts):
        sub = draw if len(parts) == 1 else draw.select(part)
        deck = bank_deck(sub, d, bias, float(times[-1]) + 0.25 * tclk,
                         supply_resistance=cfg.supply_resistance, decoupling=cfg.decoupling,
                         tstep=tclk / 4.0, tmax=cfg.transient_tmax * d.period, interp=True,
                         save="cap", first_edge=part.start,
                         title=_part_title("full transient", part, draw.n_edges, len(parts)))
        res = run_ngspice(deck, ["time"] + save_vectors(sub.n_edges, "cap", part.start),
                          name=name if len(parts) == 1 else f"{name}_part{q}",
                          timeout=cfg.timeout)
        t = res.vectors["time"]
        caps += [np.interp(times, t, res.vectors[f"v(cap{j})"])
                 for j in range(part.start + 1, part.stop + 1)]
        decks.append(deck)
        elapsed += res.elapsed
    cap = np.stack(caps, axis=1)
    return cap > enable_levels(draw, bias)[None, :], "".join(decks), elapsed


def bias_job(cfg: BankConfig, draw: BankDraw, draw_index: int, bias_index: int,
             stats_seed: np.random.SeedSequence) -> dict:
    """One (draw, bias) job: characterization, update sequences, statistics.

    Module-level so it pickles to worker processes. Returns a dict of arrays and numbers.
    """
    bias = cfg.biases[bias_index]
    d = cfg.design
    tag = f"osc_d{draw_index}_b{bias_index}"
    t0 = time.perf_counter()
    m, wave, char_deck, char_elapsed = _characterize(
        draw, cfg, bias, cfg.supply_resistance, cfg.decoupling, tag + "_char")
    t_char = time.perf_counter() - t0
    free_period = None
    if cfg.supply_resistance > 0:
        mf, _, _, _ = _characterize(draw, cfg, bias, 0.0, 0.0, tag + "_free")
        free_period = mf["period"]
    times = clock_times(cfg.n_samples, d)
    t1 = time.perf_counter()
    if cfg.method == "fast":
        updates = measure.fast_updates(times, m["period"], m["duty"], m["t_rise"])
        deck = char_deck
    else:
        updates, deck, _ = _transient_updates(draw, cfg, bias, times, tag + "_tran")
    t_updates = time.perf_counter() - t1
    rng = np.random.default_rng(stats_seed)
    summary = measure.correlation_summary(updates, rng)
    r = measure.pearson_matrix(updates)
    # Locking needs a coupling path: only the shared supply resistance couples the edges here.
    locked = (measure.detect_locking(m["period"], free_period, cfg.lock_rtol)
              if free_period is not None else [])
    p_edge = updates.mean(axis=0)
    # Pairs far outside the null (|r| > 4/sqrt(K)): aliasing of nearly related frequencies.
    iu, ju = np.triu_indices(len(p_edge), 1)
    rv = r[iu, ju]
    strong = np.flatnonzero(np.isfinite(rv) & (np.abs(rv) > 4.0 / np.sqrt(cfg.n_samples)))
    correlated = [[int(iu[q]), int(ju[q]), float(rv[q])] for q in strong]
    return {
        "draw": draw_index,
        "bias_index": bias_index,
        "bias_volts": bias,
        "updates": updates,
        "p_edge": p_edge,
        "p_mean": float(p_edge.mean()),
        "p_analytic": float(analytic_p(bias, d.vdd)),
        "period": m["period"],
        "duty": m["duty"],
        "t_rise": m["t_rise"],
        "n_periods": m["n_periods"],
        "free_period": free_period,
        "pearson": r,
        "correlation": summary,
        "lag1": measure.lag1_autocorrelation(updates),
        "locked_groups": locked,
        "correlated_pairs": correlated,
        "wave": wave,
        "vcc_mean": m["vcc_mean"],
        "deck_hash": deck_hash(deck),
        "char_deck_hash": deck_hash(char_deck),
        "seconds_characterization": t_char,
        "seconds_ngspice_characterization": char_elapsed,
        "seconds_updates": t_updates,
        "seconds_total": time.perf_counter() - t0,
    }


#: Banks above this many edges get :func:`large_bank_note` before they run.
LARGE_BANK_EDGES = 250


def large_bank_note(cfg: BankConfig, workers: int = 1) -> str | None:
    """A one-line note of what a large coupled bank will cost, or None when there is none to
    give: up to LARGE_BANK_EDGES edges, or an ideal supply (split into decks of at most
    :data:`DECK_EDGES` edges, :func:`deck_parts`, whose cost grows linearly with the edges).

    A bank coupled through its supply (``supply_resistance`` or ``decoupling``) simulates the
    whole bank as one transient per (draw, bias) job: each oscillator's switching cuts every
    edge's time steps and every point is saved for every edge, so ngspice's time grows about
    as E^2 and its memory about as E^1.8. Measured for one deck on a 2-core machine on
    2026-11-28 (``spicecl oscillators --network disordered:64:143`` and
    ``disordered:224:500 --bias 2.5 --samples 1000 --seed 1``, ngspice 39, before ideal-supply
    banks were split): 16 s and 0.64 GB at 143 edges, 200 s and 5.9 GB at 500; the estimates
    scale those. (The locking check's second transient, on an ideal supply, is split.)
    """
    n = int(cfg.n_edges)
    if n <= LARGE_BANK_EDGES or not coupled_supply(cfg.supply_resistance, cfg.decoupling):
        return None
    jobs = int(cfg.draws) * len(cfg.biases)
    minutes = 16.0 * (n / 143.0) ** 2 / 60.0
    gb = 0.64 * (n / 143.0) ** 1.8
    at_once = max(1, min(int(workers), jobs))
    return (f"oscillator bank of {n} edges coupled through its supply (--supply-resistance "
            f"{cfg.supply_resistance:g}, --decoupling {cfg.decoupling:g}): each of its {jobs} "
            f"characterization transient(s) simulates the whole bank as one deck, and its "
            f"ngspice time and memory grow about as the square of the edges (16 s and 0.64 GB "
            f"at 143 edges, 200 s and 5.9 GB at 500, measured on 2 cores): expect about "
            f"{minutes:.0f} min and {gb:.1f} GB each"
            f"{f', {at_once} at once ({at_once * gb:.1f} GB)' if at_once > 1 else ''}; "
            f"--workers runs jobs side by side, it does not split one (an ideal supply, "
            f"--supply-resistance 0, runs in decks of at most {DECK_EDGES} edges)")


@dataclass
class BankRun:
    """The result of :func:`run_bank`: the config, the drawn parts and the per-job results.

    ``jobs``: list ordered by (draw, bias index), each a dict from :func:`bias_job`.
    ``draws``: the BankDraw of each Monte Carlo draw. ``warnings``: one-line messages.
    """

    config: BankConfig
    draws: list
    jobs: list
    warnings: list
    seconds: float = 0.0

    @property
    def locking_detected(self) -> bool:
        return any(j["locked_groups"] for j in self.jobs)


def spawn_seeds(seed: int, draws: int, n_bias: int):
    """Child seeds: per draw, one for the parts and one per bias for statistics."""
    root = np.random.SeedSequence(int(seed))
    out = []
    for child in root.spawn(int(draws)):
        parts, stats = child.spawn(2)
        out.append((parts, stats.spawn(n_bias)))
    return out


def run_bank(cfg: BankConfig, workers: int = 1, progress: bool | None = None) -> BankRun:
    """Run every (draw, bias) job of ``cfg`` on ``workers`` local processes.

    Same config and seed -> same result for any number of workers.
    """
    from spicecl.spice.runner import INSTALL_HINT, ngspice_available

    if not ngspice_available():
        raise SpiceclError(f"ngspice is not installed (not on PATH); install it with: "
                           f"{INSTALL_HINT}")
    workers = int(workers)
    if workers < 1:
        raise SpiceclError(f"--workers must be >= 1, got {workers}")
    t0 = time.perf_counter()
    seeds = spawn_seeds(cfg.seed, cfg.draws, len(cfg.biases))
    draws = [draw_bank(cfg.n_edges, cfg.design, cfg.tolerance, np.random.default_rng(p))
             for p, _ in seeds]
    tasks = [(cfg, draws[di], di, bi, seeds[di][1][bi])
             for di in range(cfg.draws) for bi in range(len(cfg.biases))]
    if progress is None:
        progress = sys.stderr.isatty()
    results: list = [None] * len(tasks)
    bar = None
    if progress and len(tasks) == 1:
        # (one job, minutes for a large bank: one deck costs about the square of its edges,
        # a split bank linear in them, 7 s at 143 and 27 s at 500; a bar would sit at 0/1)
        print(f"oscillator bank: {cfg.n_edges} edges at bias {cfg.biases[0]:g} V, simulating "
              f"in ngspice ({cfg.method} method)...", file=sys.stderr, flush=True)
    elif progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), desc="oscillator banks", unit="job", file=sys.stderr)
    if workers == 1 or len(tasks) == 1:
        for k, task in enumerate(tasks):
            results[k] = bias_job(*task)
            if bar:
                bar.update()
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        from spicecl.sweep import pool_init, stop_pool, submit_all

        # spawned, as the sweeps' workers: this process has threads by now (tqdm's monitor,
        # the pool's manager), and a forked child can deadlock on a lock one of them held
        # (Python 3.12 warns of it, 3.14 no longer forks by default)
        pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)),
                                   mp_context=mp.get_context("spawn"), initializer=pool_init)
        try:
            futs = submit_all(pool, [(k, bias_job, *task) for k, task in enumerate(tasks)])
            for fut in as_completed(futs):
                results[futs[fut]] = fut.result()
                if bar:
                    bar.update()
        except BaseException:
            # Ctrl-C or a failed job: stop now. (A `with` block waited for every queued job
            # to run, starting new ngspice processes after the Ctrl-C.)
            stop_pool(pool)
            if bar:
                bar.close()
            raise
        pool.shutdown(wait=True)
    if bar:
        bar.close()
    run = BankRun(cfg, draws, results, [], time.perf_counter() - t0)
    run.warnings.extend(check_warnings(run))
    return run


def check_warnings(run: BankRun) -> list[str]:
    """One-line warnings: locking, edges stuck at p = 0 or 1, oscillators that stopped."""
    cfg = run.config
    out = []
    for j in run.jobs:
        where = f"bias {j['bias_volts']:g} V" + (f", draw {j['draw']}" if cfg.draws > 1 else "")
        for g in j["locked_groups"]:
            per = float(np.nanmean(j["period"][g]))
            # (at most 10 indices: a 143-edge group made a ~750-character line; --json has all)
            listed = ", ".join(map(str, g[:10])) + (f" and {len(g) - 10} more"
                                                    if len(g) > 10 else "")
            out.append(f"frequency locking at {where}: edges {listed} "
                       f"({len(g)} of {cfg.n_edges}) locked to one period {per * 1e3:.4g} ms "
                       f"(supply {cfg.supply_resistance:g} ohm, decoupling "
                       f"{cfg.decoupling:g} F)")
        locked_edges = {e for g in j["locked_groups"] for e in g}
        strong = [(a, b, r) for a, b, r in j["correlated_pairs"]
                  if abs(r) > 0.3 and not {a, b} <= locked_edges]
        if strong:
            fclk = cfg.design.clock_hz
            parts = []
            for a, b, r in strong[:4]:
                fa, fb = 1.0 / j["period"][a], 1.0 / j["period"][b]
                m = (fa - fb) / fclk
                parts.append(f"{a}-{b} (r = {r:+.2f}; {fa:.1f} and {fb:.1f} Hz differ by "
                             f"{m:.3f} clock frequencies)")
            more = f" and {len(strong) - 4} more" if len(strong) > 4 else ""
            out.append(f"strongly correlated update sequences at {where}: edges "
                       f"{', '.join(parts)}{more}: aliasing (a frequency difference near a "
                       f"multiple or half-multiple of the clock frequency keeps the sampled "
                       f"phases in step)")
        dead = np.flatnonzero(j["n_periods"] == 0)
        if len(dead):
            out.append(f"oscillators did not oscillate at {where}: edges "
                       f"{', '.join(map(str, dead))}")
        vcc = j["vcc_mean"]
        p_sag = float(analytic_p(j["bias_volts"] * cfg.design.vdd / vcc, cfg.design.vdd))
        if abs(p_sag - j["p_analytic"]) > 0.02:
            out.append(f"supply sag at {where}: the shared rail sits at {vcc:.3f} V instead of "
                       f"{cfg.design.vdd:g} V (supply {cfg.supply_resistance:g} ohm), which moves "
                       f"the oscillator thresholds against the fixed bias: p {j['p_analytic']:.3f}"
                       f" -> {p_sag:.3f}")
        # outside the swing: the enable never toggled in the characterization (no phase)
        stuck = np.flatnonzero(~np.isfinite(j["t_rise"]) & (j["n_periods"] > 0))
        if len(stuck):
            out.append(f"bias {j['bias_volts']:g} V is outside the swing of edge(s) "
                       f"{', '.join(map(str, stuck))}: they update never or always (p_i = 0/1)")
        out.extend(_clock_alias_warning(j, cfg, where, set(stuck)))
        out.extend(_runs_warning(j, cfg, where))
    return out


def _clock_alias_warning(j: dict, cfg: BankConfig, where: str, skip: set) -> list[str]:
    """Edges whose sampled p_i is far from their duty cycle: a period nearly commensurate with
    the clock, so the clock keeps sampling nearly the same phase(s) of the oscillation."""
    k = cfg.n_samples
    duty, p = np.asarray(j["duty"], float), np.asarray(j["p_edge"], float)
    ok = np.isfinite(duty) & (duty > 0) & (duty < 1)
    dev = np.abs(p - np.where(ok, duty, p))
    bound = np.maximum(0.05, 4.0 * np.sqrt(np.where(ok, duty * (1 - duty), 0.0) / k))
    edges = [e for e in np.flatnonzero(ok & (dev > bound)) if e not in skip]
    if not edges:
        return []
    tclk = 1.0 / cfg.design.clock_hz
    parts = [f"{e} (p_i {p[e]:.3f}, duty {duty[e]:.3f}, clock period / period "
             f"{tclk / j['period'][e]:.3f})" for e in edges[:4]]
    more = f" and {len(edges) - 4} more" if len(edges) > 4 else ""
    return [f"clock aliasing at {where}: edge(s) {', '.join(parts)}{more}: a period nearly "
            f"commensurate with the clock keeps sampling the same phases, so p_i over "
            f"{k} samples is not the duty cycle"]


def _runs_warning(j: dict, cfg: BankConfig, where: str) -> list[str]:
    """Edges whose updates come in runs (:func:`measure.edges_in_runs`), and the worst."""
    k = cfg.n_samples
    runs = measure.edges_in_runs(j["lag1"], k)
    if not len(runs):
        return []
    e = int(runs[np.argmax(j["lag1"][runs])])
    ratio = 1.0 / (cfg.design.clock_hz * j["period"][e])
    return [f"updates in runs at {where}: {len(runs)} of {cfg.n_edges} edges have a lag-1 "
            f"autocorrelation above 4/sqrt({k}) = {4.0 / math.sqrt(k):.3f} (updates independent "
            f"from step to step, as Eq. 11 has them, stay below), worst edge {e} at "
            f"{j['lag1'][e]:+.2f} (p_i {j['p_edge'][e]:.3f}, clock period / period "
            f"{ratio:.3f}): a clock period within about p_i (1 - p_i) of a whole number of "
            f"oscillator periods samples nearly the same phase on consecutive ticks, so the "
            f"edge updates several ticks in a row, then pauses"]


def _of_defined(reduce, x) -> float:
    """``reduce`` (np.mean, np.max) of the finite values of ``x``, NaN when there are none
    (numpy's nanmean would say "Mean of empty slice" on stderr: an edge that never toggled in
    the samples has no lag-1 autocorrelation, and the aliasing or bias warning already says
    why)."""
    x = np.asarray(x, float)
    ok = np.isfinite(x)
    return float(reduce(x[ok])) if ok.any() else float("nan")


def summarize(run: BankRun) -> dict:
    """The JSON summary printed by ``spicecl oscillators --json``."""
    cfg = run.config
    results = []
    for j in run.jobs:
        c = j["correlation"]
        period = _of_defined(np.mean, j["period"])
        results.append({
            "draw": j["draw"],
            "bias_volts": j["bias_volts"],
            "p_mean": j["p_mean"],
            "p_analytic": j["p_analytic"],
            "p_per_edge": [float(x) for x in j["p_edge"]],
            "mean_pearson_r": c["mean_pearson_r"],
            "max_abs_pearson_r": c["max_abs_pearson_r"],
            "pearson_null_std": c["null_std"],
            "pairs_beyond_4sigma": c["pairs_beyond_4sigma"],
            "lag1_autocorrelation_mean": _of_defined(np.mean, j["lag1"]),
            "lag1_autocorrelation_max": _of_defined(np.max, j["lag1"]),
            "edges_lag1_above_4sigma": len(measure.edges_in_runs(j["lag1"], cfg.n_samples)),
            "period_mean_s": period,
            "period_rel_error_vs_analytic": period / cfg.design.period - 1.0,
            "duty_mean": _of_defined(np.mean, j["duty"]),
            "locked_groups": j["locked_groups"],
            "correlated_pairs": j["correlated_pairs"],
            "vcc_mean_volts": j["vcc_mean"],
            "seconds": j["seconds_total"],
        })
    return {
        "edges": cfg.n_edges,
        "samples": cfg.n_samples,
        "method": cfg.method,
        "clock_hz": cfg.design.clock_hz,
        **({"tolerance_spec": bank_classes(cfg.tolerance)}
           if isinstance(cfg.tolerance, ToleranceSpec) else {"tolerance": cfg.tolerance.r_rel}),
        "supply_resistance_ohms": cfg.supply_resistance,
        "decoupling_farads": cfg.decoupling,
        "seed": cfg.seed,
        "draws": cfg.draws,
        "analytic_period_s": cfg.design.period,
        "locking_detected": run.locking_detected,
        "warnings": list(run.warnings),
        "seconds": run.seconds,
        "results": results,
    }


def bench_oscillators(args=None) -> dict:
    """``spicecl bench oscillators``: fast method vs full transient, same edges and samples.

    Both are timed in this process on the same drawn bank (5 % tolerance) at bias 2.5 V; the
    fast time includes its characterization transient, the transient time its own (both
    methods run it: it gives periods and the locking check). Reads ``edges``/``samples``
    from ``args`` when present (defaults 16 edges, 300 samples). The transient costs ~0.7 s of
    CPU per clock sample at 16 edges, the fast method ~1 s whatever K, so the speedup grows
    linearly with K (measured idle on a 2-core machine: 246x at 300 samples, 212 s vs 0.86 s;
    loaded: ~1200x at 1000 samples, 1590 s vs 1.3 s). Each stage is announced on stderr.
    """
    n = int(getattr(args, "edges", None) or 16)
    k = int(getattr(args, "samples", None) or 300)
    seed = int(getattr(args, "seed", None) or 0)
    base = BankConfig(n, (2.5,), k, tolerance=BankTolerance.from_tolerance(0.05), seed=seed)
    seeds = spawn_seeds(seed, 1, 1)
    draw = draw_bank(n, base.design, base.tolerance, np.random.default_rng(seeds[0][0]))
    out = {"benchmark": "oscillators", "edges": n, "samples": k, "bias_volts": 2.5,
           "tolerance": 0.05}
    for method in METHODS:
        cfg = replace(base, method=method)
        what = ("short characterization transient + clock sampling" if method == "fast" else
                f"full transient over {k} clock periods, ~{0.75 * k * n / 16:.0f} s")
        print(f"bench oscillators: {method} method, {n} edges x {k} samples ({what})",
              file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        j = bias_job(cfg, draw, 0, 0, seeds[0][1][0])
        out[f"{method}_seconds"] = time.perf_counter() - t0
        out[f"{method}_p_mean"] = j["p_mean"]
        out[f"{method}_mean_pearson_r"] = j["correlation"]["mean_pearson_r"]
        out[f"{method}_max_abs_pearson_r"] = j["correlation"]["max_abs_pearson_r"]
    out["fast_vs_transient_speedup"] = out["transient_seconds"] / out["fast_seconds"]
    return out
