"""Learning rules and schedules: gradient match, p = 1 limit, discrete grid, Fig. 1 collapse."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spicecl.bench import baseline_step
from spicecl.cli import main
from spicecl.errors import SpiceclError
from spicecl.learning import LearningConfig, Trainer, train
from spicecl.network import disordered_network, exp16, load_network
from spicecl.solver import NodalSystem
from spicecl.tasks import make_task


def _setup(seed=0, net=None, kind="regression", **kw):
    net = net or disordered_network(64, 143, 0)
    rng = np.random.default_rng(seed)
    return net, make_task(net, kind, rng, **kw), rng


def test_continuous_rule_is_minus_gamma_times_gradient_of_clamped_minus_free_power():
    net, task, rng = _setup(1, n_train=1)
    config = LearningConfig(gamma=1.0, eta=0.5)
    r = rng.uniform(1000, 5000, net.n_edges)
    tr = Trainer(net, [task], [config], [rng], r_init=r)
    tr.step()
    delta = tr.r[0] - r
    # Clamp values of this step, held fixed while R moves (the envelope theorem's setting).
    sy = NodalSystem(net, task.inputs, task.outputs, task.grounds)
    x, y = task.train_x, task.train_y
    vf_out = sy.node_voltages(r, x)[:, task.outputs]
    clamp = 0.5 * y + 0.5 * vf_out
    inc = net.incidence()

    def power_gap(rr):
        vf = sy.node_voltages(rr, x)[0]
        vc = sy.node_voltages(rr, x, clamp=clamp)[0]
        return np.sum((inc @ vc) ** 2 / rr) - np.sum((inc @ vf) ** 2 / rr)

    for i in np.argsort(-np.abs(delta))[:5]:
        h = 1e-3 * r[i]
        rp, rm = r.copy(), r.copy()
        rp[i] += h
        rm[i] -= h
        grad = (power_gap(rp) - power_gap(rm)) / (2 * h)
        assert delta[i] == pytest.approx(-grad, rel=1e-5)


def test_trainer_step_matches_the_per_example_sparse_lu_baseline():
    net, task, rng = _setup(2)
    config = LearningConfig()
    tr = Trainer(net, [task], [config], [rng])
    r = tr.r[0].copy()
    for _ in range(5):
        r = baseline_step(net, task, r, config)
        tr.step()
    assert np.max(np.abs(tr.r[0] - r) / r) < 1e-10


def test_p_one_is_synchronous_learning_bit_for_bit():
    net, task, _ = _setup(3)
    sync = train(net, task, LearningConfig(p=1.0), 7, 300)
    # The desynchronous machinery at p just below 1 draws a mask that is all True.
    almost = train(net, task, LearningConfig(p=float(np.nextafter(1.0, 0.0))), 7, 300)
    assert np.array_equal(sync.final_resistance, almost.final_resistance)
    assert np.array_equal(sync.test_error, almost.test_error)
    fixed = train(net, task, LearningConfig(p=1.0, p_mode="fixed"), 7, 300)
    assert np.array_equal(sync.final_resistance, fixed.final_resistance)


def test_bernoulli_p_updates_about_p_of_the_edges_and_fixed_mode_exactly_round_pe():
    net, task, _ = _setup(4)
    steps = 400
    h = train(net, task, LearningConfig(p=0.3), 1, steps)
    frac = h.updates[0] / (steps * net.n_edges)
    assert abs(frac - 0.3) < 4 * np.sqrt(0.3 * 0.7 / (steps * net.n_edges))
    h = train(net, task, LearningConfig(p=0.3, p_mode="fixed"), 1, steps)
    assert h.updates[0] == steps * round(0.3 * net.n_edges)


def test_batch_schedules_select_the_right_number_of_examples():
    from spicecl.learning import example_weights

    rng = np.random.default_rng(0)
    assert example_weights(LearningConfig(batch="single"), 20, rng).sum() == 1
    assert example_weights(LearningConfig(batch="fixed", batch_fraction=0.25), 20, rng).sum() == 5
    draws = [example_weights(LearningConfig(batch="bernoulli", batch_fraction=0.25), 20, rng).sum()
             for _ in range(2000)]
    assert abs(np.mean(draws) - 5) < 0.15
    assert np.all(example_weights(LearningConfig(), 20, rng) == 1)


def test_discrete_resistances_stay_on_the_128_level_grid():
    net, task, _ = _setup(5, net=exp16(), kind="allostery")
    config = LearningConfig(rule="discrete", p=0.5)
    h = train(net, task, config, 5, 500, n_snapshots=20)
    grid = config.r_wiper + np.arange(128) * config.r0
    for r in [h.final_resistance[0], *h.resistance[0]]:
        taps = (r - config.r_wiper) / config.r0
        assert np.allclose(taps, np.rint(taps), atol=1e-9)
        assert r.min() >= grid[0] - 1e-9 and r.max() <= grid[-1] + 1e-9
    assert h.final_taps is not None and h.final_taps.min() >= 0 and h.final_taps.max() <= 127


def test_discrete_end_stops_ignore_further_steps():
    net, task, _ = _setup(6, net=exp16(), kind="allostery")
    # A huge comparator bias makes every decision "up": all taps pile at the top end stop.
    config = LearningConfig(rule="discrete", sigma_max=100.0)
    h = train(net, task, config, 0, 200)
    assert np.all(h.final_taps == 127)
    # the top tap is the whole potentiometer: R_W + R_AB (a grid step of R_AB / 128 fell short)
    np.testing.assert_allclose(h.final_resistance, config.r_wiper + config.r_ab, rtol=1e-12)


def test_a_tie_between_clamped_and_free_drops_steps_down():
    """Eq. 10 steps up only when |dV_C| + sigma > |dV_F|: with sigma_max = 0, an edge between
    an input and a ground has the same drop in both states (a tie) and must step down."""
    net = exp16()
    assert tuple(net.edges[0]) == (0, 1)
    task = make_task(net, "allostery", np.random.default_rng(3), roles=([0], [8], [1]))
    tr = Trainer(net, [task], [LearningConfig(rule="discrete", sigma_max=0.0)], [0])
    dvf, dvc = tr.drops()
    assert dvf[0, 0, 0] == dvc[0, 0, 0] != 0
    before = tr.taps[0, 0]
    tr.step()
    assert tr.taps[0, 0] == before - 1


@pytest.mark.parametrize("fused", [True, False])
def test_the_step_clips_to_both_resistance_bounds(fused):
    """The fused K = 1 continuous step (the benchmarked path), and the step that K > 1
    networks (and a sparse one) take, keep every resistance in [r_min, r_max], pinning edges
    at both bounds when the rate is huge."""
    net, task, _ = _setup(2)
    config = LearningConfig(gamma=3e14, r_min=900.0, r_max=1100.0, r_init=1000.0)
    tr = (Trainer if fused else _GeneralPathTrainer)(net, [task], [config], [0])
    assert (tr._fused is not None) == fused
    for _ in range(5):
        tr.step()
    r = tr.r[0]
    assert r.min() >= 900.0 and r.max() <= 1100.0
    assert np.any(r == 900.0) and np.any(r == 1100.0)


def test_discrete_steps_stop_at_tap_zero():
    """The bottom end stop: the tie edge of the test above steps down every step (Eq. 10),
    from tap 2 to tap 0 (R = R_W) and no further."""
    net = exp16()
    task = make_task(net, "allostery", np.random.default_rng(3), roles=([0], [8], [1]))
    config = LearningConfig(rule="discrete", sigma_max=0.0)
    tr = Trainer(net, [task], [config], [0], r_init=config.r_wiper + 2 * config.r0)
    assert np.all(tr.taps == 2)
    taps = []
    for _ in range(4):
        tr.step()
        taps.append(int(tr.taps[0, 0]))
    assert taps == [1, 0, 0, 0]
    assert tr.r[0, 0] == config.r_wiper


def test_record_plan_records_every_step_of_a_short_run():
    from spicecl.learning import record_plan

    np.testing.assert_array_equal(record_plan(10, 200), np.arange(11))
    plan = record_plan(1000, 200)
    assert len(plan) == 201 and plan[0] == 0 and plan[-1] == 1000


def test_discrete_step_with_an_empty_batch_draw_moves_nothing():
    # a Bernoulli batch can include no example: no comparison, so no step (with the huge
    # bias below, a step would move every edge up)
    net, task, _ = _setup(6, net=exp16(), kind="allostery")
    config = LearningConfig(rule="discrete", sigma_max=100.0, batch="bernoulli",
                            batch_fraction=1e-9)
    h = train(net, task, config, 0, 50)
    assert np.array_equal(h.final_taps[0], config.tap_of(h.resistance[0][0]))
    assert np.array_equal(h.final_resistance[0], h.resistance[0][0])


def test_batched_training_equals_training_each_network_alone():
    net = disordered_network(64, 143, 0)
    seeds = np.random.SeedSequence(11).spawn(3)
    tasks = [make_task(net, "regression", np.random.default_rng(s)) for s in seeds]
    configs = [LearningConfig(p=p) for p in (1.0, 0.5, 0.2)]
    together = train(net, tasks, configs, [np.random.default_rng(s) for s in seeds], 200)
    for k in range(3):
        alone = train(net, tasks[k], configs[k], np.random.default_rng(seeds[k]), 200)
        assert np.allclose(together.final_resistance[k], alone.final_resistance[0],
                           rtol=1e-12, atol=0)


def test_batched_training_on_the_sparse_path_equals_training_each_network_alone():
    """K > 1 networks past the dense limit are solved one by one (no BatchedSystems)."""
    net = load_network("disordered:720:1500")
    seeds = np.random.SeedSequence(5).spawn(2)
    tasks = [make_task(net, "regression", np.random.default_rng(s)) for s in seeds]
    configs = [LearningConfig(p=1.0), LearningConfig(p=0.5)]
    tr = Trainer(net, tasks, configs, [0, 1])
    assert tr.systems[0].sparse and tr._batched is None
    together = train(net, tasks, configs, [np.random.default_rng(s) for s in seeds], 6)
    for k in range(2):
        alone = train(net, tasks[k], configs[k], np.random.default_rng(seeds[k]), 6)
        np.testing.assert_allclose(together.final_resistance[k], alone.final_resistance[0],
                                   rtol=1e-12, atol=0)
        np.testing.assert_allclose(together.test_error[k], alone.test_error[0], rtol=1e-12)
    assert not np.allclose(together.final_resistance, configs[0].r_init)


class _GeneralPathTrainer(Trainer):
    """Trainer forced off the fused single-network step (overriding the gradient does it)."""

    def power_gap_gradient(self, weights):
        return super().power_gap_gradient(weights)


@pytest.mark.parametrize("n_out,batch,p,p_mode", [
    (1, "full", 1.0, "bernoulli"), (2, "full", 0.6, "bernoulli"),
    (3, "bernoulli", 0.7, "fixed"), (2, "fixed", 1.0, "bernoulli"), (2, "single", 0.5, "bernoulli")])
def test_fused_single_network_step_equals_the_general_step(n_out, batch, p, p_mode):
    net, task, _ = _setup(12 + n_out, n_out=n_out, n_train=12)
    config = LearningConfig(batch=batch, batch_fraction=0.5, p=p, p_mode=p_mode, eta=0.3)
    fused = Trainer(net, [task], [config], [np.random.default_rng(3)])
    general = _GeneralPathTrainer(net, [task], [config], [np.random.default_rng(3)])
    assert fused._fused is not None and general._fused is None
    for _ in range(40):
        fused.step()
        general.step()
    assert np.array_equal(fused.updates, general.updates)
    assert np.allclose(fused.r, general.r, rtol=1e-12, atol=0)
    assert not np.allclose(fused.r, config.r_init)  # it did learn something


def test_fig1_collapse_scaled_error_against_steps_times_p():
    """Quick Fig. 1: curves of p = 0.25, 0.5, 1 against steps*p nearly coincide."""
    net = disordered_network(30, 62, 0)
    seeds = np.random.SeedSequence(7).spawn(6)
    tasks = [make_task(net, "regression", np.random.default_rng(s), n_train=10, n_test=20)
             for s in seeds]
    curves = {}
    for p in (1.0, 0.5, 0.25):
        steps = int(800 / p)
        h = train(net, tasks, [LearningConfig(p=p)] * 6,
                  [np.random.default_rng(s) for s in seeds], steps)
        curves[p] = (h.steps, np.exp(np.mean(np.log(h.test_scaled), axis=0)))
    grid = np.linspace(40, 800, 40)
    logc = {p: np.log10(np.interp(grid, s * p, c)) for p, (s, c) in curves.items()}
    logs = {p: np.log10(np.interp(grid, s, c)) for p, (s, c) in curves.items()}
    spread_collapsed = max(np.mean(np.abs(logc[p] - logc[1.0])) for p in (0.5, 0.25))
    spread_raw = max(np.mean(np.abs(logs[p] - logs[1.0])) for p in (0.5, 0.25))
    assert logc[1.0][-1] < -1.0  # it learns: scaled error below 0.1
    assert spread_collapsed < 0.2  # on average within a factor ~1.6 of each other
    assert spread_collapsed < spread_raw / 2


@pytest.mark.parametrize("kw,msg", [
    (dict(p=0.0), "--p must be in"), (dict(p=1.5), "--p must be in"),
    (dict(eta=0.0), "--eta must be in"), (dict(eta=2.0), "--eta must be in"),
    (dict(batch_fraction=0.0), "--batch-fraction"), (dict(rule="magic"), "--rule"),
    (dict(gamma=-1.0), "gamma"), (dict(r_init=-5.0), "--r-init"),
    (dict(r_init=1e300), r"--r-init must be in \[--r-min, --r-max\]"), (dict(r_init=1e-320), "--r-init"),
    (dict(r_min=100.0, r_max=100.0, r_init=100.0), "--r-min"), (dict(levels=1), "levels"),
    # tap 0 of a zero wiper was 0 ohm: ZeroDivisionError once an edge stepped down to it
    (dict(r_wiper=0.0), r"r_wiper must be in \[2.22507e-308, inf\), got 0.0"),
    (dict(r_min=1e-320, r_init=1.0), r"--r-min must be in \[2.22507e-308, inf\)"),
    (dict(levels=2**53 + 1), r"levels must be at most 2\*\*53"),  # (10**30: a numpy TypeError)
    (dict(p_mode="sometimes"), "--p-mode must be one of"), (dict(batch="most"), "--batch must be"),
    (dict(sigma_max=-0.01), r"--sigma-max must be in \[0, inf\)"),
    (dict(sigma_max=float("inf")), "--sigma-max"), (dict(r_max=float("inf")), "--r-max"),
    (dict(r_ab=0.0), r"r_ab must be in \(0, inf\)"), (dict(r_ab=float("inf")), "r_ab"),
])
def test_hyperparameters_are_validated(kw, msg):
    with pytest.raises(SpiceclError, match=msg):
        LearningConfig(**kw)


def test_hyperparameter_bounds_are_accepted_where_the_ranges_include_them():
    """The closed ends of the documented ranges: 2 levels (one tap step is all of R_AB),
    2**53 levels, r_init at r_min or r_max (the continuous rule starts there), sigma_max 0,
    any positive R_AB."""
    assert LearningConfig(levels=2, r_ab=300.0).r0 == 300.0
    assert LearningConfig(levels=2**53).levels == 2**53
    assert LearningConfig(sigma_max=0.0).sigma_max == 0.0
    assert LearningConfig(r_ab=1e-3).r_ab == 1e-3
    net, task, _ = _setup(4, net=exp16())
    for r_init in (10.0, 1e6):
        config = LearningConfig(r_min=10.0, r_max=1e6, r_init=r_init)
        assert np.all(Trainer(net, [task], [config], [0]).r == r_init)


def test_learning_config_is_frozen():
    import dataclasses

    config = LearningConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.p = 0.5  # a validated config stays valid


def test_train_cli_reaches_the_target_error_and_writes_outputs(tmp_path, capsys):
    argv = ["train", "--network", "disordered143", "--task", "regression", "--inputs", "2",
            "--outputs", "2", "--rule", "continuous", "--p", "1", "--steps", "4000",
            "--seed", "1", "--json", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["final_test_scaled_error"] < 0.01
    for key in ("final_train_scaled_error", "steps", "p", "seed"):
        assert key in summary
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"history.csv", "final_resistance.csv", "training.png", "manifest.json",
            "summary.json"} <= files
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["seed"] == 1 and "numpy" in manifest["versions"]


def test_discrete_rule_learns_exp16_allostery(capsys):
    finals = []
    for seed in range(1, 6):
        assert main(["train", "--network", "exp16", "--task", "allostery", "--rule", "discrete",
                     "--steps", "2000", "--seed", str(seed), "--json"]) == 0
        finals.append(json.loads(capsys.readouterr().out)["final_test_scaled_error"])
    assert np.mean(finals) < 0.7 and max(finals) < 1.0


@pytest.mark.parametrize("argv,msg", [
    (["--p", "0"], "--p must be in (0, 1]"),
    (["--p", "1.2"], "--p must be in (0, 1]"),
    (["--batch-fraction", "0"], "--batch-fraction must be in (0, 1]"),
    (["--batch", "single", "--batch-fraction", "0.5"],
     "--batch-fraction applies to --batch bernoulli or fixed, not --batch single"),
    (["--batch", "full", "--batch-fraction", "0.5"], "not --batch full (it would be ignored)"),
    (["--batch", "bernoulli"], "--batch bernoulli needs --batch-fraction b < 1"),
    (["--batch", "fixed"], "--batch fixed needs --batch-fraction b < 1"),
    (["--input-nodes", "0,,1", "--output-nodes", "3"],
     "--input-nodes '0,,1': an empty node id (a stray comma?)"),
    (["--sigma-max", "0.1"], "--sigma-max applies to --rule discrete, not --rule continuous"),
    (["--rule", "discrete", "--gamma", "1e9", "--r-max", "1e5"],
     "--gamma and --r-max apply to --rule continuous, not --rule discrete"),
    (["--task", "allostery", "--train-examples", "5"],
     "--train-examples applies to regression tasks; an allosteric task has one input pattern"),
    (["--eta", "1.5"], "--eta must be in (0, 1]"),
    (["--input-nodes", "0,1", "--output-nodes", "1,2", "--ground-nodes", "4"],
     "node 1 is given twice"),
    # (the ground used to be dropped silently: a regression task with no ground node)
    (["--input-nodes", "0,1", "--output-nodes", "7,8"],
     "--input-nodes and --output-nodes need --ground-nodes too (or --grounds 0"),
    (["--input-nodes", "0,1", "--output-nodes", "7,8", "--grounds", "1"], "need --ground-nodes"),
    (["--input-nodes", "0,1", "--output-nodes", "7,8", "--ground-nodes", ""],
     "need --ground-nodes"),
    (["--input-nodes", "0,1", "--output-nodes", "7,8", "--ground-nodes", "4", "--inputs", "3"],
     "--inputs 3 but --input-nodes names 2 nodes"),
    (["--input-nodes", "0,1", "--output-nodes", "7,8", "--ground-nodes", "4", "--grounds", "2"],
     "--grounds 2 but --ground-nodes names 1 node"),
    (["--input-nodes", "0,999", "--output-nodes", "3"], "no node with id '999'"),
    # each role option names itself, not only the network
    (["--input-nodes", "0,999", "--output-nodes", "3"],
     "--input-nodes '0,999': network exp16: no node with id '999'"),
    (["--input-nodes", "0,1", "--output-nodes", "x", "--ground-nodes", "4"],
     "--output-nodes 'x': network exp16: no node with id 'x'"),
    (["--input-nodes", "0,1", "--output-nodes", "7", "--ground-nodes", "4,-1"],
     "--ground-nodes '4,-1': network exp16: no node with id '-1'"),
    (["--network", "nope"], "unknown network"),
    (["--steps", "0"], "--steps must be >= 1"),
    (["--steps", "99999999999999999999"], "--steps must be <= 1e+12, got 99999999999999999999"),
    (["--r-init", "1e300"], "--r-init must be in [--r-min, --r-max] = [10, 1e+06] ohm"),
    (["--r-min", "6000"], "got 5089.370078740158 (the default: give --r-init too)"),
    (["--r-init", "1e-320"], "--r-init must be in [--r-min, --r-max]"),
    (["--r-min", "5000", "--r-max", "100"], "--r-min (5000) must be below --r-max (100)"),
    (["--gamma", "-1"], "--gamma must be in (0, inf), got -1"),
    (["--grounds", "-1"], "grounds must be >= 0, got -1"),
    # the count options name themselves (make_task's n_in, n_train, "regression needs ...")
    (["--grounds", "-1"], "--grounds must be >= 0, got -1"),
    (["--inputs", "-1"], "--inputs must be >= 1, got -1"),
    (["--inputs", "0"], "--inputs must be >= 1, got 0"),
    (["--outputs", "0"], "--outputs must be >= 1, got 0"),
    (["--train-examples", "-1"], "--train-examples must be >= 1, got -1"),
    (["--train-examples", "0"], "--train-examples must be >= 1, got 0"),
    (["--test-examples", "0"], "--test-examples must be >= 1, got 0"),
    (["--volts", "nan"], "--volts must be in (0, inf), got nan"),
    (["--volts", "inf"], "--volts must be in (0, inf), got inf"),
    (["--volts", "-1"], "--volts must be in (0, inf), got -1"),
    (["--volts", "0"], "--volts must be in (0, inf), got 0"),
    (["--p-mode", "fixed", "--p", "0.01"], "updates round(p * E) = 0 edges per step"),
    (["--volts", "1e300", "--gamma", "3e10"], "training diverged: the output error is not a finite number"),
    (["--volts", "1e150", "--gamma", "3e10"], "training diverged: the output error is not a finite number"),
    # exit 0 with NaN scaled errors and numpy warnings
    (["--volts", "1e-300", "--gamma", "3e10"], "the training error at step 0 is 0 V^2: the targets are already "
                            "met, or the input voltages (--volts) are so small"),
    # "nodal matrix is not positive definite (potrf info 6)"
    (["--r-min", "1e-300", "--r-max", "1e300", "--steps", "300"],
     "network exp16: resistances from 1e-300 to "),
    (["--r-min", "1e-300", "--r-max", "1e300", "--steps", "300"],
     "span too many decades for double precision"),
    (["--r-min", "1e-320"], "--r-min must be in [2.22507e-308, inf), got 1e-320"),
    # ZeroDivisionError: det S underflowed (the rate 3e10 ohm^3/V^2 is then far too large)
    (["--r-init", "1e-300", "--r-min", "1e-300"], "training diverged"),
])
def test_train_cli_bad_input_is_one_line_exit_2(capsys, argv, msg):
    base = ["train", "--network", "exp16", "--steps", "10"]
    assert main(base + argv) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.shared
def test_reference_network_trains_when_available():
    from pathlib import Path

    ref = Path(__file__).resolve().parents[2] / "shared/reference/networks/data_N00064_Lp0.0100_r1.txt"
    if not ref.exists():
        pytest.skip("../shared reference networks absent")
    net = load_network(str(ref))
    seeds = np.random.SeedSequence(0).spawn(4)
    tasks = [make_task(net, "regression", np.random.default_rng(s)) for s in seeds]
    h = train(net, tasks, LearningConfig(), 0, 3000)
    assert np.median(h.test_scaled[:, -1]) < 0.1


def test_per_edge_sigma_is_quenched_and_per_comparison_sigma_is_redrawn():
    net, task, _ = _setup(7, net=exp16(), kind="allostery")
    rng = np.random.default_rng(3)
    tr = Trainer(net, [task], [LearningConfig(rule="discrete", sigma_mode="per-edge")], [rng])
    state = rng.bit_generator.state
    first = tr.comparator_bias(1, net.n_edges)
    for _ in range(5):
        tr.step()
    assert rng.bit_generator.state == state  # p = 1, full batch, fixed sigma: nothing drawn
    assert np.array_equal(tr.comparator_bias(1, net.n_edges), first)
    assert 0 <= first.min() and first.max() <= 0.05 and first.std() > 0
    tr2 = Trainer(net, [task], [LearningConfig(rule="discrete")], [np.random.default_rng(3)])
    assert not np.array_equal(tr2.comparator_bias(1, 16), tr2.comparator_bias(1, 16))
    with pytest.raises(SpiceclError, match="--sigma-mode"):
        LearningConfig(sigma_mode="sometimes")


def test_network_resistances_outside_the_continuous_range_are_an_error(tmp_path, capsys):
    from spicecl.netio import graphml_bytes

    net = exp16()
    for r, shown in ((1e300, "1e+300"), (1e-320, "9.99989e-321")):
        path = tmp_path / "big.graphml"
        path.write_bytes(graphml_bytes(net, np.full(net.n_edges, r)))
        assert main(["train", "--network", str(path), "--steps", "2"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"initial resistance {shown} ohm of edge 0 is outside [r_min, r_max]" in err
    # the discrete rule maps any resistance to the nearest digipot tap, and says so
    assert main(["train", "--network", str(path), "--steps", "2", "--rule", "discrete"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("spicecl: warning: 16 of 16 resistances of network big.graphml lie "
                          "outside the digipot range [50, 10050] ohm (e.g. edge 0: 9.99989e-321 ohm)")
    path.write_bytes(graphml_bytes(net, np.full(net.n_edges, 10050.0 + 39)))  # < half a tap
    assert main(["train", "--network", str(path), "--steps", "2", "--rule", "discrete"]) == 0
    assert capsys.readouterr().err == ""
    # a network of 2 Mohm resistors trains once the continuous range holds it
    path.write_bytes(graphml_bytes(net, np.full(net.n_edges, 2e6)))
    assert main(["train", "--network", str(path), "--steps", "2"]) == 2
    assert "(spicecl train --r-min, --r-max)" in capsys.readouterr().err
    # (R -> s R with gamma -> s^3 gamma is the same dynamics: s ~ 400 here)
    assert main(["train", "--network", str(path), "--steps", "200", "--r-max", "1e9",
                 "--gamma", "1e18", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["edge_updates"] == 200 * net.n_edges and out["final_train_scaled_error"] < 0.7


def test_train_out_writes_history_resistances_and_summary_consistently(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--network", "exp16", "--steps", "50", "--seed", "2", "--out",
                 str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = [line.split(",") for line in (out / "history.csv").read_text().splitlines()]
    assert rows[0] == ["step", "train_error", "test_error", "train_scaled_error",
                       "test_scaled_error"]
    first, last = [float(v) for v in rows[1]], [float(v) for v in rows[-1]]
    assert first[0] == 0 and first[3:] == [1.0, 1.0]
    assert first[2] == pytest.approx(summary["initial_test_error"], rel=1e-9)
    assert last[0] == 50
    assert last[1:] == pytest.approx([summary["final_train_error"], summary["final_test_error"],
                                      summary["final_train_scaled_error"],
                                      summary["final_test_scaled_error"]], rel=1e-9)
    r_final = np.loadtxt(out / "final_resistance.csv", delimiter=",", skiprows=1,
                         usecols=3)
    with np.load(out / "snapshots.npz") as z:
        assert z["steps"][0] == 0 and z["steps"][-1] == 50
        np.testing.assert_allclose(r_final, z["resistance"][-1], rtol=1e-9)
        assert not np.allclose(r_final, z["resistance"][0])  # learning moved them
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 2 and manifest["config"]["learning"]["rule"] == "continuous"


def test_tap_of_is_the_nearest_tap_clipped_to_the_grid():
    c = LearningConfig(rule="discrete")
    grid = c.r_wiper + np.arange(c.levels) * c.r0
    r = np.array([grid[10] + 0.4 * c.r0, grid[10] + 0.6 * c.r0, grid[10] - 0.4 * c.r0,
                  grid[0] - 5 * c.r0, grid[-1] + 5 * c.r0])
    assert c.tap_of(r).tolist() == [10, 11, 10, 0, 127]


def test_sigma_is_drawn_per_comparison_uniform_on_zero_to_sigma_max():
    # Eq. 10: one sigma per edge and example (comparison), U[0, sigma_max], fresh every step
    net, task, _ = _setup(3, net=exp16(), kind="regression")
    tr = Trainer(net, [task], [LearningConfig(rule="discrete", sigma_max=0.05)],
                 [np.random.default_rng(0)])
    s1, s2 = tr.comparator_bias(20, net.n_edges), tr.comparator_bias(20, net.n_edges)
    assert s1.shape == (1, 20, 16)
    assert len(np.unique(s1)) == s1.size and not np.array_equal(s1, s2)  # no shared draws
    both = np.concatenate([s1.ravel(), s2.ravel()])
    assert both.min() >= 0 and both.max() <= 0.05
    assert abs(both.mean() - 0.025) < 0.003  # 640 draws: s.e. 0.0006
    # per-edge mode: drawn once per edge, the same for every example and step
    tr = Trainer(net, [task], [LearningConfig(rule="discrete", sigma_mode="per-edge")],
                 [np.random.default_rng(0)])
    q1, q2 = tr.comparator_bias(20, 16), tr.comparator_bias(20, 16)
    assert np.array_equal(q1, q2) and np.all(q1 == q1[:, :1, :]) and len(np.unique(q1)) == 16


def test_r_init_with_a_network_that_has_resistances_is_refused(tmp_path, capsys):
    # training starts from the file's resistances: --r-init was silently ignored
    from spicecl.netio import graphml_bytes

    path = tmp_path / "r.graphml"
    net = exp16()
    path.write_bytes(graphml_bytes(net, np.full(net.n_edges, 4000.0)))
    assert main(["train", "--network", str(path), "--r-init", "3000", "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spicecl: error: --r-init: network ") and err.count("\n") == 1
    assert err.endswith(" has its own resistances, and training starts from them (it would be "
                        "ignored)\n")
    assert main(["train", "--network", "exp16", "--r-init", "3000", "--steps", "2"]) == 0


def test_train_warns_when_training_raises_the_error(tmp_path, capsys):
    """A user's 1-2 kohm network at the default rate (tuned for ~5 kohm) ended at scaled error
    2.7 with exit 0 and no word. The warning names the R^3-scaled rate, which then learns."""
    from spicecl.netio import graphml_bytes
    from spicecl.network import Network

    net = Network("my", tuple("ABCDE"), [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0), (0, 2),
                                         (1, 3), (2, 4)], np.random.default_rng(0).random((5, 2)))
    path = tmp_path / "my.graphml"
    path.write_bytes(graphml_bytes(net, np.linspace(1000, 2000, 8)))
    base = ["train", "--network", str(path), "--steps", "100", "--seed", "1", "--json"]
    assert main(base) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["final_train_scaled_error"] > 1
    gamma = 3e10 * (1500 / 5089.4) ** 3
    assert (f"training raised the training error (scaled error "
            f"{json.loads(cap.out)['final_train_scaled_error']:.4g} > 1): --gamma 3e+10 is too "
            f"large for this network. The rate scales with R^3: for resistances near 1500 ohm, "
            f"{gamma:.3g} is the equivalent") in cap.err
    assert main(base + ["--gamma", f"{gamma:.3g}"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["final_train_scaled_error"] < 0.2 and "warning" not in cap.err
    # near the default resistances the R^3 rule would repeat the rate: a smaller one instead
    assert main(["train", "--network", "exp16", "--steps", "100", "--seed", "1", "--gamma",
                 "1e13"]) == 0
    assert "--gamma 1e+13 is too large for this task; try 1e+12" in capsys.readouterr().err
    # the discrete rule at inputs far below the comparator bias: a hint at --volts
    assert main(["train", "--network", "exp16", "--task", "allostery", "--rule", "discrete",
                 "--steps", "300", "--seed", "1", "--volts", "0.01"]) == 0
    err = capsys.readouterr().err
    assert "training did not change the training error (scaled error 1); with inputs up to " \
           "--volts 0.01 the comparator bias" in err
    # a continuous rate too small to move anything in 3 steps
    assert main(["train", "--network", "exp16", "--steps", "3", "--seed", "1", "--gamma",
                 "1e-30"]) == 0
    assert "did not change the training error (scaled error 1): --gamma 1e-30 is too small" \
        in capsys.readouterr().err
    # hardly any edge picked: neither the rate nor the bias is to blame
    assert main(["train", "--network", "exp16", "--p", "0.01", "--steps", "1", "--seed", "1"]) \
        == 0
    assert "--p 0.01 x --steps 1 x 16 edges is about 0.16 edge updates; give more --steps or " \
        "a larger --p" in capsys.readouterr().err


def test_train_warns_when_the_error_rises_far_above_its_minimum(capsys):
    """The README's first train example reached scaled error 4e-9 at step ~2200 and ended at
    2e-5 without a word: an edge at the 10-ohm floor, where the step gamma / R^2 overshoots.
    The warning names the edge and what to change; at a third of the rate the same task
    keeps learning and nothing is said."""
    base = ["train", "--network", "disordered143", "--task", "regression", "--inputs", "2",
            "--outputs", "2", "--rule", "continuous", "--p", "1", "--steps", "4000", "--seed",
            "1", "--json"]
    assert main(base) == 0
    cap = capsys.readouterr()
    s = json.loads(cap.out)
    assert s["edges_at_r_min"] == 1
    assert cap.err.count("\n") == 1
    assert cap.err.startswith("spicecl: warning: the training error rose ")
    assert ("-fold after its minimum (scaled 4.1e-09 at step 2180) to 2.2e-05: the continuous "
            "step --gamma / R^2 is too large for the smallest resistances (edge 22, between nodes 5 "
            "and 28, ends at 10 ohm; --r-min 10); try a smaller --gamma") in cap.err
    assert main(base + ["--gamma", "1e10"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["final_train_scaled_error"] < 1e-5 and cap.err == ""


@pytest.mark.parametrize("argv,msg", [
    (["--p-mode", "fixed", "--p", "0.7"],
     "--p-mode fixed updates round(0.7 x 16 edges) = 11 edges per step: p-bar = 0.6875, "
     "not 0.7"),
    (["--batch", "fixed", "--batch-fraction", "0.01"],
     "--batch fixed uses 1 of the 20 training examples per step: b-bar = 0.05, not 0.01"),
    (["--p-mode", "fixed", "--p", "0.75"], None),  # 12 of 16 edges: exact
    (["--batch", "fixed", "--batch-fraction", "0.25"], None),  # 5 of 20 examples: exact
])
def test_train_says_when_a_fixed_fraction_is_rounded(capsys, argv, msg):
    assert main(["train", "--network", "exp16", "--steps", "3", *argv]) == 0
    err = capsys.readouterr().err
    if msg is None:
        assert "warning" not in err
    else:
        assert f"spicecl: warning: {msg}\n" == err


def test_trainer_draws_equal_the_per_network_schedule_functions():
    """The K networks' example weights and edge gates, drawn and applied together, are
    example_weights and edge_mask of each network's own generator, draw for draw."""
    from spicecl.learning import edge_mask, example_weights

    net = disordered_network(64, 143, 0)
    tasks = [make_task(net, "regression", np.random.default_rng(s)) for s in range(5)]
    gates = [(1.0, "bernoulli"), (0.3, "bernoulli"), (0.5, "fixed"), (0.2, "fixed"),
             (1.0, "fixed")]
    for batch in ("single", "bernoulli", "fixed"):
        configs = [LearningConfig(p=p, p_mode=mode, batch=batch, batch_fraction=0.3)
                   for p, mode in gates]
        tr = Trainer(net, tasks, configs, [np.random.default_rng(s) for s in range(5)])
        ref = [np.random.default_rng(s) for s in range(5)]
        for _ in range(5):
            w = tr._example_weights()
            delta = np.ones((5, 143))
            tr._gate_all(delta)
            for i, (c, g) in enumerate(zip(configs, ref)):
                assert np.array_equal(w[i], example_weights(c, 20, g))
                m = edge_mask(c, 143, g)
                assert np.array_equal(delta[i], np.ones(143) if m is None else m * 1.0)
        assert all(a.bit_generator.state == b.bit_generator.state
                   for a, b in zip(tr.rngs, ref))


