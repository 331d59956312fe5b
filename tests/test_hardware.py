"""Hardware-faithful learning (spicecl.hardware): exact idealized limit, each imperfection,
replayed gating, the twin-mismatch solve, oscillator timing and the clock-free mode."""

from dataclasses import replace

import numpy as np
import pytest

from spicecl.errors import SpiceclError
from spicecl.hardware import (IMPERFECTIONS, HardwareConfig, HardwareParts, HardwareTrainer,
                              bias_for_p, edge_probabilities, oscillator_events,
                              oscillator_periods, train_clock_free, train_hardware)
from spicecl.learning import LearningConfig, Trainer, train
from spicecl.network import exp16
from spicecl.solver import NodalSystem, clamp_targets
from spicecl.tasks import make_task


@pytest.fixture(scope="module")
def setup16():
    net = exp16()
    tasks = [make_task(net, "allostery", np.random.default_rng(10 + i)) for i in range(3)]
    cfg = LearningConfig(rule="discrete", p=0.5)
    parts = [HardwareParts.draw(net.n_edges, 200 + i, cfg) for i in range(3)]
    return net, tasks, cfg, parts


@pytest.mark.parametrize("p,batch,kind", [(0.5, "full", "allostery"), (1.0, "full", "allostery"),
                                          (0.3, "single", "regression")])
def test_all_off_reproduces_idealized_discrete(p, batch, kind):
    net = exp16()
    tasks = [make_task(net, kind, np.random.default_rng(i), n_train=5, n_test=5)
             for i in range(3)]
    cfg = LearningConfig(rule="discrete", p=p, batch=batch)
    parts = HardwareParts.draw(net.n_edges, 5, cfg)
    ideal = train(net, tasks, cfg, 42, 150)
    hw = train_hardware(net, tasks, cfg, 42, 150, hardware=HardwareConfig.ideal(), parts=parts)
    assert np.array_equal(ideal.final_taps, hw.final_taps)
    assert np.array_equal(ideal.test_error, hw.test_error)
    assert np.array_equal(ideal.updates, hw.updates)


@pytest.mark.parametrize("name", IMPERFECTIONS)
def test_each_imperfection_changes_the_trajectory(setup16, name):
    net, tasks, cfg, parts = setup16
    ideal = train(net, tasks, cfg, 3, 200)
    hw = train_hardware(net, tasks, cfg, 3, 200, hardware=HardwareConfig.only(name), parts=parts)
    assert not np.array_equal(ideal.final_taps, hw.final_taps), name
    assert not np.allclose(ideal.test_error, hw.test_error), name


def test_tap_grids_follow_the_drawn_parts(setup16):
    net, tasks, cfg, parts = setup16
    tr = HardwareTrainer(net, tasks, [cfg] * 3, [1, 2, 3], hardware=HardwareConfig(),
                         parts=parts)
    for steps in (0, 5):  # from the start (the step-0 errors are the drawn boards' too)
        for _ in range(steps):
            tr.step()
        for k, pt in enumerate(parts):
            np.testing.assert_allclose(tr.r[k], pt.rw_free + tr.taps[k] * pt.rab_free / 127)
            np.testing.assert_allclose(tr.r_c[k],
                                       pt.rw_clamped + tr.taps[k] * pt.rab_clamped / 127)
    assert tr.taps.min() >= 0 and tr.taps.max() <= 127


def test_replayed_gating_uses_exactly_the_sequence(setup16):
    net, tasks, cfg, parts = setup16
    rng = np.random.default_rng(0)
    seq = rng.random((7, net.n_edges)) < 0.4
    tr = HardwareTrainer(net, tasks[:1], [cfg], [9], hardware=HardwareConfig(gating="replay"),
                         parts=parts[0], replay=seq)
    for t in range(20):
        before = tr.taps.copy()
        tr.step()
        np.testing.assert_array_equal(tr.last_mask[0], seq[t % 7])
        moved = tr.taps[0] != before[0]
        assert not np.any(moved & ~seq[t % 7])
    for bad in (seq[:, :5], seq[:0]):  # another edge count, or no sample (t % 0)
        with pytest.raises(SpiceclError, match=r"update sequence has shape \(\d+, \d+\), "
                                               r"expected \(samples, 16\)"):
            HardwareTrainer(net, tasks[:1], [cfg], [9],
                            hardware=HardwareConfig(gating="replay"), parts=parts[0],
                            replay=bad)


def test_replay_without_a_recorded_sequence_is_an_error(setup16):
    net, tasks, cfg, parts = setup16
    with pytest.raises(SpiceclError, match="no recorded update sequence"):
        HardwareTrainer(net, tasks[:1], [cfg], [9], hardware=HardwareConfig(gating="replay"),
                        parts=parts[0])


@pytest.mark.parametrize("eta", [0.5, 0.3])
def test_twin_mismatch_solve_agrees_with_direct_solve(setup16, eta):
    net, tasks, cfg, parts = setup16
    cfg = replace(cfg, eta=eta)  # (at 0.5 the Eq. 1 weights of V_D and V_F are the same)
    tr = HardwareTrainer(net, tasks, [cfg] * 3, [1, 2, 3], hardware=HardwareConfig(),
                         parts=parts)
    for _ in range(3):
        tr.step()
    dvf, dvc = tr.drops()
    inc = net.incidence()
    for k, t in enumerate(tasks):
        assert not np.allclose(tr.r[k], tr.r_c[k])
        system = NodalSystem(net, t.inputs, t.outputs, t.grounds)
        vf = system.node_voltages(tr.r[k], t.train_x)
        clamp = clamp_targets(vf[:, t.outputs], t.train_y, cfg.eta)
        vc = system.node_voltages(tr.r_c[k], t.train_x, clamp=clamp)
        np.testing.assert_allclose(dvf[k], (inc @ vf.T).T, atol=1e-12)
        np.testing.assert_allclose(dvc[k], (inc @ vc.T).T, atol=1e-12)


