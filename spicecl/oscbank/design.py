"""The oscillator bank as data: nominal design, tolerance draws, analytic answers, SPICE decks.

One edge of the desynchronous hardware has an RC relaxation oscillator (``relax_osc`` in
``models/oscillator.lib``) and a bias comparator (``bias_comp``) whose output, sampled by the
global clock, is the edge's enable. This module holds the nominal design
(:class:`OscillatorDesign`), the per-part draws of a bank of N edges (:class:`BankDraw`, from
:func:`draw_bank`), the analytic period and p(b) of the nominal design, and the deck text of a
bank (:func:`bank_deck`). Pure: no files, no processes, randomness only from a Generator.

Shapes: N edges; K clock samples.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from functools import partial
from pathlib import PurePosixPath

import numpy as np

from spicecl.errors import SpiceclError
from spicecl.netlist.names import default_models_dir, include_path, unquote_include
from spicecl.variation import ToleranceSpec, draw_component

#: The SPICE model libraries (the .lib files are included by absolute path).
MODELS_DIR = default_models_dir()
OSCILLATOR_LIB = MODELS_DIR / "oscillator.lib"

#: Start-up time before the first clock sample, in nominal oscillator periods.
SETTLE_PERIODS = 5.0


@dataclass(frozen=True)
class OscillatorDesign:
    """Nominal component values of one edge's oscillator and bias comparator (SI units).

    Defaults are an assumed nominal design (no values are published): VDD = 5 V, three 100 kohm
    hysteresis resistors (thresholds VDD/3 and 2VDD/3), R_t = 33 kohm, C_t = 10 nF
    (T = 2 ln2 R_t C_t = 0.457 ms), a 37 Hz global clock. ``comp_gain`` is the control gain
    of the oscillator's switch comparator (``comp_swg`` in models/oscillator.lib): it keeps
    ngspice's switch from quantizing the periods to the time step (see the .lib header).
    """

    vdd: float = 5.0
    rt: float = 33e3
    ct: float = 10e-9
    rh: float = 100e3
    rpull: float = 1e3
    bias_rpull: float = 10e3
    clock_hz: float = 37.0
    comp_gain: float = 30.0

    def __post_init__(self):
        for name in ("vdd", "rt", "ct", "rh", "rpull", "bias_rpull", "clock_hz", "comp_gain"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                flag = "--clock-hz" if name == "clock_hz" else f"design {name}"
                raise SpiceclError(f"{flag} must be a positive number, got {v!r}")

    @property
    def period(self) -> float:
        """Analytic period 2 ln(2) R_t C_t of the nominal design, seconds."""
        return 2.0 * math.log(2.0) * self.rt * self.ct

    @property
    def swing(self) -> tuple[float, float]:
        """Thresholds (VDD/3, 2VDD/3): the capacitor voltage swings between them."""
        return self.vdd / 3.0, 2.0 * self.vdd / 3.0

    @property
    def settle_time(self) -> float:
        return SETTLE_PERIODS * self.period


@dataclass(frozen=True)
class BankTolerance:
    """Relative tolerances and offsets of the parts of a bank.

    Resistors and capacitors are drawn uniformly in nominal * [1 - rel, 1 + rel] (a part of
    "5 %" tolerance is within 5 % of nominal). Comparator offsets are drawn uniformly in
    [-offset, +offset] volts (LM339-class parts: a few mV).
    """

    r_rel: float = 0.05
    c_rel: float = 0.05
    offset: float = 0.005

    def __post_init__(self):
        for name in ("r_rel", "c_rel", "offset"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v)) or v < 0:
                raise SpiceclError(f"--tolerance must be >= 0, got {v!r} ({name})")
        if self.r_rel >= 1 or self.c_rel >= 1:
            raise SpiceclError(f"--tolerance must be < 1, got {max(self.r_rel, self.c_rel)!r}")

    @classmethod
    def from_tolerance(cls, rel: float, offset: float = 0.005) -> "BankTolerance":
        """The same relative tolerance for every R and C."""
        try:
            rel = float(rel)
        except (TypeError, ValueError):
            raise SpiceclError(f"--tolerance must be a number, got {rel!r}") from None
        if not math.isfinite(rel) or rel < 0:
            raise SpiceclError(f"--tolerance must be a finite number >= 0, got {rel!r}")
        return cls(rel, rel, offset)

    def draw(self, name: str, size, rng: np.random.Generator, nominal=None) -> np.ndarray:
        """``size`` values of tolerance-spec class ``name`` (resistor or capacitor around
        ``nominal``; comparator_offset around 0 V), uniform: what
        :func:`spicecl.variation.draw_component` is for a spec."""
        u = 2.0 * rng.random(size) - 1.0
        if name == "comparator_offset":
            return self.offset * u
        return nominal * (1.0 + {"resistor": self.r_rel, "capacitor": self.c_rel}[name] * u)


#: The classes of a tolerance spec (:mod:`spicecl.variation`) that a bank's parts are drawn
#: from: its digipot classes are no part of the bank.
BANK_CLASSES = ("capacitor", "comparator_offset", "resistor")


def bank_classes(spec: ToleranceSpec) -> dict:
    """The bank's classes of ``spec`` as recorded in summaries and manifests."""
    return {name: c for name, c in spec.to_dict().items() if name in BANK_CLASSES}