@pytest.mark.parametrize("make", [lambda: np.random.default_rng(1),
                                  lambda: np.random.SeedSequence(1)])
def test_one_generator_or_seed_sequence_seeds_several_networks(make):
    """train() with one Generator or SeedSequence for K > 1 networks spawns K streams from it
    (it was a TypeError from SeedSequence(Generator)); reproducible, and the streams differ."""
    net = load_network("exp16")
    t = make_task(net, "regression", np.random.default_rng(0))
    cfg = LearningConfig(p=0.5)
    a = train(net, [t, t], cfg, make(), 20)
    b = train(net, [t, t], cfg, make(), 20)
    assert np.array_equal(a.final_resistance, b.final_resistance)
    assert not np.array_equal(a.final_resistance[0], a.final_resistance[1])


def test_train_counts_the_edges_pinned_at_a_bound(tmp_path, capsys):
    """Continuous rule: summary.json says how many edges ended at --r-min / --r-max (a user's
    run ended with edges at 10 ohm, which no digipot has, without a word)."""
    import csv
    import json

    from spicecl.cli import main

    assert main(["train", "--network", "exp16", "--steps", "300", "--seed", "1", "--r-max",
                 "20000", "--out", str(tmp_path)]) == 0
    s = json.loads((tmp_path / "summary.json").read_text())
    with open(tmp_path / "final_resistance.csv") as fh:
        r = np.array([float(row["resistance_ohm"]) for row in csv.DictReader(fh)])
    assert s["edges_at_r_max"] == int(np.sum(r >= 20000)) > 0
    assert s["edges_at_r_min"] == int(np.sum(r <= 10))
    capsys.readouterr()


