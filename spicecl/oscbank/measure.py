"""Measurements on oscillator-bank waveforms and update sequences (pure numpy).

From waveforms: threshold crossings, each oscillator's period, the duty cycle and phase of its
enable (:func:`measure_bank`). From those: the fast method's update sequences at the clock
times (:func:`fast_updates`). On update sequences (K samples x N edges, bool): p per edge,
the Pearson correlation matrix and its summary against the null of independent sequences
(:func:`correlation_summary`), lag-1 autocorrelation and the edges that update in runs
(:func:`edges_in_runs`), and frequency-locking detection from measured periods
(:func:`detect_locking`).
"""

from __future__ import annotations

import numpy as np


def crossings(t: np.ndarray, v: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Rising and falling crossing times of ``v`` through ``level`` (linear interpolation)."""
    t = np.asarray(t, float)
    v = np.asarray(v, float) - level
    s = v >= 0
    idx = np.flatnonzero(s[1:] != s[:-1])
    dv = v[idx + 1] - v[idx]
    frac = np.where(dv != 0, -v[idx] / np.where(dv != 0, dv, 1.0), 0.0)
    tc = t[idx] + frac * (t[idx + 1] - t[idx])
    rising = s[idx + 1]
    return tc[rising], tc[~rising]


def measure_bank(t: np.ndarray, out: np.ndarray, cap: np.ndarray, levels: np.ndarray,
                 vdd: float, t_start: float) -> dict:
    """Period, enable duty cycle and phase of each oscillator from a short transient.

    Parameters
    ----------
    t : shape (P,) time points
    out, cap : shape (P, N) oscillator outputs and capacitor voltages
    levels : shape (N,) capacitor voltage above which each enable is high (bias - offset)
    t_start : ignore crossings before this time (start-up)

    Returns
    -------
    dict of arrays, shape (N,): ``period`` (s, mean interval of the output's rising edges),
    ``duty`` (fraction of time the enable is high, over whole periods), ``t_rise`` (time of
    the last enable rising edge: the phase reference; NaN when the enable never toggles),
    ``n_periods`` (periods measured; 0 when the oscillator did not oscillate).
    """
    n = out.shape[1]
    period = np.full(n, np.nan)
    duty = np.full(n, np.nan)
    t_rise = np.full(n, np.nan)
    n_per = np.zeros(n, int)
    half = vdd / 2.0
    levels = np.broadcast_to(np.asarray(levels, float), (n,))
    for i in range(n):
        r_out, _ = crossings(t, out[:, i], half)
        r_out = r_out[r_out >= t_start]
        if len(r_out) >= 2:
            period[i] = (r_out[-1] - r_out[0]) / (len(r_out) - 1)
            n_per[i] = len(r_out) - 1
        r_en, f_en = crossings(t, cap[:, i], levels[i])
        r_en = r_en[r_en >= t_start]
        f_en = f_en[f_en >= t_start]
        if len(r_en) >= 2 and len(f_en) >= 1:
            a, b = r_en[0], r_en[-1]
            # Time high between the first and last rising edge (whole enable periods).
            falls = f_en[(f_en > a) & (f_en <= b)]
            rises = r_en[(r_en >= a) & (r_en < b)]
            m = min(len(falls), len(rises))
            duty[i] = float(np.sum(falls[:m] - rises[:m]) / (b - a)) if b > a else np.nan
            t_rise[i] = b
            if not np.isfinite(period[i]):
                period[i] = (b - a) / (len(r_en) - 1)
        else:
            sel = t >= t_start
            duty[i] = float(np.mean(cap[sel, i] > levels[i])) if np.any(sel) else np.nan
    return {"period": period, "duty": duty, "t_rise": t_rise, "n_periods": n_per}


def fast_updates(times: np.ndarray, period: np.ndarray, duty: np.ndarray,
                 t_rise: np.ndarray) -> np.ndarray:
    """The fast method: enable of each edge at each clock time from period, duty and phase.

    Edge i is enabled at time t when frac((t - t_rise_i) / T_i) < duty_i: its enable rose at
    t_rise_i and stays high for duty_i T_i of each period T_i. An edge whose enable never
    toggled (NaN phase) is enabled always when duty >= 1/2, never otherwise.

    Returns bool array, shape (K, N).
    """
    times = np.asarray(times, float)[:, None]
    period = np.asarray(period, float)[None, :]
    duty = np.asarray(duty, float)[None, :]
    t_rise = np.asarray(t_rise, float)[None, :]
    ok = np.isfinite(t_rise) & np.isfinite(period) & (period > 0)
    ph = np.where(ok, (times - np.where(ok, t_rise, 0.0)) / np.where(ok, period, 1.0), 0.0)
    frac = ph - np.floor(ph)
    return np.where(ok, frac < duty, np.broadcast_to(duty >= 0.5, frac.shape))


def pearson_matrix(u: np.ndarray) -> np.ndarray:
    """Pearson correlation matrix of the columns of ``u`` (K, N) -> (N, N).

    Entries involving a constant column (p = 0 or 1) are NaN; the diagonal is 1.
    """
    x = np.asarray(u, float)
    x = x - x.mean(axis=0)
    sd = np.sqrt((x * x).sum(axis=0))
    c = x.T @ x
    with np.errstate(divide="ignore", invalid="ignore"):
        r = c / np.outer(sd, sd)
    r[~np.isfinite(r)] = np.nan
    np.fill_diagonal(r, 1.0)
    return r


def pair_values(r: np.ndarray) -> np.ndarray:
    """Upper-triangle (i < j) entries of a square matrix, shape (N (N - 1) / 2,)."""
    i, j = np.triu_indices(r.shape[0], 1)
    return r[i, j]


def correlation_summary(u: np.ndarray, rng: np.random.Generator | None = None,
                        null_draws: int = 2) -> dict:
    """Summary of the pairwise Pearson r of update sequences (K, N) against the null.

    The null is independent sequences of the same length and the same p_i: each column of
    ``u`` shuffled independently (``null_draws`` times, ``rng`` required for it). Independent
    sequences have r ~ N(0, 1/K) approximately, so ``null_std`` = 1/sqrt(K) and the mean of
    P pairs has noise ~ 1/sqrt(K P).
    """
    k, n = u.shape
    r = pearson_matrix(u)
    pairs = pair_values(r)
    good = pairs[np.isfinite(pairs)]
    out = {
        "n_pairs": int(len(good)),
        "mean_pearson_r": float(np.mean(good)) if len(good) else float("nan"),
        "max_abs_pearson_r": float(np.max(np.abs(good))) if len(good) else float("nan"),
        "std_pearson_r": float(np.std(good)) if len(good) else float("nan"),
        "null_std": float(1.0 / np.sqrt(k)),
        "mean_noise": float(1.0 / np.sqrt(k * max(len(good), 1))),
        "pairs_beyond_4sigma": int(np.sum(np.abs(good) > 4.0 / np.sqrt(k))),
    }
    if rng is not None and null_draws > 0:
        nulls = []
        for _ in range(null_draws):
            shuffled = np.stack([rng.permutation(u[:, i]) for i in range(n)], axis=1)
            v = pair_values(pearson_matrix(shuffled))
            nulls.append(v[np.isfinite(v)])
        null = np.concatenate(nulls) if nulls else np.zeros(0)
        out["null_std_shuffled"] = float(np.std(null)) if len(null) else float("nan")
        out["null_max_abs_r"] = float(np.max(np.abs(null))) if len(null) else float("nan")
    return out


def lag1_autocorrelation(u: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation of each edge's update sequence, shape (N,) (NaN if constant)."""
    x = np.asarray(u, float)
    x = x - x.mean(axis=0)
    num = (x[1:] * x[:-1]).sum(axis=0)
    den = (x * x).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = num / den
    return np.where(den > 0, a, np.nan)


def edges_in_runs(lag1: np.ndarray, n_samples: int) -> np.ndarray:
    """Edges whose update sequences come in runs: lag-1 autocorrelation above 4/sqrt(K).

    Updates independent from step to step (the paper's Eq. 11) have a lag-1 autocorrelation of
    -1/K +- 1/sqrt(K), so an independent edge passes 4/sqrt(K) once in ~30,000. An edge whose
    clock period lies d oscillator periods from a whole number samples nearly the same phase
    on consecutive ticks: its lag-1 autocorrelation is 1 - d / (p (1 - p)) for d < p (1 - p).

    Returns the indices, ascending (NaN entries, constant edges, are not counted).
    """
    lag1 = np.asarray(lag1, float)
    return np.flatnonzero(np.isfinite(lag1) & (lag1 > 4.0 / np.sqrt(n_samples)))


def detect_locking(period: np.ndarray, free_period: np.ndarray | None,
                   rtol: float = 1e-3) -> list[list[int]]:
    """Groups of edges whose oscillators locked to a common period.

    Edges are grouped when their measured periods agree within ``rtol`` of the group's
    smallest period (over the sorted periods; not chained from neighbour to neighbour: a
    large bank's periods lie closer than ``rtol`` apart, ~1.2e-3 at 143 edges and 5 % parts,
    and a chain ran through uncoupled edges spanning a percent). A group of two or more counts
    as locked when the same parts without coupling (``free_period``: the bank on an ideal
    supply) would spread over more than 3 ``rtol``: the coupling pulled them together.
    Without ``free_period`` every group of coinciding periods is returned.

    Returns a list of groups, each a sorted list of 0-based edge indices.
    """
    period = np.asarray(period, float)
    ok = np.flatnonzero(np.isfinite(period))
    if len(ok) < 2:
        return []
    order = ok[np.argsort(period[ok], kind="stable")]
    groups, cur = [], [int(order[0])]
    for b in order[1:]:
        a = cur[0]
        if period[b] - period[a] <= rtol * period[a]:
            cur.append(int(b))
        else:
            groups.append(cur)
            cur = [int(b)]
    groups.append(cur)
    locked = []
    for g in groups:
        if len(g) < 2:
            continue
        if free_period is not None:
            fp = np.asarray(free_period, float)[g]
            fp = fp[np.isfinite(fp)]
            if len(fp) < 2 or (fp.max() - fp.min()) <= 3.0 * rtol * np.mean(fp):
                continue
        locked.append(sorted(g))
    return sorted(locked, key=lambda g: g[0])
