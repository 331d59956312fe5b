"""Benchmarks of the learning core (``spicecl bench learning``), of the sparse solver
(``spicecl bench solver``) and of the solver's precision (``spicecl bench precision``).

Everything is measured in one process, one after the other, so ratios compare like with
like on whatever machine runs them:

* **spicecl**: :class:`spicecl.learning.Trainer` steps (continuous rule, full batch);
* **baseline**: the same step written the way published coupled-learning code does it: one
  sparse LU factorization and solve per example and per state (free, clamped), every step;
* **floor**: one bare dense Cholesky factorization plus solve of the same reduced free-state
  system for the whole batch (``scipy.linalg.cho_factor`` + ``cho_solve``), the least work any
  step must do.

The baseline's first update is compared with spicecl's (``baseline_max_abs_diff_ohm``) so the
two are known to compute the same thing.

The discrete rule (Eq. 10, full batch, p = 1, fields ``discrete_*``) is timed the same way: its
trainer step, the baseline's per-example sparse LUs followed by the comparisons
(:func:`baseline_discrete_step`) and a floor of the dense factorization and solve plus the
step's draws of sigma (B x E uniforms: every step must draw them). The baseline's first step,
given the trainer's sigma draws, must move every tap as the trainer's does
(``discrete_baseline_taps_differ``: 0). ``bench precision`` times nothing: it measures errors
(:func:`bench_precision`).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from spicecl.learning import LearningConfig, Trainer
from spicecl.network import load_network
from spicecl.tasks import make_task


#: Inputs of the discrete rule's benchmark tasks (volts): those of fig4c/d/e and scaling.
DISCRETE_VOLTS = 5.0


def _calls_for(fn, round_time: float, min_calls: int) -> int:
    """How many calls of ``fn`` take about ``round_time`` seconds (at least ``min_calls``)."""
    fn()
    n = min_calls
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t0 >= round_time:
            return n
        n *= 2


def _timeit(fns: dict, min_time: float = 0.5, rounds: int = 20, min_calls=None) -> dict:
    """Seconds per call of each function in ``fns`` (name -> fn), each timed for about
    ``min_time`` seconds in all.

    The functions are timed in many short interleaved rounds and each keeps its fastest
    round, so a burst of load from elsewhere on the machine hits every one of them alike, and
    each has many chances of a quiet round: ratios stay meaningful.
    """
    min_calls = min_calls or {}
    calls = {k: _calls_for(f, min_time / rounds, min_calls.get(k, 3)) for k, f in fns.items()}
    best = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t0 = time.perf_counter()
            for _ in range(calls[k]):
                f()
            best[k] = min(best[k], (time.perf_counter() - t0) / calls[k])
    return best


def baseline_drops(net, task, r, eta: float):
    """Free and clamped edge drops (E,), (E,) of each training example in turn, with a sparse
    LU per example and state (reference)."""
    n = net.n_nodes
    inc = net.incidence()
    lap = (inc.T @ sp.diags(1.0 / r) @ inc).tocsr()
    fixed_f = np.concatenate([task.inputs, task.grounds])
    fixed_c = np.concatenate([fixed_f, task.outputs])
    for x, y in zip(task.train_x, task.train_y):
        v = np.zeros(n)
        v[task.inputs] = x
        free = np.setdiff1d(np.arange(n), fixed_f)
        a = lap[free][:, free].tocsc()
        v[free] = splu(a).solve(-(lap[free][:, fixed_f] @ v[fixed_f]))
        vc = v.copy()
        vc[task.outputs] = eta * y + (1 - eta) * v[task.outputs]
        free_c = np.setdiff1d(np.arange(n), fixed_c)
        a = lap[free_c][:, free_c].tocsc()
        vc[free_c] = splu(a).solve(-(lap[free_c][:, fixed_c] @ vc[fixed_c]))
        yield inc @ v, inc @ vc


def baseline_step(net, task, r, config: LearningConfig) -> np.ndarray:
    """One continuous, full-batch step with a sparse LU per example and state (reference)."""
    delta = np.zeros(net.n_edges)
    for dvf, dvc in baseline_drops(net, task, r, config.eta):
        delta += config.gamma / r**2 * (dvc**2 - dvf**2)
    return np.clip(r + delta, config.r_min, config.r_max)


def baseline_discrete_step(net, task, taps, config: LearningConfig, sigma) -> np.ndarray:
    """One discrete (Eq. 10), full-batch, p = 1 step with a sparse LU per example and state
    (reference): the taps (E,) after it, from taps (E,), with comparator biases sigma (B, E)."""
    margin = np.zeros(net.n_edges)
    r = config.r_wiper + taps * config.r0
    for (dvf, dvc), s in zip(baseline_drops(net, task, r, config.eta), sigma):
        margin += np.abs(dvc) + s - np.abs(dvf)
    return np.clip(taps + np.where(margin > 0, 1, -1), 0, config.levels - 1)


def bench_learning(args=None, *, network: str = "disordered143", examples: int = 20,
                   tasks: int = 50, seed: int = 0, min_time: float = 1.0) -> dict:
    """Steps per second of spicecl, the baseline and the floor (see module docstring).

    BLAS runs single-threaded for all three (threads only slow systems this small down).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _bench_learning(network, examples, tasks, seed, min_time)