def _exp16_spread(small: float):
    """exp16's resistances, 1 kohm but for edge 1-2 (two free nodes of _ROLES) at ``small``."""
    net = exp16()
    r = np.full(net.n_edges, 1e3)
    r[[i for i, (a, b) in enumerate(net.edges) if {a, b} == {1, 2}][0]] = small
    return net, r


_ROLES = ([0], [4], [8])


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("rule", ["continuous", "discrete"])
def test_training_refuses_resistances_spread_beyond_double_precision(rule, k):
    # 1e-12 ohm between two free nodes, the rest 1 kohm: the voltages are off by ~1e-2, and
    # training went on with them silently (one network: the fused step; two: batched)
    def run(small):  # (the discrete rule: `small` is the wiper, tap 0)
        net, r = _exp16_spread(small)
        tasks = [make_task(net, "regression", s, roles=_ROLES) for s in range(k)]
        config = (LearningConfig(r_min=small) if rule == "continuous" else
                  LearningConfig(rule="discrete", r_wiper=small))
        train(net, tasks, config, 0, 5, r_init=r)

    with pytest.raises(SpiceclError, match=r"^network exp16: resistances from 1e-12 to \S+ ohm "
                                           r"span too many decades for double precision"):
        run(1e-12)
    run(1e-3)  # six decades: fine


