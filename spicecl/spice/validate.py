"""Cross-checks of the generated decks against the nodal solver and the discrete rule.

* :func:`validate_dc`: the twin deck's ``.op`` node voltages (free and clamped networks) against
  :class:`spicecl.solver.NodalSystem` for the same resistances (the drawn digipot values) and
  example.
* :func:`validate_decisions`: each edge's latched up/down decision from the SPICE decision
  cells (one clock pulse, enables tied high) against the cell's rule evaluated on solver
  voltages with the same comparator offsets (:func:`cell_rule`; Eq. 10 when offsets are 0).

Both run ngspice only through :func:`spicecl.spice.runner.run_ngspice`.
"""

from __future__ import annotations

import time

import numpy as np

from spicecl.netlist.twin import DeckConfig, TwinSetup, twin_deck
from spicecl.solver import NodalSystem, clamp_targets
from spicecl.spice.runner import run_ngspice


def solver_states(setup: TwinSetup,
                  system: NodalSystem | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Free and clamped node voltages (N,), (N,) of the twin setup from the nodal solver.

    The free network has the free digipot values; the clamped one the clamped values, with its
    outputs at the Eq. 1 targets computed from the free outputs. ``system``: the setup's
    network and node roles, when the caller already built it (one per co-simulation).
    """
    t = setup.task
    if system is None:
        system = NodalSystem(setup.net, t.inputs, t.outputs, t.grounds)
    vf = system.node_voltages(setup.r_free, setup.x[None, :])[0]
    clamp = clamp_targets(vf[t.outputs], setup.y, setup.eta)
    vc = system.node_voltages(setup.r_clamped, setup.x[None, :], clamp=clamp[None, :])[0]
    return vf, vc


def cell_rule(dv_c, dv_f, o1, o2) -> np.ndarray:
    """Decision of the XOR cell with input-referred offsets (bool array, True = up).

    up <=> (dV_C - dV_F + o1) (dV_C + dV_F + o2) > 0; with o1 = o2 = 0 this is Eq. 10 with
    sigma = 0 (|dV_C| > |dV_F|).
    """
    return (np.asarray(dv_c) - dv_f + o1) * (np.asarray(dv_c) + dv_f + o2) > 0


def eq10_rule(dv_c, dv_f, sigma=0.0) -> np.ndarray:
    """Eq. 10: up <=> |dV_C| + sigma > |dV_F| (bool array)."""
    return np.abs(dv_c) + sigma > np.abs(dv_f)


def validate_dc(setup: TwinSetup, *, config: DeckConfig | None = None, models_dir=None,
                timeout: float = 600.0) -> dict:
    """Compare the twin deck's .op node voltages with the nodal solver (volts).

    The deck holds the networks and decision cells, not the oscillators: an astable circuit
    has no operating point.
    """
    net = setup.net
    deck = twin_deck(setup, config=config, models_dir=models_dir, analysis="op",
                     precise=True, oscillators=False, name=f"validate-dc-{net.name}")
    names_f = [f"v(f{i})" for i in range(net.n_nodes)]
    names_c = [f"v(c{i})" for i in range(net.n_nodes)]
    t0 = time.perf_counter()
    res = run_ngspice(deck.text, names_f + names_c, name=deck.name, timeout=timeout)
    wall = time.perf_counter() - t0
    sf = np.array([res.vectors[n][-1] for n in names_f])
    sc = np.array([res.vectors[n][-1] for n in names_c])
    vf, vc = solver_states(setup)
    ef, ec = np.abs(sf - vf), np.abs(sc - vc)
    return {
        "check": "dc",
        "network": net.name,
        "n_nodes": net.n_nodes,
        "n_edges": net.n_edges,
        "seed": setup.seed,
        "eta": setup.eta,
        "volts": setup.volts,
        "max_abs_error_volts": float(max(ef.max(), ec.max())),
        "max_abs_error_free_volts": float(ef.max()),
        "max_abs_error_clamped_volts": float(ec.max()),
        "worst_node": net.node_ids[int(np.argmax(np.maximum(ef, ec)))],
        "max_abs_voltage": float(max(np.abs(vf).max(), np.abs(vc).max())),
        "deck_lines": deck.text.count("\n"),
        "deck_bytes": len(deck.text.encode()),
        "ngspice_seconds": res.elapsed,
        "wall_seconds": wall,
        "tolerance": setup.draw.spec.to_dict(),
    }


def validate_decisions(setup: TwinSetup, *, config: DeckConfig | None = None,
                       models_dir=None, tie_volts: float = 1e-6,
                       timeout: float = 600.0) -> dict:
    """Compare the SPICE decision cells' latched decisions with :func:`cell_rule`.

    An edge is a tie when either factor of the rule is within ``tie_volts`` plus half the
    comparators' input-referred hysteresis (``cell_vhys / (2 gain)``) of zero; agreement is
    reported over all edges and over edges away from ties.
    """
    cfg = DeckConfig() if config is None else config
    net = setup.net
    deck = twin_deck(setup, config=cfg, models_dir=models_dir, analysis="tran", precise=True,
                     oscillators=False, cells=True, name=f"validate-decisions-{net.name}")
    names = [f"v(up{e})" for e in range(net.n_edges)]
    t0 = time.perf_counter()
    res = run_ngspice(deck.text, ["time"] + names, name=deck.name, timeout=timeout)
    wall = time.perf_counter() - t0
    up_end = np.array([res.vectors[n][-1] for n in names]) > cfg.vdd / 2
    up_start = np.array([res.vectors[n][0] for n in names]) > cfg.vdd / 2
    vf, vc = solver_states(setup)
    a, b = net.edges[:, 0], net.edges[:, 1]
    dvf, dvc = vf[a] - vf[b], vc[a] - vc[b]
    v = setup.draw.values
    o1 = v["cell_voff1"] / cfg.cell_gain + cfg.cell_vbias
    o2 = v["cell_voff2"] / cfg.cell_gain + cfg.cell_vbias
    expected = cell_rule(dvc, dvf, o1, o2)
    margin = np.minimum(np.abs(dvc - dvf + o1), np.abs(dvc + dvf + o2))
    band = tie_volts + cfg.cell_vhys / (2.0 * cfg.cell_gain)
    tie = margin < band
    agree = up_end == expected
    away = ~tie
    eq10 = eq10_rule(dvc, dvf, cfg.cell_vbias)
    return {
        "check": "decisions",
        "network": net.name,
        "n_edges": net.n_edges,
        "seed": setup.seed,
        "eta": setup.eta,
        "volts": setup.volts,
        "agreement": float(agree.mean()),
        "agreement_away_from_ties": float(agree[away].mean()) if away.any() else None,
        "n_ties": int(tie.sum()),
        "ties": [{"edge": int(e), "margin_volts": float(margin[e]),
                  "spice_up": bool(up_end[e]), "rule_up": bool(expected[e])}
                 for e in np.flatnonzero(tie)],
        "mismatches": [int(e) for e in np.flatnonzero(~agree)],
        "tie_volts": band,
        "min_margin_volts": float(margin.min()),
        "n_up": int(up_end.sum()),
        "latched_down_before_clock": bool(not up_start.any()),
        "offsets_changed_decisions": int((expected != eq10).sum()),
        "eq10_agreement": float((up_end == eq10).mean()),
        "deck_lines": deck.text.count("\n"),
        "deck_bytes": len(deck.text.encode()),
        "ngspice_seconds": res.elapsed,
        "wall_seconds": wall,
    }
