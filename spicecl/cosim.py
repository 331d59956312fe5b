"""ngspice in the loop: training steps whose analog state and decisions come from SPICE.

:func:`run_cosim` trains one twin network for S steps twice, from the same seed:

* the **SPICE loop**: each step the twin deck of ``spicecl netlist twin``
  (:func:`spicecl.netlist.twin.twin_deck`: free and clamped networks of drawn digipots at the
  current taps, one decision cell per edge, the clamped outputs at the Eq. 1 values computed
  from the free outputs inside the deck) runs in ngspice (``.tran`` over one clock pulse); each
  edge's latched ``up`` line is its decision; the taps are then stepped between decks;
* the **fast loop**: :class:`spicecl.hardware.HardwareTrainer` on the same parts.

Both loops use the same draws: the per-comparison randomness of step t (the Eq. 10 sigma and the
comparator noise, drawn by the fast loop) is written into step t's deck as the decision cells'
comparator offsets (``voff = cell_voff + gain * (sigma + noise)``, so the cell's input-referred
offsets equal the fast loop's), and the gating mask of step t (Bernoulli p_i or replayed) gates
the SPICE loop's tap steps. The enables of the cells are tied high (every edge decides every
step; the oscillators' timing is the gating mask, characterized by ``spicecl oscillators``).

Shapes: E edges, N nodes, S steps.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from spicecl.errors import SpiceclError, check_count
from spicecl.hardware import HardwareConfig, HardwareParts, HardwareTrainer
from spicecl.learning import LearningConfig
from spicecl.network import Network

#: Decisions whose smaller cell factor |dV_C -+ dV_F + o| is below this are ties (V): the deck
#: and the solver agree to ~1e-9 V, and the switch comparators resolve signs, not volts.
TIE_VOLTS = 1e-5

#: Most co-simulated steps (each is an ngspice run of ~0.1-1 s).
MAX_COSIM_STEPS = 1_000_000
#: Decision mismatches listed in the result (all are counted); the run keeps no more
KEPT_DIVERGENCES = 50


def run_cosim(net: Network, steps: int, seed: int, *, p: float = 0.5, eta: float = 0.5,
              task_kind: str = "allostery", hardware: HardwareConfig | None = None,
              sigma_max: float = 0.05, tie_volts: float = TIE_VOLTS, timeout: float = 300.0,
              progress=None, spec=None, roles=None, volts: float = 1.0) -> dict:
    """Run S co-simulated steps and return the comparison (a JSON-able dict).

    ``SeedSequence(seed)`` gives the task, the part draw and the initial taps
    (:func:`spicecl.netlist.twin.make_setup`) and, separately, the learning stream.
    ``progress``: optional callable(step, n_steps) for a status line. ``spec``: the
    :class:`~spicecl.variation.ToleranceSpec` of the parts (default: spicecl's); ``roles``:
    (inputs, outputs, grounds) node indices (default: drawn from the seed); ``volts``: inputs
    drawn in [0, volts] (at most the decks' supply, :func:`spicecl.netlist.twin.check_deck_volts`).
    """
    from spicecl.netlist.twin import DeckConfig, TwinSetup, make_setup
    from spicecl.solver import NodalSystem
    from spicecl.variation import digipot_grid

    steps = check_count("--steps", steps, 1, MAX_COSIM_STEPS)
    hw = HardwareConfig() if hardware is None else hardware
    if hw.gating == "replay":
        raise SpiceclError("cosim gates with Bernoulli p_i ('edge_p') or 'uniform', not replay")
    if not hw.cell_decision:
        # the deck always holds the XOR decision cell: an Eq. 10 fast loop would disagree
        # with it by design, not by a model error
        raise SpiceclError("cosim compares against the decks' decision cells: it needs the "
                           "cell_decision imperfection on")
    setup = make_setup(net, int(seed), spec, task_kind=task_kind, eta=eta, roles=roles,
                       volts=volts)
    task = setup.task
    if task.kind == "regression":
        task = replace(task, train_x=task.train_x[:1], train_y=task.train_y[:1])
        setup = replace(setup, task=task)
    deck_cfg = DeckConfig()
    gain = deck_cfg.cell_gain
    parts = HardwareParts.from_circuit_draw(setup.draw, gain=gain)
    cfg = LearningConfig(rule="discrete", p=p, eta=eta, sigma_max=sigma_max,
                         **({} if spec is None else digipot_grid(spec)))
    learn_seed = np.random.SeedSequence([int(seed), 0xC051])
    tr = HardwareTrainer(net, [task], [cfg], [learn_seed], hardware=hw, parts=parts)
    tr.set_taps(setup.taps)
    taps_spice = setup.taps.copy()
    system = NodalSystem(net, task.inputs, task.outputs, task.grounds)
    n_e = net.n_edges
    # Running tallies, no per-step history (10^6 steps of 143 edges held 1.4 GB of margins
    # and flags, and a dict per mismatch)
    n_agree = n_gated = n_agree_gated = 0
    min_margin = np.inf
    divergences = []  # the first KEPT_DIVERGENCES
    n_div = 0
    explained = True
    first_div = None
    at = []  # the mismatches of step first_div
    max_verr = 0.0
    spice_seconds = 0.0
    off1 = parts.offset1 if hw.comparator_offsets else 0.0
    off2 = parts.offset2 if hw.comparator_offsets else 0.0
    t0 = time.perf_counter()
    for t in range(steps):
        state_same = bool(np.array_equal(tr.taps[0], taps_spice))
        tr.step()
        up_fast = tr.last_up[0].copy()
        mask = tr.last_mask[0].copy()
        margin = tr.last_margin[0]
        min_margin = np.minimum(min_margin, margin.min())  # (a NaN stays, as in np.min)
        draw_t = _step_draw(tr, setup.draw, gain, off1, off2)
        st = TwinSetup(net, task, 0, eta, taps_spice.copy(), draw_t, int(seed), setup.volts)
        up_spice, verr, seconds = _spice_step(st, deck_cfg, system, timeout,
                                              name=f"cosim-{net.name}-s{seed}-t{t}")
        spice_seconds += seconds
        max_verr = max(max_verr, *verr)
        agree = up_spice == up_fast
        n_agree += int(agree.sum())
        n_gated += int(mask.sum())
        n_agree_gated += int(agree[mask].sum())
        now = _divergences(t, up_spice, up_fast, mask, margin, state_same, tie_volts)
        n_div += len(now)
        explained = explained and all(dv["reason"].startswith(("tie", "follows")) for dv in now)
        divergences += now[:KEPT_DIVERGENCES - len(divergences)]
        delta = np.where(up_spice, 1, -1) * mask
        taps_spice = np.clip(taps_spice + delta, 0, cfg.levels - 1)
        if first_div is None and not np.array_equal(tr.taps[0], taps_spice):
            first_div = t
            at = now
        if progress is not None:
            progress(t + 1, steps)
    wall = time.perf_counter() - t0
    reason = None
    if first_div is not None:
        reason = "; ".join(f"edge {dv['edge']}: {dv['reason']}" for dv in at) or \
            "taps differ without a decision difference (unexpected)"
    return {
        "network": net.name,
        "n_edges": n_e,
        "steps": steps,
        "seed": int(seed),
        "p": p,
        "eta": eta,
        "sigma_max": sigma_max,
        "volts": setup.volts,
        "task": task.kind,
        "roles": {"inputs": task.inputs.tolist(), "outputs": task.outputs.tolist(),
                  "grounds": task.grounds.tolist()},
        "decision_agreement": n_agree / (steps * n_e),
        "decision_agreement_gated_in": n_agree_gated / n_gated if n_gated else None,
        "taps_identical": first_div is None,
        "first_divergence_step": first_div,
        "divergence_reason": reason,
        "divergences_explained_by_ties": explained,
        "divergences": divergences,
        "n_decision_mismatches": n_div,
        "min_margin_volts": float(min_margin),
        "tie_volts": tie_volts,
        "max_abs_voltage_error_volts": max_verr,
        "final_taps_spice": taps_spice.tolist(),
        "final_taps_fast": tr.taps[0].tolist(),
        "edge_updates": int(tr.updates[0]),
        "hardware": hw.to_dict(),
        "parts": parts.summary(),
        "ngspice_seconds": spice_seconds,
        "wall_seconds": wall,
    }


def _step_draw(tr: HardwareTrainer, draw, gain: float, off1, off2):
    """The part values of the deck of the step ``tr`` just took: ``draw``'s, with the decision
    cells' comparator offsets carrying that step's sigma and noise (``gain`` times the fast
    loop's input-referred offsets ``off + sigma + noise``), and the fast loop's tap grids when
    an imperfection of the parts is switched off."""
    from spicecl.variation import CircuitDraw

    d = tr.last_draws
    extra1 = d["sigma"][0, 0] + d["noise1"][0, 0]
    extra2 = d["sigma"][0, 0] + d["noise2"][0, 0]
    values = dict(draw.values)
    values["cell_voff1"] = gain * (off1 + extra1)
    values["cell_voff2"] = gain * (off2 + extra2)
    if not tr.hw.tap_tolerance or not tr.hw.twin_mismatch:
        values.update(_deck_resistances(tr))
    return CircuitDraw(draw.spec, draw.seed, values)


def _spice_step(st, deck_cfg, system, timeout: float, name: str):
    """Run the twin deck of ``st`` (one clock pulse) in ngspice. Returns each edge's latched
    decision (E,) bool (up), the largest |error| (V) of the free and of the clamped node
    voltages against the nodal solver at the same taps, and ngspice's seconds."""
    from spicecl.netlist.twin import twin_deck
    from spicecl.spice.runner import run_ngspice
    from spicecl.spice.validate import solver_states

    names_up = [f"v(up{e})" for e in range(st.net.n_edges)]
    names_f = [f"v(f{i})" for i in range(st.net.n_nodes)]
    names_c = [f"v(c{i})" for i in range(st.net.n_nodes)]
    deck = twin_deck(st, config=deck_cfg, cells=True, oscillators=False, analysis="tran",
                     precise=True, name=name)
    res = run_ngspice(deck.text, names_up + names_f + names_c, name=deck.name, timeout=timeout)
    up = np.array([res.vectors[n][-1] for n in names_up]) > deck_cfg.vdd / 2
    vf_s = np.array([res.vectors[n][-1] for n in names_f])
    vc_s = np.array([res.vectors[n][-1] for n in names_c])
    vf, vc = solver_states(st, system)
    verr = (float(np.abs(vf_s - vf).max()), float(np.abs(vc_s - vc).max()))
    return up, verr, res.elapsed


def _divergences(t: int, up_spice, up_fast, mask, margin, same_state: bool,
                 tie_volts: float) -> list[dict]:
    """A record of each edge whose step-t decision differs between the loops (E,) arrays:
    decisions, gating mask, the fast loop's tie margin (V), and the reason."""
    return [{"step": t, "edge": int(e), "gated_in": bool(mask[e]),
             "spice_up": bool(up_spice[e]), "fast_up": bool(up_fast[e]),
             "margin_volts": float(margin[e]), "same_state": same_state,
             "reason": _reason(bool(margin[e] < tie_volts), same_state, margin[e], tie_volts)}
            for e in np.flatnonzero(up_spice != up_fast)]


def _reason(tie: bool, same_state: bool, margin: float, tie_volts: float) -> str:
    if not same_state:
        return "follows an earlier divergence (the two loops' taps already differ)"
    if tie:
        return (f"tie: the cell's smaller factor is {margin:.2e} V, below the {tie_volts:.0e} V "
                f"resolution of the comparison")
    return f"not a tie (margin {margin:.2e} V): a model difference"


def _deck_resistances(tr: HardwareTrainer) -> dict:
    """Digipot values that make the deck's resistances equal the fast loop's grids (of its one
    network) when an imperfection of the parts is switched off."""
    return {"rab_free": tr.r_step[0] * 127.0, "rw_free": tr.r_lo[0].copy(),
            "rab_clamped": tr.rc_step[0] * 127.0, "rw_clamped": tr.rc_lo[0].copy()}