@dataclass(frozen=True, eq=False)
class BankDraw:
    """The drawn parts of a bank of N edges (literal values written into the deck).

    Attributes
    ----------
    rt, ct : float arrays, shape (N,)
        Timing resistor (ohm) and capacitor (F) of each oscillator.
    kh : float array, shape (N, 3)
        Factors of the three hysteresis resistors (vcc->thr, thr->gnd, out->thr).
    voff_osc, voff_bias : float arrays, shape (N,)
        Input offsets of the oscillator comparator and the bias comparator, V.
    v0 : float array, shape (N,)
        Initial capacitor voltages, V, uniform in volts over the nominal swing, every
        oscillator starting to discharge: start phases in the first half period, not uniform
        in time (unlike the twin decks, :func:`spicecl.variation.start_state`). The bank is
        sampled only after its settling time, by which the part spread has spread the phases
        (not with zero tolerance, where they stay as drawn).
    """

    rt: np.ndarray
    ct: np.ndarray
    kh: np.ndarray
    voff_osc: np.ndarray
    voff_bias: np.ndarray
    v0: np.ndarray

    @property
    def n_edges(self) -> int:
        return len(self.rt)

    def periods_rc(self) -> np.ndarray:
        """2 ln(2) R_t C_t of each drawn oscillator, shape (N,) (ignores threshold shifts)."""
        return 2.0 * math.log(2.0) * self.rt * self.ct

    def arrays(self) -> dict:
        return {"rt": self.rt, "ct": self.ct, "kh": self.kh, "voff_osc": self.voff_osc,
                "voff_bias": self.voff_bias, "v0": self.v0}

    def select(self, edges: slice) -> "BankDraw":
        """The parts of the edges ``edges`` (a slice of the bank), in order: nothing is
        drawn again, so edge i of a bank split into decks has the parts it has in one deck."""
        return BankDraw(*(a[edges] for a in self.arrays().values()))


def draw_bank(n_edges: int, design: OscillatorDesign, tol: BankTolerance | ToleranceSpec,
              rng: np.random.Generator) -> BankDraw:
    """Draw the parts of ``n_edges`` oscillators and bias comparators.

    ``tol``: a :class:`BankTolerance` (``--tolerance``, ``--offset``) or a tolerance spec
    (``--tolerance-spec``): its resistor class for R_t and the hysteresis resistors, capacitor
    for C_t, comparator_offset for both comparators, each with its distribution.
    """
    n = int(n_edges)
    if n < 1:
        raise SpiceclError(f"--edges must be >= 1, got {n_edges!r}")
    draw = partial(draw_component, tol) if isinstance(tol, ToleranceSpec) else tol.draw
    rt = draw("resistor", n, rng, design.rt)
    ct = draw("capacitor", n, rng, design.ct)
    kh = draw("resistor", (n, 3), rng, 1.0)
    voff_osc = draw("comparator_offset", n, rng)
    voff_bias = draw("comparator_offset", n, rng)
    lo, hi = design.swing
    v0 = lo + (hi - lo) * rng.random(n)
    return BankDraw(rt, ct, kh, voff_osc, voff_bias, v0)


