"""Coupled learning: rules, update schedules and the training loop (idealized picture).

Rules (the paper's equations, see README.md):

* ``continuous`` (Eq. 2, Eq. 7 for a batch): ``dR_i = gamma / R_i^2 * sum_j w_j
  ((dV_ij^C)^2 - (dV_ij^F)^2)``, resistances clipped to ``[r_min, r_max]``.
* ``discrete`` (Eq. 10): ``dR_i = +r0`` if ``|dV_i^C| + sigma > |dV_i^F|`` else ``-r0``, with
  ``sigma ~ U[0, sigma_max]`` drawn per comparison (``sigma_mode='per-comparison'``, as the
  paper measured it) or once per edge and then fixed (``'per-edge'``: a quenched comparator
  bias, which makes the p = 1 dynamics deterministic), on a grid of ``levels`` linearly spaced
  resistances ``R = r_wiper + n * r_ab / (levels - 1)`` (an up/down digital potentiometer;
  end stops ignore further steps). With a batch of several examples the decision is the sign
  of the summed margins ``sum_j w_j (|dV_ij^C| + sigma_ij - |dV_ij^F|)``.

Schedules:

* edges (Eq. 3/11): ``p_mode='bernoulli'`` updates each edge independently with probability
  ``p``; ``'fixed'`` updates exactly ``round(p * E)`` random edges per step (the paper's p-bar);
* examples: ``batch='full'`` (Eq. 7, all B), ``'single'`` (one random example per step),
  ``'bernoulli'`` (each example with probability ``batch_fraction``; an empty draw makes no
  update) and ``'fixed'`` (exactly ``round(batch_fraction * B)`` random examples).

:func:`train` steps K independent networks (tasks x p values, say) together; each network
draws from its own Generator, in a fixed order, so a network's trajectory does not depend on
what it is batched with. Shapes: K networks, E edges, B examples, I inputs, O outputs.
"""

from __future__ import annotations

import numbers
import sys
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from spicecl.errors import (SpiceclError, as_generator, as_scalar, check_count, check_instance,
                            check_range)
from spicecl.network import Network
from spicecl.solver import TINY, NodalSystem, spd_inverse
from spicecl.tasks import Task

RULES = ("continuous", "discrete")
P_MODES = ("bernoulli", "fixed")
#: Most training steps of one run (years of computing; step counters stay far from int64).
MAX_STEPS = 10**12
#: Most tasks (networks) a command trains: more is a typo, and the job list alone would fill
#: the memory.
MAX_TASKS = 100_000
BATCH_MODES = ("full", "single", "bernoulli", "fixed")
#: Training checks the precision of its solutions (:func:`spicecl.solver.check_precision`) at
#: the recorded steps only when the resistances span more than this ratio: below it, eps times
#: the spread is 2e-8, and random networks spread over 12 decades stayed within 4e-9 of the
#: exact voltages (the limit is 1e-6). The default ranges span 1e5 (continuous) and 200
#: (digipot taps), so their runs skip the check, which doubled the time of sparse networks.
UNCHECKED_SPREAD = 1e8
SIGMA_MODES = ("per-comparison", "per-edge")

#: Default digital potentiometer (AD5220-like, 10 kohm): wiper and end-to-end resistance.
R_WIPER = 50.0
R_AB = 10e3
LEVELS = 128
#: Most taps of a potentiometer grid.
MAX_LEVELS = 2**53
#: Default initial resistance: the potentiometer's mid-scale tap (64 of 0..127).
R_INIT = R_WIPER + 64 * R_AB / (LEVELS - 1)


