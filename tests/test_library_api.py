"""The library used from Python (a notebook), not through the command line: argument types,
seeds, shapes and the arrays a caller can reach."""

import numpy as np
import pytest

from spicecl.errors import SpiceclError


@pytest.mark.parametrize("value", ["ten", None, 10.5, "10", True])
def test_check_count_refuses_what_is_not_an_integer_naming_the_parameter(value):
    from spicecl.errors import check_count

    with pytest.raises(SpiceclError, match=r"^--steps must be an integer, got "):
        check_count("--steps", value, 1)


def test_check_count_takes_numpy_integers_and_integral_floats():
    from spicecl.errors import check_count

    assert check_count("--steps", np.int64(7), 1) == 7
    assert check_count("--steps", 1e3, 1) == 1000
    assert type(check_count("--steps", np.int32(3), 1)) is int


@pytest.mark.parametrize("value", ["0.5", b"0.5", None, True])
def test_check_range_refuses_what_is_not_a_number(value):
    from spicecl.errors import check_range

    with pytest.raises(SpiceclError, match=r"^--p must be a number, got "):
        check_range("--p", value, 0, 1)


def test_check_range_takes_numpy_scalars():
    from spicecl.errors import check_range

    assert check_range("--p", np.float32(0.5), 0, 1) == 0.5
    assert check_range("--p", np.int64(1), 0, 1) == 1.0


def test_learning_config_keeps_plain_python_numbers():
    """numpy scalars (p from np.linspace, levels from an array) and levels=128.0: the config
    holds Python floats and ints, so it trains (a float ``levels`` made the tap clip fail with
    a casting error) and its to_dict() goes into JSON (np.float32 and np.int64 do not)."""
    import json

    from spicecl.learning import LearningConfig, train
    from spicecl.network import exp16
    from spicecl.tasks import make_task

    cfg = LearningConfig(rule="discrete", p=np.float32(0.5), eta=np.float64(0.5),
                         levels=128.0, r_ab=np.int64(10_000), sigma_max=np.float32(0.05))
    assert type(cfg.levels) is int and cfg.levels == 128
    assert type(cfg.p) is float and type(cfg.r_ab) is float
    json.dumps(cfg.to_dict())
    net = exp16()
    task = make_task(net, "allostery", np.random.default_rng(0))
    ref = train(net, task, LearningConfig(rule="discrete", p=0.5, levels=128), 1, 20)
    h = train(net, task, LearningConfig(rule="discrete", p=0.5, levels=128.0), 1, 20)
    assert np.array_equal(h.final_taps, ref.final_taps)
    assert LearningConfig(p=1).p == 1 and type(LearningConfig(p=1).p) is int  # as given


def test_learning_config_refuses_a_string_for_a_number():
    from spicecl.learning import LearningConfig

    with pytest.raises(SpiceclError, match=r"^--p must be a number, got '0.5'$"):
        LearningConfig(p="0.5")
    with pytest.raises(SpiceclError, match=r"^levels must be an integer >= 2, got '128'$"):
        LearningConfig(levels="128")


def _grid():
    from spicecl.network import exp16

    return exp16()


def test_network_refuses_edges_and_positions_of_the_wrong_layout():
    """A (2, E) edge array (the edge_index layout of graph libraries) or (2, N) positions
    were reshaped to (E, 2) and (N, 2) row by row: another graph, silently."""
    from spicecl.network import Network

    base = _grid()
    ids = base.node_ids
    # (2, E) for a path 0-1-2-3-4-5-6: reshaped it made the edges 0-1, 2-3, 4-5, 1-2, ...
    path = np.array([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]])
    with pytest.raises(SpiceclError, match=r"^network g: edges must have shape \(E, 2\), "
                                           r"got \(2, 6\)"):
        Network("g", ids, path, base.positions)
    with pytest.raises(SpiceclError, match=r"^network g: positions must have shape \(9, 2\), "
                                           r"got \(2, 9\)$"):
        Network("g", ids, base.edges, base.positions.T.copy())
    with pytest.raises(SpiceclError, match=r"^network g: positions must have shape \(9, 2\), "
                                           r"got \(9, 3\)$"):
        Network("g", ids, base.edges, np.zeros((9, 3)))
    with pytest.raises(SpiceclError, match=r"^network g: edges must be integer node indices"):
        Network("g", ids, base.edges + 0.5, base.positions)
    # lists and integral floats are fine
    net = Network("g", ids, base.edges.astype(float).tolist(), base.positions.tolist())
    assert np.array_equal(net.edges, base.edges) and net.edges.dtype == np.int64


