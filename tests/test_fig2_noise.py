"""fig2's integrated update-noise variance: the closed forms against Monte Carlo draws of the
library's own sampling code (edge_mask, example_weights), and the accumulating trainer."""

from __future__ import annotations

import numpy as np
import pytest

from spicecl.errors import SpiceclError
from spicecl.experiments.common import (NoiseTrainer, TaskSpec, TrainChunk, draw_task,
                                        cached_network, run_train_chunk, update_noise_variance)
from spicecl.experiments.fig2 import mode_config
from spicecl.learning import Trainer, edge_mask, example_weights, train

B, E = 16, 16
DRAWS = 20_000
RTOL = 0.03
MODES = ("p", "b", "pb", "pbar", "bbar", "pbbar")


def _g(seed: int = 3) -> np.ndarray:
    """Per-example updates (B, E) with a non-zero full-batch part on every edge."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.5, 1.0, (B, E)) * rng.uniform(0.5, 2.0, E)


def _monte_carlo(g: np.ndarray, config, seed: int = 11) -> float:
    """E||delta - E delta||^2 of delta = m * (w @ g), drawn with spicecl.learning's samplers."""
    rng = np.random.default_rng(seed)
    deltas = np.empty((DRAWS, E))
    for t in range(DRAWS):
        w = example_weights(config, B, rng)
        d = w @ g
        m = edge_mask(config, E, rng)
        if m is not None:
            d = d * m
        deltas[t] = d
    return float(deltas.var(axis=0, ddof=1).sum())


@pytest.mark.parametrize("x", [0.75, 0.5])
@pytest.mark.parametrize("mode", MODES)
def test_noise_variance_matches_monte_carlo(mode, x):
    cfg, _ = mode_config(mode, x)
    g = _g()
    exact = update_noise_variance(g, cfg)
    mc = _monte_carlo(g, cfg)
    assert exact > 0
    assert abs(mc / exact - 1) < RTOL, (mode, x, mc, exact)


def test_a_wrong_formula_fails_the_comparison():
    """The tolerance separates the exact b-bar formula from plausible wrong ones: with
    replacement (no B/(B-1)), or the Bernoulli-b formula applied to a fixed fraction."""
    cfg, _ = mode_config("bbar", 0.75)
    g = _g()
    mc = _monte_carlo(g, cfg)
    k = 12
    dev = g - g.mean(axis=0)
    with_replacement = k * (B - k) / B ** 2 * float(np.sum(dev ** 2))
    bernoulli = 0.75 * 0.25 * float(np.sum(g ** 2))
    for wrong in (with_replacement, bernoulli):
        assert abs(mc / wrong - 1) > RTOL
    # and for Bernoulli p the (1 - p) factor matters
    cfg, _ = mode_config("p", 0.5)
    assert abs(_monte_carlo(g, cfg) / (0.5 * float(np.sum(g.sum(0) ** 2))) - 1) > RTOL


def test_noise_variance_shapes_and_deterministic_limit():
    g = _g()
    ref, _ = mode_config("ref", 1.0)
    assert update_noise_variance(g, ref) == 0.0
    cfgs = [mode_config("p", 0.5)[0], mode_config("bbar", 0.75)[0]]
    both = update_noise_variance(np.stack([g, 2 * g]), cfgs)
    assert both.shape == (2,)
    assert both[0] == pytest.approx(update_noise_variance(g, cfgs[0]))
    assert both[1] == pytest.approx(4 * update_noise_variance(g, cfgs[1]))


def _setup(mode, x, k=3):
    net = cached_network("exp16", 0)
    spec = TaskSpec(kind="regression", n_in=2, n_out=2, n_ground=1, n_train=16, n_test=16,
                    targets="teacher")
    tasks = [draw_task(net, spec, s) for s in range(k)]
    cfg, _ = mode_config(mode, x)
    return net, spec, tasks, [cfg] * k