def test_cell_decision_matches_the_xor_rule(setup16):
    net, tasks, cfg, parts = setup16
    cfg0 = replace(cfg, sigma_max=0.0, p=1.0)
    hw = replace(HardwareConfig(), comparator_noise=False)
    tr = HardwareTrainer(net, tasks[:1], [cfg0], [4], hardware=hw, parts=parts[0])
    dvf, dvc = tr.drops()
    o1, o2 = parts[0].offset1, parts[0].offset2
    expect = (dvc[0, 0] - dvf[0, 0] + o1) * (dvc[0, 0] + dvf[0, 0] + o2) > 0
    tr.step()
    np.testing.assert_array_equal(tr.last_up[0], expect)
    # the tie measure cosim reports: the cell's smaller factor (one example)
    f1, f2 = dvc[0, 0] - dvf[0, 0] + o1, dvc[0, 0] + dvf[0, 0] + o2
    np.testing.assert_allclose(tr.last_margin[0], np.minimum(np.abs(f1), np.abs(f2)),
                               rtol=1e-12)


def test_the_learning_model_sets_its_bias_with_the_oscillator_designs_inverse_of_p():
    """bias_for_p was written twice (hardware.py, oscbank/design.py); one is kept, and the
    learning model's biases keep their bits: the formula in Python floats, as before."""
    import spicecl.oscbank.design

    assert bias_for_p is spicecl.oscbank.design.bias_for_p
    for p in [*np.linspace(0.0, 1.0, 1001).tolist(), 0.8, 0.2, 0.85, 0.15, 1e-300]:
        for vdd in (5.0, 3.3):
            assert float(bias_for_p(p, vdd)) == vdd / (1.0 + 2.0 ** (2.0 * p - 1.0))


def test_oscillator_model_nominal_values():
    kh = np.ones((3, 3))
    z = np.zeros(3)
    per = oscillator_periods(np.full(3, 33e3), np.full(3, 10e-9), kh, z)
    np.testing.assert_allclose(per, 2 * np.log(2) * 33e3 * 10e-9)
    for p in (0.2, 0.5, 0.8):
        np.testing.assert_allclose(edge_probabilities(bias_for_p(p), kh, z, z), p, atol=1e-12)
    cfg = LearningConfig(rule="discrete")
    pt = HardwareParts.draw(16, 1, cfg)
    assert np.all(np.abs(pt.edge_p(0.5) - 0.5) < 0.05)
    np.testing.assert_array_equal(pt.edge_p(1.0), 1.0)


def test_oscillator_events_are_time_ordered():
    t, e = oscillator_events([1.0, 0.7], [0.5, 0.0], 3.0)
    assert np.all(np.diff(t) >= 0)
    np.testing.assert_allclose(t[e == 0], [0.5, 1.5, 2.5])
    np.testing.assert_allclose(t[e == 1], [0.0, 0.7, 1.4, 2.1, 2.8])


def test_clock_free_mode_learns_and_compares_with_clocked(setup16):
    net, tasks, cfg, parts = setup16
    hw = HardwareConfig.ideal()
    cf = train_clock_free(net, tasks, cfg, 5, 120, hardware=hw, parts=parts, phase_seed=1)
    assert cf.meta["mode"] == "clock-free"
    events = np.array(cf.meta["events"])
    assert np.all(np.abs(events / net.n_edges - 120) < 5)  # ~one event per edge per period
    assert np.all(np.isfinite(cf.test_scaled))
    assert cf.test_scaled[:, -1].mean() < 0.9  # it learns
    clocked = train_hardware(net, tasks, replace(cfg, p=1 / net.n_edges), 5, 120 * net.n_edges,
                             hardware=hw, parts=parts)
    # Same update budget per edge: one edge at a time either way; similar final errors
    # (measured per task 0.498 / 0.741 / 0.792 clock-free against 0.489 / 0.668 / 0.792).
    diff = cf.test_scaled[:, -1] - clocked.test_scaled[:, -1]
    assert abs(diff.mean()) < 0.1 and np.all(np.abs(diff) < 0.15), diff


def test_clock_free_batched_equals_one_network_at_a_time(setup16):
    net, tasks, cfg, parts = setup16
    hw = HardwareConfig()
    both = train_clock_free(net, tasks[:2], cfg, [5, 6], 20, hardware=hw, parts=parts[:2],
                            phase_seed=2)
    rng = np.random.default_rng(2)
    ph = [rng.random(16) * parts[i].periods() for i in range(2)]
    for i in range(2):
        one = train_clock_free(net, tasks[i], cfg, [5 + i], 20, hardware=hw,
                               parts=replace(parts[i], phase=ph[i]))
        np.testing.assert_array_equal(one.final_taps[0], both.final_taps[i])


