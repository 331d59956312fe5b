"""Twin-network decks: free and clamped networks, decision cells, oscillators, supply, clock.

One deck holds a whole learning step: the free network (inputs and grounds driven by sources),
the clamped network (the same plus its outputs driven by behavioural sources at the Eq. 1
values computed from the free outputs, V_C = eta V_D + (1 - eta) V_F), and per edge a decision
cell (models/decision_cell.lib), two digipots (models/digipot.lib, different parts) and an
oscillator with its bias comparator (models/oscillator.lib). The global bias, clock and
supply (with series resistance and decoupling capacitance) are shared.

Decks are built with PySpice's ``Circuit`` API (imported lazily; only its netlist text is used,
never its simulator); names are safe by construction (:mod:`spicecl.netlist.names`). Every
drawn part value is written as a literal and listed in the header and in the sidecar dict.

Node names: ``f<i>``/``c<i>`` network node i (free/clamped); ``vcc`` supply after its series
resistance; ``bias``, ``clk``; per edge e: ``up<e>``, ``stp<e>``, ``en<e>``, ``osc<e>``,
``cap<e>``. Shapes: E edges, N nodes, I inputs, O outputs.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spicecl.errors import SpiceclError, check_count, check_instance, check_range, check_seed
from spicecl.netlist.names import (clamped_node, comment_text, default_models_dir, free_node,
                                   include_path, number, unquote_include)
from spicecl.network import Network
from spicecl.tasks import Task, check_roles, make_task
from spicecl.variation import (N_TAPS, SPEC_HINT, CircuitDraw, ToleranceSpec,
                               digipot_resistance, draw_circuit, start_state,
                               taps_for_resistance)

#: Options of decks whose DC solution is compared with the nodal solver.
PRECISE_OPTIONS = ".options reltol=1e-9 abstol=1e-15 vntol=1e-12"

#: Model files and the subckts each provides.
MODEL_FILES = {
    "comparator.lib": ("comp_sw",),
    "digipot.lib": ("digipot",),
    "decision_cell.lib": ("decision_cell",),
    "oscillator.lib": ("relax_osc", "relax_osc_up", "bias_comp"),
}


@dataclass(frozen=True)
class DeckConfig:
    """Global circuit parameters of a deck (SI units), defaults of an assumed board. (Not
    :class:`spicecl.hardware.HardwareConfig`, which says which imperfections a learning run has.)

    Attributes
    ----------
    vdd : supply voltage, V
    supply_resistance : series resistance of the supply, ohm
    decoupling : decoupling capacitance at vcc, F
    bias : global bias voltage of the enable comparators, V (2.5 V: p = 0.5)
    clock_hz : global clock frequency, Hz
    clock_pulse : clock pulse width, s (sampling window of the decision latches)
    clock_delay : time of the first clock pulse, s; None = 2 ms (about 4 oscillator periods)
        with oscillators, 20 us without
    cell_gain : decision-cell difference-amplifier gain
    cell_vbias : decision-cell deliberate bias, V referred to the cell input
    cell_vhys : decision-cell comparator hysteresis, V at the comparator inputs
    rh : oscillator hysteresis resistors (nominal; per-part factors are drawn), ohm
    """

    vdd: float = 5.0
    supply_resistance: float = 0.1
    decoupling: float = 10e-6
    bias: float = 2.5
    clock_hz: float = 37.0
    clock_pulse: float = 10e-6
    clock_delay: float | None = None
    cell_gain: float = 10.0
    cell_vbias: float = 0.0
    rh: float = 100e3
    cell_vhys: float = 1e-4

    def __post_init__(self):
        # errors name the `spicecl netlist` flag where there is one
        for name in ("vdd", "clock_hz", "clock_pulse", "cell_gain", "rh"):
            check_range(name, getattr(self, name), 0, float("inf"), low_open=True,
                        high_open=True)
        for name in ("supply_resistance", "decoupling"):  # 0: none (an ideal supply)
            check_range("--" + name.replace("_", "-"), getattr(self, name), 0, float("inf"),
                        high_open=True)
        check_range("--bias", self.bias, 0, self.vdd)
        check_range("cell_vhys", self.cell_vhys, 0, 1.0)
        if self.clock_pulse >= 0.5 / self.clock_hz:
            raise SpiceclError("clock_pulse must be shorter than half a clock period")

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True, eq=False)
class TwinSetup:
    """Everything a twin deck is made from.

    Attributes
    ----------
    net : Network
    task : Task
    example : int  (row of task.train_x / train_y used)
    eta : float    nudge amplitude of Eq. 1, in (0, 1]
    taps : int array (E,)  digipot positions (the same for both twins of an edge)
    draw : CircuitDraw     per-part values
    seed : int or None
    volts : float  the task's inputs were drawn in [0, volts] (``--volts``; recorded in the
        deck's header and sidecar when not the default 1 V)
    """

    net: Network
    task: Task
    example: int
    eta: float
    taps: np.ndarray
    draw: CircuitDraw
    seed: int | None = None
    volts: float = 1.0

    def __repr__(self) -> str:
        """One line: the network, the example and the draw (the arrays are attributes)."""
        return (f"TwinSetup(network {self.net.name!r}: {self.net.n_edges} edges; "
                f"{self.task.kind} example {self.example}; eta {self.eta:g}; "
                f"taps {int(self.taps.min())}..{int(self.taps.max())}; seed {self.seed}"
                + (f"; volts {self.volts:g}" if self.volts != 1.0 else "") + ")")

    @property
    def x(self) -> np.ndarray:
        """Input voltages (I,) of the example."""
        return np.asarray(self.task.train_x[self.example], float)

    @property
    def y(self) -> np.ndarray:
        """Desired output voltages (O,) of the example."""
        return np.asarray(self.task.train_y[self.example], float)

    @property
    def r_free(self) -> np.ndarray:
        """Free-network resistances (E,), ohm."""
        return self.draw.resistance(self.taps, "free")

    @property
    def r_clamped(self) -> np.ndarray:
        """Clamped-network resistances (E,), ohm."""
        return self.draw.resistance(self.taps, "clamped")


def check_deck_volts(volts: float, config: DeckConfig | None = None) -> float:
    """``volts`` (``--volts``: inputs drawn in [0, volts]) if a deck can hold it: in (0, inf)
    as for every task, and at most the deck's supply (5 V). Every node of a passive network
    with inputs in [0, volts] and grounds at 0 lies in [0, volts] (the clamped outputs too:
    Eq. 1 mixes the free output with a target below 0.8 volts), so up to the supply the
    digipots' terminals and the decision cells' inputs stay within the rails; above it they
    would not (an AD5220's terminals must stay between ground and VDD), a board that cannot
    be built."""
    cfg = DeckConfig() if config is None else config
    v = check_range("--volts", volts, 0, float("inf"), low_open=True, high_open=True)
    if v > cfg.vdd:
        raise SpiceclError(f"--volts {v:.12g}: inputs up to {v:.12g} V would drive the "
                           f"networks above the decks' {cfg.vdd:g} V supply (the digipots' "
                           f"terminals and the decision cells' inputs must stay between "
                           f"ground and the supply); give --volts <= {cfg.vdd:g}")
    return v


def make_setup(net: Network, seed: int, spec: ToleranceSpec | None = None, *,
               task: Task | None = None, task_kind: str = "regression", example: int = 0,
               eta: float = 0.5, taps=None, roles=None, volts: float = 1.0) -> TwinSetup:
    """Draw a task (unless given; node ``roles`` (inputs, outputs, grounds) if given, else
    random; inputs in [0, ``volts``] as for ``spicecl train --volts``), part values and taps
    from one seed. ``volts`` is checked against the default deck's supply
    (:func:`check_deck_volts`); with a ``task`` given it is only recorded.

    ``SeedSequence(seed)`` spawns three streams: task, part draw, taps. Taps: ``taps`` if
    given; else the taps nearest the network's resistances (nominal R_AB, R_W); else uniform
    random integers in 16..111.
    """
    check_instance("net", net, Network)
    spec = ToleranceSpec.default() if spec is None else spec
    check_instance("spec", spec, ToleranceSpec, SPEC_HINT if isinstance(spec, dict) else "")
    if task is not None:
        check_instance("task", task, Task)
    seed = check_seed(seed)
    check_range("--eta", eta, 0.0, 1.0, low_open=True)
    volts = check_deck_volts(volts)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3)]
    if task is None:
        task = make_task(net, task_kind, streams[0], roles=roles, volts=volts)
    else:  # (a task drawn on another network names nodes this one may not have)
        check_roles(net, task.inputs, task.outputs, task.grounds)
    example = check_count("--example", example, None)
    if not 0 <= example < len(task.train_x):
        raise SpiceclError(f"--example {example} is out of range 0..{len(task.train_x) - 1}")
    from spicecl.solver import check_no_floating

    # A node with no path to an input or ground would make the free twin's matrix singular.
    check_no_floating(net, np.concatenate([task.inputs, task.grounds]))
    draw = draw_for_seed(net.n_edges, seed, spec)
    if taps is not None:
        t = np.asarray(taps)
        if t.shape not in ((), (net.n_edges,)):
            raise SpiceclError(f"taps must be one tap or one per edge, shape ({net.n_edges},), "
                               f"got shape {t.shape}")
        if t.dtype.kind not in "iuf":  # (strings, objects: digipot_resistance compares them)
            raise SpiceclError(f"taps must be integers in 0..{N_TAPS - 1}, got {t.dtype} "
                               f"values")
        t = np.broadcast_to(t, (net.n_edges,)).copy()
        digipot_resistance(t, 1.0, 0.0)  # validates the range
    elif net.resistance is not None:
        t = taps_for_resistance(net.resistance, spec["digipot_rab"].nominal,
                                spec["digipot_wiper"].nominal)
    else:
        t = streams[2].integers(16, 112, size=net.n_edges)
    return TwinSetup(net, task, int(example), float(eta), t.astype(np.int64), draw, int(seed),
                     volts)


def draw_for_seed(n_edges: int, seed: int, spec: ToleranceSpec | None = None) -> CircuitDraw:
    """The part draw :func:`make_setup` makes from ``seed`` (its second stream), without
    drawing a task: all an oscillator bank needs."""
    spec = ToleranceSpec.default() if spec is None else spec
    seed = check_seed(seed)
    stream = np.random.SeedSequence(int(seed)).spawn(3)[1]
    return draw_circuit(spec, int(n_edges), np.random.default_rng(stream), seed=int(seed))


@dataclass(frozen=True)
class Deck:
    """A generated deck: its text and the machine-readable record of what is in it."""

    name: str
    text: str
    sidecar: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        """One line (``text`` holds the deck, ``sidecar`` its record): name, size, title."""
        title = self.text.split("\n", 1)[0]
        return (f"Deck({self.name!r}: {self.text.count(chr(10))} lines, "
                f"{len(self.text)} characters; {title!r})")


@functools.cache
def _circuit_class():
    """PySpice's ``Circuit``, imported on first use (PySpice is only needed to build decks).
    PySpice 1.5's sources hold invalid escape sequences: compiled without a cached .pyc (an
    installer that does not byte-compile, a read-only site-packages) they warn, a SyntaxError
    under ``-W error``."""
    with warnings.catch_warnings():
        for category in (SyntaxWarning, DeprecationWarning):  # (DeprecationWarning < 3.12)
            warnings.filterwarnings("ignore", "invalid escape sequence", category)
        from PySpice.Spice.Netlist import Circuit
    return Circuit


def _circuit(title: str):
    return _circuit_class()(title)


def _check_models(models_dir: Path, files) -> dict[str, Path]:
    out = {}
    for f in files:
        p = Path(models_dir) / f
        if not p.is_file():
            raise SpiceclError(f"models file {p} not found (needed for "
                               f"{', '.join(MODEL_FILES[f])})")
        out[f] = p
    return out


def _assemble(title: str, header: list[str], includes: list[str], circuit,
              analysis: list[str]) -> str:
    body = str(circuit).splitlines()
    if body and body[0].startswith(".title"):
        body = body[1:]  # PySpice's .title line: our own title line replaces it
    # .include lines are written here, not with Circuit.include, which makes paths absolute
    # against the current directory.
    lines = ([title] + ["* " + h if h else "*" for h in header]
             + [f".include {p}" for p in includes] + body + analysis + [".end"])
    text = "\n".join(ln.rstrip() for ln in lines if ln is not None) + "\n"
    return text.replace("\n\n", "\n")


def _supply(c, cfg: DeckConfig) -> None:
    """VDD through the supply resistance to the shared rail vcc, decoupled to ground; a zero
    resistance or capacitance leaves that part out (an ideal supply)."""
    if cfg.supply_resistance > 0:
        c.V("dd", "vsup", c.gnd, number(cfg.vdd))
        c.R("sup", "vsup", "vcc", number(cfg.supply_resistance))
    else:
        c.V("dd", "vcc", c.gnd, number(cfg.vdd))
    if cfg.decoupling > 0:
        c.C("dec", "vcc", c.gnd, number(cfg.decoupling))


def _oscillators(c, draw: CircuitDraw, cfg: DeckConfig) -> None:
    c.V("bias", "bias", c.gnd, number(cfg.bias))
    v = draw.values
    rising = start_state(draw["osc_phase"], cfg.vdd)[1]
    for e in range(draw.n_edges):
        c.X(f"osc{e}", "relax_osc_up" if rising[e] else "relax_osc", f"osc{e}", f"cap{e}",
            "vcc", c.gnd,
            rt=number(v["osc_rt"][e]), ct=number(v["osc_ct"][e]), rh=number(cfg.rh),
            kh1=number(v["osc_kh1"][e]), kh2=number(v["osc_kh2"][e]),
            kh3=number(v["osc_kh3"][e]), voff=number(v["osc_voff"][e]))
        c.X(f"en{e}", "bias_comp", f"cap{e}", "bias", f"en{e}", "vcc", c.gnd,
            voff=number(v["bias_voff"][e]))


def _oscillator_tran(draw: CircuitDraw, cfg: DeckConfig, t_stop: float,
                     tran_step: float) -> list[str]:
    """Transient of a deck with oscillators: drawn start phases, uniform over the period
    (capacitor voltages and, for the charging ones, outputs high: .ic, see
    :func:`~spicecl.variation.start_state`) and ``uic`` (the operating point of a bank of
    astable oscillators is slow and meaningless), maximum step 1/1000 of the shortest nominal
    period: at 1/50 the capacitor voltages at the clock pulse (4.4 periods in) were off by 20-80 mV
    against a converged run, enough to flip about one enable per deck with the output step;
    at 1/1000 within 16 mV and no flips (see models/oscillator.lib)."""
    v0, rising = start_state(draw["osc_phase"], cfg.vdd)
    ics = [f"v(cap{e})={number(v0[e])}" for e in range(draw.n_edges)]
    ics += [f"v(osc{e})={number(cfg.vdd)}" for e in np.flatnonzero(rising)]
    ics.append(f"v(vcc)={number(cfg.vdd)}")
    lines = [".ic " + " ".join(ics[k:k + 6]) for k in range(0, len(ics), 6)]
    period = 2.0 * math.log(2.0) * float(np.min(draw["osc_rt"] * draw["osc_ct"]))
    tmax = period / 1000.0
    lines.append(f".tran {number(min(tran_step, tmax))} {number(t_stop)} 0 {number(tmax)} uic")
    return lines


def _spec_lines(spec: ToleranceSpec) -> list[str]:
    out = ["tolerance spec: class nominal tolerance distribution kind"]
    for name, comp in spec.components:
        kind = spec.to_dict()[name]["kind"]
        out.append(f"  {name} {number(comp.nominal)} {number(comp.tolerance)} "
                   f"{comp.distribution} {kind}")
    return out


def twin_deck(setup: TwinSetup, *, config: DeckConfig | None = None,
              models_dir=None, include_relative_to=None, cells: bool = True,
              oscillators: bool = True, analysis: str = "tran", precise: bool = False,
              tran_step: float = 1e-6, name: str = "twin") -> Deck:
    """The twin deck of one learning step.

    Parameters
    ----------
    setup : TwinSetup
    config : DeckConfig (defaults)
    models_dir : directory of the .lib files (default: :func:`default_models_dir`)
    include_relative_to : write .include paths relative to this directory (the deck's own
        directory, for decks saved to files); default absolute paths (for running)
    cells : add the decision cells (and the clock)
    oscillators : add per-edge oscillators and bias comparators; without them every cell's
        enable is tied to vcc (p = 1)
    analysis : 'op' or 'tran' (one clock pulse: stops 20 us after the pulse ends)
    precise : add :data:`PRECISE_OPTIONS` (for comparisons with the nodal solver)
    """
    check_instance("setup", setup, TwinSetup, " (from make_setup)")
    cfg = DeckConfig() if config is None else check_instance("config", config, DeckConfig)
    if analysis not in ("op", "tran"):
        raise SpiceclError(f"analysis must be op or tran, got {analysis!r}")
    if oscillators and analysis == "op":
        # ngspice would fall back to a "transient op": a snapshot of the oscillators, with
        # network voltages off by up to 2.4e-8 V (disordered143), scaling with gmin
        raise SpiceclError("an .op deck cannot hold the oscillators: a relaxation oscillator "
                           "has no DC operating point (no oscillators, or analysis tran)")
    if oscillators and precise:
        raise SpiceclError("the precise options stop a deck with oscillators at the clock "
                           "edge ('timestep too small' in the latch); they are for comparisons "
                           "with the solver, which use no oscillators")
    models_dir = default_models_dir() if models_dir is None else Path(models_dir)
    files = ["comparator.lib", "digipot.lib"] + (["decision_cell.lib"] if cells else []) + \
        (["oscillator.lib"] if oscillators else [])
    paths = _check_models(models_dir, files)
    if oscillators:  # oscillator.lib includes comparator.lib itself: once is enough
        files = ["oscillator.lib"] + [f for f in files if f not in ("comparator.lib",
                                                                     "oscillator.lib")]
    net, task, draw = setup.net, setup.task, setup.draw
    if draw.n_edges != net.n_edges or len(setup.taps) != net.n_edges:
        raise SpiceclError(f"draw and taps are for {draw.n_edges} edges, network "
                           f"{net.name} has {net.n_edges}")
    x, y, eta = setup.x, setup.y, setup.eta
    check_deck_volts(setup.volts, cfg)
    if x.size and (x.min() < 0 or x.max() > cfg.vdd):  # (a task made elsewhere)
        raise SpiceclError(f"input voltages {x.min():g} to {x.max():g} V: a deck's inputs "
                           f"must lie between ground and its {cfg.vdd:g} V supply")
    rf, rc = setup.r_free, setup.r_clamped
    v = draw.values

    c = _circuit("twin")
    includes = [include_path(paths[f], include_relative_to) for f in files]
    if precise:
        c.raw_spice = PRECISE_OPTIONS
    _supply(c, cfg)
    for k, i in enumerate(task.inputs):
        c.V(f"if{i}", free_node(i), c.gnd, number(x[k]))
        c.V(f"ic{i}", clamped_node(i), c.gnd, number(x[k]))
    for i in task.grounds:
        c.V(f"gf{i}", free_node(i), c.gnd, 0.0)
        c.V(f"gc{i}", clamped_node(i), c.gnd, 0.0)
    for k, o in enumerate(task.outputs):
        # Eq. 1: V_C = eta V_D + (1 - eta) V_F, from the free network's output in this deck.
        c.B(f"cl{o}", clamped_node(o), c.gnd,
            voltage_expression=f"{number(eta * y[k])} + {number(1.0 - eta)} * "
                               f"V({free_node(o)})")
    for e, (a, b) in enumerate(net.edges):
        for tag, node, rab, rw in (("f", free_node, v["rab_free"], v["rw_free"]),
                                   ("c", clamped_node, v["rab_clamped"], v["rw_clamped"])):
            c.X(f"r{tag}{e}", "digipot", node(a), node(b), tap=int(setup.taps[e]),
                rab=number(rab[e]), rw=number(rw[e]))
    delay = cfg.clock_delay
    if delay is None:
        delay = 2e-3 if oscillators else 20e-6
    if cells:
        period = 1.0 / cfg.clock_hz
        c.V("clk", "clk", c.gnd, f"PULSE(0 {number(cfg.vdd)} {number(delay)} 1e-08 1e-08 "
                                 f"{number(cfg.clock_pulse)} {number(period)})")
        for e, (a, b) in enumerate(net.edges):
            en = f"en{e}" if oscillators else "vcc"
            c.X(f"dc{e}", "decision_cell", free_node(a), free_node(b), clamped_node(a),
                clamped_node(b), "clk", en, f"up{e}", f"stp{e}", "vcc", c.gnd,
                gain=number(cfg.cell_gain), voff1=number(v["cell_voff1"][e]),
                voff2=number(v["cell_voff2"][e]), vbias=number(cfg.cell_vbias),
                vhys=number(cfg.cell_vhys))
    if oscillators:
        _oscillators(c, draw, cfg)
    t_stop = delay + cfg.clock_pulse + 20e-6
    if analysis == "op":
        an = [".op"]
    elif oscillators:
        an = _oscillator_tran(draw, cfg, t_stop, tran_step)
    else:
        an = [f".tran {number(tran_step)} {number(t_stop)}"]

    title = f"spicecl twin deck: network {comment_text(net.name)} seed {setup.seed}"
    header = _header(setup, cfg, cells, oscillators, rf, rc)
    text = _assemble(title, header, includes, c, an)
    sidecar = twin_sidecar(setup, cfg, cells=cells, oscillators=oscillators, analysis=analysis)
    return Deck(name, text, sidecar)


def _header(setup: TwinSetup, cfg: DeckConfig, cells, oscillators, rf, rc) -> list[str]:
    net, task, v = setup.net, setup.task, setup.draw.values
    ids = net.node_ids
    h = ["generated by spicecl (spicecl netlist twin); do not edit, regenerate",
         f"network {comment_text(net.name)}: {net.n_nodes} nodes, {net.n_edges} edges; "
         f"seed {setup.seed}; eta {number(setup.eta)}; example {setup.example}; "
         + (f"volts {number(setup.volts)}; " if setup.volts != 1.0 else "")
         + f"cells {'yes' if cells else 'no'}; oscillators {'yes' if oscillators else 'no'}",
         "hardware: " + " ".join(f"{k}={number(val) if val is not None else 'auto'}"
                                 for k, val in cfg.to_dict().items())]
    h += _spec_lines(setup.draw.spec)
    h.append("task " + task.kind + ": node (spice free/clamped) id role volts")
    for k, i in enumerate(task.inputs):
        h.append(f"  {free_node(i)}/{clamped_node(i)} id {comment_text(ids[i])} input "
                 f"{number(setup.x[k])}")
    for k, o in enumerate(task.outputs):
        h.append(f"  {free_node(o)}/{clamped_node(o)} id {comment_text(ids[o])} output "
                 f"desired {number(setup.y[k])}")
    for i in task.grounds:
        h.append(f"  {free_node(i)}/{clamped_node(i)} id {comment_text(ids[i])} ground 0.0")
    h.append("node ids: index id")
    for start in range(0, net.n_nodes, 8):
        h.append("  " + " ".join(f"{i}={comment_text(ids[i], 16)}"
                                 for i in range(start, min(start + 8, net.n_nodes))))
    cols = ["e", "a", "b", "tap", "rab_f", "rab_c", "rw_f", "rw_c", "R_f", "R_c",
            "cell_voff1", "cell_voff2"]
    if oscillators:
        cols += ["osc_rt", "osc_ct", "osc_kh1", "osc_kh2", "osc_kh3", "osc_voff", "bias_voff"]
    h.append("drawn values per edge: " + " ".join(cols))
    for e, (a, b) in enumerate(net.edges):
        row = [str(e), str(a), str(b), str(int(setup.taps[e])),
               *(f"{val:.10g}" for val in (v["rab_free"][e], v["rab_clamped"][e],
                                           v["rw_free"][e], v["rw_clamped"][e], rf[e], rc[e],
                                           v["cell_voff1"][e], v["cell_voff2"][e]))]
        if oscillators:
            row += [f"{v[k][e]:.10g}" for k in ("osc_rt", "osc_ct", "osc_kh1", "osc_kh2",
                                                "osc_kh3", "osc_voff", "bias_voff")]
        h.append("  " + " ".join(row))
    return h


def twin_sidecar(setup: TwinSetup, cfg: DeckConfig, **extra) -> dict:
    """The JSON-able record of a twin deck (same draw for the learning code)."""
    net, task = setup.net, setup.task
    return {
        "kind": "twin",
        "network": {"name": net.name, "n_nodes": net.n_nodes, "n_edges": net.n_edges,
                    "node_ids": list(net.node_ids), "edges": net.edges.tolist(),
                    **({"file": net.source} if net.source else {})},
        "seed": setup.seed,
        "eta": setup.eta,
        "example": setup.example,
        # inputs drawn in [0, volts]; absent: the default 1 V (decks before --volts had none)
        **({"volts": setup.volts} if setup.volts != 1.0 else {}),
        "task": {"kind": task.kind, "inputs": task.inputs.tolist(),
                 "outputs": task.outputs.tolist(), "grounds": task.grounds.tolist(),
                 "x": setup.x.tolist(), "y": setup.y.tolist()},
        "taps": setup.taps.tolist(),
        "resistance_free": setup.r_free.tolist(),
        "resistance_clamped": setup.r_clamped.tolist(),
        "hardware": cfg.to_dict(),
        "draw": setup.draw.to_dict(),
        "spice_nodes": {"free": "f<index>", "clamped": "c<index>", "up": "up<edge>",
                        "enable": "en<edge>", "oscillator_cap": "cap<edge>"},
        **extra,
    }


#: Longest transient of an oscillator deck, in nominal oscillator periods (``--periods``).
MAX_PERIODS = 1e6


def oscillator_deck(draw: CircuitDraw, *, network_name: str = "bank",
                    config: DeckConfig | None = None, models_dir=None,
                    include_relative_to=None, periods: float = 20.0,
                    tran_step: float = 1e-6) -> Deck:
    """The oscillator bank only: supply, global bias, per-edge relax_osc + bias_comp.

    The transient runs ``periods`` nominal periods, each 2 ln 2 R_t C_t with the mean of the
    drawn R_t and of the drawn C_t.
    """
    cfg = DeckConfig() if config is None else config
    check_range("--periods", periods, 0, MAX_PERIODS, low_open=True)
    models_dir = default_models_dir() if models_dir is None else Path(models_dir)
    paths = _check_models(models_dir, ["comparator.lib", "oscillator.lib"])
    c = _circuit("oscillators")
    # oscillator.lib includes comparator.lib itself: once is enough
    includes = [include_path(paths["oscillator.lib"], include_relative_to)]
    _supply(c, cfg)
    _oscillators(c, draw, cfg)
    t_nom = 2.0 * math.log(2.0) * float(np.mean(draw["osc_rt"])) * float(np.mean(draw["osc_ct"]))
    t_stop = float(periods) * t_nom
    v = draw.values
    header = ["generated by spicecl (spicecl netlist oscillators); do not edit, regenerate",
              f"network {comment_text(network_name)}: {draw.n_edges} oscillators; seed "
              f"{draw.seed}; {number(periods)} nominal periods",
              "hardware: " + " ".join(f"{k}={number(val) if val is not None else 'auto'}"
                                      for k, val in cfg.to_dict().items())]
    header += _spec_lines(draw.spec)
    header.append("drawn values per edge: e osc_rt osc_ct osc_kh1 osc_kh2 osc_kh3 osc_voff "
                  "bias_voff")
    for e in range(draw.n_edges):
        header.append("  " + " ".join([str(e)] + [f"{v[k][e]:.10g}" for k in (
            "osc_rt", "osc_ct", "osc_kh1", "osc_kh2", "osc_kh3", "osc_voff", "bias_voff")]))
    title = f"spicecl oscillator bank: network {comment_text(network_name)} seed {draw.seed}"
    text = _assemble(title, header, includes, c, _oscillator_tran(draw, cfg, t_stop, tran_step))
    sidecar = {"kind": "oscillators", "network": network_name, "seed": draw.seed,
               "periods": float(periods), "t_stop": t_stop, "hardware": cfg.to_dict(),
               "draw": draw.to_dict()}
    return Deck("oscillators", text, sidecar)


def absolute_includes(text: str, base_dir) -> str:
    """``text`` with relative ``.include`` paths made absolute against ``base_dir`` (to run a
    deck saved in a file through :func:`spicecl.spice.runner.run_ngspice`)."""
    out = []
    # (split at newlines only, as ngspice does: splitlines also breaks at \x0b-\x1e, U+0085,
    # U+2028, so an ".include" could appear where ngspice sees none)
    for ln in text.replace("\r\n", "\n").split("\n"):
        if ln.lower().startswith(".include "):
            p = unquote_include(ln.split(None, 1)[1])
            if not Path(p).is_absolute():
                p = str((Path(base_dir) / p).resolve())
            ln = f".include {include_path(Path(p))}"
        out.append(ln)
    return "\n".join(out).rstrip("\n") + "\n"
