"""Tasks: node roles, example ranges and targets as the README states them."""

from __future__ import annotations

import re

import numpy as np
import pytest

from spicecl.errors import SpiceclError
from spicecl.network import Network, disordered_network, exp16
from spicecl.tasks import Task, make_task


def _linear_map(task):
    """The (O, I) map A with y = A x, solved from the examples."""
    a, *_ = np.linalg.lstsq(task.train_x, task.train_y, rcond=None)
    return a.T


@pytest.mark.parametrize("seed", range(20))
def test_regression_targets_are_a_passive_linear_map_of_inputs_in_range(seed):
    task = make_task(disordered_network(64, 143, 0), "regression", np.random.default_rng(seed),
                     volts=5.0)
    assert task.train_x.shape == (20, 2) and task.test_x.shape == (50, 2)
    for x in (task.train_x, task.test_x):
        assert x.min() >= 0 and x.max() <= 5.0
    a = _linear_map(task)
    np.testing.assert_allclose(task.test_y, task.test_x @ a.T, atol=1e-12)
    assert a.min() >= 0 and np.all((a.sum(1) >= 0.3) & (a.sum(1) <= 0.8))
    assert len(task.grounds) == 1


@pytest.mark.parametrize("n_out, grounds", [(2, 1), (4, 2), (6, 3), (10, 5), (1, 1)])
def test_allostery_is_one_input_pattern_in_the_upper_half_with_o_over_2_grounds(n_out, grounds):
    rng = np.random.default_rng(n_out)
    task = make_task(disordered_network(64, 143, 0), "allostery", rng, n_in=n_out,
                     n_out=n_out, volts=2.0)
    assert task.train_x.shape == (1, n_out)
    assert task.train_x.min() >= 1.0 and task.train_x.max() <= 2.0  # [volts/2, volts]
    np.testing.assert_array_equal(task.test_x, task.train_x)
    assert len(task.grounds) == grounds
    roles = np.concatenate([task.inputs, task.outputs, task.grounds])
    assert len(set(roles.tolist())) == len(roles)  # distinct nodes


def test_a_task_that_does_not_fit_the_network_is_refused():
    with pytest.raises(SpiceclError, match="task needs 11 distinct nodes"):
        make_task(exp16(), "allostery", np.random.default_rng(0), n_in=4, n_out=4, n_ground=3)