@pytest.mark.parametrize("rule", ["continuous", "discrete"])
def test_training_checks_precision_only_where_the_resistances_allow_a_loss(monkeypatch, rule):
    """The check doubled the time of sparse networks, where a default run cannot lose
    precision (resistances within 1e5 of each other): it runs only above UNCHECKED_SPREAD."""
    import spicecl.solver as solver
    from spicecl.learning import UNCHECKED_SPREAD

    calls = []
    real = solver.check_precision
    monkeypatch.setattr(solver, "check_precision", lambda *a, **k: calls.append(1) or real(*a, **k))
    net = exp16()
    task = make_task(net, "regression", 0, roles=_ROLES)
    config = LearningConfig(rule=rule)
    train(net, [task], config, 0, 20)
    assert calls == []
    low = config.r_init / (10 * UNCHECKED_SPREAD)
    wide = (LearningConfig(r_min=low) if rule == "continuous" else
            LearningConfig(rule="discrete", r_wiper=low))
    r0 = np.full(net.n_edges, config.r_init)
    r0[0] = 2 * low
    train(net, [task], wide, 0, 20, r_init=r0)
    assert calls


@pytest.mark.parametrize("clock_free", [False, True])
def test_a_task_whose_targets_are_already_met_is_refused(clock_free):
    # the scaled error (error / initial error) was 0/0: NaN, with a numpy warning
    from dataclasses import replace

    from spicecl.hardware import HardwareConfig, HardwareParts, train_clock_free

    net = exp16()
    task = make_task(net, "regression", 1, roles=_ROLES)
    config = LearningConfig(rule="discrete")
    m = NodalSystem(net, *_ROLES).response(np.full(net.n_edges, config.r_init)).M
    met = replace(task, train_y=task.train_x @ m.T, test_y=task.test_x @ m.T)
    which = "" if clock_free else r" of network 1 \(of 2\)"
    with pytest.raises(SpiceclError, match=rf"^the training error{which} at step 0 is 0 V\^2: "
                                           r"the targets are already met"):
        if clock_free:
            train_clock_free(net, met, config, 0, 2, hardware=HardwareConfig.ideal(),
                             parts=HardwareParts.draw(net.n_edges, 0, config))
        else:
            train(net, [task, met], config, 0, 5)


