"""Hardware-faithful coupled learning in the fast loop (discrete rule on the drawn parts).

:class:`HardwareTrainer` is a :class:`spicecl.learning.Trainer` for the discrete rule (Eq. 10,
desynchronous Eq. 11) whose state and decisions are those of the twin-network hardware
(the circuits of models/*.lib) built from one draw of parts (:class:`HardwareParts`):

=====================  ===========================================================================
imperfection (flag)    what it does when on
=====================  ===========================================================================
``tap_tolerance``      each edge's free digipot has its own R_AB and R_W: R = R_W + n R_AB / 127
                       (off: the nominal grid of the LearningConfig for every edge)
``twin_mismatch``      the clamped digipot of an edge is another part (its own R_AB, R_W), so the
                       clamped network is solved with its own resistances (a second
                       factorization; off: the clamped twin is a copy of the free one)
``comparator_offsets`` the decision cell's two comparators have the drawn input offsets
                       (``cell_voff1/2`` divided by the cell gain, referred to the cell input)
``cell_decision``      the decision is the XOR cell's: up <=> (dV_C - dV_F + o1)(dV_C + dV_F + o2)
                       > 0 with the Eq. 10 sigma added to both channels (as ``vbias`` of
                       models/decision_cell.lib); off: Eq. 10, |dV_C| + sigma + o1 > |dV_F|
``comparator_noise``   zero-mean Gaussian noise per comparator and comparison (``noise_sd``)
``gating``             'edge_p': Bernoulli with each edge's own p_i (from its oscillator parts);
                       'replay': the update sequences (K samples x E edges) of a variation file,
                       row t at step t; 'uniform' (off): Bernoulli p for every edge (Eq. 11)
=====================  ===========================================================================

The Eq. 10 sigma (uniform on [0, sigma_max] per comparison) belongs to the discrete rule itself
and is drawn exactly as :class:`~spicecl.learning.Trainer` draws it. With every flag off
(:meth:`HardwareConfig.ideal`) a :class:`HardwareTrainer` therefore reproduces the idealized
discrete trainer step for step for the same seed: the extra randomness (comparator noise) comes
from a separate stream (``Generator.spawn``) that the idealized trainer never touches.

:func:`train_clock_free` is the clock-free mode of the paper's discussion: no global clock;
each edge updates at the rising edges of its own oscillator (period and phase from the parts),
one edge at a time, with the network state (and so every other edge's drops) changing between
events (event-driven).

Shapes: K networks, E edges, B examples, I inputs, O outputs, S samples of an update sequence.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from spicecl.errors import (SpiceclError, as_generator, check_count, check_instance, check_range,
                            check_seed)
from spicecl.learning import (History, LearningConfig, Trainer, check_initial_errors,
                               edge_mask, record_plan, spawn_streams)
from spicecl.network import Network
from spicecl.oscbank.design import bias_for_p
from spicecl.solver import NodalSystem
from spicecl.tasks import Task

GATING_MODES = ("uniform", "edge_p", "replay")

#: Imperfections that :meth:`HardwareConfig.only` can switch on alone, in report order.
IMPERFECTIONS = ("tap_tolerance", "twin_mismatch", "comparator_offsets", "cell_decision",
                 "comparator_noise", "gating")

#: Oscillator supply voltage of the nominal design (``oscbank.design.OscillatorDesign``), V.
VDD = 5.0
#: Decision-cell difference-amplifier gain (models/decision_cell.lib default).
CELL_GAIN = 10.0


@dataclass(frozen=True)
class HardwareConfig:
    """Which hardware imperfections are modelled (each on its own switch).

    Attributes
    ----------
    tap_tolerance, twin_mismatch, comparator_offsets, cell_decision, comparator_noise : bool
        See the module docstring.
    noise_sd : float
        Standard deviation of the comparator noise, V referred to the cell input.
    gating : 'uniform', 'edge_p' or 'replay'
    """

    tap_tolerance: bool = True
    twin_mismatch: bool = True
    comparator_offsets: bool = True
    cell_decision: bool = True
    comparator_noise: bool = True
    noise_sd: float = 1e-3
    gating: str = "edge_p"

    def __post_init__(self):
        for name in IMPERFECTIONS[:-1]:  # (a string "no" would be true)
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise SpiceclError(f"{name} must be True or False, got "
                                   f"{getattr(self, name)!r}")
            object.__setattr__(self, name, bool(getattr(self, name)))
        if self.gating not in GATING_MODES:
            raise SpiceclError(f"gating must be one of {', '.join(GATING_MODES)}, "
                               f"got {self.gating!r}")
        check_range("noise_sd", self.noise_sd, 0, float("inf"), high_open=True)

    @classmethod
    def ideal(cls) -> "HardwareConfig":
        """Every imperfection off: the idealized discrete rule (Eq. 10/11)."""
        return cls(False, False, False, False, False, gating="uniform")

    @classmethod
    def only(cls, name: str, gating: str = "edge_p") -> "HardwareConfig":
        """One imperfection on, the others off. ``gating`` is the gating of ``name`` =
        'gating' (what 'on' means for it: 'edge_p' or 'replay'); every other imperfection
        alone is gated as :meth:`ideal` is ('uniform': every edge at p), and ``gating`` is not
        used."""
        if name not in IMPERFECTIONS:
            raise SpiceclError(f"unknown imperfection {name!r} (known: {', '.join(IMPERFECTIONS)})")
        if name == "gating":
            return replace(cls.ideal(), gating=gating)
        return replace(cls.ideal(), **{name: True})

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Parts of one board


def oscillator_thresholds(kh, voff_osc, vdd: float = VDD):
    """Lower and upper switching thresholds (E,), (E,) of relax_osc with drawn parts.

    Hysteresis network of models/oscillator.lib: R1 = rh kh1 (vcc -> thr), R2 = rh kh2
    (thr -> gnd), R3 = rh kh3 (out -> thr); output high = vdd (pull-up load neglected). The
    comparator offset shifts both thresholds (switching at V(cap) = V(thr) + voff).
    """
    kh = np.asarray(kh, float).reshape(-1, 3)
    g1, g2, g3 = 1.0 / kh[:, 0], 1.0 / kh[:, 1], 1.0 / kh[:, 2]
    gs = g1 + g2 + g3
    lo = vdd * g1 / gs + voff_osc
    hi = vdd * (g1 + g3) / gs + voff_osc
    return lo, hi


def oscillator_periods(rt, ct, kh, voff_osc, vdd: float = VDD) -> np.ndarray:
    """Period (E,) of each drawn relaxation oscillator, s: exponential charge/discharge
    between the thresholds (2 ln 2 R_t C_t for the nominal parts)."""
    lo, hi = oscillator_thresholds(kh, voff_osc, vdd)
    return np.asarray(rt) * np.asarray(ct) * (np.log((vdd - lo) / (vdd - hi)) + np.log(hi / lo))


def edge_probabilities(bias: float, kh, voff_osc, voff_bias, vdd: float = VDD) -> np.ndarray:
    """Fraction of time (E,) each edge's capacitor voltage (plus the bias comparator's offset)
    is above ``bias``: its update probability p_i on a clock sample that is incommensurate
    with the oscillators. Nominal parts give p(b) = 1/2 + 1/2 log2((VDD - b)/b).
    """
    lo, hi = oscillator_thresholds(kh, voff_osc, vdd)
    b = np.clip(float(bias) - np.asarray(voff_bias, float), lo, hi)
    above = np.log((vdd - b) / (vdd - hi)) + np.log(hi / b)
    period = np.log((vdd - lo) / (vdd - hi)) + np.log(hi / lo)
    return np.clip(above / period, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class HardwareParts:
    """The drawn parts of one board that the learning loop needs.

    Attributes
    ----------
    rab_free, rab_clamped, rw_free, rw_clamped : (E,) digipot R_AB and R_W, ohm
    offset1, offset2 : (E,) decision-cell comparator offsets referred to the cell input, V
        (``cell_voff1/2 / gain``)
    osc_rt, osc_ct, osc_voff, bias_voff : (E,) oscillator parts; osc_kh : (E, 3)
    updates : optional dict bias (V) -> (S, E) bool update sequences (from a variation file)
    phase : optional (E,) time of each oscillator's first rising edge, s (clock-free mode)
    source : str, seed : int or None (recorded)
    """

    rab_free: np.ndarray
    rab_clamped: np.ndarray
    rw_free: np.ndarray
    rw_clamped: np.ndarray
    offset1: np.ndarray
    offset2: np.ndarray
    osc_rt: np.ndarray
    osc_ct: np.ndarray
    osc_kh: np.ndarray
    osc_voff: np.ndarray
    bias_voff: np.ndarray
    updates: dict = field(default_factory=dict)
    period: np.ndarray | None = None
    phase: np.ndarray | None = None
    source: str = "draw"
    seed: int | None = None

    @property
    def n_edges(self) -> int:
        return len(self.rab_free)

    def __repr__(self) -> str:
        """One line (the arrays are attributes; :meth:`summary` gives their spreads)."""
        rec = ", ".join(f"{b:g} V" for b in sorted(self.updates)) or "none"
        return (f"HardwareParts({self.n_edges} edges from {self.source}, seed {self.seed}; "
                f"recorded update sequences at bias: {rec})")

    @classmethod
    def from_circuit_draw(cls, draw, gain: float = CELL_GAIN, source: str = "circuit draw"
                          ) -> "HardwareParts":
        """From a :class:`spicecl.variation.CircuitDraw` (the draw the twin decks use)."""
        v = draw.values
        kh = np.column_stack([v["osc_kh1"], v["osc_kh2"], v["osc_kh3"]])
        return cls(v["rab_free"], v["rab_clamped"], v["rw_free"], v["rw_clamped"],
                   v["cell_voff1"] / gain, v["cell_voff2"] / gain, v["osc_rt"], v["osc_ct"],
                   kh, v["osc_voff"], v["bias_voff"], source=source, seed=draw.seed)

    @classmethod
    def draw(cls, n_edges: int, rng, config: LearningConfig | None = None, spec=None,
             gain: float = CELL_GAIN) -> "HardwareParts":
        """Draw a board of ``n_edges`` edges (:func:`spicecl.variation.draw_circuit`).

        The digipot nominals are those of ``config`` (so 'tolerance off' is the same grid on
        average); ``spec`` defaults to :meth:`ToleranceSpec.default`.
        """
        from spicecl.variation import SPEC_HINT, ToleranceSpec, draw_circuit

        cfg = LearningConfig(rule="discrete") if config is None else config
        check_instance("config", cfg, LearningConfig)
        spec = ToleranceSpec.default() if spec is None else spec
        check_instance("spec", spec, ToleranceSpec, SPEC_HINT if isinstance(spec, dict) else "")
        spec = spec.replace("digipot_rab", nominal=cfg.r_ab).replace("digipot_wiper",
                                                                      nominal=max(cfg.r_wiper, 1e-3))
        seed = None
        if not isinstance(rng, np.random.Generator):
            seed = None if rng is None else check_seed(rng, "rng")  # 1.7 is not seed 1
            rng = np.random.default_rng(seed)
        # (n_edges as given: draw_circuit refuses 2.5 rather than drawing 2 edges)
        return cls.from_circuit_draw(draw_circuit(spec, n_edges, rng, seed=seed), gain,
                                     source="draw")

    def with_variation(self, var, draw: int = 0) -> "HardwareParts":
        """These parts with the oscillator parts, periods and update sequences of a variation
        file (:func:`spicecl.variation_file.load_variation`) draw ``draw``."""
        a = var.arrays
        if var.n_edges != self.n_edges:
            raise SpiceclError(f"variation file {var.path}: has {var.n_edges} edges, the "
                               f"network has {self.n_edges}")
        if not 0 <= draw < a["rt"].shape[0]:
            raise SpiceclError(f"variation file {var.path}: no draw {draw}")
        jobs = np.flatnonzero(a["draw"] == draw)
        updates = {float(a["bias_volts"][j]): np.asarray(a["updates"][j], bool) for j in jobs}
        period = np.asarray(a["period"][jobs[0]], float) if len(jobs) else None
        if period is not None and not np.all(np.isfinite(period) & (period > 0)):
            period = None
        return replace(self, osc_rt=a["rt"][draw], osc_ct=a["ct"][draw], osc_kh=a["kh"][draw],
                       osc_voff=a["voff_osc"][draw], bias_voff=a["voff_bias"][draw],
                       updates=updates, period=period,
                       source=f"{self.source} + variation file {var.path}",
                       seed=self.seed)

    def shuffled_in_time(self, rng: np.random.Generator) -> "HardwareParts":
        """These parts with the recorded update sequences' clock samples in a random order
        (``rng.permutation``), one order for every edge and bias: each edge keeps its updates
        and each sample its pattern across the edges (so the correlations between edges),
        but the runs and alternations of consecutive samples are gone."""
        if not self.updates:
            return self
        order = rng.permutation(next(iter(self.updates.values())).shape[0])
        return replace(self, updates={b: seq[order] for b, seq in self.updates.items()})

    def edge_p(self, p: float) -> np.ndarray:
        """Each edge's update probability (E,) when the global bias is set for network p."""
        if p >= 1.0:
            return np.ones(self.n_edges)
        return edge_probabilities(bias_for_p(p), self.osc_kh, self.osc_voff, self.bias_voff)

    def sequence_for(self, p: float, tolerance: float = 0.05):
        """The recorded (S, E) update sequence whose network p is closest to ``p`` (within
        ``tolerance``), or None."""
        best, best_d = None, tolerance
        for _bias, seq in sorted(self.updates.items()):
            d = abs(float(seq.mean()) - p)
            if d <= best_d:
                best, best_d = seq, d
        return best

    def periods(self) -> np.ndarray:
        """Oscillator periods (E,), s: measured (variation file) or from the drawn parts."""
        if self.period is not None:
            return np.asarray(self.period, float)
        return oscillator_periods(self.osc_rt, self.osc_ct, self.osc_kh, self.osc_voff)

    def summary(self) -> dict:
        def rel(a):
            return float(np.std(a) / np.mean(a))

        return {"source": self.source, "seed": self.seed, "n_edges": self.n_edges,
                "rab_free_rel_sd": rel(self.rab_free), "rw_free_mean": float(self.rw_free.mean()),
                "twin_rab_rel_diff_rms": float(np.sqrt(np.mean(
                    (self.rab_clamped / self.rab_free - 1) ** 2))),
                "offset_rms_volts": float(np.sqrt(np.mean(self.offset1 ** 2 + self.offset2 ** 2) / 2)),
                "period_mean": float(self.periods().mean()),
                "period_rel_sd": rel(self.periods()),
                "recorded_biases": sorted(self.updates)}


