"""Component tolerances and per-part draws: the bridge between SPICE decks and learning code.

A :class:`ToleranceSpec` gives, per component class, a nominal value, a tolerance and a
distribution. :func:`draw_circuit` turns a spec, a number of edges and a
``numpy.random.Generator`` into a :class:`CircuitDraw`: concrete values for every part of every
edge (twin digipots, decision-cell comparators, oscillator parts). The netlist generator writes
those values into decks as literals and into a JSON sidecar, so the nodal solver and learning
code can use exactly the same draw.

Component classes
-----------------
===================  ========  ==================================================  ===========
class                kind      meaning                                             default
===================  ========  ==================================================  ===========
resistor             relative  fixed resistors (oscillator R_t, hysteresis)        tol 0.01
capacitor            relative  oscillator timing capacitor C_t                     tol 0.05
digipot_rab          relative  digipot end-to-end resistance R_AB (10 kohm)        tol 0.20
digipot_wiper        relative  digipot wiper resistance R_W (75 ohm)               tol 0.33
comparator_offset    absolute  comparator input offset, volts (nominal 0 V)        tol 0.005 V
===================  ========  ==================================================  ===========

Relative classes draw ``nominal * (1 + tol * u)``; absolute ones ``nominal + tol * u``, with
``u`` uniform on [-1, 1] (``uniform``) or standard normal scaled by 1/3 and clipped to [-1, 1]
(``normal``: the tolerance is the 3-sigma limit, as on datasheets). Every tolerance lies in
[0, 1) (for absolute classes: volts). A class whose nominal is a per-use value (``resistor``,
``capacitor``) takes the nominal from the caller; a spec file may not set another one (it
would not be used).

Shapes: E edges.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from spicecl.errors import SpiceclError, check_count, check_instance, check_seed

#: class name -> (kind, default nominal, default tolerance, unit)
COMPONENT_CLASSES = {
    "resistor": ("relative", 100e3, 0.01, "ohm"),
    "capacitor": ("relative", 10e-9, 0.05, "F"),
    "digipot_rab": ("relative", 10e3, 0.20, "ohm"),
    "digipot_wiper": ("relative", 75.0, 0.33, "ohm"),
    "comparator_offset": ("absolute", 0.0, 0.005, "V"),
}
DISTRIBUTIONS = ("uniform", "normal")
#: Magnitudes a part value of each unit may take (beyond them a deck holds inf or nonsense).
PLAUSIBLE = {"ohm": (1e-3, 1e12), "F": (1e-18, 1.0), "V": (1e-9, 10.0)}

#: classes whose nominal is set by each use (DRAW_TABLE), not by the spec
PER_PART_NOMINAL = ("resistor", "capacitor")

#: What a spec given as a dict (the JSON file's content) is missing.
SPEC_HINT = " (from a dict of component classes: ToleranceSpec.from_dict)"

#: Number of digipot positions (AD5220-like): R = R_W + n * R_AB / (N_TAPS - 1).
N_TAPS = 128


@dataclass(frozen=True)
class ComponentTolerance:
    """Tolerance of one component class.

    Attributes
    ----------
    nominal : float
        Nominal value in the class's unit (ohm, F, V).
    tolerance : float
        Relative (fraction of nominal) or, for absolute classes, in the class's unit; in [0, 1).
    distribution : 'uniform' or 'normal' (tolerance = 3 sigma, clipped)
    """

    nominal: float
    tolerance: float
    distribution: str = "uniform"


def _check_component(name: str, comp: ComponentTolerance) -> None:
    if name not in COMPONENT_CLASSES:
        raise SpiceclError(f"unknown component class {name!r} in tolerance spec (known: "
                           f"{', '.join(COMPONENT_CLASSES)})")
    kind = COMPONENT_CLASSES[name][0]
    try:
        tol = float(comp.tolerance)
        nom = float(comp.nominal)
    except (TypeError, ValueError):
        raise SpiceclError(f"tolerance spec {name}: nominal and tolerance must be "
                           f"numbers") from None
    if not (math.isfinite(tol) and 0.0 <= tol < 1.0):
        raise SpiceclError(f"tolerance of {name} must be in [0, 1), got {comp.tolerance!r}")
    if not math.isfinite(nom) or (kind == "relative" and nom <= 0):
        raise SpiceclError(f"nominal of {name} must be a positive finite number, "
                           f"got {comp.nominal!r}")
    unit = COMPONENT_CLASSES[name][3]
    lo, hi = PLAUSIBLE[unit]
    if not lo <= abs(nom) <= hi and not (kind == "absolute" and nom == 0):
        raise SpiceclError(f"nominal of {name} = {comp.nominal!r} {unit} is outside the "
                           f"physical range [{lo:g}, {hi:g}] {unit}")
    if comp.distribution not in DISTRIBUTIONS:
        raise SpiceclError(f"distribution of {name} must be one of {', '.join(DISTRIBUTIONS)}, "
                           f"got {comp.distribution!r}")


@dataclass(frozen=True)
class ToleranceSpec:
    """Tolerances per component class (validated; classes not given take their defaults).

    Attributes
    ----------
    components : tuple of (class name, ComponentTolerance), sorted by name, every class present
    """

    components: tuple = ()

    def __post_init__(self):
        given = dict(self.components)
        if len(given) != len(self.components):
            raise SpiceclError("tolerance spec names a component class twice")
        for name, comp in given.items():
            if not isinstance(comp, ComponentTolerance):
                raise SpiceclError(f"tolerance spec {name}: not a ComponentTolerance")
            _check_component(name, comp)
        full = {name: ComponentTolerance(nom, tol) for name, (_k, nom, tol, _u)
                in COMPONENT_CLASSES.items()}
        full.update(given)
        object.__setattr__(self, "components", tuple(sorted(full.items())))

    def __getitem__(self, name: str) -> ComponentTolerance:
        for k, v in self.components:
            if k == name:
                return v
        raise SpiceclError(f"unknown component class {name!r} (known: "
                           f"{', '.join(COMPONENT_CLASSES)})")

    @classmethod
    def default(cls) -> "ToleranceSpec":
        return cls()

    @classmethod
    def exact(cls) -> "ToleranceSpec":
        """Every part at its nominal value (all tolerances 0)."""
        return cls().with_relative(0.0).replace("comparator_offset", tolerance=0.0)

    def with_relative(self, tolerance: float | None,
                      distribution: str | None = None) -> "ToleranceSpec":
        """The same spec with every relative class's tolerance set to ``tolerance`` (None: each
        keeps its own) and distribution to ``distribution`` (None: each keeps its own)."""
        comps = []
        for name, c in self.components:
            if COMPONENT_CLASSES[name][0] == "relative":
                c = ComponentTolerance(c.nominal, c.tolerance if tolerance is None else tolerance,
                                       distribution or c.distribution)
            comps.append((name, c))
        return ToleranceSpec(tuple(comps))

    def replace(self, name: str, **changes) -> "ToleranceSpec":
        """The same spec with fields of one class changed (nominal, tolerance, distribution)."""
        old = self[name]
        unknown = sorted(set(changes) - {"nominal", "tolerance", "distribution"})
        if unknown:  # (a misspelt field would leave the spec unchanged, silently)
            raise SpiceclError(f"tolerance spec {name}: unknown field {unknown[0]!r} (fields: "
                               f"nominal, tolerance, distribution)")
        new = ComponentTolerance(changes.get("nominal", old.nominal),
                                 changes.get("tolerance", old.tolerance),
                                 changes.get("distribution", old.distribution))
        return ToleranceSpec(tuple((k, new if k == name else v) for k, v in self.components))

    def to_dict(self) -> dict:
        return {name: {"nominal": c.nominal, "tolerance": c.tolerance,
                       "distribution": c.distribution, "kind": COMPONENT_CLASSES[name][0],
                       "unit": COMPONENT_CLASSES[name][3]}
                for name, c in self.components}

    @classmethod
    def from_dict(cls, data) -> "ToleranceSpec":
        if not isinstance(data, dict):
            raise SpiceclError("tolerance spec must be a JSON object of component classes")
        comps = []
        for name, entry in data.items():
            if name not in COMPONENT_CLASSES:
                raise SpiceclError(f"unknown component class {name!r} in tolerance spec "
                                   f"(known: {', '.join(COMPONENT_CLASSES)})")
            if not isinstance(entry, dict):
                raise SpiceclError(f"tolerance spec {name}: expected an object with nominal, "
                                   f"tolerance, distribution")
            extra = set(entry) - {"nominal", "tolerance", "distribution", "kind", "unit"}
            if extra:
                raise SpiceclError(f"tolerance spec {name}: unknown field "
                                   f"{sorted(extra)[0]!r}")
            for key in ("nominal", "tolerance"):  # JSON numbers only (true is not 1.0)
                v = entry.get(key, 0.0)
                if isinstance(v, bool) or not isinstance(v, numbers.Real):
                    raise SpiceclError(f"tolerance spec {name}: {key} must be a number, "
                                       f"got {v!r}")
            _k, nom, tol, _u = COMPONENT_CLASSES[name]
            if name in PER_PART_NOMINAL and entry.get("nominal", nom) != nom:
                raise SpiceclError(f"tolerance spec {name}: nominal {entry['nominal']!r} would "
                                   f"not be used: {name} values are set per part (oscillator "
                                   f"R_t 33 kohm, C_t 10 nF, hysteresis 100 kohm); give its "
                                   f"tolerance and distribution only")
            comps.append((name, ComponentTolerance(entry.get("nominal", nom),
                                                   entry.get("tolerance", tol),
                                                   entry.get("distribution", "uniform"))))
        return cls(tuple(comps))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "tolerance spec") -> "ToleranceSpec":
        def no_repeats(pairs):
            out = dict(pairs)
            if len(out) != len(pairs):
                seen = set()
                dup = next(k for k, _v in pairs if k in seen or seen.add(k))
                raise ValueError(f"{dup!r} is given twice")
            return out

        try:
            data = json.loads(text, object_pairs_hook=no_repeats)
        except json.JSONDecodeError as exc:
            raise SpiceclError(f"{source}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
        except ValueError as exc:  # (a later value silently replaced the first)
            raise SpiceclError(f"{source}: {exc}") from None
        except RecursionError:
            raise SpiceclError(f"{source}: nested too deeply; not a tolerance spec") from None
        try:
            return cls.from_dict(data)
        except SpiceclError as exc:  # name the file in every message
            msg = str(exc)
            if not msg.startswith(source):
                msg = f"{source}: {msg.removeprefix('tolerance spec ')}"
            raise SpiceclError(msg) from None


def draw_component(spec: ToleranceSpec, name: str, size, rng: np.random.Generator,
                   nominal=None) -> np.ndarray:
    """Draw ``size`` values of component class ``name``.

    ``nominal`` (scalar or array broadcastable to ``size``) overrides the spec's nominal.
    """
    comp = spec[name]
    nom = comp.nominal if nominal is None else np.asarray(nominal, float)
    if comp.distribution == "uniform":
        u = rng.uniform(-1.0, 1.0, size=size)
    else:
        u = np.clip(rng.standard_normal(size=size) / 3.0, -1.0, 1.0)
    if COMPONENT_CLASSES[name][0] == "relative":
        return nom * (1.0 + comp.tolerance * u)
    return nom + comp.tolerance * u


#: The named arrays of a circuit draw: name -> (component class, nominal or None = spec's).
#: Order matters: draws happen in this order, so a given seed always gives the same values.
DRAW_TABLE = (
    ("rab_free", "digipot_rab", None),        # free-network digipot R_AB, ohm
    ("rab_clamped", "digipot_rab", None),     # clamped-network digipot R_AB (another part)
    ("rw_free", "digipot_wiper", None),       # wiper resistances, ohm
    ("rw_clamped", "digipot_wiper", None),
    ("cell_voff1", "comparator_offset", None),  # decision cell comparator (dVc - dVf), V
    ("cell_voff2", "comparator_offset", None),  # decision cell comparator (dVc + dVf), V
    ("osc_rt", "resistor", 33e3),             # oscillator timing resistor, ohm
    ("osc_ct", "capacitor", 10e-9),           # oscillator timing capacitor, F
    ("osc_kh1", "resistor", 1.0),             # hysteresis resistor factors (x rh = 100 kohm)
    ("osc_kh2", "resistor", 1.0),
    ("osc_kh3", "resistor", 1.0),
    ("osc_voff", "comparator_offset", None),  # oscillator comparator offset, V
    ("bias_voff", "comparator_offset", None),  # bias (enable) comparator offset, V
)


@dataclass(frozen=True, eq=False)
class CircuitDraw:
    """Concrete part values for every edge of a twin network.

    Attributes
    ----------
    spec : ToleranceSpec
    seed : int or None (recorded only)
    values : dict name -> float array, shape (E,); names as in :data:`DRAW_TABLE`, plus
        ``osc_phase`` (initial oscillator phase in [0, 1), not a part value)
    """

    spec: ToleranceSpec
    seed: int | None
    values: dict = field(default_factory=dict)

    @property
    def n_edges(self) -> int:
        return len(next(iter(self.values.values()))) if self.values else 0

    def __repr__(self) -> str:
        """One line (the values are in ``values``, the spec in ``spec``)."""
        return (f"CircuitDraw({self.n_edges} edges, seed {self.seed}; values "
                f"{', '.join(self.values)})")

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    def resistance(self, taps, which: str) -> np.ndarray:
        """Digipot resistances (E,) at ``taps`` for the 'free' or 'clamped' network."""
        if which not in ("free", "clamped"):
            raise SpiceclError(f"which must be 'free' or 'clamped', got {which!r}")
        return digipot_resistance(taps, self.values[f"rab_{which}"], self.values[f"rw_{which}"])

    def to_dict(self) -> dict:
        return {"seed": self.seed, "tolerance": self.spec.to_dict(),
                "values": {k: np.asarray(v).tolist() for k, v in self.values.items()}}


def draw_circuit(spec: ToleranceSpec, n_edges: int, rng: np.random.Generator,
                 seed: int | None = None) -> CircuitDraw:
    """Draw every part of ``n_edges`` edges (see :data:`DRAW_TABLE`) from ``rng``: a numpy
    Generator, or a non-negative int seed (then recorded as the draw's seed unless ``seed``
    is given)."""
    check_instance("spec", spec, ToleranceSpec, SPEC_HINT if isinstance(spec, dict) else "")
    if not isinstance(rng, np.random.Generator):
        value = check_seed(rng, "rng")
        rng = np.random.default_rng(value)
        seed = value if seed is None else seed
    n_edges = check_count("n_edges", n_edges, 0)
    values = {name: draw_component(spec, cls, n_edges, rng, nominal)
              for name, cls, nominal in DRAW_TABLE}
    # Not a part value: the initial phase of each oscillator, a fraction of its period
    # (start_state: the deck's .ic). Drawn last, so it moves no part value.
    values["osc_phase"] = rng.uniform(0.0, 1.0, size=n_edges)
    return CircuitDraw(spec, seed, values)


def digipot_resistance(taps, rab, rw, n_taps: int = N_TAPS) -> np.ndarray:
    """Rheostat resistance R = R_W + n * R_AB / (n_taps - 1), elementwise (ohm)."""
    t = np.asarray(taps)
    if np.any(t < 0) or np.any(t > n_taps - 1) or np.any(t != np.round(t)):
        raise SpiceclError(f"digipot taps must be integers in 0..{n_taps - 1}")
    return np.asarray(rw, float) + t.astype(float) * np.asarray(rab, float) / (n_taps - 1)


def taps_for_resistance(resistance, rab, rw, n_taps: int = N_TAPS) -> np.ndarray:
    """The nearest tap (0..n_taps-1) to each resistance, shape as ``resistance``."""
    r = np.asarray(resistance, float)
    t = np.rint((r - np.asarray(rw, float)) * (n_taps - 1) / np.asarray(rab, float))
    return np.clip(t, 0, n_taps - 1).astype(np.int64)


def outside_digipot(resistance, rab: float, rw: float, n_taps: int = N_TAPS) -> np.ndarray:
    """Indices of the ``resistance`` values (ohm, shape (E,)) that the nearest taps move by
    more than half a tap: those beyond the ends of the digipot's range [rw, rw + rab]."""
    r = np.asarray(resistance, float)
    half = rab / (n_taps - 1) / 2.0
    return np.flatnonzero((r < rw - half) | (r > rw + rab + half))