@pytest.mark.parametrize("n_out", [1, 2, 3])
def test_batched_twin_solves_equal_per_network_solves_bit_for_bit(n_out):
    """The twin-mismatch trainer solves its K networks together (BatchedSystems): the same
    trajectory, bit for bit, as solving them one by one (the committed compare results
    were computed that way)."""
    net = exp16()
    tasks = [make_task(net, "regression", np.random.default_rng(30 + i), n_out=n_out)
             for i in range(3)]
    cfg = LearningConfig(rule="discrete", p=0.5, batch="single")
    parts = [HardwareParts.draw(net.n_edges, 40 + i, cfg) for i in range(3)]
    together = HardwareTrainer(net, tasks, [cfg] * 3, [1, 2, 3], hardware=HardwareConfig(),
                               parts=parts)
    one_by_one = HardwareTrainer(net, tasks, [cfg] * 3, [1, 2, 3],
                                 hardware=HardwareConfig(), parts=parts)
    one_by_one._batched = None  # (the twin solves only: drops() never reads responses())
    assert together._batched is not None
    for _ in range(60):
        together.step()
        one_by_one.step()
        assert np.array_equal(together.last_margin, one_by_one.last_margin)
    assert np.array_equal(together.taps, one_by_one.taps)
    for a, b in zip(together.drops(), one_by_one.drops()):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("gating", ["edge_p", "uniform"])
def test_gates_drawn_together_equal_the_per_network_gates(setup16, gating):
    """Bernoulli gates of all networks drawn into one buffer and compared at once: the same
    draws and masks as network by network (_gate), p = 1 networks included (never gated)."""
    net, tasks, _cfg, parts = setup16
    configs = [LearningConfig(rule="discrete", p=p) for p in (1.0, 0.5, 0.2)]
    hw = replace(HardwareConfig(), gating=gating)
    together = HardwareTrainer(net, tasks, configs, [4, 5, 6], hardware=hw, parts=parts)
    alone = HardwareTrainer(net, tasks, configs, [4, 5, 6], hardware=hw, parts=parts)
    assert together._gate_thr is not None
    alone._gate_thr = None  # the per-network loop
    for _ in range(40):
        together.step()
        alone.step()
        assert np.array_equal(together.last_mask, alone.last_mask)
    assert np.array_equal(together.taps, alone.taps)
    assert np.array_equal(together.updates, alone.updates)
    assert together.updates[0] == 40 * net.n_edges > together.updates[1] > together.updates[2]


def test_hardware_mode_refuses_the_continuous_rule(setup16):
    net, tasks, _cfg, parts = setup16
    with pytest.raises(SpiceclError, match="discrete"):
        HardwareTrainer(net, tasks[:1], [LearningConfig()], [1], hardware=HardwareConfig(),
                        parts=parts[0])
    with pytest.raises(SpiceclError, match="5 edges"):
        HardwareTrainer(net, tasks[:1], [LearningConfig(rule="discrete")], [1],
                        hardware=HardwareConfig(),
                        parts=HardwareParts.draw(5, 1, LearningConfig(rule="discrete")))
    assert issubclass(HardwareTrainer, Trainer)


# ------------------------------------------------- the oscillator model against ngspice, parts

def test_oscillator_thresholds_and_offsets_on_known_parts():
    from spicecl.hardware import oscillator_thresholds

    # R1 = R2 = rh, R3 = 2 rh: low threshold 5/(1 + 1 + 1/2) = 2 V, high (5 + 5/2)/2.5 = 3 V
    lo, hi = oscillator_thresholds(np.array([[1.0, 1.0, 2.0]]), np.zeros(1))
    np.testing.assert_allclose([lo[0], hi[0]], [2.0, 3.0], rtol=1e-12)
    # the bias comparator's offset adds to the capacitor voltage: enabled more often
    p = edge_probabilities(2.5, np.ones((1, 3)), np.zeros(1), np.array([0.05]))
    np.testing.assert_allclose(p, 0.5 + 0.5 * np.log2((5 - 2.45) / 2.45), rtol=1e-12)
    assert p[0] == pytest.approx(0.5289, abs=1e-4)


@pytest.mark.spice
def test_oscillator_model_matches_ngspice_for_wide_part_spreads():
    """The learning model's periods and p_i (hardware.py, closed form) against ngspice's
    transient of the same drawn parts (20 % R and C, 50 mV offsets, converged step):
    periods measured 0.39-0.46 % shorter (the model neglects the pull-up's load), p within
    0.004 of the measured duty."""
    from spicecl.oscbank.design import BankTolerance, draw_bank
    from spicecl.oscbank.run import BankConfig, _characterize

    tol = BankTolerance(0.2, 0.2, 0.05)
    cfg = BankConfig(4, (2.2,), 10, tolerance=tol, fast_tmax=1e-3)
    draw = draw_bank(4, cfg.design, tol, np.random.default_rng(7))
    assert np.ptp(draw.kh) > 0.1 and np.ptp(draw.voff_bias) > 0.02  # the spread is exercised
    m = _characterize(draw, cfg, 2.2, 0.0, 0.0, "model")[0]
    per = oscillator_periods(draw.rt, draw.ct, draw.kh, draw.voff_osc)
    rel = per / m["period"] - 1
    assert np.all((rel > -0.01) & (rel < 0.0)), rel
    p = edge_probabilities(2.2, draw.kh, draw.voff_osc, draw.voff_bias)
    assert np.all(np.abs(p - m["duty"]) < 0.01), (p, m["duty"])