def test_noise_trainer_same_trajectory_and_accumulates_the_formula():
    net, _, tasks, cfgs = _setup("pb", 0.75)
    steps = 30
    h0 = train(net, tasks, cfgs, [np.random.default_rng(i) for i in range(3)], steps)
    holder = []

    def make(*a, **kw):
        holder.append(NoiseTrainer(*a, **kw))
        return holder[-1]

    h1 = train(net, tasks, cfgs, [np.random.default_rng(i) for i in range(3)], steps,
               trainer_cls=make)
    np.testing.assert_array_equal(h0.final_resistance, h1.final_resistance)
    # by hand: the formula at the state before each step, summed
    tr = Trainer(net, tasks, cfgs, [np.random.default_rng(i) for i in range(3)])
    total = np.zeros(3)
    for _ in range(steps):
        dvf, dvc = tr.drops()
        g = (tr.gamma / tr.r ** 2)[:, None, :] * (dvc ** 2 - dvf ** 2)
        # the per-example updates sum to the trainer's own full-batch gradient
        np.testing.assert_allclose(g.sum(1), tr.gamma / tr.r ** 2 * tr.power_gap_gradient(
            tr._ones_b), rtol=1e-9, atol=1e-12)
        total += update_noise_variance(g, cfgs)
        tr.step()
    np.testing.assert_allclose(holder[0].noise, total, rtol=1e-10)
    assert np.all(total > 0)


def test_run_train_chunk_reports_noise_only_when_asked():
    net, spec, _, cfgs = _setup("p", 0.5, k=2)
    chunk = TrainChunk("exp16", 0, spec, (0, 1), tuple(cfgs), (5, 6), 10)
    assert "noise_variance" not in run_train_chunk(chunk)
    from dataclasses import replace

    out = run_train_chunk(replace(chunk, noise=True))
    assert out["noise_variance"].shape == (2,) and np.all(out["noise_variance"] > 0)


def test_diffusion_traces_and_spectrum_are_those_of_the_matrices_of_eq_5_and_6():
    """Eq. 6: gamma^2 D_eff = diag(dR^2) / N - dR dR^T / N^2 for the full-batch update dR;
    Eq. 5: gamma^2 D_SGD = B^-1 sum_j g_j g_j^T - g g^T, g the mean per-example update. Both
    written out as E x E matrices here, against the traces and the spectrum."""
    from spicecl.experiments.common import diffusion_spectrum, diffusion_traces

    g = _g()[:5, :7]  # B = 5 examples, E = 7 edges: no square shape to hide a transpose
    full = g.sum(axis=0)
    n = 7
    d_eff = np.diag(full ** 2) / n - np.outer(full, full) / n ** 2
    mean = g.mean(axis=0)
    d_sgd = sum(np.outer(gj, gj) for gj in g) / 5 - np.outer(mean, mean)
    t_eff, t_sgd, sq = diffusion_traces(g)
    assert t_eff == pytest.approx(np.trace(d_eff), rel=1e-12)
    assert t_sgd == pytest.approx(np.trace(d_sgd), rel=1e-12)
    assert sq == pytest.approx(full @ full, rel=1e-12)
    spectrum = diffusion_spectrum(full)
    np.testing.assert_allclose(spectrum, np.sort(np.linalg.eigvals(d_eff).real)[::-1],
                               rtol=1e-10, atol=1e-12 * np.abs(d_eff).max())
    assert np.all(np.diff(spectrum) <= 0)


def test_noise_variance_needs_one_config_per_network():
    g = _g()
    with pytest.raises(ValueError, match="1 configs for 2 networks"):
        update_noise_variance(np.stack([g, g]), [mode_config("p", 0.5)[0]])