def test_trainer_refuses_lists_that_do_not_match_and_mixed_rules_or_task_shapes():
    net, task, _ = _setup(0, net=exp16())
    cfg = LearningConfig()
    for tasks, configs, seeds in (([task, task], [cfg], [0, 1]), ([task], [cfg], [0, 1]),
                                  ([], [], [])):
        with pytest.raises(SpiceclError, match="must have the same non-zero length"):
            Trainer(net, tasks, configs, seeds)
    for other in (LearningConfig(rule="discrete"), LearningConfig(batch="single")):
        with pytest.raises(SpiceclError, match="must share rule and batch mode"):
            Trainer(net, [task, task], [cfg, other], [0, 1])
    smaller = make_task(net, "regression", np.random.default_rng(0), n_train=5)
    with pytest.raises(SpiceclError, match="need tasks of the same shape"):
        Trainer(net, [task, smaller], [cfg, cfg], [0, 1])


def test_errors_report_non_finite_resistances_or_errors_as_divergence():
    """Trainer.errors() checks what the steps do not: resistances (NaN after an overflowing
    update) and an output error that is not finite on either set."""
    net, task, _ = _setup(0, net=exp16())
    for spoil in ("r", "test", "train"):
        tr = Trainer(net, [task], [LearningConfig()], [0])
        assert np.all(np.isfinite(tr.errors()))
        if spoil == "r":
            tr.r[0, 3] = np.nan
            tr._resp = None
        elif spoil == "test":
            tr.tx = tr.tx * 1e200  # its squared error overflows; the training set's does not
        else:
            tr.x = tr.x * 1e200
        # (train() calls it so: numpy's overflow warnings would only add noise)
        with np.errstate(over="ignore", invalid="ignore"), \
                pytest.raises(SpiceclError, match="^training diverged"):
            tr.errors()