# --------------------------------------------------------------------------------------------
# The trainer


def _broadcast_parts(parts, k: int) -> list[HardwareParts]:
    if isinstance(parts, HardwareParts):
        return [parts] * k
    if not isinstance(parts, (list, tuple)):
        check_instance("parts", parts, HardwareParts, " (or a list of one per network)")
    parts = list(parts)
    if len(parts) != k:
        raise SpiceclError(f"expected one HardwareParts per network ({k}), got {len(parts)}")
    for pt in parts:
        check_instance("parts", pt, HardwareParts)
    return parts


class HardwareTrainer(Trainer):
    """Discrete coupled learning on the drawn parts of K boards (see the module docstring).

    Parameters
    ----------
    net, tasks, configs, seeds, r_init : as :class:`~spicecl.learning.Trainer` (every config
        must use the discrete rule; the initial taps are the nominal taps of ``r_init``)
    hardware : HardwareConfig
    parts : HardwareParts, or a list of K (one board per network)
    replay : optional (S, E) bool sequence, or a list of K (or None each), for
        ``gating='replay'`` (default: ``parts.sequence_for(config.p)``); row ``t % S`` gates
        step t
    """

    def __init__(self, net: Network, tasks: list[Task], configs: list[LearningConfig], seeds,
                 r_init=None, *, hardware: HardwareConfig, parts, replay=None):
        check_instance("hardware", hardware, HardwareConfig)
        if any(isinstance(c, LearningConfig) and c.rule != "discrete" for c in configs):
            raise SpiceclError("the hardware-faithful mode needs the discrete rule")
        super().__init__(net, tasks, configs, seeds, r_init=r_init)
        self.hw = hardware
        k, e = self.k, net.n_edges
        self.parts = _broadcast_parts(parts, k)
        for pt in self.parts:
            if pt.n_edges != e:
                raise SpiceclError(f"hardware parts are for {pt.n_edges} edges, network "
                                   f"{net.name} has {e}")
        den = np.array([c.levels - 1 for c in configs], float)[:, None]
        rw_f = np.stack([p.rw_free for p in self.parts])
        rab_f = np.stack([p.rab_free for p in self.parts])
        rw_c = np.stack([p.rw_clamped for p in self.parts])
        rab_c = np.stack([p.rab_clamped for p in self.parts])
        if hardware.tap_tolerance:
            self.r_lo, self.r_step = rw_f, rab_f / den
        if hardware.twin_mismatch:
            # The clamped part differs from the free one by the drawn ratio (alone: around the
            # nominal grid; with tap tolerance: the clamped part's own values).
            self.rc_lo = self.r_lo * (rw_c / rw_f)
            self.rc_step = self.r_step * (rab_c / rab_f)
        else:
            self.rc_lo, self.rc_step = self.r_lo, self.r_step
        self._twin = hardware.twin_mismatch
        self.r = self.r_lo + self.taps * self.r_step
        self.r_c = self.rc_lo + self.taps * self.rc_step
        self.off1 = np.zeros((k, 1, e))
        self.off2 = np.zeros((k, 1, e))
        if hardware.comparator_offsets:
            self.off1[:, 0] = np.stack([p.offset1 for p in self.parts])
            self.off2[:, 0] = np.stack([p.offset2 for p in self.parts])
        # Noise stream: spawned, so the main streams draw exactly as the idealized trainer's.
        self.noise_rngs = [g.spawn(1)[0] for g in self.rngs]
        self.p_edge = None
        self.replay = [None] * k
        if hardware.gating == "edge_p":
            self.p_edge = np.stack([pt.edge_p(c.p) for pt, c in zip(self.parts, configs)])
        elif hardware.gating == "replay":
            seqs = replay if isinstance(replay, (list, tuple)) else [replay] * k
            for i, (pt, c) in enumerate(zip(self.parts, configs)):
                s = seqs[i] if seqs[i] is not None else pt.sequence_for(c.p)
                if s is None and c.p < 1:
                    raise SpiceclError(f"gating 'replay': no recorded update sequence with "
                                       f"p near {c.p:g} (recorded biases: "
                                       f"{', '.join(f'{b:g} V' for b in sorted(pt.updates)) or 'none'})")
                if s is not None:
                    s = np.asarray(s, bool)
                    if s.ndim != 2 or s.shape[1] != e or s.shape[0] < 1:
                        raise SpiceclError(f"replayed update sequence has shape {s.shape}, "
                                           f"expected (samples, {e})")
                self.replay[i] = s
        # Bernoulli gates (_gate's rng.random(E) < p, network by network), drawn into one
        # buffer and compared at once when every network's gate is one: edge_p gating, or
        # uniform gating with p_mode 'bernoulli'. A network that never gates (p = 1) has the
        # threshold +inf, above its row of -1.
        self._gate_thr = None
        if hardware.gating == "edge_p" or (hardware.gating == "uniform" and all(
                c.p >= 1.0 or c.p_mode == "bernoulli" for c in configs)):
            gated = np.array([c.p < 1.0 for c in configs])
            thr = self.p_edge if hardware.gating == "edge_p" else self._p
            self._gate_thr = np.where(gated[:, None], thr, np.inf)
            self._gate_rows = [(i, g) for i, g in enumerate(self.rngs) if gated[i]]
            self._gate_u = np.full((k, e), -1.0)
        self.t = 0
        self._resp_c = None
        self._resp_f = None
        self.last_up = np.zeros((k, e), bool)
        self.last_mask = np.ones((k, e), bool)
        self.last_margin = np.zeros((k, e))

    def _each_response(self, r):
        """(D, M, W) of every network at resistances r (K, E), stacked (K, ...): network by
        network (:meth:`~spicecl.solver.NodalSystem.unit_response`), or all together in one
        batched assembly and bit for bit the same
        (:meth:`~spicecl.solver.BatchedSystems.each_unit_response`; 50 per-network solves a
        step made most of ``spicecl compare``'s time)."""
        if self._batched is not None and type(self.systems[0]) is NodalSystem:
            return self._batched.each_unit_response(r)
        parts = [sy.unit_response(r[i], check=False) for i, sy in enumerate(self.systems)]
        return tuple(np.stack(a) for a in zip(*parts))

    # --- clamped twin (its own resistances when the twins differ)
    def responses_clamped(self):
        """(D, M, W) of the clamped twins' resistances, stacked (K, ...)."""
        if self._resp_c is None:
            self._resp_c = self._each_response(self.r_c)
        return self._resp_c

    def set_taps(self, taps) -> None:
        """Set every network's taps (K, E) or (E,) (integers on the grid) and its resistances."""
        t = np.broadcast_to(np.asarray(taps), self.taps.shape)
        if np.any(t < 0) or np.any(t > self.tap_max) or np.any(t != np.round(t)):
            raise SpiceclError("taps must be integers on the digipot grid")
        self.taps = t.astype(np.int64).copy()
        self.r = self.r_lo + self.taps * self.r_step
        self.r_c = self.rc_lo + self.taps * self.rc_step if self._twin else self.r
        self._resp = self._resp_c = self._resp_f = None

    def drops(self, out=None):
        """Free and clamped edge drops (K, B, E), into ``out`` (two arrays) if given; the
        clamped network is solved with its own resistances when the twins differ (Eq. 1
        targets from the free outputs)."""
        if not self._twin:
            return super().drops(out)
        if self._resp_f is None:
            self._resp_f = self._each_response(self.r)
        d, m, _ = self._resp_f
        dvf, dvc = (None, None) if out is None else out
        dvf = np.matmul(self.x, np.swapaxes(d, 1, 2), out=dvf)
        vco = self.eta * self.y + (1.0 - self.eta) * (self.x @ np.swapaxes(m, 1, 2))
        dc, mc, wc = self.responses_clamped()
        dvc = np.matmul(self.x, np.swapaxes(dc, 1, 2), out=dvc)
        dvc += (vco - self.x @ np.swapaxes(mc, 1, 2)) @ wc
        return dvf, dvc

    def _gate(self, i: int, config: LearningConfig, rng) -> np.ndarray | None:
        e = self.net.n_edges
        mode = self.hw.gating
        if mode == "uniform":
            return edge_mask(config, e, rng) if self._any_gating else None
        if mode == "edge_p":
            if config.p >= 1.0:
                return None
            return rng.random(e) < self.p_edge[i]
        seq = self.replay[i]
        if config.p < 1.0:
            # The draws uniform gating would make, discarded: the Eq. 10 sigma that follows
            # comes from the same place in the stream as in every other picture (common
            # random numbers, so 'only gating' differs from the idealized run by the gating).
            edge_mask(config, e, rng)
        if seq is None:
            return None
        return seq[self.t % seq.shape[0]].copy()

    def _update_mask(self, only_edges=None) -> np.ndarray:
        """Which edges update this step (K, E) bool: ``only_edges`` as given (no draw), else
        each network's gate (:meth:`_gate`; when every gate is a Bernoulli one, the same draws
        made into one buffer and compared at once), else every edge."""
        if only_edges is not None:
            return np.asarray(only_edges, bool).reshape(self.k, self.net.n_edges)
        mask = np.ones((self.k, self.net.n_edges), bool)
        if self._gate_thr is not None:
            if self._gate_rows:
                u = self._gate_u
                for i, g in self._gate_rows:
                    g.random(out=u[i])  # the draws of g.random(E)
                mask = u < self._gate_thr
        elif self.hw.gating != "uniform" or self._any_gating:
            for i, (c, g) in enumerate(zip(self.configs, self.rngs)):
                m = self._gate(i, c, g)
                if m is not None:
                    mask[i] = m
        return mask

    def _decide(self, weights, dvf, dvc, sigma, n1, n2) -> tuple[np.ndarray, np.ndarray]:
        """Each edge's decision (K, E), True to step up, and its distance from a tie (K, E):
        the decision cell's product of factors (``cell_decision``) or the Eq. 10 comparison,
        summed over the examples with ``weights`` (K, B); drops, sigma and noise (K, B, E).
        Overwrites dvf and dvc."""
        # f1 = dvc - dvf + off1 + sigma + n1, f2 = dvc + dvf + off2 + sigma + n2 and Eq. 10's
        # |dvc| + sigma + off1 + n1 - |dvf|, summed in place in that order: the same numbers,
        # without (K, B, E) temporaries (they cost as much as the arithmetic)
        if self.hw.cell_decision:
            f1 = np.subtract(dvc, dvf, out=self._work[2])
            f2 = np.add(dvc, dvf, out=dvf)
            for f, off, n in ((f1, self.off1, n1), (f2, self.off2, n2)):
                f += off
                f += sigma
                f += n
            tie = np.minimum(np.abs(f1), np.abs(f2))[:, 0] if f1.shape[1] == 1 else None
            margin = (weights[:, None, :] @ np.multiply(f1, f2, out=f1))[:, 0]
            if tie is not None:  # one example: the cell's smaller factor
                return margin > 0, tie
        else:
            per = np.abs(dvc, out=dvc)
            for term in (sigma, self.off1, n1):
                per += term
            per -= np.abs(dvf, out=dvf)
            margin = (weights[:, None, :] @ per)[:, 0]
        return margin > 0, np.abs(margin)

    def step(self, only_edges=None) -> None:
        """One step of every network: decisions from the drops, the gate, the tap steps.

        ``only_edges`` : optional (K, E) bool: update exactly these edges (no gating draw);
        used by the clock-free mode.
        """
        e = self.net.n_edges
        b = self.x.shape[1]
        hw = self.hw
        weights = self._example_weights()
        dvf, dvc = self.drops(out=self._work[:2])
        sigma = self.comparator_bias(b, e)  # (new arrays, as the noise: kept in last_draws)
        noisy = hw.comparator_noise and hw.noise_sd > 0
        if noisy:
            # each stream's draws for comparator 1 then comparator 2, in one call: the
            # values of two calls of shape (B, E)
            n12 = np.stack([g.normal(0.0, hw.noise_sd, (2, b, e)) for g in self.noise_rngs])
            n1, n2 = n12[:, 0], n12[:, 1]
        else:
            n1 = n2 = 0.0
        up, tie = self._decide(weights, dvf, dvc, sigma, n1, n2)
        delta = np.where(up, 1, -1)
        delta[~weights.any(axis=1)] = 0
        mask = self._update_mask(only_edges)
        delta[~mask] = 0
        taps = self.taps + delta
        np.maximum(taps, 0, out=taps)  # np.clip, with less call overhead
        np.minimum(taps, self.tap_max, out=taps)
        self.taps = taps
        self.updates += np.count_nonzero(mask, axis=1)  # edge-steps gated in, as learning.Trainer
        self.r = self.r_lo + self.taps * self.r_step
        self.r_c = self.rc_lo + self.taps * self.rc_step if self._twin else self.r
        self.last_up, self.last_mask, self.last_margin = up, mask, tie
        if not noisy:
            n1 = n2 = np.zeros_like(sigma)
        self.last_draws = {"weights": weights, "sigma": sigma, "noise1": n1, "noise2": n2}
        self._resp = self._resp_c = self._resp_f = None
        self.t += 1