def test_update_vectors_refuse_a_rate_that_overflows():
    from spicecl.errors import SpiceclError
    from spicecl.experiments.common import update_vectors
    from spicecl.learning import LearningConfig

    net = cached_network("exp16", 0)
    spec = TaskSpec(kind="regression", n_in=2, n_out=2, n_ground=1, n_train=4, n_test=4)
    task = draw_task(net, spec, 0)
    cfg = LearningConfig(gamma=1e308, r_min=1e-6, r_init=1e-5)
    with pytest.raises(SpiceclError, match="learning rate gamma = 1e\\+308 is too large"):
        update_vectors(net, task, cfg, np.full(net.n_edges, 1e-5))


def test_run_train_chunk_returns_its_documented_keys_and_no_more():
    """Without noise, diffusion or keep_snapshots, a chunk's result is its error curves,
    final resistances, update counts and its CPU time; each option adds its own keys."""
    from dataclasses import replace

    net, spec, _, cfgs = _setup("p", 0.5, k=2)
    chunk = TrainChunk("exp16", 0, spec, (0, 1), tuple(cfgs), (5, 6), 10)
    import time

    cpu0 = time.process_time()
    out = run_train_chunk(chunk)
    cpu = time.process_time() - cpu0
    assert set(out) == {"steps", "train_error", "test_error", "final_resistance", "updates",
                        "cpu_seconds"}
    assert out["cpu_seconds"].shape == () and 0 <= out["cpu_seconds"] <= cpu  # its own share
    assert set(run_train_chunk(replace(chunk, keep_snapshots=True))) - set(out) == \
        {"snapshot_steps", "resistance_snapshots"}
    both = run_train_chunk(replace(chunk, diffusion=True, keep_snapshots=True))
    assert set(both) - set(out) == {"snapshot_steps", "resistance_snapshots", "trace_deff",
                                    "trace_dsgd", "update_sq", "spectrum_deff"}
    # the diffusion traces (Eq. 5 and 6) at each snapshot, and the spectrum at the last
    from spicecl.experiments.common import diffusion_spectrum, diffusion_traces, update_vectors

    tasks = [draw_task(net, spec, s) for s in (0, 1)]
    for i in range(2):
        snaps = both["resistance_snapshots"][i]
        assert len(snaps) == len(both["snapshot_steps"]) == 3  # steps 0, 5, 10
        for j, r in enumerate(snaps):
            per = update_vectors(net, tasks[i], cfgs[i], r)
            t_eff, t_sgd, sq = diffusion_traces(per)
            assert (both["trace_deff"][i, j], both["trace_dsgd"][i, j],
                    both["update_sq"][i, j]) == (t_eff, t_sgd, sq)
        np.testing.assert_array_equal(both["spectrum_deff"][i], diffusion_spectrum(per.sum(0)))


def test_chunk_and_task_specs_are_frozen():
    import dataclasses

    _, spec, _, cfgs = _setup("p", 0.5, k=1)
    chunk = TrainChunk("exp16", 0, spec, (0,), tuple(cfgs), (5,), 10)
    for obj, field in ((spec, "n_in"), (chunk, "steps")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, field, 3)  # (a job's spec is its identity in a sweep)


def test_fixed_fraction_edges_have_the_marginal_round_p_e_over_e():
    """p-bar updates k = round(p E) of the E edges: each edge's inclusion is k / E, not p
    (they differ where p E is no integer: 0.3 of 16 edges is 5, 0.3125)."""
    from spicecl.experiments.common import noise_coefficients
    from spicecl.learning import LearningConfig

    q = 5 / 16
    assert noise_coefficients(LearningConfig(p=0.3, p_mode="fixed"), 20, 16) == \
        pytest.approx((0.0, q * (1 - q)), rel=1e-15)
    assert noise_coefficients(LearningConfig(p=0.3), 20, 16) == \
        pytest.approx((0.0, 0.3 * 0.7), rel=1e-15)
    assert noise_coefficients(LearningConfig(p=1.0, p_mode="fixed"), 20, 16) == (0.0, 0.0)