def test_one_record_and_one_snapshot_are_the_first_and_the_last_step():
    net, task, _ = _setup(0, net=exp16())
    h = train(net, task, LearningConfig(), 0, 7, n_records=1, n_snapshots=1)
    assert h.steps.tolist() == [0, 7] and h.snapshot_steps.tolist() == [0, 7]
    assert np.array_equal(h.resistance[0, -1], h.final_resistance[0])


def test_train_runs_dense_systems_on_one_blas_thread_and_gives_the_limit_back():
    from threadpoolctl import threadpool_info, threadpool_limits

    def threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    seen = []

    class Spy(Trainer):
        def step(self):
            seen.append(threads())
            super().step()

    net, task, _ = _setup(0, net=exp16())
    with threadpool_limits(limits=2, user_api="blas"):  # (whatever earlier code left)
        before = threads()
        if max(before, default=1) < 2:
            pytest.skip("this BLAS runs one thread only")
        train(net, task, LearningConfig(), 0, 3, trainer_cls=Spy)
        assert threads() == before
    assert seen == [[1] * len(before)] * 3


def test_check_initial_errors_takes_every_positive_normal_number():
    from spicecl.learning import check_initial_errors
    from spicecl.solver import TINY

    check_initial_errors(np.array([TINY, 1.0]), np.array([1e300, TINY]))
    for bad in (TINY / 2, 0.0, np.nan):
        with pytest.raises(SpiceclError, match=r"^the test error of network 1 \(of 2\) at step 0"):
            check_initial_errors(np.array([1.0, 1.0]), np.array([1.0, bad]))