def outside_digipot_range(resistance, rab: float, rw: float, network: str,
                          n_taps: int = N_TAPS) -> str | None:
    """A one-line warning when the nearest taps move resistances off their values by more than
    half a tap (beyond the ends of the digipot's range), else None."""
    r = np.asarray(resistance, float)
    outside = outside_digipot(r, rab, rw, n_taps)
    if not outside.size:
        return None
    return (f"{outside.size} of {r.size} resistances of network {network} lie outside the "
            f"digipot range [{rw:g}, {rw + rab:g}] ohm (e.g. edge {outside[0]}: "
            f"{r[outside[0]]:g} ohm); they start at the end taps")


def start_state(phase, vdd: float) -> tuple[np.ndarray, np.ndarray]:
    """Initial capacitor voltages and directions (True: charging) of relaxation oscillators
    at ``phase`` in [0, 1) of their period, nominal thresholds VDD/3 and 2VDD/3: the first
    half discharges from 2VDD/3 (v = 2VDD/3 2^-f, f = 2 phase), the second charges from VDD/3
    (v = VDD - 2VDD/3 2^-f, f = 2 phase - 1), so uniform phases are uniform in time. A
    charging oscillator is ``relax_osc_up`` in a deck, with its output starting high."""
    phase = np.asarray(phase, dtype=float)
    rising = phase >= 0.5
    f = np.where(rising, 2.0 * phase - 1.0, 2.0 * phase)
    hi = 2.0 * vdd / 3.0
    # 2^-f through the C library one value at a time, not numpy's power: on CPUs with
    # AVX-512 numpy computes power, exp and log with other kernels (SVML), a few percent of
    # the results one bit off, and these voltages are written into decks, whose bytes must
    # not depend on the CPU
    decay = np.array([2.0 ** -x for x in f.ravel().tolist()]).reshape(f.shape)
    return np.where(rising, vdd - hi * decay, hi * decay), rising


def digipot_grid(spec: ToleranceSpec) -> dict:
    """The :class:`spicecl.learning.LearningConfig` keywords of a spec's digipot nominals:
    ``r_ab``, ``r_wiper`` and ``r_init``, the mid-scale tap 64 that discrete training starts
    from (so the idealized and hardware-faithful runs start on the same grid)."""
    from spicecl.learning import LearningConfig

    r_ab, r_w = spec["digipot_rab"].nominal, spec["digipot_wiper"].nominal
    r_init = float(digipot_resistance(N_TAPS // 2, r_ab, r_w))
    lo, hi = LearningConfig.r_min, LearningConfig.r_max
    if not lo <= r_init <= hi:
        raise SpiceclError(f"--tolerance-spec: digipots of {r_ab:g} ohm (wiper {r_w:g}) put "
                           f"the mid-scale tap at {r_init:g} ohm, outside the learning "
                           f"range [{lo:g}, {hi:g}] ohm")
    return {"r_ab": r_ab, "r_wiper": r_w, "r_init": r_init}