def hardware_trainer_factory(hardware: HardwareConfig, parts, replay=None):
    """A ``trainer_cls`` for :func:`spicecl.learning.train` that builds a HardwareTrainer."""

    def factory(net, tasks, configs, seeds, r_init=None):
        return HardwareTrainer(net, tasks, configs, seeds, r_init=r_init, hardware=hardware,
                               parts=parts, replay=replay)

    return factory


def train_hardware(net: Network, tasks, configs, seeds, steps: int, *, hardware: HardwareConfig,
                   parts, replay=None, **kwargs) -> History:
    """:func:`spicecl.learning.train` with a :class:`HardwareTrainer`."""
    from spicecl.learning import train

    return train(net, tasks, configs, seeds, steps,
                 trainer_cls=hardware_trainer_factory(hardware, parts, replay), **kwargs)


# --------------------------------------------------------------------------------------------
# Clock-free (self-triggered) updates


def oscillator_events(periods, phases, t_end: float) -> tuple[np.ndarray, np.ndarray]:
    """Times and edge indices of every oscillator rising edge in [0, t_end), time-ordered.

    ``periods``, ``phases`` : (E,), s; edge i fires at phase_i + m period_i, m = 0, 1, ...
    """
    periods = np.asarray(periods, float)
    phases = np.asarray(phases, float)
    times, edges = [], []
    for i, (t_p, t0) in enumerate(zip(periods, phases)):
        n = int(max(0, math.ceil((t_end - t0) / t_p)))
        times.append(t0 + t_p * np.arange(n))
        edges.append(np.full(n, i))
    t = np.concatenate(times) if times else np.zeros(0)
    ed = np.concatenate(edges) if edges else np.zeros(0, int)
    order = np.argsort(t, kind="stable")
    return t[order], ed[order]