def test_a_met_task_is_refused_before_any_step_whatever_the_records():
    net = exp16()
    task = make_task(net, "regression", 1, roles=_ROLES)
    config = LearningConfig()
    m = NodalSystem(net, *_ROLES).response(np.full(net.n_edges, config.r_init)).M
    from dataclasses import replace

    met = replace(task, train_y=task.train_x @ m.T, test_y=task.test_x @ m.T)

    class NoStep(Trainer):
        def step(self):
            raise AssertionError("stepped before the step-0 errors were checked")

    for n_records in (1, 3, 200):
        with pytest.raises(SpiceclError, match="at step 0 is 0 V"):
            train(net, met, config, 0, 100, n_records=n_records, trainer_cls=NoStep)


def test_history_summary_is_the_last_record_of_network_k_and_train_is_quiet(capsys):
    net, _, _ = _setup(0, net=exp16())
    tasks = [make_task(net, "regression", np.random.default_rng(s)) for s in (1, 2)]
    h = train(net, tasks, LearningConfig(), 0, 12, n_records=3)
    assert h.steps.tolist() == [0, 4, 8, 12]
    assert h.summary() == h.summary(0) != h.summary(1)
    for k in (0, 1):
        s = h.summary(k)
        assert s["steps"] == 12
        assert s["final_test_scaled_error"] == h.test_error[k, -1] / h.test_error[k, 0]
        assert s["final_train_scaled_error"] == h.train_error[k, -1] / h.train_error[k, 0]
        assert s["initial_test_error"] == h.test_error[k, 0]
        assert s["edge_updates"] == 12 * net.n_edges  # p = 1: every edge, every step
    assert capsys.readouterr().err == ""  # no progress bar unless asked