def test_variation_file_oscillator_offsets_land_in_their_own_places(tmp_path):
    from spicecl.variation_file import load_variation, write_variation

    n = 4
    u = np.random.default_rng(0).random((1, 64, n)) < 0.5
    write_variation(tmp_path, {
        "updates": u, "bias_volts": np.array([2.5]), "draw": np.zeros(1, np.int64),
        "p_edge": u.mean(axis=1), "period": np.full((1, n), 4.6e-4),
        "duty": np.full((1, n), .5), "pearson": np.zeros((1, n, n)), "lag1": np.zeros((1, n)),
        "rt": np.full((1, n), 33e3), "ct": np.full((1, n), 1e-8), "kh": np.ones((1, n, 3)),
        "voff_osc": np.zeros((1, n)), "voff_bias": np.full((1, n), 0.05),
        "v0": np.full((1, n), 2.5)}, {})
    pt = HardwareParts.draw(n, 1, LearningConfig(rule="discrete"))
    pt = pt.with_variation(load_variation(tmp_path))
    np.testing.assert_array_equal(pt.bias_voff, 0.05)
    np.testing.assert_array_equal(pt.osc_voff, 0.0)
    np.testing.assert_allclose(pt.edge_p(0.5), 0.5 + 0.5 * np.log2((5 - 2.45) / 2.45))


def test_sequence_for_takes_only_a_recording_near_the_p_asked_for():
    pt = HardwareParts.draw(16, 1, LearningConfig(rule="discrete"))
    seq = np.random.default_rng(0).random((100, 16)) < 0.5
    pt = replace(pt, updates={2.5: seq})
    assert pt.sequence_for(seq.mean()) is seq
    assert pt.sequence_for(seq.mean() + 0.049) is seq
    assert pt.sequence_for(0.2) is None and pt.sequence_for(seq.mean() + 0.051) is None


def _lag1(seq):
    """Lag-1 autocorrelation of each column of a (S, E) bool sequence."""
    x = seq - seq.mean(axis=0)
    return (x[1:] * x[:-1]).sum(axis=0) / (x * x).sum(axis=0)