@dataclass(frozen=True)
class LearningConfig:
    """Hyperparameters of a training run (validated on construction).

    Units: ohms, volts; ``gamma`` in ohm^3 / V^2 (Eq. 2).
    """

    rule: str = "continuous"
    eta: float = 0.5
    gamma: float = 3.0e10
    p: float = 1.0
    p_mode: str = "bernoulli"
    batch: str = "full"
    batch_fraction: float = 1.0
    r_init: float = R_INIT
    r_min: float = 10.0
    r_max: float = 1.0e6
    levels: int = LEVELS
    r_wiper: float = R_WIPER
    r_ab: float = R_AB
    sigma_max: float = 0.05
    sigma_mode: str = "per-comparison"

    def __post_init__(self):
        for f in fields(self):  # 0-d arrays (read from an .npz file) as the numbers they hold
            object.__setattr__(self, f.name, as_scalar(getattr(self, f.name)))
        if self.rule not in RULES:
            raise SpiceclError(f"--rule must be one of {', '.join(RULES)}, got {self.rule!r}")
        if self.p_mode not in P_MODES:
            raise SpiceclError(f"--p-mode must be one of {', '.join(P_MODES)}, got {self.p_mode!r}")
        if self.sigma_mode not in SIGMA_MODES:
            raise SpiceclError(f"--sigma-mode must be one of {', '.join(SIGMA_MODES)}, "
                               f"got {self.sigma_mode!r}")
        if self.batch not in BATCH_MODES:
            raise SpiceclError(f"--batch must be one of {', '.join(BATCH_MODES)}, "
                               f"got {self.batch!r}")
        # Errors name the command-line flag where there is one (train, compare): a Python
        # caller maps --r-min to r_min easily, a command-line user the other way less so.
        check_range("--p", self.p, 0, 1, low_open=True)
        check_range("--batch-fraction", self.batch_fraction, 0, 1, low_open=True)
        check_range("--eta", self.eta, 0, 1, low_open=True)
        check_range("--gamma", self.gamma, 0, float("inf"), low_open=True, high_open=True)
        check_range("--sigma-max", self.sigma_max, 0, float("inf"), high_open=True)
        for name in ("r_init", "r_min", "r_max"):
            check_range("--" + name.replace("_", "-"), getattr(self, name), 0, float("inf"),
                        low_open=True, high_open=True)
        check_range("r_ab", self.r_ab, 0, float("inf"), low_open=True, high_open=True)
        # The smallest resistances the rules reach (r_min; r_wiper at tap 0): below the
        # smallest normal double, the conductance 1/R overflows (0 shorts the edge).
        check_range("--r-min", self.r_min, TINY, float("inf"), high_open=True)
        check_range("r_wiper", self.r_wiper, TINY, float("inf"), high_open=True)
        if not self.r_min < self.r_max:
            raise SpiceclError(f"--r-min ({self.r_min:g}) must be below --r-max "
                               f"({self.r_max:g})")
        if not self.r_min <= self.r_init <= self.r_max:
            default = " (the default: give --r-init too)" if self.r_init == R_INIT else ""
            raise SpiceclError(f"--r-init must be in [--r-min, --r-max] = [{self.r_min:g}, "
                               f"{self.r_max:g}] ohm, got {self.r_init!r}{default}")
        lv = self.levels
        if (isinstance(lv, bool) or not isinstance(lv, numbers.Real)
                or not float(lv).is_integer() or lv < 2):
            raise SpiceclError(f"levels must be an integer >= 2, got {lv!r}")
        if lv > MAX_LEVELS:  # (int64 tap counters, and taps * r0 computed in doubles)
            raise SpiceclError(f"levels must be at most 2**53 (the taps are counted exactly "
                               f"in doubles), got {lv!r}")
        # Plain Python numbers from here on: numpy scalars (p from np.linspace) and 128.0
        # levels work as given, but a float tap count breaks the tap clip and numpy scalars
        # do not go into JSON (to_dict). Python ints and floats are kept as they are.
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "levels":
                if type(v) is not int:
                    object.__setattr__(self, "levels", int(v))
            elif isinstance(v, numbers.Real) and type(v) not in (int, float):
                object.__setattr__(self, f.name, float(v))

    @property
    def r0(self) -> float:
        """Discrete step: one tap of the potentiometer (ohm)."""
        return self.r_ab / (self.levels - 1)

    def gated_edges(self, n_edges: int) -> int:
        """Edges a ``p_mode='fixed'`` step updates: round(p E) (the paper's p-bar)."""
        return int(round(self.p * n_edges))

    def batch_size(self, n_examples: int) -> int:
        """Examples a ``batch='fixed'`` step uses: round(b B), at least one (b-bar)."""
        return max(1, int(round(self.batch_fraction * n_examples)))

    def tap_of(self, r) -> np.ndarray:
        """Nearest tap (clipped to the grid) of resistances ``r``."""
        n = np.rint((np.asarray(r, float) - self.r_wiper) / self.r0)
        return np.clip(n, 0, self.levels - 1).astype(np.int64)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class History:
    """What :func:`train` records, for K networks.

    Attributes
    ----------
    steps : (T,) step numbers at which errors were recorded (0 and the last step included)
    train_error, test_error : (K, T) mean squared error of the free outputs (V^2)
    snapshot_steps : (S,) steps of the resistance snapshots
    resistance : (K, S, E) resistance snapshots (ohm)
    final_resistance : (K, E)
    final_taps : (K, E) int, discrete rule only (else None)
    updates : (K,) number of edge updates (edge-steps gated in to update)
    """

    steps: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    snapshot_steps: np.ndarray
    resistance: np.ndarray
    final_resistance: np.ndarray
    final_taps: np.ndarray | None
    updates: np.ndarray
    meta: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        """One line (the arrays are attributes): sizes and each network's final scaled test
        error."""
        k, e = self.final_resistance.shape
        with np.errstate(divide="ignore", invalid="ignore"):  # (a History made by hand)
            final = np.array2string(self.test_scaled[:, -1], precision=3, threshold=6)
        return (f"History({k} network{'s' if k != 1 else ''}, {e} edges, steps "
                f"0..{int(self.steps[-1])}, {len(self.steps)} records, "
                f"{len(self.snapshot_steps)} snapshots; final test_scaled {final})")

    @property
    def train_scaled(self) -> np.ndarray:
        return self.train_error / self.train_error[:, :1]

    @property
    def test_scaled(self) -> np.ndarray:
        return self.test_error / self.test_error[:, :1]

    def summary(self, k: int = 0) -> dict:
        return {
            "final_test_scaled_error": float(self.test_scaled[k, -1]),
            "final_train_scaled_error": float(self.train_scaled[k, -1]),
            "final_test_error": float(self.test_error[k, -1]),
            "final_train_error": float(self.train_error[k, -1]),
            "initial_test_error": float(self.test_error[k, 0]),
            "steps": int(self.steps[-1]),
            "edge_updates": int(self.updates[k]),
        }