def test_an_output_cut_off_from_every_input_is_refused(tmp_path, capsys):
    """Two parts, a triangle 0-1-2 and a pair 3-4: an output in the part with only a ground
    would sit at 0 V whatever the inputs (scaled error 1 forever); named instead."""
    from spicecl.cli import main

    net = Network("two-parts", tuple("abcde"), [(0, 1), (1, 2), (0, 2), (3, 4)],
                  np.zeros((5, 2)))
    with pytest.raises(SpiceclError, match=r"network two-parts is not connected: output "
                                           r"node\(s\) d have no path to an input node"):
        make_task(net, "regression", np.random.default_rng(0), roles=([0], [1, 3], [4]))
    task = make_task(net, "regression", np.random.default_rng(0), roles=([0], [1], [2]))
    assert task.outputs.tolist() == [1]  # a network in parts is fine where the task is
    from spicecl.netio import graphml_bytes

    f = tmp_path / "parts.graphml"
    f.write_bytes(graphml_bytes(net))
    assert main(["train", "--network", str(f), "--input-nodes", "a", "--output-nodes", "d",
                 "--ground-nodes", "e", "--steps", "2", "--seed", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "output node(s) d have no path" in err


def test_an_output_held_by_a_single_node_of_its_part_is_refused(tmp_path, capsys):
    """Two triangles a-b-c and d-e-f: an output d whose part holds the one input f and no
    ground sits at f's voltage whatever the resistances (the scaled error stays at 1; train
    blamed the learning rate); named instead. Two fixed nodes in the part are enough."""
    from spicecl.cli import main
    from spicecl.netio import graphml_bytes

    net = Network("triangles", tuple("abcdef"), [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5),
                                                 (3, 5)], np.zeros((6, 2)))
    with pytest.raises(SpiceclError, match=r"output node\(s\) d share their connected part "
                                           r"with only one input or ground node"):
        make_task(net, "regression", np.random.default_rng(0), roles=([5, 0], [3, 1], [2]))
    for roles in (([5, 0], [3, 1], [4, 2]), ([5, 4, 0], [3, 1], [2])):
        make_task(net, "regression", np.random.default_rng(0), roles=roles)
    f = tmp_path / "triangles.graphml"
    f.write_bytes(graphml_bytes(net))
    assert main(["train", "--network", str(f), "--input-nodes", "f,a", "--output-nodes", "d",
                 "--ground-nodes", "c", "--steps", "2", "--seed", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "d share their connected part" in err
    # the same on a connected network: one input, no ground
    assert main(["train", "--network", "exp16", "--inputs", "1", "--outputs", "1",
                 "--grounds", "0", "--steps", "2", "--seed", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "one input and no ground" in err


def test_role_and_size_errors_are_one_line():
    net = exp16()  # 9 nodes, 0..8
    with pytest.raises(SpiceclError, match=r"input node 9 is out of range .*\(0\.\.8\)"):
        make_task(net, "regression", np.random.default_rng(0), roles=([9], [1], [2]))
    # 10 nodes asked of 9: drawing them would silently give one ground too few
    with pytest.raises(SpiceclError, match="task needs 10 distinct nodes, network exp16 has 9"):
        make_task(net, "regression", np.random.default_rng(0), n_in=4, n_out=4, n_ground=2)



def _with(a, at, value):
    a = a.copy()
    a[at] = value
    return a


@pytest.mark.parametrize("field, spoil, msg", [
    # "training diverged" (NaN targets), or trained on them (inf inputs gave NaN errors)
    ("train_y", lambda t: _with(t.train_y, (1, 0), np.nan),
     "Task train_y must be finite voltages, got nan at example 1, column 0"),
    ("test_x", lambda t: _with(t.test_x, (1, 0), np.inf),
     "Task test_x must be finite voltages, got inf at example 1, column 0"),
    # ValueError: could not broadcast input array from shape (2,3) into shape (2,4)
    ("train_x", lambda t: t.train_x[:, :1],
     "Task train_x must have shape (B, I) with B >= 1 and I = 2 (the number of inputs), got "
     "(20, 1)"),
    ("test_y", lambda t: t.test_y[:3],
     "Task test_x and test_y must have one row per example, got 50 and 3 rows"),
    ("train_x", lambda t: t.train_x[:0], "Task train_x must have shape (B, I) with B >= 1"),
    ("outputs", lambda t: [t.inputs[0], t.outputs[1]],
     "Task outputs: node {inputs[0]} is given twice (also in inputs)"),
    ("grounds", lambda t: [t.grounds[0]] * 2, "Task grounds: node {grounds[0]} is given twice"),
    # numpy wrapped -1 to the last node
    ("inputs", lambda t: [-1, 2],
     "Task inputs must be a list of node indices (integers >= 0), got [-1, 2]"),
    ("outputs", lambda t: [0.5, 1], "Task outputs must be a list of node indices (integers >= 0)"),
    # cast to int64: node -2^63, with a RuntimeWarning (an error in these tests)
    ("inputs", lambda t: [1e30, 2],
     "Task inputs must be a list of node indices (integers >= 0), got [1e+30, 2.0]"),
    ("grounds", lambda t: [np.inf], "Task grounds must be a list of node indices (integers "
                                    ">= 0), got [inf]"),
    ("outputs", lambda t: [], "Task outputs must name at least one node"),
    ("test_x", lambda t: [["a", "b"]], "Task test_x must be voltages (numbers), got [['a', 'b']]"),
    ("kind", lambda t: "regresion", "Task kind must be one of regression, allostery, got "
                                    "'regresion'"),
])
def test_a_task_built_directly_is_validated_naming_the_field(field, spoil, msg):
    from dataclasses import replace

    task = make_task(exp16(), "regression", 0)
    msg = msg.format(inputs=task.inputs, grounds=task.grounds)
    with pytest.raises(SpiceclError, match="^" + re.escape(msg)):
        replace(task, **{field: spoil(task)})

def test_a_task_built_from_lists_holds_arrays():
    task = make_task(exp16(), "allostery", 0)
    same = Task(task.kind, *(getattr(task, f).tolist() for f in
                             ("inputs", "outputs", "grounds", "train_x", "train_y", "test_x",
                              "test_y")))
    assert same.inputs.dtype == np.int64 and same.train_x.dtype == float
    assert same.to_dict() == task.to_dict()