def test_a_shuffled_replay_keeps_every_update_and_sample_but_breaks_the_runs():
    # edges that update in runs (e + 2 ticks on, as many off) and two that alternate
    s, e = 2000, 16
    t = np.arange(s)[:, None]
    runs = (t // (np.arange(e) + 2)) % 2 == 0
    runs[:, -2:] = (t % 2 == 0) ^ (np.arange(2) == 1)
    pt = replace(HardwareParts.draw(e, 1, LearningConfig(rule="discrete")),
                 updates={2.5: runs, 3.0: ~runs})
    out = pt.shuffled_in_time(np.random.default_rng(4))
    assert sorted(out.updates) == [2.5, 3.0]
    for bias, seq in out.updates.items():
        rec = pt.updates[bias]
        # each edge's update count, and each clock sample's pattern across the edges (one
        # permutation of the samples for every edge): the correlations between edges too
        np.testing.assert_array_equal(seq.sum(axis=0), rec.sum(axis=0))
        assert sorted(map(bytes, np.packbits(seq, axis=1))) == \
            sorted(map(bytes, np.packbits(rec, axis=1)))
        np.testing.assert_allclose(np.corrcoef(seq.T), np.corrcoef(rec.T), atol=1e-12)
        # the runs and the alternation are gone: independent updates' lag-1 stays in 4/sqrt(S)
        assert _lag1(rec).min() < -0.99 and _lag1(rec).max() > 0.3
        assert np.abs(_lag1(seq)).max() < 4 / np.sqrt(s)
    # one order for every recorded bias, drawn from the generator
    order = np.random.default_rng(4).permutation(s)
    np.testing.assert_array_equal(out.updates[2.5], runs[order])
    np.testing.assert_array_equal(out.updates[3.0], ~runs[order])
    assert pt.updates[2.5] is runs  # (the parts it came from are unchanged)


# ------------------------------------------------------------------- comparator channels

def _trainer16(hw, p=0.5, sigma_max=0.05, parts=None, seed=9):
    net = exp16()
    task = make_task(net, "allostery", np.random.default_rng(10))
    cfg = LearningConfig(rule="discrete", p=p, sigma_max=sigma_max)
    parts = parts or HardwareParts.draw(net.n_edges, 200, cfg)
    return HardwareTrainer(net, [task], [cfg], [seed], hardware=hw, parts=parts)


def test_comparator_noise_has_its_own_stream():
    """Switching comparator noise on must not move the sigma draws or the gating of the
    main stream (the documented separate stream), step after step."""
    a = _trainer16(HardwareConfig.ideal())
    b = _trainer16(HardwareConfig.only("comparator_noise"))
    for _ in range(5):
        a.step()
        b.step()
        np.testing.assert_array_equal(a.last_draws["sigma"], b.last_draws["sigma"])
        np.testing.assert_array_equal(a.last_mask, b.last_mask)
    assert np.any(b.last_draws["noise1"] != 0)


def test_the_two_comparator_channels_have_independent_noise():
    b = _trainer16(HardwareConfig.only("comparator_noise"), p=1.0)
    n1, n2 = [], []
    for _ in range(200):
        b.step()
        n1.append(b.last_draws["noise1"].ravel())
        n2.append(b.last_draws["noise2"].ravel())
    r = np.corrcoef(np.concatenate(n1), np.concatenate(n2))[0, 1]
    assert abs(r) < 0.1, r  # 3,200 pairs: null sd 0.018 (measured -0.01)
    for n in (np.concatenate(n1), np.concatenate(n2)):  # zero-mean, sd noise_sd (1 mV)
        assert abs(n.mean()) < 4 * 1e-3 / np.sqrt(n.size)
        assert n.std() == pytest.approx(1e-3, rel=0.05)


def test_each_channels_offset_acts_on_its_own_channel():
    """Channel 2 (dV_C + dV_F) given a huge offset always reads positive: the cell then
    follows channel 1 (dV_C - dV_F) alone, on every edge."""
    cfg = LearningConfig(rule="discrete", p=1.0, sigma_max=0.0)
    pt = HardwareParts.draw(16, 200, cfg)
    pt = replace(pt, offset1=np.zeros(16), offset2=np.full(16, 10.0))
    hw = replace(HardwareConfig.only("comparator_offsets"), cell_decision=True)
    tr = _trainer16(hw, p=1.0, sigma_max=0.0, parts=pt, seed=4)
    dvf, dvc = tr.drops()
    tr.step()
    np.testing.assert_array_equal(tr.last_up[0], dvc[0, 0] - dvf[0, 0] > 0)
    assert 0 < np.count_nonzero(tr.last_up[0]) < 16


def test_replayed_gating_keeps_the_sigma_stream_of_the_other_pictures(setup16):
    """'only gating' with a replayed sequence differs from the idealized discrete run by the
    gating alone: the Eq. 10 sigma of every step is the same draw (common random numbers), as
    with Bernoulli or per-edge p_i gating."""
    net, tasks, cfg, parts = setup16
    seq = np.random.default_rng(0).random((7, net.n_edges)) < 0.5
    ideal = HardwareTrainer(net, tasks[:1], [cfg], [9], hardware=HardwareConfig.ideal(),
                            parts=parts[0])
    rep = HardwareTrainer(net, tasks[:1], [cfg], [9], parts=parts[0], replay=seq,
                          hardware=HardwareConfig.only("gating", gating="replay"))
    for _ in range(5):
        rep.set_taps(ideal.taps)
        ideal.step()
        rep.step()
        np.testing.assert_array_equal(ideal.last_draws["sigma"], rep.last_draws["sigma"])


def _variation_file(path, n, n_draws=1):
    from spicecl.variation_file import load_variation, write_variation

    u = np.random.default_rng(0).random((n_draws, 64, n)) < 0.5
    write_variation(path, {
        "updates": u, "bias_volts": np.full(n_draws, 2.5), "draw": np.arange(n_draws),
        "p_edge": u.mean(axis=1), "period": np.full((n_draws, n), 4.6e-4),
        "duty": np.full((n_draws, n), .5), "pearson": np.zeros((n_draws, n, n)),
        "lag1": np.zeros((n_draws, n)), "rt": np.full((n_draws, n), 33e3),
        "ct": np.full((n_draws, n), 1e-8), "kh": np.ones((n_draws, n, 3)),
        "voff_osc": np.zeros((n_draws, n)), "voff_bias": np.zeros((n_draws, n)),
        "v0": np.full((n_draws, n), 2.5)}, {})
    return load_variation(path)


def test_a_variation_file_of_another_size_or_draw_is_refused(tmp_path):
    var = _variation_file(tmp_path, 4)
    cfg = LearningConfig(rule="discrete")
    with pytest.raises(SpiceclError, match="has 4 edges, the network has 16"):
        HardwareParts.draw(16, 1, cfg).with_variation(var)
    with pytest.raises(SpiceclError, match="no draw 1"):
        HardwareParts.draw(4, 1, cfg).with_variation(var, draw=1)


def test_taps_off_the_grid_are_refused():
    tr = _trainer16(HardwareConfig.ideal())
    for bad in (128, -1, 3.5):
        with pytest.raises(SpiceclError, match="taps must be integers on the digipot grid"):
            tr.set_taps(np.full(16, bad))


def test_a_hardware_step_with_an_empty_batch_draw_moves_nothing():
    net = exp16()
    task = make_task(net, "allostery", np.random.default_rng(10))
    cfg = LearningConfig(rule="discrete", sigma_max=100.0, batch="bernoulli",
                         batch_fraction=1e-9)
    tr = HardwareTrainer(net, [task], [cfg], [0], hardware=HardwareConfig.ideal(),
                         parts=HardwareParts.draw(16, 200, cfg))
    taps = tr.taps.copy()
    for _ in range(5):
        tr.step()
    np.testing.assert_array_equal(tr.taps, taps)


def test_edge_p_gating_updates_each_edge_with_its_own_p():
    """'edge_p' gating enables edge i with probability p_i (its oscillator above the bias),
    not 1 - p_i: at p = 0.2 about a fifth of the edge-steps update."""
    hw = HardwareConfig.only("gating")
    tr = _trainer16(hw, p=0.2)
    p_edge = tr.p_edge[0]
    assert 0.1 < p_edge.mean() < 0.3
    counts = np.zeros(16)
    for _ in range(400):
        tr.step()
        counts += tr.last_mask[0]
    assert tr.updates[0] == counts.sum()
    np.testing.assert_allclose(counts / 400, p_edge, atol=0.1)  # binomial sd <= 0.025


def test_clock_free_first_record_is_before_the_events_at_time_zero(setup16):
    """Record 0 is taken before the first event at or after t = 0: with every oscillator's
    first rising edge at t = 0, still the untrained error."""
    net, tasks, cfg, parts = setup16
    hw = HardwareConfig.ideal()
    pt = replace(parts[0], phase=np.zeros(net.n_edges))
    cf = train_clock_free(net, tasks[0], cfg, 5, 10, hardware=hw, parts=pt)
    fresh = HardwareTrainer(net, tasks[:1], [replace(cfg, p=1.0)], [5], hardware=hw, parts=pt)
    train_err, test_err = fresh.errors()
    assert cf.train_error[0, 0] == train_err[0] and cf.test_error[0, 0] == test_err[0]
    assert cf.train_error[0, 1] != train_err[0]


def test_cell_offsets_are_referred_to_the_cell_input():
    """The drawn comparator offsets (+-5 mV at the comparators) act on the cell input divided
    by the difference-amplifier gain (10): within +-0.5 mV, on both channels."""
    pt = HardwareParts.draw(400, 3, LearningConfig(rule="discrete"))
    for off in (pt.offset1, pt.offset2):
        assert np.all(np.abs(off) <= 0.005 / 10) and off.std() > 0.2e-3


def test_hardware_config_is_validated_frozen_and_round_trips():
    import dataclasses

    for kw, msg in ((dict(gating="sometimes"), "gating must be one of"),
                    (dict(noise_sd=-1e-3), "noise_sd must be in"),
                    (dict(noise_sd=float("inf")), "noise_sd must be in")):
        with pytest.raises(SpiceclError, match=msg):
            HardwareConfig(**kw)
    with pytest.raises(SpiceclError, match="unknown imperfection 'dust'"):
        HardwareConfig.only("dust")
    full = HardwareConfig()  # the default: every imperfection on
    assert all(getattr(full, n) for n in IMPERFECTIONS if n != "gating")
    assert full.gating == "edge_p"
    for cfg in (full, HardwareConfig.ideal(), HardwareConfig.only("gating", "replay")):
        assert HardwareConfig(**cfg.to_dict()) == cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.noise_sd = 0.0


@pytest.mark.parametrize("cell", [False, True])
def test_decisions_are_the_cell_product_or_eq_10_with_sigma_offsets_and_noise(cell):
    """Every term of the decision, checked from the drops and the recorded draws: the cell's
    (dV_C - dV_F + o1 + sigma + n1)(dV_C + dV_F + o2 + sigma + n2), or Eq. 10's
    |dV_C| + sigma + o1 + n1 - |dV_F|, summed over a batch of examples (a tie steps down)."""
    net = exp16()
    task = make_task(net, "regression", np.random.default_rng(2), n_train=6, n_test=4)
    cfg = LearningConfig(rule="discrete", p=1.0, sigma_max=0.02)
    parts = HardwareParts.draw(net.n_edges, 8, cfg)
    parts = replace(parts, offset1=parts.offset1 * 20, offset2=parts.offset2 * 20)  # +-10 mV
    hw = replace(HardwareConfig(), cell_decision=cell, noise_sd=5e-3, gating="uniform")
    tr = HardwareTrainer(net, [task], [cfg], [3], hardware=hw, parts=parts)
    for _ in range(4):
        dvf, dvc = (a[0] for a in tr.drops())
        tr.step()
        d = tr.last_draws
        s, n1, n2 = d["sigma"][0], d["noise1"][0], d["noise2"][0]
        assert np.all(n1 != 0) and np.all(s != 0)
        if cell:
            per = (dvc - dvf + parts.offset1 + s + n1) * (dvc + dvf + parts.offset2 + s + n2)
        else:
            per = np.abs(dvc) + s + parts.offset1 + n1 - np.abs(dvf)
        margin = d["weights"][0] @ per
        np.testing.assert_array_equal(tr.last_up[0], margin > 0)
        np.testing.assert_allclose(tr.last_margin[0], np.abs(margin), rtol=1e-9, atol=1e-18)
        assert 0 < np.count_nonzero(margin > 0) < net.n_edges


@pytest.mark.parametrize("hw", [HardwareConfig.ideal(), HardwareConfig.only("cell_decision")])
def test_a_hardware_tie_steps_down_to_tap_zero_and_stays(hw):
    """An edge between an input and a ground has the same drop in both states: Eq. 10 and
    the cell both read the tie as 'down' (sigma_max = 0), step after step, to the end stop."""
    net = exp16()
    task = make_task(net, "allostery", np.random.default_rng(3), roles=([0], [8], [1]))
    cfg = LearningConfig(rule="discrete", sigma_max=0.0, p=1.0)
    parts = HardwareParts.draw(net.n_edges, 1, cfg)
    tr = HardwareTrainer(net, [task], [cfg], [0], hardware=hw, parts=parts,
                         r_init=cfg.r_wiper + 2 * cfg.r0)
    assert tuple(net.edges[0]) == (0, 1) and tr.taps[0, 0] == 2
    taps = []
    for _ in range(4):
        tr.step()
        taps.append(int(tr.taps[0, 0]))
    assert taps == [1, 0, 0, 0]


def test_set_taps_puts_every_network_on_its_boards_grid_and_forgets_old_solves(setup16):
    net, tasks, cfg, parts = setup16
    tr = HardwareTrainer(net, tasks, [cfg] * 3, [1, 2, 3], hardware=HardwareConfig(),
                         parts=parts)
    tr.drops()  # (cached)
    taps = np.random.default_rng(0).integers(0, 128, (3, net.n_edges))
    taps[0, :2] = 0, 127  # both ends of the grid
    tr.set_taps(taps)
    assert tr.taps.dtype == np.int64 and np.array_equal(tr.taps, taps)
    for k, pt in enumerate(parts):
        np.testing.assert_allclose(tr.r[k], pt.rw_free + taps[k] * pt.rab_free / 127)
        np.testing.assert_allclose(tr.r_c[k], pt.rw_clamped + taps[k] * pt.rab_clamped / 127)
    # the drops are those of a trainer that starts at these taps
    fresh = HardwareTrainer(net, tasks, [cfg] * 3, [1, 2, 3], hardware=HardwareConfig(),
                            parts=parts, r_init=cfg.r_wiper + taps * cfg.r0)
    assert np.array_equal(fresh.taps, taps)
    for a, b in zip(tr.drops(), fresh.drops()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    tr.set_taps(taps[0])  # (E,): every network
    assert np.array_equal(tr.taps, np.broadcast_to(taps[0], (3, net.n_edges)))


@pytest.mark.parametrize("recorded", [False, True])
def test_replay_at_p_one_uses_the_sequence_given_or_updates_every_edge(setup16, recorded):
    net, tasks, cfg, parts = setup16
    cfg1 = replace(cfg, p=1.0)
    seq = np.random.default_rng(1).random((1, net.n_edges)) < 0.5  # one sample: every step
    hw = HardwareConfig.only("gating", gating="replay")
    tr = HardwareTrainer(net, tasks[:1], [cfg1], [2], hardware=hw, parts=parts[0],
                         replay=seq if recorded else None)
    for _ in range(3):
        tr.step()
        np.testing.assert_array_equal(tr.last_mask[0], seq[0] if recorded else True)


def test_one_board_per_network_or_one_for_all(setup16):
    net, tasks, cfg, parts = setup16
    with pytest.raises(SpiceclError, match=r"expected one HardwareParts per network \(3\), got 2"):
        HardwareTrainer(net, tasks, [cfg] * 3, [1, 2, 3], hardware=HardwareConfig(),
                        parts=parts[:2])
    tr = HardwareTrainer(net, tasks, [cfg] * 3, [1, 2, 3], hardware=HardwareConfig(),
                         parts=parts[0])
    assert all(pt is parts[0] for pt in tr.parts)


def test_a_variation_file_draw_brings_its_own_updates_and_periods(tmp_path):
    from spicecl.variation_file import load_variation, write_variation

    n = 4
    u = np.random.default_rng(0).random((4, 64, n)) < 0.5
    period = np.array([[4.6e-4] * n, [5.0e-4] * n, [np.nan] * n, [4.6e-4] * (n - 1) + [0.0]])
    write_variation(tmp_path, {
        "updates": u, "bias_volts": np.full(4, 2.5), "draw": np.arange(4),
        "p_edge": u.mean(axis=1), "period": period, "duty": np.full((4, n), .5),
        "pearson": np.zeros((4, n, n)), "lag1": np.zeros((4, n)),
        "rt": np.full((4, n), 33e3), "ct": np.full((4, n), 1e-8), "kh": np.ones((4, n, 3)),
        "voff_osc": np.zeros((4, n)), "voff_bias": np.zeros((4, n)),
        "v0": np.full((4, n), 2.5)}, {})
    var = load_variation(tmp_path)
    pt = HardwareParts.draw(n, 1, LearningConfig(rule="discrete"))
    one = pt.with_variation(var, draw=1)
    np.testing.assert_array_equal(one.updates[2.5], u[1])
    np.testing.assert_array_equal(one.periods(), 5.0e-4)
    # a draw whose periods were not all measured (NaN, 0): the periods of its parts
    for draw in (2, 3):
        other = pt.with_variation(var, draw=draw)
        assert other.period is None
        np.testing.assert_allclose(other.periods(), 2 * np.log(2) * 33e3 * 1e-8)


def test_parts_summary_from_known_parts():
    import dataclasses

    z = np.zeros(2)
    pt = HardwareParts(rab_free=np.array([1e4, 3e4]), rab_clamped=np.array([1.1e4, 2.7e4]),
                       rw_free=np.array([50.0, 70.0]), rw_clamped=np.array([50.0, 70.0]),
                       offset1=np.array([3e-4, -3e-4]), offset2=np.array([4e-4, 4e-4]),
                       osc_rt=np.array([1e3, 3e3]), osc_ct=np.full(2, 1e-6),
                       osc_kh=np.ones((2, 3)), osc_voff=z, bias_voff=z, source="by hand")
    s = pt.summary()
    with pytest.raises(dataclasses.FrozenInstanceError):
        pt.seed = 3  # (the parts of one board)
    assert s["source"] == "by hand" and s["n_edges"] == 2
    assert s["rab_free_rel_sd"] == pytest.approx(0.5)  # sd 1e4 of mean 2e4
    assert s["rw_free_mean"] == pytest.approx(60.0)
    assert s["twin_rab_rel_diff_rms"] == pytest.approx(0.1)  # clamped/free = 1.1, 0.9
    assert s["offset_rms_volts"] == pytest.approx(np.sqrt((9 + 9 + 16 + 16) / 4) * 1e-4)
    per = 2 * np.log(2) * np.array([1e-3, 3e-3])  # nominal thresholds: 2 ln 2 R C
    assert s["period_mean"] == pytest.approx(per.mean())
    assert s["period_rel_sd"] == pytest.approx(0.5)


def test_drawn_digipots_are_centred_on_the_configs_grid():
    cfg = LearningConfig(rule="discrete", r_ab=5e3, r_wiper=1.5e-3)
    from spicecl.variation import ToleranceSpec

    pt = HardwareParts.draw(8, 1, cfg, spec=ToleranceSpec.exact())
    np.testing.assert_array_equal(pt.rab_free, 5e3)
    np.testing.assert_array_equal(pt.rw_free, 1.5e-3)


def test_clock_free_updates_per_edge_must_be_a_positive_number(setup16):
    net, tasks, cfg, parts = setup16
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(SpiceclError, match="updates per edge must be in"):
            train_clock_free(net, tasks[0], cfg, 5, bad, hardware=HardwareConfig.ideal(),
                             parts=parts[0])
    # records are at whole updates per edge: 2.6 was run to 2.6 and its end recorded as 3
    for bad in (0.6, 2.6):
        with pytest.raises(SpiceclError, match="updates per edge must be a whole number"):
            train_clock_free(net, tasks[0], cfg, 5, bad, hardware=HardwareConfig.ideal(),
                             parts=parts[0], phase_seed=0)
    h = train_clock_free(net, tasks[0], cfg, 5, 2.0, hardware=HardwareConfig.ideal(),
                         parts=parts[0], phase_seed=0)
    assert h.steps.tolist() == [0, 1, 2]


def test_clock_free_records_are_the_state_after_every_earlier_event(setup16):
    """Equal periods T and phases spread over [0, T): the events are edge 0, 1, ..., E - 1,
    then again; record r (r updates per edge, t = r T) comes after exactly r E events. The
    errors equal those of a trainer stepped one event at a time by hand, and the one
    snapshot is the final state, at the last record."""
    net, tasks, cfg, parts = setup16
    e = net.n_edges
    hw = HardwareConfig(gating="uniform")
    pt = replace(parts[0], period=np.full(e, 1e-3), phase=np.arange(e) * 1e-3 / e + 1e-6)
    h = train_clock_free(net, tasks[0], cfg, [np.random.default_rng(7)], 3, hardware=hw,
                         parts=pt, n_records=3)
    assert h.steps.tolist() == [0, 1, 2, 3] and h.meta["events"] == [3 * e]
    tr = HardwareTrainer(net, tasks[:1], [replace(cfg, p=1.0)], [np.random.default_rng(7)],
                         hardware=hw, parts=pt)
    for r in range(4):
        np.testing.assert_array_equal(h.train_error[0, r], tr.errors()[0][0])
        if r < 3:
            for i in range(e):
                only = np.zeros((1, e), bool)
                only[0, i] = True
                tr.step(only_edges=only)
    assert np.array_equal(h.final_taps, tr.taps)
    assert h.snapshot_steps.tolist() == [3] and np.array_equal(h.resistance[:, 0], tr.r)
    # one network, one seed: used as is (an int seed is the Generator it makes); several
    # networks spawn their streams from one seed, as train() does
    again = train_clock_free(net, tasks[0], cfg, 7, 3, hardware=hw, parts=pt, n_records=3)
    assert np.array_equal(again.train_error, h.train_error)
    from spicecl.learning import spawn_streams

    two = train_clock_free(net, tasks[:2], cfg, 7, 3, hardware=hw, parts=pt, n_records=3)
    each = train_clock_free(net, tasks[:2], cfg, spawn_streams(7, 2), 3, hardware=hw,
                            parts=pt, n_records=3)
    assert np.array_equal(two.train_error, each.train_error)


def test_oscillator_events_lie_in_the_half_open_window():
    t, e = oscillator_events([1.0, 1.0, 0.5], [0.25, 2.5, 0.0], 2.0)
    assert e.tolist() == [2, 0, 2, 2, 0, 2]  # edge 1's first edge is after t_end; 2.0 is out
    np.testing.assert_allclose(t, [0.0, 0.25, 0.5, 1.0, 1.25, 1.5])


def test_hardware_arguments_are_checked_not_truncated_or_taken_as_truthy():
    """HardwareConfig(tap_tolerance="no") switched tap tolerance on; HardwareParts.draw(2.5)
    drew 2 edges; train_clock_free's phase_seed -1 or 1.5 raised numpy's ValueError or
    TypeError, and n_records=0 recorded step 0 alone, not the end of the run."""
    from spicecl.errors import SpiceclError
    from spicecl.hardware import HardwareConfig, HardwareParts, train_clock_free
    from spicecl.learning import LearningConfig
    from spicecl.network import exp16
    from spicecl.tasks import make_task

    with pytest.raises(SpiceclError, match=r"^tap_tolerance must be True or False, got 'no'"):
        HardwareConfig(tap_tolerance="no")
    assert HardwareConfig(twin_mismatch=np.bool_(False)).twin_mismatch is False
    cfg = LearningConfig(rule="discrete")
    with pytest.raises(SpiceclError, match=r"^n_edges must be an integer, got 2.5"):
        HardwareParts.draw(2.5, 1, cfg)
    net = exp16()
    task = make_task(net, "regression", 1)
    parts = HardwareParts.draw(net.n_edges, 1, cfg)
    for bad in (-1, 1.5):
        with pytest.raises(SpiceclError, match=r"^phase_seed must be a seed"):
            train_clock_free(net, task, cfg, 1, 2, hardware=HardwareConfig(), parts=parts,
                             phase_seed=bad)
    with pytest.raises(SpiceclError, match=r"^n_records must be >= 1, got 0"):
        train_clock_free(net, task, cfg, 1, 2, hardware=HardwareConfig(), parts=parts,
                         phase_seed=1, n_records=0)
