"""The discrete-rule p sweeps shared by fig4c, fig4d, fig4e and the scaling study.

A *group* is one network and one kind of task (e.g. 143 edges, allostery with O = 6); every
p value of a group trains the same tasks. Each p value runs ``budget / p`` steps, so all p
values get the same expected number of edge updates (the paper plots against steps x p).
The result per group and p is the final scaled error of each task (test error for
regression, the training example for allostery).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spicecl.errors import SpiceclError
from spicecl.experiments.common import (TaskSpec, TrainChunk, fraction, mean_sem, nonnegative,
                                        run_train_chunk)
from spicecl.learning import LearningConfig
from spicecl.sweep import Chunk, spawn_seeds


@dataclass(frozen=True)
class Group:
    label: str
    network: str
    task: TaskSpec
    n_tasks: int
    chunk: int = 25


#: the rule parameters `reproduce --set` may change in every discrete figure, and their
#: defaults: eta 0.5 and the paper's sigma ~ U[0, 0.05] V
RULE = {"eta": 0.5, "sigma_max": 0.05}
RULE_SETTABLE = {"eta": fraction, "sigma_max": nonnegative}


def rule_settings(s: dict) -> dict:
    """The rule parameters of a figure's settings (defaults from :data:`RULE`)."""
    return {k: s.get(k, v) for k, v in RULE.items()}


def discrete_config(p: float, batch: str = "full", eta: float = RULE["eta"],
                    sigma_max: float = RULE["sigma_max"]) -> LearningConfig:
    """Eq. 10/11 with the default digipot grid (128 taps, 10 kohm), sigma ~ U[0, sigma_max]."""
    return LearningConfig(rule="discrete", eta=eta, p=p, batch=batch, sigma_max=sigma_max)


def sweep_chunks(groups: list[Group], ps: list[float], budget: int, seed: int,
                 batch: str = "full", n_records: int = 50,
                 rule: dict | None = None) -> tuple[list[Chunk], int]:
    """Chunks of every (group, p, task block); returns (chunks, task_steps). ``rule``: the
    :func:`discrete_config` keywords (eta, sigma_max)."""
    chunks, total = [], 0
    # streams 1000 + ig (tasks) and 2000 + 100 ig + ip (learning) stay distinct only for
    # fewer than 100 p values and 1000 groups; beyond, two runs would share a random stream
    if len(ps) > 100 or len(groups) > 1000:
        raise SpiceclError(f"at most 100 p values and 1000 groups per sweep (got {len(ps)} and "
                           f"{len(groups)}): more would reuse learning seeds across groups")
    for ig, g in enumerate(groups):
        task_seeds = spawn_seeds(seed, g.n_tasks, stream=1000 + ig)
        for ip, p in enumerate(ps):
            run_seeds = spawn_seeds(seed, g.n_tasks, stream=2000 + 100 * ig + ip)
            steps = int(math.ceil(budget / p))
            cfg = discrete_config(p, batch, **(rule or {}))
            for start in range(0, g.n_tasks, g.chunk):
                idx = list(range(start, min(start + g.chunk, g.n_tasks)))
                spec = TrainChunk(g.network, 0, g.task, tuple(task_seeds[i] for i in idx),
                                  (cfg,) * len(idx), tuple(run_seeds[i] for i in idx), steps,
                                  n_records=n_records,
                                  meta={"group": g.label, "p": p, "tasks": idx})
                chunks.append(Chunk(f"{g.label}_p{p:.3f}_t{start:03d}", run_train_chunk, spec,
                                    cost=len(idx) * steps, check=spec.holds))
                total += len(idx) * steps
    return chunks, total


def final_errors(chunks, results, label: str, p: float, key: str = "test_error") -> np.ndarray:
    """Final scaled errors (tasks,) of group ``label`` at ``p``."""
    parts = sorted(((c.spec.meta["tasks"][0], results[c.name][key]) for c in chunks
                    if c.spec.meta["group"] == label and c.spec.meta["p"] == p),
                   key=lambda t: t[0])
    err = np.concatenate([a for _, a in parts])
    return err[:, -1] / err[:, 0]


def mean_curve(chunks, results, label: str, p: float, key: str = "test_error"):
    """(steps, mean scaled error over tasks) of group ``label`` at ``p``."""
    parts = [results[c.name] for c in chunks
             if c.spec.meta["group"] == label and c.spec.meta["p"] == p]
    err = np.concatenate([r[key] for r in parts])
    return parts[0]["steps"], (err / err[:, :1]).mean(axis=0)


def by_p_summary(chunks, results, label: str, ps, key: str = "test_error") -> dict:
    """{p: {mean, sem, median, n}} of the final scaled error.

    With p = 1 in ``ps``, each other p also gets the paired comparison with it (every p
    trains the same tasks): ``tasks_below_p1``, the number of tasks that end lower than at
    p = 1, and ``geomean_ratio_to_p1``, the geometric mean over tasks of the ratio of the
    final errors (below 1: lower at this p). A mean over tasks can hide a consistent effect
    behind one task that the network cannot learn; the pairs do not.
    """
    out = {}
    base = final_errors(chunks, results, label, 1.0, key) if 1.0 in ps else None
    for p in ps:
        f = final_errors(chunks, results, label, p, key)
        m, e = mean_sem(f)
        out[f"{p:g}"] = {"mean": float(m), "sem": float(e), "median": float(np.median(f)),
                         "n": int(len(f))}
        if base is not None and p != 1.0:
            tiny = np.finfo(float).tiny  # a task learnt exactly (error 0) stays finite
            ratio = np.maximum(f, tiny) / np.maximum(base, tiny)
            out[f"{p:g}"].update(tasks_below_p1=int(np.sum(f < base)),
                                 geomean_ratio_to_p1=float(np.exp(np.mean(np.log(ratio)))))
    return out


def trend(summary_by_p: dict) -> dict:
    """Least-squares trend of the mean final error with p, and the lowest p against p = 1.

    ``slope_per_p``: least-squares slope of mean error against p (positive: the error
    decreases as p decreases, the paper's claim); ``ratio_lowest_to_p1``: mean error at the
    smallest p over that at p = 1.
    """
    ps = np.array([float(k) for k in summary_by_p])
    m = np.array([v["mean"] for v in summary_by_p.values()])
    slope = float(np.polyfit(ps, m, 1)[0]) if len(ps) > 1 else float("nan")
    lo = summary_by_p[f"{ps.min():g}"]["mean"]
    hi = summary_by_p.get("1", {}).get("mean", float("nan"))
    return {"slope_per_p": slope, "ratio_lowest_to_p1": lo / hi if hi else float("nan")}