def test_network_node_ids_are_strings():
    """Integer ids (range(N)) were kept as ints, so node_index(3), which looks up str(3),
    found nothing, and GraphML export failed."""
    from spicecl.netio import graphml_bytes
    from spicecl.network import Network

    base = _grid()
    net = Network("g", range(9), base.edges, base.positions)
    assert net.node_ids == tuple(str(i) for i in range(9))
    assert net.node_index(3) == 3
    graphml_bytes(net)


def test_network_arrays_are_read_only_copies():
    """The Network kept the caller's edge array (a later change to it changed the network,
    past the checks) and exposed writable arrays (cached built-in networks are shared)."""
    from spicecl.network import Network

    base = _grid()
    edges = base.edges.copy()
    r = np.full(base.n_edges, 1e3)
    net = Network("g", base.node_ids, edges, base.positions, r)
    edges[0] = (0, 0)
    r[0] = -1.0
    assert net.edges[0].tolist() != [0, 0] and net.resistance[0] == 1e3
    for a in (net.edges, net.positions, net.resistance, base.edges, base.positions):
        with pytest.raises(ValueError, match="read-only"):
            a[0] = 0


def test_make_task_takes_a_seed_or_a_generator():
    """make_task took only a Generator: an int seed gave AttributeError: 'int' object has no
    attribute 'permutation'."""
    from spicecl.tasks import make_task

    net = _grid()
    a = make_task(net, "regression", 3)
    b = make_task(net, "regression", np.random.default_rng(3))
    for f in ("inputs", "outputs", "grounds", "train_x", "train_y", "test_x", "test_y"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
    assert make_task(net, "allostery", np.random.SeedSequence(3)).n_out == 2
    with pytest.raises(SpiceclError, match=r"^rng must be a seed \(int\), a "):
        make_task(net, "regression", "3")


@pytest.mark.parametrize("name", ["n_in", "n_out", "n_ground", "n_train", "n_test"])
def test_make_task_counts_must_be_integers(name):
    """n_in=2.0 gave 'slice indices must be integers', n_train=2.5 'float object cannot be
    interpreted as an integer'."""
    from spicecl.tasks import make_task

    with pytest.raises(SpiceclError, match=rf"^{name} must be an integer, got 2.5$"):
        make_task(_grid(), "regression", 0, **{name: 2.5})
    assert make_task(_grid(), "regression", 0, **{name: np.int64(1)}) is not None


@pytest.mark.parametrize("rule", ["continuous", "discrete"])
def test_train_checks_r_init(rule):
    """r_init of the wrong length gave numpy's 'operands could not be broadcast together with
    remapped shapes'; a negative or NaN r_init for the discrete rule was snapped to a tap."""
    from spicecl.learning import LearningConfig, train
    from spicecl.tasks import make_task

    net = _grid()
    task = make_task(net, "regression", 0)
    cfg = LearningConfig(rule=rule)
    with pytest.raises(SpiceclError, match=r"^r_init must have shape \(16,\) or \(1, 16\), "
                                           r"got \(3,\)$"):
        train(net, task, cfg, 0, 2, r_init=np.full(3, 5e3))
    for bad in (-5.0, np.nan, np.inf, 0.0):
        with pytest.raises(SpiceclError, match=r"^r_init must be positive and finite \(ohm\), "
                                               r"got .* at edge 2$"):
            r = np.full(16, 5e3)
            r[2] = bad
            train(net, task, cfg, 0, 2, r_init=r)
    for bad in ("abc", [5e3, "x"]):
        with pytest.raises(SpiceclError, match=r"^r_init must be resistances in ohm, got "):
            train(net, task, cfg, 0, 2, r_init=bad)
    a = train(net, task, cfg, 0, 5, r_init=[5e3] * 16)  # a list, a scalar, float32
    b = train(net, task, cfg, 0, 5, r_init=5e3)
    c = train(net, task, cfg, 0, 5, r_init=np.full(16, 5e3, np.float32))
    assert np.array_equal(a.final_resistance, b.final_resistance)
    assert np.array_equal(a.final_resistance, c.final_resistance)


def test_update_vectors_takes_a_list():
    """update_vectors(net, task, config, r) computed gamma / (r * r) on the caller's r: a list
    gave "can't multiply sequence by non-int of type 'list'"."""
    from spicecl.experiments.common import update_vectors
    from spicecl.learning import LearningConfig
    from spicecl.tasks import make_task

    net = _grid()
    task = make_task(net, "regression", 0)
    r = np.linspace(2e3, 8e3, 16)
    ref = update_vectors(net, task, LearningConfig(), r)
    assert ref.shape == (20, 16)
    assert np.array_equal(update_vectors(net, task, LearningConfig(), r.tolist()), ref)


@pytest.mark.parametrize("n", [0, -1, 2.5])
def test_train_needs_a_record_count(n):
    """n_records=0 recorded the errors at step 0 only, so the 'final' error of the History
    (test_scaled[:, -1], summary()) was the initial one, 1.0, with steps = 0."""
    from spicecl.learning import LearningConfig, train
    from spicecl.tasks import make_task

    net = _grid()
    task = make_task(net, "regression", 0)
    with pytest.raises(SpiceclError, match=r"^n_records must be "):
        train(net, task, LearningConfig(), 0, 50, n_records=n)
    with pytest.raises(SpiceclError, match=r"^n_snapshots must be "):
        train(net, task, LearningConfig(), 0, 50, n_snapshots=n)


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("seeds", ["abc", 1.5, -1, True, [1, "x"]])
def test_train_refuses_what_is_not_a_seed(seeds, k):
    """'abc' gave 'tasks, configs and seeds must have the same non-zero length' (len 3), 1.5
    "object of type 'float' has no len()", -1 numpy's 'expected non-negative integer'."""
    from spicecl.learning import LearningConfig, train
    from spicecl.tasks import make_task

    net = _grid()
    tasks = [make_task(net, "regression", 0)] * (2 if isinstance(seeds, list) else k)
    with pytest.raises(SpiceclError, match=r"^seeds must be a seed \(int\), a numpy "
                                           r"SeedSequence or Generator"):
        train(net, tasks, LearningConfig(), seeds, 5)


def test_train_seed_forms_agree():
    """An int, a SeedSequence, np.int64 and a Generator from the same int give one run."""
    from spicecl.learning import LearningConfig, train
    from spicecl.tasks import make_task

    net = _grid()
    task = make_task(net, "regression", 0)
    cfg = LearningConfig(p=0.5, batch="single")
    runs = [train(net, task, cfg, s, 30).final_resistance
            for s in (7, np.int64(7), np.random.SeedSequence(7), np.random.default_rng(7))]
    assert all(np.array_equal(runs[0], r) for r in runs[1:])
    k2 = [train(net, [task, task], cfg, s, 30).final_resistance
          for s in (7, np.random.SeedSequence(7), np.random.default_rng(7))]
    assert np.array_equal(k2[0], k2[1]) and not np.array_equal(k2[0][0], k2[0][1])


def test_nodal_system_refuses_node_indices_outside_the_network():
    """solve_fixed(net, r, {99: 1.0}) raised IndexError; {-1: 1.0} held node N-1 (numpy's
    negative indexing), though -1 is no node of the network."""
    from spicecl.solver import NodalSystem, solve_fixed

    net = _grid()
    r = np.full(net.n_edges, 1e3)
    with pytest.raises(SpiceclError, match=r"^input node index 99 is out of range 0\.\.8 "
                                           r"for network exp16$"):
        solve_fixed(net, r, {99: 1.0, 8: 0.0})
    with pytest.raises(SpiceclError, match=r"^input node index -1 is out of range"):
        solve_fixed(net, r, {-1: 1.0, 0: 0.0})
    with pytest.raises(SpiceclError, match=r"^output node index 9 is out of range"):
        NodalSystem(net, [0], [9], [8])
    with pytest.raises(SpiceclError, match=r"^ground node index -2 is out of range"):
        NodalSystem(net, [0], [4], [-2])
    v = solve_fixed(net, r.tolist(), {np.int64(0): 1.0, 8: np.float32(0.0)})
    assert v.shape == (9,) and v[0] == 1.0 and v[8] == 0.0


def test_recorded_seeds_must_be_non_negative_integers():
    """Functions whose seed is written into the results (compare, twin decks, generated
    networks) took 1.5 as 1 silently, and a Generator or -1 failed with int()'s or numpy's
    message (compare only once run_compare started)."""
    from spicecl.compare import CompareConfig
    from spicecl.netlist import make_setup
    from spicecl.network import disordered_network

    net = _grid()
    calls = {
        "CompareConfig": lambda s: CompareConfig(seed=s),
        "make_setup": lambda s: make_setup(net, s),
        "disordered_network": lambda s: disordered_network(20, 40, seed=s),
    }
    for name, call in calls.items():
        for bad in (1.5, -1, np.random.default_rng(1), "1", None, True):
            with pytest.raises(SpiceclError, match=r"^seed must be a non-negative integer "
                                                   r"\(it is recorded with the results\), "
                                                   r"got "):
                call(bad)
        call(np.int64(3))
    assert CompareConfig(seed=np.int64(3)).seed == 3 and type(CompareConfig(seed=np.int64(3)).seed) is int
    assert disordered_network(20, 40, seed=np.uint8(3)).seed == 3


def test_compare_config_ps_forms():
    """ps=0.5 gave "'float' object is not iterable"; a list or np.linspace array was kept as
    such (a frozen config that did not hash; np.float32 values that JSON refuses)."""
    import json

    from spicecl.compare import CompareConfig

    assert CompareConfig(ps=0.5).ps == (0.5,)
    cfg = CompareConfig(ps=np.array([1.0, 0.5], np.float32))
    assert cfg.ps == (1.0, 0.5) and all(type(p) is float for p in cfg.ps)
    assert CompareConfig(ps=[1, 0.5]).ps == (1, 0.5)
    hash(CompareConfig(ps=[1, 0.5]))
    json.dumps(cfg.to_dict())
    with pytest.raises(SpiceclError, match=r"^--p must be a number, got 'a'$"):
        CompareConfig(ps=("a",))


def test_the_package_docstring_names_entry_points_that_exist():
    """help(spicecl) is where a Python user starts: every name it lists must be there."""
    import importlib
    import re

    import spicecl

    lines = re.findall(r"^- (spicecl[\w.]*): ([^(\n]+)", spicecl.__doc__, re.M)
    assert len(lines) >= 10
    for module, names in lines:
        mod = importlib.import_module(module)
        for name in re.findall(r"[A-Za-z_]\w*", names.split("->")[0]):
            assert hasattr(mod, name), f"{module}.{name}"


def test_no_module_imports_pyspice_matplotlib_or_dask():
    """Every library module (not only the few the CLI test imports) is cheap to import."""
    import subprocess
    import sys
    from pathlib import Path

    import spicecl

    root = Path(spicecl.__file__).parent
    names = sorted("spicecl." + ".".join(p.relative_to(root).with_suffix("").parts)
                   for p in root.rglob("*.py") if p.name != "__main__.py")
    names = [n.removesuffix(".__init__") for n in names]
    code = ("import importlib, sys\nfor n in sys.argv[1:]: importlib.import_module(n)\n"
            "print(','.join(m for m in ('PySpice', 'matplotlib', 'dask', 'distributed', "
            "'lxml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_draw_circuit_takes_a_seed():
    """draw_circuit took only a Generator (TypeError for an int seed); n_edges=16.0 gave
    numpy's "expected a sequence of integers or a single integer, got '16.0'"."""
    from spicecl.variation import ToleranceSpec, draw_circuit

    spec = ToleranceSpec.default()
    a = draw_circuit(spec, 16, 5)
    b = draw_circuit(spec, 16, np.random.default_rng(5))
    assert a.seed == 5 and b.seed is None
    assert all(np.array_equal(a[k], b[k]) for k in a.values)
    assert draw_circuit(spec, 16.0, 5).n_edges == 16
    with pytest.raises(SpiceclError, match=r"^n_edges must be an integer, got 2.5$"):
        draw_circuit(spec, 2.5, 5)
    with pytest.raises(SpiceclError, match=r"^rng must be a non-negative integer"):
        draw_circuit(spec, 16, "5")


def test_hardware_parts_draw_seed():
    """HardwareParts.draw(n, 1.7) recorded seed 1 (int(1.7)) before failing in numpy."""
    from spicecl.hardware import HardwareParts

    with pytest.raises(SpiceclError, match=r"^rng must be a non-negative integer"):
        HardwareParts.draw(16, 1.7)
    a, b = HardwareParts.draw(16, np.int64(4)), HardwareParts.draw(16, np.random.default_rng(4))
    assert a.seed == 4 and np.array_equal(a.rab_free, b.rab_free)


def test_disordered_network_sizes_must_be_integers():
    """disordered_network(20.7, 40) built a 20-node network (int() truncation)."""
    from spicecl.network import disordered_network

    with pytest.raises(SpiceclError, match=r"^disordered network: nodes must be an integer, "
                                           r"got 20.7$"):
        disordered_network(20.7, 40)
    with pytest.raises(SpiceclError, match=r"^disordered network: edges must be an integer"):
        disordered_network(20, "40")
    assert disordered_network(np.int64(20), 40.0).n_edges == 40


def test_task_roles_must_be_integer_indices():
    """roles=([0.5], ...) made node 0 the input (np.asarray(..., int64) truncates)."""
    from spicecl.tasks import make_task

    with pytest.raises(SpiceclError, match=r"^input nodes must be integer node indices, "
                                           r"got \[0.5\]$"):
        make_task(_grid(), "regression", 0, roles=([0.5], [8], [4]))
    t = make_task(_grid(), "regression", 0, roles=(np.array([0.0]), (8,), [np.int64(4)]))
    assert t.inputs.tolist() == [0] and t.grounds.tolist() == [4]


def test_zero_dimensional_arrays_are_numbers():
    """A 0-d array (a value read from an .npz file, np.sum of an int array's mask, ...) was
    taken as a count, seed or tap count by int() before the input checks, which refused it
    ("must be an integer, got array(20)")."""
    import json

    from spicecl.errors import check_count, check_seed
    from spicecl.learning import LearningConfig
    from spicecl.network import disordered_network

    assert check_count("--steps", np.array(7), 1) == 7
    assert type(check_count("--steps", np.array(7.0), 1)) is int
    assert check_seed(np.array(3)) == 3 and type(check_seed(np.array(3))) is int
    assert disordered_network(np.array(20), np.array(40), seed=np.array(1)).n_edges == 40
    cfg = LearningConfig(rule="discrete", p=np.array(0.5), levels=np.array(128))
    assert type(cfg.levels) is int and type(cfg.p) is float
    json.dumps(cfg.to_dict())
    for bad in (np.array(1.5), np.array([3]), np.array(True)):
        with pytest.raises(SpiceclError, match=r"^seed must be a non-negative integer"):
            check_seed(bad)
        with pytest.raises(SpiceclError, match=r"^--steps must be an integer, got "):
            check_count("--steps", bad, 1)


def test_library_objects_have_short_one_line_reprs():
    """What a notebook shows for a network, task, history, setup, deck, draw and parts: one
    line naming their sizes, not every array they hold (a History of 3 networks printed 400
    lines, a Deck its whole 900-line text)."""
    from spicecl.hardware import HardwareParts
    from spicecl.learning import LearningConfig, train
    from spicecl.netlist import make_setup, twin_deck
    from spicecl.network import load_network
    from spicecl.tasks import make_task
    from spicecl.variation import ToleranceSpec, draw_circuit

    net = load_network("disordered143")
    task = make_task(net, "allostery", 1, n_in=20, n_out=20)
    history = train(net, [task] * 3, LearningConfig(), [1, 2, 3], 4)
    setup = make_setup(net, 1, task=task)
    draw = draw_circuit(ToleranceSpec(), net.n_edges, 1)
    objects = [net, task, history, setup, twin_deck(setup, oscillators=False), draw,
               HardwareParts.from_circuit_draw(draw)]
    for obj in objects:
        text = repr(obj)
        assert "\n" not in text and len(text) < 300, text
        assert text.startswith(type(obj).__name__ + "(")
    assert "143 edges" in repr(net) and "64 nodes" in repr(net)
    assert "3 networks" in repr(history) and "143 edges" in repr(history)
    assert "20 training" not in repr(task) and "1 training" in repr(task)


def test_entry_points_refuse_arguments_of_the_wrong_type_naming_the_parameter():
    """A dict for a config or spec, None for the hardware, a list of ints for the tasks: an
    AttributeError or KeyError from deep inside before, now a SpiceclError naming the
    parameter and the class it wants."""
    from spicecl.hardware import HardwareConfig, HardwareParts, train_clock_free, train_hardware
    from spicecl.learning import LearningConfig, train
    from spicecl.netlist import make_setup, twin_deck
    from spicecl.network import exp16
    from spicecl.tasks import make_task
    from spicecl.variation import ToleranceSpec, draw_circuit

    net = exp16()
    task = make_task(net, "regression", 1)
    cfg = LearningConfig(rule="discrete", p=0.5)
    parts = HardwareParts.draw(net.n_edges, 1, cfg)
    spec = {"resistor": {"tolerance": 0.01}}
    cases = [
        (lambda: train("exp16", task, cfg, 1, 5), r"^net must be a spicecl.network.Network, got str"),
        (lambda: train(net, [1, 2], cfg, [1, 2], 5), r"^tasks must be a spicecl.tasks.Task, got int"),
        (lambda: train(net, task, {"p": 0.5}, 1, 5),
         r"^configs must be a spicecl.learning.LearningConfig or a list of them, got dict"),
        (lambda: train_hardware(net, task, cfg, 1, 5, hardware=None, parts=parts),
         r"^hardware must be a spicecl.hardware.HardwareConfig, got NoneType"),
        (lambda: train_hardware(net, task, cfg, 1, 5, hardware=HardwareConfig(), parts=None),
         r"^parts must be a spicecl.hardware.HardwareParts \(or a list of one per network\), "
         r"got NoneType"),
        (lambda: train_clock_free(net, task, [cfg], 1, 5, hardware=HardwareConfig(), parts=parts),
         r"^config must be a spicecl.learning.LearningConfig \(one: .*\), got list"),
        (lambda: draw_circuit(spec, 16, 1),
         r"^spec must be a spicecl.variation.ToleranceSpec \(from a dict of component classes: "
         r"ToleranceSpec.from_dict\), got dict"),
        (lambda: HardwareParts.draw(16, 1, cfg, spec=spec), r"^spec must be a .*ToleranceSpec"),
        (lambda: make_setup(net, 1, spec=spec), r"^spec must be a .*ToleranceSpec"),
        (lambda: twin_deck(make_setup(net, 1), config={"vdd": 5.0}),
         r"^config must be a spicecl.netlist.twin.DeckConfig, got dict"),
        (lambda: twin_deck(net), r"^setup must be a spicecl.netlist.twin.TwinSetup \(from make_setup\)"),
    ]
    for call, message in cases:
        with pytest.raises(SpiceclError, match=message):
            call()
    assert isinstance(draw_circuit(ToleranceSpec.from_dict(spec), 16, 1).n_edges, int)


def test_make_setup_checks_a_given_task_taps_and_example_against_the_network():
    """A task drawn on a bigger network made a deck whose clamped output source drives a node
    no digipot touches, silently; example 1.5 was example 1; three taps for 16 edges raised
    numpy's broadcast error."""
    from spicecl.netlist import make_setup
    from spicecl.network import exp16, load_network
    from spicecl.tasks import make_task

    net = exp16()
    other = make_task(load_network("disordered143"), "regression", 1, roles=([0], [40], [2]))
    with pytest.raises(SpiceclError, match=r"^output node 40 is out of range for network exp16"):
        make_setup(net, 1, task=other)
    task = make_task(net, "regression", 1)
    with pytest.raises(SpiceclError, match=r"^--example must be an integer, got 1.5"):
        make_setup(net, 1, task=task, example=1.5)
    with pytest.raises(SpiceclError, match=r"^taps must be one tap or one per edge, shape "
                                           r"\(16,\), got shape \(3,\)"):
        make_setup(net, 1, task=task, taps=[1, 2, 3])
    with pytest.raises(SpiceclError, match=r"^taps must be integers in 0..127"):
        make_setup(net, 1, task=task, taps=["64"] * 16)
    assert make_setup(net, 1, task=task, taps=64, example=np.int64(2)).taps.tolist() == [64] * 16


def test_misspelt_or_misshapen_arguments_of_networks_and_specs_are_refused():
    """ToleranceSpec.replace(name, tolerence=0.1) returned the spec unchanged (a misspelt
    keyword swallowed); CircuitDraw.resistance(taps, "freee") raised a bare ValueError;
    Network(name, 3, ...) a TypeError and resistances ["4k7", ...] numpy's ValueError."""
    from spicecl.network import Network
    from spicecl.variation import ToleranceSpec, draw_circuit

    with pytest.raises(SpiceclError, match=r"^tolerance spec resistor: unknown field "
                                           r"'tolerence'"):
        ToleranceSpec().replace("resistor", tolerence=0.1)
    assert ToleranceSpec().replace("resistor", tolerance=0.1)["resistor"].tolerance == 0.1
    draw = draw_circuit(ToleranceSpec(), 3, 1)
    with pytest.raises(SpiceclError, match=r"^which must be 'free' or 'clamped', got 'freee'"):
        draw.resistance(np.zeros(3, int), "freee")
    edges, pos = [[0, 1], [1, 2]], np.zeros((3, 2))
    with pytest.raises(SpiceclError, match=r"^network x: node_ids must be a sequence"):
        Network("x", 3, edges, pos)
    with pytest.raises(SpiceclError, match=r"^network x: resistance must be numbers \(ohm\), "
                                           r"got \['4k7', '1k'\]"):
        Network("x", range(3), edges, pos, resistance=["4k7", "1k"])