def rate_hint(gamma: float, net: Network, r_init: float = R_INIT) -> str | None:
    """For a continuous-rule run whose error rose (or never moved): the rate that matches
    ``gamma`` on this network's resistances (the rate scales with R^3), or None when they are
    near the default ones and the rule would only repeat ``gamma``."""
    typical = float(np.median(net.resistance)) if net.resistance is not None else r_init
    equivalent = equivalent_gamma(gamma, typical)
    if equivalent is None:
        return None
    return (f"The rate scales with R^3: for resistances near {typical:.4g} ohm, "
            f"{equivalent:.3g} is the equivalent of {gamma:g} at the default {R_INIT:.5g} ohm")


def equivalent_gamma(gamma: float, typical: float) -> float | None:
    """The continuous rate (Eq. 2, ohm^3/V^2) that moves resistances near ``typical`` ohm as
    ``gamma`` moves them near the default :data:`R_INIT` (the rate scales with R^3), or None
    when ``typical`` is within a factor 2 of the default and ``gamma`` needs no change."""
    if 0.5 < typical / R_INIT < 2:
        return None
    return gamma * (typical / R_INIT) ** 3


def gamma_at_volts(gamma: float, volts: float) -> float:
    """The continuous rate (Eq. 2, ohm^3/V^2) for inputs up to ``volts`` that gives the
    dynamics ``gamma`` gives at 1 V: Eq. 2's step grows as V^2 when every input and target
    scales by V. (0 or inf when the division under- or overflows.)"""
    return gamma / volts / volts  # (volts ** 2 would overflow first)


def spawn_streams(seed, k: int) -> list:
    """k independent child streams of one seed: an int or None (via SeedSequence), a
    SeedSequence or a Generator (their own ``spawn``)."""
    if isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return list(seed.spawn(k))
    return list(np.random.SeedSequence(seed).spawn(k))


def _check_r_init(r_init, k: int, e: int) -> np.ndarray:
    """A caller's initial resistances as floats: a scalar, (E,) or (K, E), positive and
    finite (the discrete rule would snap anything else to a tap)."""
    try:
        r = np.asarray(r_init, float)
    except (TypeError, ValueError):
        raise SpiceclError(f"r_init must be resistances in ohm, got {r_init!r}") from None
    if r.shape not in ((), (e,), (1, e), (k, e)):
        raise SpiceclError(f"r_init must have shape ({e},) or ({k}, {e}), got {r.shape}")
    bad = ~(np.isfinite(r) & (r > 0))
    if bad.any():
        at = np.argwhere(bad)[0] if r.ndim else ()
        where = f" at edge {at[-1]}" if len(at) else ""
        raise SpiceclError(f"r_init must be positive and finite (ohm), got "
                           f"{float(r[tuple(at)])!r}{where}")
    return r


def _stack_tasks(tasks: list[Task]):
    shapes = {(t.train_x.shape, t.train_y.shape, t.test_x.shape) for t in tasks}
    if len(shapes) != 1:
        raise SpiceclError("networks trained together need tasks of the same shape "
                           "(inputs, outputs, training and test set sizes)")
    return (np.stack([t.train_x for t in tasks]), np.stack([t.train_y for t in tasks]),
            np.stack([t.test_x for t in tasks]), np.stack([t.test_y for t in tasks]))