def _bench_learning(network, examples, tasks, seed, min_time) -> dict:
    net = load_network(network)
    rng = np.random.default_rng(seed)
    config = LearningConfig()
    task = make_task(net, "regression", rng, n_train=examples)

    tr = Trainer(net, [task], [config], [np.random.default_rng(seed)])
    r0 = tr.r[0].copy()
    tr.step()
    diff = float(np.max(np.abs(tr.r[0] - baseline_step(net, task, r0, config))))

    tr = Trainer(net, [task], [config], [np.random.default_rng(seed)])

    fixed = np.concatenate([task.inputs, task.grounds])
    free = np.setdiff1d(np.arange(net.n_nodes), fixed)
    inc = net.incidence()
    lap = (inc.T @ sp.diags(1.0 / r0) @ inc).toarray()
    a = np.ascontiguousarray(lap[np.ix_(free, free)])
    vin = np.zeros((net.n_nodes, examples))
    vin[task.inputs] = task.train_x.T
    rhs = -(lap[np.ix_(free, fixed)] @ vin[fixed])

    def floor():
        c = sla.cho_factor(a, lower=True, check_finite=False)
        return sla.cho_solve(c, rhs, check_finite=False)

    task_rngs = np.random.SeedSequence(seed + 1).spawn(tasks)
    many = [make_task(net, "regression", np.random.default_rng(s), n_train=examples)
            for s in task_rngs]
    trk = Trainer(net, many, [config] * tasks, [np.random.default_rng(s) for s in task_rngs])

    # The discrete rule, on tasks with the discrete figures' inputs (at 1 V sigma decides
    # most comparisons): the trainer's first step draws sigma as g.random((B, E)) * sigma_max.
    dconfig = LearningConfig(rule="discrete")
    dtask = make_task(net, "regression", np.random.default_rng(seed), n_train=examples,
                      volts=DISCRETE_VOLTS)
    dmany = [make_task(net, "regression", np.random.default_rng(s), n_train=examples,
                       volts=DISCRETE_VOLTS) for s in task_rngs]
    trd = Trainer(net, [dtask], [dconfig], [np.random.default_rng(seed)])
    taps0 = trd.taps[0].copy()
    sigma = np.random.default_rng(seed).random((examples, net.n_edges)) * dconfig.sigma_max
    trd.step()
    taps_differ = int(np.count_nonzero(
        trd.taps[0] != baseline_discrete_step(net, dtask, taps0, dconfig, sigma)))
    trd = Trainer(net, [dtask], [dconfig], [np.random.default_rng(seed)])
    trkd = Trainer(net, dmany, [dconfig] * tasks, [np.random.default_rng(s) for s in task_rngs])
    draws = np.random.default_rng(seed)

    def discrete_floor():
        draws.random((examples, net.n_edges))
        return floor()

    t = _timeit({"spicecl": tr.step, "floor": floor, "batched": trk.step,
                 "baseline": lambda: baseline_step(net, task, r0, config),
                 "discrete": trd.step, "discrete_floor": discrete_floor,
                 "discrete_batched": trkd.step,
                 "discrete_baseline": lambda: baseline_discrete_step(net, dtask, taps0, dconfig,
                                                                     sigma)},
                min_time, min_calls={"baseline": 1, "batched": 1, "discrete_baseline": 1,
                                     "discrete_batched": 1})
    t_spicecl, t_floor, t_batched, t_base = t["spicecl"], t["floor"], t["batched"], t["baseline"]
    t_disc, t_dfloor, t_dbatched, t_dbase = (t["discrete"], t["discrete_floor"],
                                             t["discrete_batched"], t["discrete_baseline"])

    return {
        "benchmark": "learning",
        "blas_threads": 1,
        "network": net.name,
        "edges": net.n_edges,
        "nodes": net.n_nodes,
        "examples": examples,
        "rule": "continuous",
        "batch": "full",
        "spicecl_steps_per_s": 1.0 / t_spicecl,
        "baseline_steps_per_s": 1.0 / t_base,
        "floor_solves_per_s": 1.0 / t_floor,
        "step_time_us": t_spicecl * 1e6,
        "baseline_step_time_us": t_base * 1e6,
        "floor_time_us": t_floor * 1e6,
        "speedup_vs_baseline": t_base / t_spicecl,
        "ratio_to_floor": t_spicecl / t_floor,
        "baseline_max_abs_diff_ohm": diff,
        "batched_tasks": tasks,
        "batched_task_steps_per_s": tasks / t_batched,
        "batched_speedup_vs_baseline": t_base * tasks / t_batched,
        "batched_ratio_to_floor": t_batched / tasks / t_floor,
        "discrete_volts": DISCRETE_VOLTS,
        "discrete_sigma_max": dconfig.sigma_max,
        "discrete_steps_per_s": 1.0 / t_disc,
        "discrete_baseline_steps_per_s": 1.0 / t_dbase,
        "discrete_step_time_us": t_disc * 1e6,
        "discrete_baseline_step_time_us": t_dbase * 1e6,
        "discrete_floor_time_us": t_dfloor * 1e6,
        "discrete_speedup_vs_baseline": t_dbase / t_disc,
        "discrete_ratio_to_floor": t_disc / t_dfloor,
        "discrete_baseline_taps_differ": taps_differ,
        "discrete_batched_task_steps_per_s": tasks / t_dbatched,
        "discrete_batched_ratio_to_floor": t_dbatched / tasks / t_dfloor,
    }