def test_noise_trainer_refuses_the_discrete_rule():
    from spicecl.learning import LearningConfig

    net, _, tasks, _ = _setup("p", 0.5, k=1)
    with pytest.raises(ValueError, match="defined for the continuous rule"):
        NoiseTrainer(net, tasks, [LearningConfig(rule="discrete")], [0])


def test_a_noise_trainer_of_one_network_reports_overflowing_updates_as_divergence():
    """NoiseTrainer takes one network off the fused step after Trainer's constructor skipped
    the check of the update scale for it: at --volts 1e150 its updates were clipped to r_min
    or r_max without an error (networks trained together, and Trainer alone, reported it)."""
    from spicecl.learning import LearningConfig, train
    from spicecl.network import exp16
    from spicecl.tasks import make_task

    net = exp16()
    task = make_task(net, "regression", np.random.default_rng(0), volts=1e150)
    with pytest.raises(SpiceclError, match=r"^training diverged: the updates dR are not finite "
                                           r"numbers"):
        train(net, task, LearningConfig(), 0, 10, trainer_cls=NoiseTrainer)


def test_update_vectors_are_the_per_example_terms_of_the_trainers_update():
    """update_vectors (B, E), the per-example dR_ij = gamma / R_i^2 ((dV_ij^C)^2 -
    (dV_ij^F)^2), sum to the trainer's full-batch step (Eq. 7), which takes another path
    (the moments of _FusedStep), and each is the gap of one example alone."""
    from spicecl.experiments.common import update_vectors
    from spicecl.learning import LearningConfig, Trainer

    net, spec, tasks, _ = _setup("p", 1.0, k=1)
    r = np.random.default_rng(4).uniform(2e3, 8e3, net.n_edges)
    cfg = LearningConfig(gamma=2e10, eta=0.3)
    per = update_vectors(net, tasks[0], cfg, r)
    tr = Trainer(net, tasks, [cfg], [0], r_init=r)
    assert tr._fused is not None
    tr.step()
    np.testing.assert_allclose(per.sum(axis=0), tr.r[0] - r, rtol=1e-9, atol=1e-9)
    from dataclasses import replace

    one = replace(tasks[0], train_x=tasks[0].train_x[2:3], train_y=tasks[0].train_y[2:3])
    np.testing.assert_allclose(update_vectors(net, one, cfg, r)[0], per[2], rtol=1e-12)


def test_require_finite_names_the_rate_of_the_network_that_overflowed():
    from spicecl.errors import SpiceclError
    from spicecl.experiments.common import require_finite

    values = np.ones((3, 4))
    values[1, 2] = np.inf
    with pytest.raises(SpiceclError, match="gamma = 5 is too large"):
        require_finite(values, np.array([1.0, 5.0, 7.0])[:, None])
    require_finite(np.ones(3), 1.0)


@pytest.mark.parametrize("batch", ["single", "fixed"])
def test_noise_variance_of_a_sample_of_examples_by_enumeration(batch):
    """b-bar / single: every k-subset of the B examples is equally likely, so the variance is
    the mean, over all of them, of ||delta - E delta||^2: exact, not Monte Carlo."""
    from itertools import combinations

    from spicecl.learning import LearningConfig

    cfg = LearningConfig(batch=batch, batch_fraction=0.4)
    for b in (2, 5):
        g = _g()[:b]
        k = 1 if batch == "single" else cfg.batch_size(b)  # (fixed: 1 of 2, 2 of 5)
        deltas = np.array([g[list(s)].sum(axis=0) for s in combinations(range(b), k)])
        exact = float(np.mean(np.sum((deltas - deltas.mean(axis=0)) ** 2, axis=1)))
        assert exact > 0
        assert update_noise_variance(g, cfg) == pytest.approx(exact, rel=1e-12)
    assert update_noise_variance(_g()[:1], cfg) == 0.0  # one example: always the same one