def example_weights(config: LearningConfig, n_examples: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Weights (B,) of the training examples in one step, per the batch schedule."""
    b = n_examples
    if config.batch == "full":
        return np.ones(b)
    w = np.zeros(b)
    if config.batch == "single":
        w[rng.integers(0, b)] = 1.0  # the draw of rng.integers(b), with less call overhead
    elif config.batch == "bernoulli":
        w[:] = rng.random(b) < config.batch_fraction
    else:  # fixed
        w[rng.choice(b, size=config.batch_size(b), replace=False)] = 1.0
    return w


def edge_mask(config: LearningConfig, n_edges: int, rng: np.random.Generator) -> np.ndarray | None:
    """Which edges update this step (E,) bool, or None for all of them (p = 1)."""
    if config.p >= 1.0:
        return None
    if config.p_mode == "bernoulli":
        return rng.random(n_edges) < config.p
    m = np.zeros(n_edges, bool)
    m[rng.choice(n_edges, size=config.gated_edges(n_edges), replace=False)] = True
    return m


class Trainer:
    """State and step of K networks sharing a topology (idealized picture).

    Parameters
    ----------
    net : Network
    tasks : list of K Task (same shapes)
    configs : list of K LearningConfig (same rule and batch mode; p, eta, gamma may differ)
    seeds : list of K seeds or Generators, one per network
    r_init : optional (K, E) or (E,) initial resistances (default: the network's own
        resistances if it has them, else ``config.r_init``)
    """

    def __init__(self, net: Network, tasks: list[Task], configs: list[LearningConfig],
                 seeds, r_init=None):
        check_instance("net", net, Network)
        for t in tasks:
            check_instance("tasks", t, Task)
        for c in configs:
            check_instance("configs", c, LearningConfig)
        if not (len(tasks) == len(configs) == len(seeds)) or not tasks:
            raise SpiceclError("tasks, configs and seeds must have the same non-zero length")
        if len({(c.rule, c.batch) for c in configs}) != 1:
            raise SpiceclError("networks trained together must share rule and batch mode")
        for c in configs:  # edge_mask updates round(p * E) edges: none at all would be a no-op
            if c.p_mode == "fixed" and c.p < 1 and c.gated_edges(net.n_edges) == 0:
                raise SpiceclError(f"--p-mode fixed with p = {c.p:g} on {net.n_edges} edges "
                                   f"updates round(p * E) = 0 edges per step: nothing would "
                                   f"learn")
        self.net, self.tasks, self.configs = net, list(tasks), list(configs)
        self.rule = configs[0].rule
        self.k = len(tasks)
        self.rngs = [as_generator(s, "seeds") for s in seeds]
        self.systems = [NodalSystem(net, t.inputs, t.outputs, t.grounds) for t in tasks]
        self._batched = None
        if self.k > 1 and not any(s.sparse for s in self.systems):
            from spicecl.solver import BatchedSystems

            self._batched = BatchedSystems(self.systems)
        self.x, self.y, self.tx, self.ty = _stack_tasks(self.tasks)
        e = net.n_edges
        if r_init is None:
            r_init = (net.resistance if net.resistance is not None
                      else np.array([c.r_init for c in configs])[:, None] * np.ones(e))
        else:
            r_init = _check_r_init(r_init, self.k, e)
        r = np.broadcast_to(np.asarray(r_init, float), (self.k, e)).copy()
        self.eta = np.array([c.eta for c in configs])[:, None, None]
        self.gamma = np.array([c.gamma for c in configs])[:, None]
        if self.rule == "discrete":
            self.taps = np.stack([c.tap_of(r[i]) for i, c in enumerate(configs)])
            self.r_lo = np.array([c.r_wiper for c in configs])[:, None] * np.ones(e)
            self.r_step = np.array([c.r0 for c in configs])[:, None] * np.ones(e)
            self.tap_max = np.array([c.levels - 1 for c in configs])[:, None]
            self.sigma_max = np.array([c.sigma_max for c in configs])[:, None, None]
            # A quenched bias is drawn once, at the start, from each network's own stream
            # (unit draws, times sigma_max at every step as the drawn ones).
            self.sigma_unit = [g.random(e) if c.sigma_mode == "per-edge" else None
                               for c, g in zip(configs, self.rngs)]
            # The step's (K, B, E) arrays (sigma, free and clamped drops), kept: new ones of
            # this size cost page faults at every step (the allocator hands them back to the
            # system between steps), more than half of the step in fig4e's runs.
            self._work = np.empty((3, self.k, self.x.shape[1], e))
            r = self.r_lo + self.taps * self.r_step
        else:
            self.taps = None
            self.r_lo = np.array([c.r_min for c in configs])[:, None]
            self.r_hi = np.array([c.r_max for c in configs])[:, None]
            outside = ~((r >= self.r_lo) & (r <= self.r_hi))  # the rule clips into the range
            if outside.any():
                j, i = np.argwhere(outside)[0]
                raise SpiceclError(f"network {net.name}: initial resistance {r[j, i]:g} ohm of "
                                   f"edge {i} is outside [r_min, r_max] = [{configs[j].r_min:g}, "
                                   f"{configs[j].r_max:g}] ohm of the continuous rule "
                                   f"(spicecl train --r-min, --r-max)")
        self.r = r
        self.updates = np.zeros(self.k, np.int64)
        self._resp = None
        self._init_draws()
        self._fused = (_FusedStep(self) if self.k == 1 and _FusedStep.applies(self) else None)
        if self.rule == "continuous" and self._fused is None:
            self._check_update_scale()

    def _check_update_scale(self) -> None:
        """Raise "training diverged" for the networks whose continuous-rule updates overflow
        whatever their resistances: ``2 eta gamma sum_j |z_j|^2`` (z_j = [x_j; y_j], volts), a
        bound on the moments that Eq. 7 multiplies, is not finite. The fused step of one
        network multiplies gamma into these moments first, and its NaN updates are reported by
        :meth:`errors`; this step multiplies by gamma / R^2 last, and clipping turned its
        updates of 1e300 ohm or inf into resistances at r_min or r_max, without an error."""
        z2 = (self.x * self.x).sum(axis=(1, 2)) + (self.y * self.y).sum(axis=(1, 2))
        self._refuse_diverged(~np.isfinite(2.0 * self.eta[:, 0, 0] * self.gamma[:, 0] * z2),
                              "the updates dR", "are not finite numbers")

    def _refuse_diverged(self, bad: np.ndarray, what: str, is_not: str) -> None:
        """Raise "training diverged: <what> [of network k (of K)] <is_not>" for the first
        network flagged in ``bad`` (K,) bool, if any."""
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            which = f" of network {k} (of {self.k})" if self.k > 1 else ""
            raise SpiceclError(f"training diverged: {what}{which} {is_not} (input volts or "
                               f"learning rate gamma too large?)")

    # --- the linear response of the current state (cached until R changes)
    def responses(self, check: bool = False):
        """(D, M, W) stacked over networks: (K, E, I), (K, O, I), (K, O, E); see
        :meth:`spicecl.solver.NodalSystem.unit_response` (``check``: the resistances and the
        precision of the solution, when they are not cached)."""
        if self._resp is None:
            if self.k == 1:
                d, m, w = self.systems[0].unit_response(self.r[0], check=check)
                self._resp = (d[None], m[None], w[None])
            elif self._batched is not None:
                self._resp = self._batched.unit_responses(self.r, check=check)
            else:
                parts = [sy.unit_response(self.r[i], check=check)
                         for i, sy in enumerate(self.systems)]
                self._resp = tuple(np.stack(a) for a in zip(*parts))
        return self._resp

    def errors(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean squared output error (K,) on the training and the test set.

        Called at the recorded steps, so these check what the steps do not: the resistances
        (finite) and, when they span more than :data:`UNCHECKED_SPREAD`, the precision of the
        solution (:func:`spicecl.solver.check_precision`).
        """
        what = ("the output error", "is not a finite number")
        self._refuse_diverged(~np.isfinite(self.r).all(axis=1), *what)
        _, m, _ = self.responses(check=bool(self.r.max() > UNCHECKED_SPREAD * self.r.min()))
        mt = np.swapaxes(m, 1, 2)
        train = np.mean((self.x @ mt - self.y) ** 2, axis=(1, 2))
        test = np.mean((self.tx @ mt - self.ty) ** 2, axis=(1, 2))
        self._refuse_diverged(~(np.isfinite(train) & np.isfinite(test)), *what)
        return train, test

    def drops(self, out=None):
        """Free and clamped edge drops (K, B, E) of every training example (Eq. 1), into
        ``out`` (two arrays) if given.

        The clamped state is the free state plus the currents at the outputs that move them
        by the nudge ``eta (y - V_F,O)``: ``dV_C = dV_F + nudge @ W``.
        """
        d, m, w = self.responses()
        dvf, dvc = (None, None) if out is None else out
        dvf = np.matmul(self.x, np.swapaxes(d, 1, 2), out=dvf)
        nudge = self.eta * (self.y - self.x @ np.swapaxes(m, 1, 2))
        dvc = np.matmul(nudge, w, out=dvc)
        dvc += dvf
        return dvf, dvc

    def comparator_bias(self, b: int, e: int, out=None) -> np.ndarray:
        """The Eq. 10 sigma of every comparison this step, shape (K, B, E) (into ``out``)."""
        out = np.empty((self.k, b, e)) if out is None else out
        for g, row, unit in zip(self.rngs, out, self.sigma_unit):
            if unit is None:
                g.random(out=row)  # the draws of g.random((b, e)), in place
            else:
                row[...] = unit
        out *= self.sigma_max
        return out

    def power_gap_gradient(self, weights: np.ndarray) -> np.ndarray:
        """``sum_j w_j ((dV_ij^C)^2 - (dV_ij^F)^2)`` for every edge, shape (K, E).

        With ``dV_C = dV_F + Delta``, ``Delta_j = n_j @ W`` (n_j the nudge) and
        ``dV_F,j = D x_j``, the batch enters only through the O x I and O x O moments
        ``C = N^T diag(w) X`` and ``Q = N^T diag(w) N``:
        ``sum_j w_j Delta_j (2 dV_F,j + Delta_j) = sum_o W_o * (2 C D^T + Q W)_o``.
        This is Eq. 7 at the cost of a single example.
        """
        d, m, w = self.responses()
        nudge = self.eta * (self.y - self.x @ np.swapaxes(m, 1, 2))
        nt = np.swapaxes(nudge, 1, 2)
        if weights is not self._ones_b:
            nt = nt * weights[:, None, :]
        t = (2.0 * (nt @ self.x)) @ np.swapaxes(d, 1, 2)
        t += (nt @ nudge) @ w
        t *= w
        return t.sum(axis=1)

    def _fused_step(self) -> None:
        """:meth:`step` of one dense network, continuous rule (see :class:`_FusedStep`)."""
        w = None if self.configs[0].batch == "full" else self._example_weights()[0]
        r = self.r[0]
        delta = self._fused.delta(r, w)
        if self._any_gating:
            self._gate_all(delta[None])  # a view: the gate zeroes delta itself
        else:
            self.updates += len(delta)
        r += delta
        np.maximum(r, self.r_lo[0], out=r)
        np.minimum(r, self.r_hi[0], out=r)
        self._resp = None

    def _init_draws(self) -> None:
        """Buffers and per-network lists that make the draws of :func:`edge_mask` and
        :func:`example_weights` for all networks with the per-step work vectorized
        (:meth:`_gate_all`, :meth:`_example_weights`): Bernoulli edge gates in one comparison
        (row i holds network i's draws, rows of networks that always update stay at -1, below
        every p), fixed-fraction gates of round(p E) edges, and the example weights
        (``_ones_b``: the full batch's)."""
        configs, k, e, b = self.configs, self.k, self.net.n_edges, self.x.shape[1]
        self._any_gating = any(c.p < 1 for c in configs)
        self._bernoulli = [(i, g) for i, (c, g) in enumerate(zip(configs, self.rngs))
                           if c.p < 1 and c.p_mode == "bernoulli"]
        self._fixed_gated = [(i, g, c.gated_edges(e)) for i, (c, g)
                             in enumerate(zip(configs, self.rngs))
                             if c.p < 1 and c.p_mode == "fixed"]
        self._u = np.full((k, e), -1.0)
        self._p = np.array([c.p for c in configs])[:, None]
        self._ones_b = np.ones((k, b))
        self._rows = np.arange(k)
        self._wu = np.empty((k, b))
        self._fraction = np.array([c.batch_fraction for c in configs])[:, None]
        self._n_examples = [c.batch_size(b) for c in configs]

    def _gate_all(self, delta: np.ndarray) -> None:
        """Zero each network's update on the edges its schedule leaves out this step (Eq. 3:
        the draws of :func:`edge_mask`, the Bernoulli ones compared at once) and count the
        edges that update; delta (K, E)."""
        u = self._u
        for i, g in self._bernoulli:
            g.random(out=u[i])  # the draws of g.random(E)
        m = u < self._p
        for i, g, n in self._fixed_gated:
            m[i] = False
            m[i, g.choice(m.shape[1], size=n, replace=False)] = True
        delta[~m] = 0
        self.updates += np.count_nonzero(m, axis=1)

    def _example_weights(self) -> np.ndarray:
        """Weights (K, B) of the training examples this step: :func:`example_weights` of
        every network."""
        cfg, b = self.configs, self.x.shape[1]
        if cfg[0].batch == "full":
            return self._ones_b
        if cfg[0].batch == "single":  # as example_weights, without K small arrays
            w = np.zeros((self.k, b))
            w[self._rows, [g.integers(0, b) for g in self.rngs]] = 1.0
            return w
        if cfg[0].batch == "bernoulli":
            for g, row in zip(self.rngs, self._wu):
                g.random(out=row)  # the draws of g.random(b)
            return (self._wu < self._fraction).astype(float)
        w = np.zeros((self.k, b))  # fixed
        for i, (g, n) in enumerate(zip(self.rngs, self._n_examples)):
            w[i, g.choice(b, size=n, replace=False)] = 1.0
        return w

    def step(self) -> None:
        """One training step of every network."""
        if self._fused is not None:
            self._fused_step()
            return
        e = self.net.n_edges
        b = self.x.shape[1]
        weights = self._example_weights()
        if self.rule == "continuous":
            delta = self.gamma / (self.r * self.r) * self.power_gap_gradient(weights)
        else:
            dvf, dvc = self.drops(out=self._work[:2])
            sigma = self.comparator_bias(b, e, out=self._work[2])
            per = np.abs(dvc, out=dvc)
            per += sigma
            per -= np.abs(dvf, out=dvf)
            margin = (weights[:, None, :] @ per)[:, 0]
            delta = np.where(margin > 0, 1, -1)
            if weights is not self._ones_b:  # an example draw may have picked none
                delta[~weights.any(axis=1)] = 0
        if self._any_gating:
            self._gate_all(delta)
        else:
            self.updates += e
        if self.rule == "continuous":
            np.add(self.r, delta, out=self.r)
            np.maximum(self.r, self.r_lo, out=self.r)  # np.clip, with less call overhead
            np.minimum(self.r, self.r_hi, out=self.r)
        else:
            taps = self.taps + delta
            np.maximum(taps, 0, out=taps)  # np.clip, with less call overhead
            np.minimum(taps, self.tap_max, out=taps)
            self.taps = taps
            self.r = self.r_lo + taps * self.r_step
        self._resp = None


class _FusedStep:
    """The continuous-rule update of one dense network in one pass over small matrices.

    This is the benchmarked hot path (``spicecl bench learning``); it equals
    ``gamma / R^2 * Trainer.power_gap_gradient(weights)`` to rounding. The batch enters only
    through the moments ``Zm = sum_j w_j z_j z_j^T`` of ``z_j = [x_j; y_j]``: with
    ``P = [M | -1]`` (O x (I + O)) the nudges are ``n_j = -eta P z_j``, so Eq. 7 becomes, per
    edge e with unit-source drops g_e (I + O),
    ``dR_e = gamma / R_e^2 * g_e^T L G_O,e``, ``L = V^T U^T``, ``U = S^-1 P``,
    ``V^T = [-2 eta Zm[:I]; eta^2 U Zm]`` and S the O x O Schur block of the outputs.
    """

    @staticmethod
    def applies(tr: "Trainer") -> bool:
        sy = tr.systems[0]
        return (tr.rule == "continuous" and not sy.sparse and sy.n_out > 0
                and type(tr).power_gap_gradient is Trainer.power_gap_gradient)

    def __init__(self, tr: "Trainer"):
        sy = self.sy = tr.systems[0]
        ni, no, nu = sy.n_in, sy.n_out, len(sy.free)
        self.ni, self.no = ni, no
        self.z = np.concatenate([tr.x[0], tr.y[0]], axis=1)  # (B, I + O)
        self.gamma, self.eta = float(tr.gamma[0, 0]), float(tr.eta[0, 0, 0])
        self.g = np.empty((ni + no, tr.net.n_edges))
        self.xo = np.empty((ni + no, no))  # X^T at the outputs: [M^T; S]
        self.ut = np.empty((ni + no, no))  # U^T = P^T S^-1 = [M^T S^-1; -S^-1]
        self.vt = np.empty((ni + no, ni + no))
        self.ones = np.ones(no)
        # Flat positions of X^T[:, outputs] in the C-ordered X^T (I + O, U).
        self.xo_idx = (np.arange(ni + no)[:, None] * nu + sy.out_pos[None]).ravel()
        self.moments(np.ones(len(self.z)))

    def moments(self, w: np.ndarray) -> None:
        zm = (self.z.T * w) @ self.z
        self.vt[:self.ni] = (-2.0 * self.gamma * self.eta) * zm[:self.ni]
        self.zm2 = (self.gamma * self.eta * self.eta) * zm

    def delta(self, r: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """The update (E,) at resistances r (E,); ``weights`` (B,) of the examples, None for
        the full batch (the moments of the last call are kept)."""
        if weights is not None:
            self.moments(weights)
        ni, xo, ut = self.ni, self.xo, self.ut
        x, g = self.sy.unit_drops(r, out=self.g)
        # x.T is C-ordered (x is Fortran-ordered), so ravel is a view; "clip": unbuffered out
        np.take(x.T.ravel(), self.xo_idx, out=xo.reshape(-1), mode="clip")
        s_inv = spd_inverse(xo[ni:])
        np.negative(s_inv, out=ut[ni:])
        # np.dot: less call overhead than matmul on matrices this small
        np.dot(xo[:ni], s_inv, out=ut[:ni])
        np.dot(ut.T, self.zm2, out=self.vt[ni:])
        h = np.dot(np.dot(self.vt, ut).T, g)  # L^T g (O, E)
        h *= g[ni:]
        delta = np.dot(self.ones, h)
        delta /= r
        delta /= r
        return delta


def record_plan(steps: int, n_records: int = 200) -> np.ndarray:
    """Steps at which to record errors: about n_records, always 0 and ``steps``."""
    return np.unique(np.rint(np.linspace(0, steps, min(steps, n_records) + 1)).astype(np.int64))


def progress_bar(total: int, desc: str, enabled: bool | None = None):
    """A tqdm bar on a terminal (stderr), a no-op otherwise."""
    from tqdm import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, unit="step",
                mininterval=0.5)


def train(net: Network, tasks, configs, seeds, steps: int, *, r_init=None,
          n_records: int = 200, n_snapshots: int = 50, progress: bool | None = False,
          trainer_cls=Trainer) -> History:
    """Train K networks for ``steps`` steps and return their :class:`History`.

    ``tasks``, ``configs`` and ``seeds`` are lists of length K, or single objects: one task
    (K = 1), one config for every task, one seed (an int, a SeedSequence, a Generator or None)
    used as is for K = 1 and spawned into K child streams otherwise. ``r_init``: initial
    resistances (ohm), a scalar, (E,) or (K, E). About ``n_records`` error records (steps 0
    and ``steps`` included) and ``n_snapshots`` resistance snapshots, each at least 1.
    """
    if isinstance(tasks, Task):
        tasks = [tasks]
    if isinstance(configs, LearningConfig):
        configs = [configs] * len(tasks)
    for name, value, cls in (("tasks", tasks, Task), ("configs", configs, LearningConfig)):
        if not isinstance(value, (list, tuple)):  # (a dict would give its keys)
            check_instance(name, value, cls, " or a list of them")
    if not isinstance(seeds, (list, tuple, np.ndarray)):
        as_generator(seeds, "seeds")  # refuses what is not a seed, naming the parameter
        seeds = [seeds] if len(tasks) == 1 else spawn_streams(seeds, len(tasks))
    steps = check_count("--steps", steps, 1, MAX_STEPS)
    n_records = check_count("n_records", n_records, 1)
    n_snapshots = check_count("n_snapshots", n_snapshots, 1)
    from threadpoolctl import threadpool_limits

    # A diverging run overflows: Trainer.errors() reports it, numpy's warnings would only add
    # noise.
    with np.errstate(over="ignore", invalid="ignore"):
        tr = trainer_cls(net, tasks, configs, seeds, r_init=r_init)
        # Dense systems this small run fastest on one BLAS thread (threads only add overhead
        # and, on a loaded machine, stalls); large sparse ones keep the library default.
        blas = threadpool_limits(limits=1, user_api="blas") if not tr.systems[0].sparse else None
        try:
            return _run(tr, net, steps, n_records, n_snapshots, progress)
        finally:
            if blas is not None:
                blas.restore_original_limits()


def check_initial_errors(train_error: np.ndarray, test_error: np.ndarray) -> None:
    """Refuse networks whose output error (K,) at step 0 is not a positive normal number: the
    scaled errors (error / initial error) would be 0/0, NaN (the targets already met, or input
    voltages so small that the squared errors underflow)."""
    for name, err in (("training", train_error), ("test", test_error)):
        bad = np.flatnonzero(~(err >= TINY))
        if bad.size:
            k = int(bad[0])
            which = f" of network {k} (of {len(err)})" if len(err) > 1 else ""
            raise SpiceclError(f"the {name} error{which} at step 0 is {err[k]:.3g} V^2: the "
                               f"targets are already met, or the input voltages (--volts) are "
                               f"so small that their squares underflow; the scaled error "
                               f"(error / initial error) would be undefined")


def _run(tr, net, steps, n_records, n_snapshots, progress) -> History:
    rec = record_plan(steps, n_records)
    snap = record_plan(steps, n_snapshots)
    train_err = np.empty((tr.k, len(rec)))
    test_err = np.empty((tr.k, len(rec)))
    snaps = np.empty((tr.k, len(snap), net.n_edges))
    ri = si = 0
    with progress_bar(steps, "train", progress) as bar:
        for t in range(steps + 1):
            if ri < len(rec) and rec[ri] == t:
                train_err[:, ri], test_err[:, ri] = tr.errors()
                if t == 0:
                    check_initial_errors(train_err[:, 0], test_err[:, 0])
                ri += 1
            if si < len(snap) and snap[si] == t:
                snaps[:, si] = tr.r
                si += 1
            if t == steps:
                break
            tr.step()
            if t % 256 == 255:
                bar.update(256)
    return History(rec, train_err, test_err, snap, snaps, tr.r.copy(),
                   None if tr.taps is None else tr.taps.copy(), tr.updates.copy())