def bench_solver(args=None, *, sizes=((1000, 2500), (5000, 12500), (20000, 50000)),
                 seed: int = 1, min_time: float = 1.0) -> dict:
    """Sparse factorization and solve of large networks' reduced Laplacians
    (``spicecl bench solver``): spicecl's ordering (:func:`spicecl.solver._sparse_factor`,
    SuperLU with COLAMD unless CHOLMOD is installed) against SuperLU with MMD_AT_PLUS_A, the
    ordering spicecl used before (its factorization took 88-100 s at 50,000 nodes, README).

    ``sizes``: (nodes, edges) of the generated networks; three nodes are held, the rest free.
    """
    from spicecl.solver import _sparse_factor

    rows = []
    for nodes, edges in sizes:
        net = load_network(f"disordered:{nodes}:{edges}", seed)
        lap = (net.incidence().T @ net.incidence()).tocsc()  # unit conductances
        free = np.arange(3, net.n_nodes)
        a = lap[free][:, free].tocsc()
        b = -(lap[free][:, :3] @ np.array([1.0, 0.0, 0.5]))
        x_ref = splu(a, permc_spec="MMD_AT_PLUS_A").solve(b)
        diff = float(np.max(np.abs(_sparse_factor(a)[0](b) - x_ref)))
        t = _timeit({"spicecl": lambda: _sparse_factor(a)[0](b),
                     "mmd": lambda: splu(a, permc_spec="MMD_AT_PLUS_A").solve(b)},
                    min_time, rounds=3, min_calls={"spicecl": 1, "mmd": 1})
        rows.append({"network": net.name, "nodes": net.n_nodes, "edges": net.n_edges,
                     "factor_solve_s": t["spicecl"], "baseline_mmd_factor_solve_s": t["mmd"],
                     "speedup_vs_mmd": t["mmd"] / t["spicecl"],
                     "max_abs_diff_volts": diff})
    return {"benchmark": "solver", "sizes": rows}


#: The networks of ``bench precision`` and their generators' seeds (9 to 20 nodes: exact
#: rational solves stay fast).
PRECISION_NETWORKS = {"exp16": 0, "disordered:12:25": 1, "disordered:20:45": 2}
#: The voltages of the three held nodes in ``bench precision`` (volts; errors are per volt of
#: the largest).
PRECISION_VOLTS = (1.0, 0.0, 0.3)


def precision_cases(decades: int, draws: int, seed: int):
    """The networks of ``bench precision`` at ``decades``: ``draws`` draws of each of
    :data:`PRECISION_NETWORKS`, with resistances (E,) log-uniform from 1 mohm over
    ``decades`` decades and three random nodes held at :data:`PRECISION_VOLTS`. Yields
    (network, resistances, fixed: node index -> volts); the draws at one ``decades`` do not
    depend on the others asked for."""
    nets = [load_network(name, s) for name, s in PRECISION_NETWORKS.items()]
    for child in np.random.SeedSequence([seed, decades]).spawn(draws):
        rng = np.random.default_rng(child)
        for net in nets:
            r = 10.0 ** rng.uniform(-3, -3 + decades, net.n_edges)
            held = rng.permutation(net.n_nodes)[:len(PRECISION_VOLTS)].tolist()
            yield net, r, dict(zip(held, PRECISION_VOLTS))