def analytic_p(bias, vdd: float = 5.0) -> np.ndarray:
    """p(b) = 1/2 + 1/2 log2((VDD - b)/b) of the nominal design, clipped to [0, 1].

    The fraction of time the capacitor voltage of an oscillator with thresholds VDD/3 and
    2VDD/3 is above the bias b (charging through R_t towards VDD, discharging towards 0).
    """
    b = np.asarray(bias, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 0.5 + 0.5 * np.log2((vdd - b) / b)
    p = np.where(b <= 0, 1.0, np.where(b >= vdd, 0.0, p))
    return np.clip(p, 0.0, 1.0)


def bias_for_p(p, vdd: float = 5.0) -> np.ndarray:
    """Inverse of :func:`analytic_p` on (0, 1): the bias that gives update probability p.

    The one implementation (:mod:`spicecl.hardware` sets the learning model's bias with it).
    A scalar p is computed in numpy scalar arithmetic, bit for bit the formula in Python
    floats; an array may differ from that in the last bit (numpy's vectorized power).
    """
    p = np.asarray(p, float)
    return vdd / (1.0 + 2.0 ** (2.0 * p - 1.0))


def check_bias(bias: float, design: OscillatorDesign) -> float:
    """Refuse a bias outside the oscillator's swing (every edge would have p = 0 or 1)."""
    try:
        b = float(bias)
    except (TypeError, ValueError):
        b = math.nan
    if math.isnan(b):
        raise SpiceclError(f"--bias must be a number, got {bias!r}")
    lo, hi = design.swing
    if not lo < b < hi:
        side = "never (p = 0)" if b >= hi else "always (p = 1)"
        raise SpiceclError(f"--bias {bias!r} V is outside the oscillator swing "
                           f"({lo:.3f}, {hi:.3f}) V: every edge would update {side}")
    return b


def check_clock(design: OscillatorDesign) -> None:
    """Refuse a clock whose period is shorter than the oscillators' settling time."""
    tclk = 1.0 / design.clock_hz
    if tclk < design.settle_time:
        raise SpiceclError(
            f"--clock-hz {design.clock_hz:g} is faster than the oscillators settle: the clock "
            f"period ({tclk * 1e3:.3g} ms) must be at least {SETTLE_PERIODS:g} oscillator "
            f"periods ({design.settle_time * 1e3:.3g} ms), i.e. clock <= "
            f"{1.0 / design.settle_time:.4g} Hz")


def clock_times(n_samples: int, design: OscillatorDesign) -> np.ndarray:
    """Times of the K clock samples, shape (K,): t_k = (k + 1) / f_clock, k = 0..K-1.

    The first sample comes one clock period after start-up, which :func:`check_clock` makes
    at least the oscillators' settling time.
    """
    k = int(n_samples)
    if k < 2:
        raise SpiceclError(f"--samples must be >= 2, got {n_samples!r}")
    return (1.0 + np.arange(k)) / design.clock_hz


def _num(x: float) -> str:
    return f"{float(x):.9g}"


def bank_deck(draw: BankDraw, design: OscillatorDesign, bias: float, tstop: float, *,
              supply_resistance: float = 0.0, decoupling: float = 0.0,
              tstep: float | None = None, tmax: float | None = None,
              interp: bool = False, save: str = "cap", title: str = "",
              first_edge: int = 0) -> str:
    """Deck text of a bank of N oscillators + bias comparators sharing one supply.

    The supply: an ideal VDD source, then ``supply_resistance`` ohms (0: none) to the shared
    rail ``vcc``, with ``decoupling`` farads from ``vcc`` to ground (0: none). The bias is an
    ideal source. Initial capacitor voltages come from ``draw.v0`` (``.ic`` with ``uic``).

    Parameters
    ----------
    save : "cap" or "measure"
        "cap": only the capacitor voltages ``v(cap<i>)`` (the enable decision is taken from
        them, see :func:`enable_levels`); "measure": also ``v(out<i>)``, ``v(vcc)`` and the
        enables ``v(en<i>)`` of the first :data:`PLOT_EDGES` edges (the characterization's
        measurements and plots; every enable made a third of a 315 MB raw file at 143 edges).
    interp : bool
        Add ``.options interp`` so the output holds only the points ``tstep`` apart (the
        full transient sampled at the clock; keeps the raw file small).
    first_edge : int
        Index in the whole bank of ``draw``'s first edge, when ``draw`` is one part of a bank
        split into decks (:meth:`BankDraw.select`): edge i's nodes are ``cap<i+1>``,
        ``out<i+1>``, ``en<i+1>`` and its lines the same as in the whole bank's deck.
    """
    n = draw.n_edges
    if supply_resistance < 0 or not math.isfinite(supply_resistance):
        raise SpiceclError(f"--supply-resistance must be >= 0, got {supply_resistance!r}")
    if decoupling < 0 or not math.isfinite(decoupling):
        raise SpiceclError(f"--decoupling must be >= 0, got {decoupling!r}")
    tmax = tmax or design.period / 200.0
    tstep = tstep or tmax
    lines = [
        f"* spicecl oscillator bank: {n} edges, bias {bias:g} V {title}".rstrip(),
        f".include {include_path(OSCILLATOR_LIB)}",
        f"Vdd vdd 0 DC {_num(design.vdd)}",
    ]
    if supply_resistance > 0:
        lines.append(f"Rsup vdd vcc {_num(supply_resistance)}")
    else:
        lines.append("Vsup vdd vcc DC 0")
    if decoupling > 0:
        lines.append(f"Cdec vcc 0 {_num(decoupling)}")
    lines.append(f"Vbias bias 0 DC {_num(bias)}")
    for i in range(n):
        j = first_edge + i + 1
        lines.append(
            f"Xo{j} out{j} cap{j} vcc 0 relax_osc rt={_num(draw.rt[i])} ct={_num(draw.ct[i])} "
            f"rh={_num(design.rh)} kh1={_num(draw.kh[i, 0])} kh2={_num(draw.kh[i, 1])} "
            f"kh3={_num(draw.kh[i, 2])} rpull={_num(design.rpull)} voff={_num(draw.voff_osc[i])} "
            f"gain={_num(design.comp_gain)}")
        lines.append(f"Xb{j} cap{j} bias en{j} vcc 0 bias_comp rpull={_num(design.bias_rpull)} "
                     f"voff={_num(draw.voff_bias[i])}")
    ics = [f"v(cap{first_edge + i + 1})={_num(draw.v0[i])}" for i in range(n)]
    ics.append(f"v(vcc)={_num(design.vdd)}")
    for k in range(0, len(ics), 8):
        lines.append(".ic " + " ".join(ics[k:k + 8]))
    names = save_vectors(n, save, first_edge)
    for k in range(0, len(names), 10):
        lines.append(".save " + " ".join(names[k:k + 10]))
    if interp:
        lines.append(".options interp")
    lines.append(f".tran {_num(tstep)} {_num(tstop)} 0 {_num(tmax)} uic")
    lines.append(".end")
    return "\n".join(lines) + "\n"


#: Edges whose enable waveform the characterization keeps, for the waveform plot.
PLOT_EDGES = 3


def save_vectors(n_edges: int, save: str = "cap", first_edge: int = 0) -> list[str]:
    """The vectors a bank deck saves (see :func:`bank_deck`'s ``save`` and ``first_edge``):
    the enables kept are those of the bank's first :data:`PLOT_EDGES` edges."""
    if save not in ("cap", "measure"):  # ("all", its former name, saved every enable)
        raise ValueError(f"save must be 'cap' or 'measure', got {save!r}")
    edges = range(first_edge + 1, first_edge + n_edges + 1)
    names = [f"v(cap{j})" for j in edges]
    if save == "measure":
        names += [f"v(en{j})" for j in edges if j <= PLOT_EDGES]
        names += [f"v(out{j})" for j in edges]
        names.append("v(vcc)")
    return names


def enable_levels(draw: BankDraw, bias: float) -> np.ndarray:
    """Capacitor voltage above which each edge's enable is high: bias - offset, shape (N,).

    The bias comparator (``bias_comp``, an ideal-input switch comparator) is high exactly when
    V(cap) + voff > V(bias). spicecl takes the enable at a clock instant from the capacitor
    voltage against this level rather than from the comparator's output node, because
    ngspice's switch flips only at a time point (up to one time step late); the comparator
    stays in the deck for its supply current.
    """
    return float(bias) - draw.voff_bias


def deck_hash(deck: str) -> str:
    """sha256 of the deck text together with the included model files. An ``.include`` line
    enters by its file's name only: the library's contents are hashed, and its directory (where
    spicecl is checked out or installed) says nothing about the circuit."""
    text = re.sub(r"(?m)^(\.include\s+)(.+?)\s*$",
                  lambda m: m[1] + PurePosixPath(unquote_include(m[2])).name, deck)
    h = hashlib.sha256(text.encode())
    for lib in ("oscillator.lib", "comparator.lib"):
        p = MODELS_DIR / lib
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()