@pytest.mark.parametrize("k", [1, 2])
def test_updates_that_overflow_are_divergence_on_the_step_of_several_networks(k):
    """Networks trained together (and one off the fused step) multiply by gamma / R^2 last:
    at --volts 1e150 their updates of 1e300 ohm or more were clipped to r_min or r_max
    without an error, where one network alone reported "training diverged"."""
    net = exp16()
    tasks = [make_task(net, "regression", np.random.default_rng(i), volts=v)
             for i, v in enumerate([1.0, 1e150][-k:])]

    class Unfused(Trainer):  # one network on the step of several (power_gap_gradient)
        def power_gap_gradient(self, weights):
            return super().power_gap_gradient(weights)

    which = r" of network 1 \(of 2\)" if k == 2 else ""
    with pytest.raises(SpiceclError, match=fr"^training diverged: the updates dR{which} are "
                                           r"not finite numbers \(input volts or learning "
                                           r"rate gamma too large\?\)$"):
        train(net, tasks, LearningConfig(), 0, 10, trainer_cls=Unfused)


def test_a_diverged_network_of_several_is_named():
    net, task, _ = _setup(0, net=exp16())
    tr = Trainer(net, [task] * 3, [LearningConfig()] * 3, [0, 1, 2])
    tr.r[2, 3] = np.nan
    with pytest.raises(SpiceclError, match=r"^training diverged: the output error of network 2 "
                                           r"\(of 3\) is not a finite number"):
        tr.errors()


def test_discrete_step_allocates_no_arrays_of_every_comparison():
    """The discrete step works in kept (K, B, E) arrays: new ones of that size at every step
    cost page faults (the allocator hands them back to the system between steps), which made
    the step up to 1.6 times slower (5.3 such arrays at its peak before)."""
    import tracemalloc

    net = disordered_network(64, 143, 0)
    seeds = np.random.SeedSequence(1).spawn(4)
    tasks = [make_task(net, "regression", np.random.default_rng(s), n_train=50) for s in seeds]
    tr = Trainer(net, tasks, [LearningConfig(rule="discrete", p=0.5)] * 4,
                 [np.random.default_rng(s) for s in seeds])
    tr.step()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tr.step()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < 4 * 50 * net.n_edges * 8  # less than one (K, B, E) array


def test_drops_into_given_arrays_are_the_drops():
    net, task, _ = _setup(2, volts=5.0)
    tr = Trainer(net, [task], [LearningConfig(rule="discrete")], [np.random.default_rng(0)])
    out = np.full((2, 1, 20, net.n_edges), np.nan)
    dvf, dvc = tr.drops(out=out)
    assert dvf.base is out and dvc.base is out
    fresh = tr.drops()
    assert np.array_equal(dvf, fresh[0]) and np.array_equal(dvc, fresh[1])
    sigma = tr.comparator_bias(20, net.n_edges, out=out[0])
    assert sigma.base is out
    again = Trainer(net, [task], [LearningConfig(rule="discrete")], [np.random.default_rng(0)])
    assert np.array_equal(sigma, again.comparator_bias(20, net.n_edges))


def test_train_default_gamma_follows_the_input_scale(capsys):
    """Eq. 2's step grows as V^2: the default --gamma is 3e10 / VOLTS^2, so inputs up to 4 V
    train as those up to 1 V do, to the bit (a power of 2 scales exactly; before: 3e10 at any
    --volts, 16 times the 1 V rate at 4 V); a given --gamma is kept."""
    def final(*extra):
        assert main(["train", "--network", "exp16", "--steps", "300", "--seed", "2",
                     "--json", *extra]) == 0
        return json.loads(capsys.readouterr().out)["final_test_scaled_error"]

    one = final()
    assert final("--volts", "4") == one
    assert final("--volts", "5", "--gamma", "1.2e9") == final("--volts", "5")
    assert final("--volts", "4", "--gamma", "3e10") != pytest.approx(one, rel=1e-3)