def precision_case(net, r, fixed: dict) -> dict:
    """One network of ``bench precision``: whether the checked solve accepts it, the error of
    the unchecked solution against the exact one (volts per volt of the largest held
    voltage; None where the factorization broke down: no unchecked solution either) and the
    check's estimate of it."""
    from spicecl.errors import SpiceclError
    from spicecl.solver import estimate_precision, exact_voltages, solve_fixed

    try:
        solve_fixed(net, r, fixed)
        accepted = True
    except SpiceclError:
        accepted = False
    try:
        v = solve_fixed(net, r, fixed, check=False)
    except SpiceclError:
        error = None
    else:
        scale = max(abs(volts) for volts in fixed.values())
        error = float(np.max(np.abs(v - exact_voltages(net, r, fixed)))) / scale
    return {"accepted": accepted, "error": error,
            "estimate": estimate_precision(net, r, list(fixed))}


def bench_precision(args=None, *, decades=tuple(range(4, 31, 2)), draws: int = 20,
                    values: int = 100_000, seed: int = 0) -> dict:
    """The solver's error against exact rational solutions (:func:`spicecl.solver.
    exact_voltages`) and the precision check's estimate of it (``spicecl bench precision``),
    and how often numpy's SIMD kernels round ``exp``, ``log`` and ``power`` otherwise than the
    C library (:func:`simd_rounding`, ``values`` values).

    Per number of ``decades`` the resistances span (:func:`precision_cases`, ``draws`` per
    network; :func:`precision_case`): the largest error of the unchecked solutions and of the
    solutions the check accepts, the networks refused, those refused although their error was
    within the limit, those whose factorization broke down, and the largest ratio of the
    error to the check's estimate.
    """
    from spicecl.solver import PRECISION_LIMIT

    rows = []
    for d in decades:
        cases = [precision_case(*case) for case in precision_cases(d, draws, seed)]
        solved = [c for c in cases if c["error"] is not None]
        rows.append({
            "decades": d,
            "networks": len(cases),
            "max_error": max((c["error"] for c in solved), default=None),
            "max_error_accepted": max((c["error"] for c in solved if c["accepted"]),
                                      default=None),
            "refused": sum(not c["accepted"] for c in cases),
            "refused_within_limit": sum(not c["accepted"] and c["error"] <= PRECISION_LIMIT
                                        for c in solved),
            "broke_down": len(cases) - len(solved),
            "max_error_over_estimate": max((c["error"] / c["estimate"] for c in solved),
                                           default=None),
        })
    return {
        "benchmark": "precision",
        "seed": seed,
        "precision_limit": PRECISION_LIMIT,
        "network_seeds": PRECISION_NETWORKS,
        "held_volts": list(PRECISION_VOLTS),
        "draws_per_network": draws,
        "decades": rows,
        "max_error_over_estimate": max((row["max_error_over_estimate"] for row in rows
                                        if row["max_error_over_estimate"] is not None),
                                       default=None),
        "simd": simd_rounding(values, seed),
    }


def simd_rounding(values: int, seed: int) -> dict:
    """How many of ``values`` results of numpy's ``power``, ``exp`` and ``log`` differ from the
    C library's (Python's :mod:`math`), and by how many units in the last place at most, for
    x uniform in [0, 1): 2^-x, e^x and ln(1 + x); with the SIMD extensions numpy found on this
    CPU (:func:`numpy.show_config`): its AVX-512 kernels round otherwise."""
    import math

    x = np.random.default_rng(seed).random(values)
    cases = {"power": (np.power(2.0, -x), [math.pow(2.0, -v) for v in x.tolist()]),
             "exp": (np.exp(x), [math.exp(v) for v in x.tolist()]),
             "log": (np.log(1.0 + x), [math.log(v) for v in (1.0 + x).tolist()])}
    try:
        simd = np.show_config(mode="dicts")["SIMD Extensions"]
    except TypeError:  # numpy < 1.26: no mode="dicts"
        simd = "unknown"
    out = {"values": values, "simd_extensions": simd}
    for name, (ours, libm) in cases.items():
        libm = np.array(libm)
        out[f"{name}_differ"] = int(np.count_nonzero(ours != libm))
        out[f"{name}_max_ulps"] = float(np.max(np.abs(ours - libm) / np.spacing(libm)))
    return out
