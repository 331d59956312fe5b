"""fig2's integrated update-noise variance: the closed forms against Monte Carlo draws of the
library's own sampling code (edge_mask, example_weights), and the accumulating trainer."""

from __future__ import annotations

import numpy as np
import pytest

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