def train_clock_free(net: Network, tasks, config: LearningConfig, seeds, updates_per_edge: float,
                     *, hardware: HardwareConfig, parts, phase_seed=None, r_init=None,
                     n_records: int = 100) -> History:
    """Clock-free learning: each edge updates at its own oscillator's rising edges.

    There is no global clock and no bias: edge i decides and steps at t = phase_i + m T_i with
    the network as it is at that instant (every earlier event already applied), so the state
    evolves continuously, one edge at a time (event-driven). Runs until the mean edge has had
    ``updates_per_edge`` events. Periods come from ``parts.periods()``; phases from
    ``parts.phase`` or are drawn uniformly in [0, T_i) from ``phase_seed``.

    Returns a :class:`History` whose ``steps`` are updates per edge (t / mean period; a whole
    number of them is run), with one resistance snapshot: the final state, at the last of
    those steps.
    ``config.p`` is ignored (gating is by the oscillators' timing alone).
    """
    check_instance("config", config, LearningConfig, " (one: the clock-free mode has no p to "
                   "vary)" if isinstance(config, (list, tuple)) else "")
    check_instance("hardware", hardware, HardwareConfig)
    if isinstance(tasks, Task):
        tasks = [tasks]
    k = len(tasks)
    if not isinstance(seeds, (list, tuple)):
        seeds = spawn_streams(seeds, k) if k > 1 else [seeds]
    part_list = _broadcast_parts(parts, k)
    cfg1 = replace(config, p=1.0)
    hw = replace(hardware, gating="uniform")
    check_range("updates per edge", updates_per_edge, 0, float("inf"), low_open=True,
                high_open=True)
    if not float(updates_per_edge).is_integer():  # (the records are at whole numbers of them)
        raise SpiceclError(f"updates per edge must be a whole number, got {updates_per_edge!r}")
    n_records = check_count("n_records", n_records, 1)  # (0: no record after step 0)
    prng = as_generator(phase_seed, "phase_seed")
    e = net.n_edges
    # Networks are independent, so only each network's own event order matters: step j
    # applies every network's j-th event together (batched solves).
    tr = HardwareTrainer(net, list(tasks), [cfg1] * k, list(seeds), r_init=r_init,
                         hardware=hw, parts=part_list)
    n_rec = record_plan(int(updates_per_edge), n_records)
    order, checkpoints = [], []
    for pt in part_list:
        per = pt.periods()
        phase = pt.phase if pt.phase is not None else prng.random(len(per)) * per
        t_mean = float(per.mean())
        times, edges = oscillator_events(per, phase, updates_per_edge * t_mean)
        order.append(edges)
        # record r is taken before the first event at or after its time
        checkpoints.append(np.searchsorted(times, n_rec * t_mean, side="left"))
    n_events = np.array([len(o) for o in order])
    n_steps = int(n_events.max()) if len(n_events) else 0
    train_err = np.empty((k, len(n_rec)))
    test_err = np.empty((k, len(n_rec)))
    ck = np.stack(checkpoints)  # (K, R): event index before which record r is taken
    only = np.zeros((k, e), bool)
    rows = np.arange(k)
    for j in range(n_steps + 1):
        hit = ck == j
        if hit.any():
            a, b = tr.errors()
            if j == 0:  # (every network's first record: step 0)
                check_initial_errors(a, b)
            kk, rr = np.nonzero(hit)
            train_err[kk, rr] = a[kk]
            test_err[kk, rr] = b[kk]
        if j == n_steps:
            break
        only[:] = False
        live = j < n_events
        only[rows[live], [order[i][j] for i in rows[live]]] = True
        tr.step(only_edges=only)
    return History(n_rec, train_err, test_err, n_rec[-1:].copy(), tr.r[:, None].copy(),
                   tr.r.copy(), tr.taps.copy(), tr.updates.copy(),
                   meta={"mode": "clock-free", "events": n_events.tolist()})
