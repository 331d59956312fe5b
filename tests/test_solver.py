"""Nodal solver against analytic circuits, KCL, the clamped state, dense vs sparse paths."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spicecl.cli import main
from spicecl.errors import SpiceclError
from spicecl.network import Network, disordered_network, exp16
from spicecl.solver import (NodalSystem, clamp_targets, exact_voltages, kcl_residual,
                            solve_fixed)

REL = 1e-12


def chain(n_nodes, edges, name="c"):
    pos = np.zeros((n_nodes, 2))
    return Network(name, tuple(str(i) for i in range(n_nodes)), np.array(edges), pos)


def test_series_divider():
    net = chain(3, [(0, 1), (1, 2)])
    r = np.array([1000.0, 3000.0])
    v = solve_fixed(net, r, {0: 2.0, 2: 0.0})
    assert v[1] == pytest.approx(2.0 * 3000 / 4000, rel=REL)


def test_parallel_resistors_then_series():
    # 0 -(R1 || R2)- 1 -(R3)- 2 ; parallel via an intermediate node pair is not allowed
    # (no multi-edges), so use two two-edge paths 0-1-3 and 0-2-3 meeting at node 3.
    net = chain(5, [(0, 1), (1, 3), (0, 2), (2, 3), (3, 4)])
    r = np.array([100.0, 200.0, 300.0, 500.0, 250.0])
    v = solve_fixed(net, r, {0: 1.0, 4: 0.0})
    r_par = 1 / (1 / 300.0 + 1 / 800.0)
    v3 = 250.0 / (r_par + 250.0)
    assert v[3] == pytest.approx(v3, rel=REL)
    assert v[1] == pytest.approx(v3 + (1 - v3) * 200 / 300, rel=REL)
    assert v[2] == pytest.approx(v3 + (1 - v3) * 500 / 800, rel=REL)


def test_wheatstone_bridge():
    # supply node 0 at 1 V, ground 3, bridge nodes 1 and 2 joined by the galvanometer R5.
    net = chain(4, [(0, 1), (0, 2), (1, 3), (2, 3), (1, 2)])
    r1, r2, r3, r4, r5 = 100.0, 220.0, 330.0, 470.0, 50.0
    v = solve_fixed(net, np.array([r1, r2, r3, r4, r5]), {0: 1.0, 3: 0.0})
    g = lambda r: 1.0 / r  # noqa: E731
    a = np.array([[g(r1) + g(r3) + g(r5), -g(r5)], [-g(r5), g(r2) + g(r4) + g(r5)]])
    b = np.array([g(r1), g(r2)])
    expect = np.linalg.solve(a, b)
    assert v[1:3] == pytest.approx(expect, rel=REL)
    # a balanced bridge carries no current through the galvanometer
    vb = solve_fixed(net, np.array([100.0, 200.0, 300.0, 600.0, 50.0]), {0: 1.0, 3: 0.0})
    assert abs(vb[1] - vb[2]) < 1e-15


def _task_system(seed=0, sparse=None):
    net = disordered_network(64, 143, seed)
    rng = np.random.default_rng(seed)
    nodes = rng.permutation(64)[:5]
    r = rng.uniform(500, 5000, 143)
    return net, NodalSystem(net, nodes[:2], nodes[2:4], nodes[4:], sparse=sparse), r, rng


def test_kcl_holds_at_free_nodes_in_free_and_clamped_states():
    net, sy, r, rng = _task_system()
    x = rng.uniform(0, 1, (3, 2))
    vf = sy.node_voltages(r, x)
    vc = sy.node_voltages(r, x, clamp=vf[:, sy.outputs] + 0.1)
    held_f = np.concatenate([sy.inputs, sy.grounds])
    held_c = np.concatenate([held_f, sy.outputs])
    scale = np.max(np.abs(x)) / r.min()
    for b in range(3):
        assert kcl_residual(net, r, vf[b], held_f) < 1e-12 * scale
        assert kcl_residual(net, r, vc[b], held_c) < 1e-12 * scale
    assert np.allclose(vc[:, sy.outputs], vf[:, sy.outputs] + 0.1, atol=1e-14)


def test_schur_clamped_state_equals_a_direct_solve_with_outputs_held():
    net, sy, r, rng = _task_system(1)
    x = rng.uniform(0, 1, (4, 2))
    clamp = rng.uniform(0, 1, (4, 2))
    vc = sy.node_voltages(r, x, clamp=clamp)
    direct = NodalSystem(net, np.concatenate([sy.inputs, sy.outputs]), (), sy.grounds)
    vd = direct.node_voltages(r, np.hstack([x, clamp]))
    assert np.max(np.abs(vc - vd)) < 1e-12


def test_response_matrices_reproduce_node_voltages_and_clamped_drops():
    net, sy, r, rng = _task_system(2)
    x = rng.uniform(0, 1, (5, 2))
    resp = sy.response(r)
    vf = sy.node_voltages(r, x)
    inc = net.incidence()
    assert np.allclose(x @ resp.M.T, vf[:, sy.outputs], rtol=0, atol=1e-13)
    assert np.allclose(x @ resp.D.T, (inc @ vf.T).T, rtol=0, atol=1e-13)
    clamp = clamp_targets(vf[:, sy.outputs], rng.uniform(0, 1, (5, 2)), 0.3)
    vc = sy.node_voltages(r, x, clamp=clamp)
    pred = x @ resp.D.T + (clamp - vf[:, sy.outputs]) @ resp.W
    assert np.allclose(pred, (inc @ vc.T).T, rtol=0, atol=1e-13)


def test_clamped_state_tends_to_free_state_as_eta_goes_to_zero():
    net, sy, r, rng = _task_system(3)
    x = rng.uniform(0, 1, (2, 2))
    desired = rng.uniform(0, 1, (2, 2))
    vf = sy.node_voltages(r, x)
    gaps = []
    for eta in (1e-1, 1e-3, 1e-6):
        vc = sy.node_voltages(r, x, clamp=clamp_targets(vf[:, sy.outputs], desired, eta))
        gaps.append(np.max(np.abs(vc - vf)))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-5 and gaps[1] / gaps[2] == pytest.approx(1e3, rel=1e-6)


def test_sparse_path_matches_dense_path():
    _, dense, r, _ = _task_system(4, sparse=False)
    _, sparse, _, _ = _task_system(4, sparse=True)
    a, b = dense.response(r), sparse.response(r)
    for u, v in ((a.D, b.D), (a.M, b.M), (a.W, b.W)):
        assert np.max(np.abs(u - v)) < 1e-12


def test_large_network_uses_the_sparse_path_and_satisfies_kcl():
    net = disordered_network(2000, 4460, 0)
    sy = NodalSystem(net, [0, 1], [2, 3], [4])
    assert sy.sparse
    r = np.random.default_rng(0).uniform(500, 5000, net.n_edges)
    v = sy.node_voltages(r, np.array([[1.0, 0.5]]))
    assert kcl_residual(net, r, v[0], np.array([0, 1, 4])) < 1e-12


@pytest.mark.parametrize("n_nodes,n_edges", [(720, 1500), (5000, 10000)])
def test_a_sparse_network_of_equal_resistances_is_solved_not_refused(n_nodes, n_edges):
    # Every edge at the digipot mid-scale (train's default) on networks past the dense limit:
    # SuperLU's partial pivoting took off-diagonal pivots where rounding tied an entry with its
    # diagonal, the precision check read them as negative pivots, and `spicecl train --network
    # disordered:720:1500` (or 5000:10000) was refused: "the factorization breaks down".
    from spicecl.learning import R_INIT

    net = disordered_network(n_nodes, n_edges, 0)
    nodes = np.random.default_rng(0).permutation(net.n_nodes)[:5]
    roles = (nodes[:2], nodes[2:4], nodes[4:])
    sparse = NodalSystem(net, *roles)
    assert sparse.sparse
    r = np.full(net.n_edges, R_INIT)
    x = np.array([[1.0, 0.25]])
    v = sparse.node_voltages(r, x)[0]
    assert kcl_residual(net, r, v, np.concatenate([roles[0], roles[2]])) < 1e-14
    d, m, w = sparse.unit_response(r)
    assert np.max(np.abs(x @ m.T - v[roles[1]])) < 1e-12
    if net.n_nodes < 1000:  # the dense path solves the same system
        dense = NodalSystem(net, *roles, sparse=False).unit_response(r)
        for a, b in zip(dense, (d, m, w)):
            assert np.max(np.abs(a - b)) <= 1e-12 * np.max(np.abs(a))


@pytest.mark.parametrize("sparse", [False, True])
def test_a_factorization_whose_pivot_cancels_to_zero_is_refused(sparse):
    # The second pivot cancels to 0 or below: LAPACK's potrf stops there (info 2; the later
    # diagonal of its output holds no pivots), and SuperLU finds the matrix singular. Either
    # way the factorization broke down, and the message must say so.
    net = chain(8, [(i, i + 1) for i in range(7)])
    sy = NodalSystem(net, [0], [], [7], sparse=sparse)
    r = np.array([1.0, 1e-20, 1.0, 1e-17, 1.0, 1e-16, 1.0])
    # node 2 is where it breaks: eliminating node 1 leaves it 1e20 - 1e40 / (1e20 + 1) + 1
    at = "" if sparse else " at node 2;"
    with pytest.raises(SpiceclError, match=r"span too many decades for double precision: the "
                                           rf"factorization breaks down{at}"):
        sy.node_voltages(r, [[1.0]])
    if not sparse:  # a factorization that broke down is refused by the unchecked solves too
        from spicecl.solver import BatchedSystems

        with pytest.raises(SpiceclError, match=r"breaks down at node 2;"):
            sy.unit_response(r, check=False)
        with pytest.raises(SpiceclError, match=r"breaks down at node 2;"):
            BatchedSystems([sy, sy]).unit_responses(np.array([r, r]), check=False)
        # the first pivot that is not positive names the node, after pivots below 1 (0.2 S)
        with pytest.raises(SpiceclError, match=r"breaks down at node 3;"):
            sy.node_voltages([10, 10, 1e-20, 10, 1e-17, 10, 10.0], [[1.0]])
        # potrf stopped at node 3: what its output holds from there on are no pivots (read
        # as pivots, they estimated a loss of ~1e-4 instead)
        loop = chain(5, [(0, 1), (1, 2), (2, 3), (3, 4), (1, 3)])
        with pytest.raises(SpiceclError, match=r"breaks down at node 3;"):
            NodalSystem(loop, [0], [], [4]).node_voltages([1.0, 1e-20, 1e-17, 1e3, 1e-17],
                                                           [[1.0]])


def test_batched_solves_estimate_the_precision_as_one_network_alone():
    from spicecl.solver import BatchedSystems

    net = chain(8, [(i, i + 1) for i in range(7)])
    sy = NodalSystem(net, [0], [], [7])
    r = np.array([1.0, 1e-15, 1.0, 1.0, 1.0, 1.0, 1.0])
    with pytest.raises(SpiceclError) as alone:
        sy.unit_response(r)
    assert "node 2's voltage would be accurate to only ~0.21" in str(alone.value)
    with pytest.raises(SpiceclError) as batched:
        BatchedSystems([sy, sy]).unit_responses(np.array([r, r]), check=True)
    assert str(batched.value) == str(alone.value)


def test_floating_nodes_are_named():
    net = chain(5, [(0, 1), (1, 2), (3, 4)])
    with pytest.raises(SpiceclError, match="floating nodes with no path to a held node: 3, 4"):
        solve_fixed(net, np.ones(3), {0: 1.0})


def test_cli_solve_prints_voltages_json(capsys):
    assert main(["solve", "--network", "exp16", "--fix", "0=1", "--fix", "8=0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["voltages"]
    assert out["0"] == 1.0 and out["8"] == 0.0
    assert out["4"] == pytest.approx(0.5, abs=1e-12)  # centre of a symmetric grid


def test_cli_solve_gives_the_source_currents_and_the_power(tmp_path, capsys):
    """Two resistors in series (1 kohm each) across 2 V: 1 mA out of the 2 V source, into
    the ground source; 2 mW; and on exp16, what flows in flows out and V I is the power."""
    from spicecl.netio import graphml_bytes

    def solve(args):
        assert main(["solve", *args, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    f = tmp_path / "series.graphml"
    f.write_bytes(graphml_bytes(Network("s", ("a", "b", "c"), [(0, 1), (1, 2)],
                                        np.zeros((3, 2))), np.array([1e3, 1e3])))
    out = solve(["--network", str(f), "--fix", "a=2", "--fix", "c=0"])
    assert out["source_currents_amps"] == pytest.approx({"a": 1e-3, "c": -1e-3})
    assert out["power_watts"] == pytest.approx(2e-3)
    out = solve(["--network", "exp16", "--fix", "0=1", "--fix", "8=0", "--fix", "2=0.3"])
    i = out["source_currents_amps"]
    assert sum(i.values()) == pytest.approx(0, abs=1e-15)
    assert out["power_watts"] == pytest.approx(sum(out["voltages"][k] * i[k] for k in i))



def test_cli_network_seed_draws_another_generated_network(capsys):
    def voltages(*extra):
        assert main(["solve", "--network", "disordered143", "--fix", "0=1", "--fix", "1=0",
                     "--json", *extra]) == 0
        return json.loads(capsys.readouterr().out)["voltages"]

    assert voltages() == voltages("--network-seed", "0") != voltages("--network-seed", "3")


def test_cli_solve_text_output_keeps_one_line_per_node(tmp_path, capsys):
    # GraphML ids may hold a tab or a line break: escaped, so that each node is one line
    from spicecl.netio import graphml_bytes
    from spicecl.network import Network, exp16

    base = exp16()
    net = Network("odd", ("a\tb", "c\nd") + base.node_ids[2:], base.edges, base.positions)
    path = tmp_path / "odd.graphml"
    path.write_bytes(graphml_bytes(net))
    assert main(["solve", "--network", str(path), "--fix", "a\tb=1", "--fix", "8=0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == base.n_nodes and all(ln.count("\t") == 1 for ln in lines)
    assert lines[0] == "a\\tb\t1" and lines[1].startswith("c\\nd\t")

@pytest.mark.parametrize("argv,msg", [
    (["solve", "--network", "exp16", "--fix", "42=1"], "no node with id '42'"),
    # the option is named, not only the network ("network exp16: no node with id '42'")
    (["solve", "--network", "exp16", "--fix", "42=1"],
     "--fix '42=1': network exp16: no node with id '42'"),
    (["solve", "--network", "exp16", "--fix", "0=1", "--fix", "0==1"],
     "--fix '0==1': network exp16: no node with id '0='"),
    (["solve", "--network", "exp16", "--fix", "0"], "expected NODE=VOLTS"),
    (["solve", "--network", "exp16", "--network-seed", "3", "--fix", "0=1"],
     "--network-seed applies to the generated networks (disordered143, disordered:NODES:EDGES), "
     "not exp16 (it would be ignored)"),
    (["solve", "--network", "exp16"], "at least one --fix"),
    (["solve", "--network", "nope", "--fix", "0=1"], "unknown network 'nope'"),
    (["solve", "--network", "exp16", "--fix", "0=nan"], "'nan' is not a finite voltage"),
    (["solve", "--network", "exp16", "--fix", "0=1e400"], "'1e400' is not a finite voltage"),
    (["solve", "--network", "exp16", "--fix", "0=1", "--resistance", "inf"],
     "--resistance must be in (0, inf), got inf"),
    (["solve", "--network", "exp16", "--fix", "0=1", "--resistance", "1e-320"],
     "at least 2.2e-308 ohm), got 1e-320 ohm"),
])
def test_cli_solve_errors_are_one_line_exit_2(capsys, argv, msg):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_solve_with_every_node_held_prints_the_given_voltages(capsys):
    argv = ["solve", "--network", "exp16", "--json"]
    for i in range(9):
        argv += ["--fix", f"{i}={i / 8}"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)["voltages"]
    assert out == {str(i): i / 8 for i in range(9)}


def test_cli_solve_fix_takes_a_node_id_holding_an_equals_sign(tmp_path, capsys):
    p = tmp_path / "eq.graphml"
    p.write_text('<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph>'
                 '<node id="in=1"/><node id="m"/><node id="g"/>'
                 '<edge source="in=1" target="m"/><edge source="m" target="g"/>'
                 '</graph></graphml>')
    assert main(["solve", "--network", str(p), "--fix", "in=1=2", "--fix", "g=0",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["voltages"]
    assert out == {"in=1": 2.0, "m": pytest.approx(1.0), "g": 0.0}


def _random_role_systems(net, rng, k: int, n_roles: int) -> list:
    """k dense systems on ``net``, each with 2 inputs, 2 outputs and n_roles - 4 grounds at
    random nodes (drawn in this order, as the tests' seeds expect)."""
    systems = []
    for _ in range(k):
        nodes = rng.permutation(net.n_nodes)[:n_roles]
        systems.append(NodalSystem(net, nodes[:2], nodes[2:4], nodes[4:]))
    return systems


def test_batched_systems_equal_separate_solves_for_different_roles():
    from spicecl.solver import BatchedSystems

    net = disordered_network(64, 143, 0)
    rng = np.random.default_rng(8)
    systems = _random_role_systems(net, rng, 4, 6)
    r = rng.uniform(300, 8000, (4, 143))
    d, m, w = BatchedSystems(systems).unit_responses(r)
    for i, sy in enumerate(systems):
        di, mi, wi = sy.unit_response(r[i])
        assert np.max(np.abs(d[i] - di)) < 1e-13
        assert np.max(np.abs(m[i] - mi)) < 1e-13
        assert np.max(np.abs(w[i] - wi)) < 1e-12


def test_dense_edge_drops_are_the_incidence_product_bit_for_bit():
    """The gathered drops equal (Bu X)^T + G0T (the unit solution through the incidence)
    exactly: each is one rounded difference of two node voltages (or 1 V)."""
    net = disordered_network(64, 143, 0)
    rng = np.random.default_rng(9)
    inc = net.incidence().toarray()
    for _ in range(5):
        nodes = rng.permutation(64)[:7]
        sy = NodalSystem(net, nodes[:3], nodes[3:5], nodes[5:])
        x, g = sy.unit_drops(rng.uniform(10, 1e5, 143))
        ref = x.T @ inc[:, sy.free].T
        ref[:3] += inc[:, sy.inputs].T
        assert np.array_equal(g, ref)


def test_batched_systems_equal_per_network_lapack_solves_bit_for_bit():
    """Same factorization and solve per network (potrf/potrs on the assembled system), so the
    batched responses are exactly those of the plain per-network computation."""
    from scipy.linalg import lapack

    from spicecl.solver import BatchedSystems

    net = disordered_network(64, 143, 0)
    rng = np.random.default_rng(10)
    systems = _random_role_systems(net, rng, 3, 5)
    batched = BatchedSystems(systems)
    for _ in range(3):
        r = rng.uniform(10, 1e5, (3, 143))
        d, m, w = batched.unit_responses(r)
        for i, sy in enumerate(systems):
            nu = len(sy.free)
            k = np.append(1.0 / r[i], 1.0)
            buf = np.bincount(sy._flat, weights=k[sy._eidx] * sy._sign, minlength=sy._size)
            c, _ = lapack.dpotrf(buf[:nu * nu].reshape(nu, nu).T, lower=1, clean=0)
            x, _ = lapack.dpotrs(c, buf[nu * nu:].reshape(4, nu).T, lower=1)
            v = np.zeros((64, 4))
            v[sy.inputs, [0, 1]] = 1.0
            v[sy.free] = x
            g = v[net.edges[:, 0]] - v[net.edges[:, 1]]
            xo = x[sy.out_pos]
            assert np.array_equal(d[i], g[:, :2]) and np.array_equal(m[i], xo[:, :2])
            assert np.array_equal(w[i], np.linalg.inv(xo[None, :, 2:])[0] @ g[:, 2:].T)


BATCH_VS_ONE_BY_ONE = """
import numpy as np
from spicecl.network import disordered_network
from spicecl.solver import BatchedSystems, NodalSystem
net = disordered_network(64, 143, 0)
rng = np.random.default_rng(10)
systems = [NodalSystem(net, n[:2], n[2:4], n[4:])
           for n in (rng.permutation(64)[:5] for _ in range(4))]
r = rng.uniform(10, 1e5, (4, 143))
got = BatchedSystems(systems).each_unit_response(r)
print(sum(not np.array_equal(a[i], b) for i, s in enumerate(systems)
          for a, b in zip(got, s.unit_response(r[i]))))
"""


def test_a_networks_bits_do_not_depend_on_its_place_in_the_batch():
    """OpenBLAS picks its kernels for the CPU at run time, and the Sandybridge ones (Intel
    Sandy and Ivy Bridge) factor and solve data 8 bytes off a 16-byte boundary with other
    roundings. Network i's block sat at i * size doubles of the batch's buffer (size odd here,
    59 * 63), so there every other network differed from its one-by-one solve (and its
    trajectory from the same network's elsewhere in a batch). Each block now starts on a
    64-byte boundary; checked under those kernels in a subprocess where the CPU has AVX."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from spicecl.solver import BatchedSystems

    net = disordered_network(64, 143, 0)
    batched = BatchedSystems(_random_role_systems(net, np.random.default_rng(10), 3, 5))
    assert batched.size % 2 == 1  # the case that needs the padding
    assert all(a.ctypes.data % 64 == 0 for a, _ in batched._views)
    for n_roles in (6, 7, 8):  # other block sizes (3717 doubles, 3596, ...) are padded too
        other = BatchedSystems(_random_role_systems(net, np.random.default_rng(10), 3, n_roles))
        assert all(a.ctypes.data % 64 == 0 for a, _ in other._views), n_roles
    if "avx" not in Path("/proc/cpuinfo").read_text().split():
        return  # (OpenBLAS's Sandybridge kernels need AVX)
    env = {**os.environ, "OPENBLAS_CORETYPE": "Sandybridge"}
    out = subprocess.run([sys.executable, "-c", BATCH_VS_ONE_BY_ONE], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0"], "arrays differing from the one-by-one solves"


@pytest.mark.parametrize("n_out", [0, 1, 2, 3])
def test_batched_each_unit_response_is_the_per_network_response_bit_for_bit(n_out):
    """each_unit_response (the hardware trainer's twin solves) returns exactly the stacked
    per-network unit_response arrays, memory layout included (a product with an array of
    other strides may take another BLAS path and round differently)."""
    from spicecl.solver import BatchedSystems

    net = disordered_network(64, 143, 0)
    rng = np.random.default_rng(12)
    systems = []
    for _ in range(4):
        nodes = rng.permutation(64)[:4 + n_out]
        systems.append(NodalSystem(net, nodes[:3], nodes[3:3 + n_out], nodes[3 + n_out:]))
    batched = BatchedSystems(systems)
    for _ in range(3):
        r = np.exp(rng.uniform(2, 13, (4, 143)))
        got = batched.each_unit_response(r)
        want = [np.stack(a) for a in zip(*(sy.unit_response(r[i])
                                           for i, sy in enumerate(systems)))]
        for g, w in zip(got, want):
            assert g.shape == w.shape and np.array_equal(g, w)
            assert g.strides == w.strides or g.size == 0


def test_cli_solve_overflow_is_a_one_line_error(capsys):
    # printed "Infinity" (not JSON) with exit 0 and numpy warnings
    assert main(["solve", "--network", "exp16", "--fix", "0=1e300", "--fix", "5=0",
                 "--resistance", "1e-10", "--json"]) == 2
    err = capsys.readouterr().err
    assert err == ("spicecl: error: solve: the voltages or currents overflow; lower --fix "
                   "voltages or raise --resistance\n")


def test_an_output_that_is_also_held_is_refused():
    net = exp16()
    for inputs, outputs, grounds in (([0], [0], [8]), ([0], [8], [8])):
        with pytest.raises(SpiceclError, match="output node is also an input or ground"):
            NodalSystem(net, inputs, outputs, grounds)


@pytest.mark.parametrize("bad", [np.inf, 0.0, -1.0, np.nan])
def test_resistances_must_be_positive_and_finite(bad):
    net = exp16()
    sy = NodalSystem(net, [0], [4], [8])
    r = np.full(net.n_edges, 1e3)
    r[3] = bad
    with pytest.raises(SpiceclError, match="positive and finite"):
        sy.response(r)
    with pytest.raises(SpiceclError, match="positive and finite"):
        sy.node_voltages(r, [1.0])


def test_node_voltages_checks_the_number_of_input_voltages():
    net = exp16()
    sy = NodalSystem(net, [0, 2], [4], [8])
    with pytest.raises(SpiceclError, match="expected 2 input voltages per example, got 1"):
        sy.node_voltages(np.full(net.n_edges, 1e3), [[1.0]])


def test_voltages_are_exact_to_the_precision_limit_or_refused_across_decades():
    # Resistances log-uniform over D decades from 1 mohm: the solver's voltages agree with
    # the exact rational solution to PRECISION_LIMIT of the applied voltages, or the solver
    # refuses the network. (It accepted errors up to 5e-5 V at 20 decades, silently.)
    from spicecl.solver import PRECISION_LIMIT

    nets = [exp16(), disordered_network(12, 25, 1), disordered_network(20, 45, 2)]
    accepted = {}
    for decades in (12, 16, 20):
        accepted[decades] = 0
        for seed in range(20):
            rng = np.random.default_rng(seed)
            for net in nets:
                r = 10.0 ** rng.uniform(-3, -3 + decades, net.n_edges)
                held = rng.permutation(net.n_nodes)[:3]
                fixed = {int(held[0]): 1.0, int(held[1]): 0.0, int(held[2]): 0.3}
                try:
                    v = solve_fixed(net, r, fixed)
                except SpiceclError as exc:
                    assert "span too many decades for double precision" in str(exc)
                    continue
                accepted[decades] += 1
                assert np.max(np.abs(v - exact_voltages(net, r, fixed))) <= PRECISION_LIMIT
    assert accepted[12] == 60  # 1 mohm to 1 Gohm: no network refused


@pytest.mark.parametrize("small", [1e-5, 1e-15])
def test_the_precision_estimate_is_what_the_checked_solve_refuses(small):
    # 1 ohm, `small`, 1 ohm from 1 V to ground: at 1e-15 the unchecked solve puts the middle
    # nodes at 0.47 V instead of 0.5 V, and the checked one refuses; estimate_precision (what
    # `bench precision` compares with the true error) is the quantity the check refuses on
    from spicecl.solver import PRECISION_LIMIT, estimate_precision

    net = chain(4, [(0, 1), (1, 2), (2, 3)])
    r, fixed = [1.0, small, 1.0], {0: 1.0, 3: 0.0}
    estimate = estimate_precision(net, r, [0, 3])
    error = np.max(np.abs(solve_fixed(net, r, fixed, check=False) - exact_voltages(net, r, fixed)))
    if small == 1e-5:
        assert estimate <= PRECISION_LIMIT and error <= PRECISION_LIMIT
        assert np.array_equal(solve_fixed(net, r, fixed), solve_fixed(net, r, fixed, check=False))
    else:
        assert estimate > PRECISION_LIMIT and error > 0.01
        with pytest.raises(SpiceclError, match="span too many decades"):
            solve_fixed(net, r, fixed)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("small", [1e-15, 1e-17])
def test_a_small_resistance_in_series_with_large_ones_is_refused_not_wrong(small, sparse):
    # 1 ohm, `small`, 1 ohm from 1 V to ground: both middle nodes are at 0.5 V. The solver
    # gave 0.47 V (1e-15) and 0.03 V (1e-17) silently, or SuperLU's RuntimeError
    net = chain(4, [(0, 1), (1, 2), (2, 3)])
    sy = NodalSystem(net, [0], [], [3], sparse=sparse)
    with pytest.raises(SpiceclError, match=r"^network c: resistances from 1e-1[57] to 1 ohm "
                                           r"span too many decades for double precision: "):
        sy.node_voltages([1.0, small, 1.0], [[1.0]])
    with pytest.raises(SpiceclError, match="span too many decades"):
        sy.unit_response([1.0, small, 1.0])
    # five decades lose ~1e-11: accepted, and right
    v = sy.node_voltages([1.0, 1e-5, 1.0], [[1.0]])[0]
    assert v[1:3] == pytest.approx([0.5 + 0.5e-5 / 2.00001, 0.5 - 0.5e-5 / 2.00001], abs=1e-12)


def test_cli_solve_refuses_a_network_beyond_double_precision(tmp_path, capsys):
    from spicecl.netio import graphml_bytes

    path = tmp_path / "spread.graphml"
    path.write_bytes(graphml_bytes(chain(4, [(0, 1), (1, 2), (2, 3)]), [1.0, 1e-15, 1.0]))
    assert main(["solve", "--network", str(path), "--fix", "0=1", "--fix", "3=0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spicecl: error: network spread.graphml: resistances from 1e-15 to 1 "
                          "ohm span too many decades for double precision: node 2's voltage "
                          "would be accurate to only ~")
    assert err.count("\n") == 1


def test_a_large_uniform_network_is_solved_not_refused_as_imprecise():
    """Uniform 1 kohm on disordered:20000:44000 (sparse): SuperLU's partial pivoting took an
    off-diagonal entry tied with the diagonal, a negative 'pivot', and the precision check
    refused the network as 'the factorization breaks down'. The voltages must satisfy
    Kirchhoff's current law and lie between the held ones."""
    net = disordered_network(20000, 44000, seed=0)
    sy = NodalSystem(net, [0], grounds=[5])
    assert sy.sparse
    r = np.full(net.n_edges, 1e3)
    v = sy.node_voltages(r, [1.0])[0]
    assert v.min() >= -1e-12 and v.max() <= 1 + 1e-12
    assert kcl_residual(net, r, v, np.array([0, 5])) < 1e-15  # (amperes)


@pytest.mark.parametrize("sparse", [False, True])
def test_unchecked_solves_pass_nan_resistances_on(sparse):
    # A diverged training run (its resistances NaN) is the trainer's to report ("training
    # diverged"): the unchecked solve gave "nodal matrix is not positive definite" (dense) or
    # SuperLU's RuntimeError (sparse)
    net = exp16()
    sy = NodalSystem(net, [0], [4], [8], sparse=sparse)
    d, m, w = sy.unit_response(np.full(net.n_edges, np.nan), check=False)
    assert np.isnan(m).all()


@pytest.mark.parametrize("outputs", [[1, 2], [1, 2, 4]])
def test_a_singular_output_response_is_a_one_line_error(outputs):
    # Outputs 1 and 2 joined by 1e-18 ohm (the rest 1 kohm) have equal responses to double
    # precision: S = Z[outputs] is singular. The unchecked solves of a training step gave
    # ZeroDivisionError (2 outputs), numpy's LinAlgError (3) or inf W with a RuntimeWarning
    # (each_unit_response, 2).
    from spicecl.solver import BatchedSystems

    net = exp16()
    edge = [i for i, (a, b) in enumerate(net.edges) if {a, b} == {1, 2}][0]
    r = np.full(net.n_edges, 1e3)
    r[edge] = 1e-18
    sy = NodalSystem(net, [0], outputs, [8])
    batched = BatchedSystems([sy, sy])
    msg = "^the output nodes' response matrix is singular in double precision"
    with pytest.raises(SpiceclError, match=msg):
        sy.unit_response(r, check=False)
    with pytest.raises(SpiceclError, match=msg):
        batched.unit_responses(np.stack([r, r]))
    with pytest.raises(SpiceclError, match=msg):
        batched.each_unit_response(np.stack([r, r]))


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_the_output_response_is_scale_invariant_where_its_determinant_under_or_overflows(scale):
    # W (edge drops per volt of clamping) does not depend on the resistances' unit; with two
    # outputs det S (ohm^2) underflowed to 0 (ZeroDivisionError) or overflowed (W = 0, silently)
    from spicecl.solver import BatchedSystems

    net = exp16()
    r = np.random.default_rng(0).uniform(500, 5000, net.n_edges)
    sy = NodalSystem(net, [0], [4, 5], [8])
    _, m, w = sy.unit_response(r)
    _, m_s, w_s = sy.unit_response(r * scale)
    assert np.allclose(m_s, m, rtol=1e-12, atol=0)
    assert np.allclose(w_s, w, rtol=1e-12, atol=1e-12)  # (W's zeros are rounding, ~1e-17)
    each = BatchedSystems([sy, sy]).each_unit_response(np.stack([r, r * scale]))
    assert np.array_equal(each[2][1], w_s)  # bit for bit the per-network response


def test_spd_inverse_is_the_inverse_or_a_one_line_error():
    from spicecl.solver import spd_inverse

    for s in ([[4.0]], [[2.0, 1.0], [1.0, 0.8]], [[1e200, 1.0], [1.0, 1e200]],
              [[1e-200, 2e-201], [2e-201, 3e-200]], [[3.0, 1.0, 0.5], [1.0, 2.0, 0.2],
                                                     [0.5, 0.2, 1.0]]):
        s = np.array(s)
        # (the 2 x 2 closed form where a d and det S are normal numbers, LU elsewhere)
        np.testing.assert_allclose(spd_inverse(s) @ s, np.eye(len(s)), rtol=0, atol=1e-14)
    # singular: det S = 0, or below 0 by rounding (not positive definite)
    for s in ([[1.0, 1.0], [1.0, 1.0]], [[1.0, 1.0 + 2**-52], [1.0 + 2**-52, 1.0]]):
        with pytest.raises(SpiceclError, match="response matrix is singular in double precision"):
            spd_inverse(np.array(s))


def test_the_batched_closed_form_applies_where_spd_inverse_s_does():
    """each_unit_response's 2 x 2 inverse takes the closed form for exactly the matrices
    spd_inverse does (a d and det normal), refusing det <= 0 there, as spd_inverse does."""
    from spicecl.solver import TINY, _closed_form

    ad = np.array([2.0, 2.0, np.inf, np.inf, TINY / 4, 1e-300])
    det = np.array([0.5, 1e-310, np.inf, np.nan, TINY / 8, 1e-300])
    assert _closed_form(ad, det).tolist() == [True, False, False, False, False, True]
    for bad in (0.0, -1e-16):
        with pytest.raises(SpiceclError, match="singular in double precision"):
            _closed_form(np.array([2.0, 1.0]), np.array([1.0, bad]))


def test_floating_nodes_are_found_from_a_mask_or_indices_and_counted_past_twenty():
    from spicecl.solver import check_no_floating

    # two parts, each with a held node: nothing floats, whichever way the held nodes are given
    net = chain(6, [(0, 1), (1, 2), (3, 4), (4, 5)])
    mask = np.zeros(6, bool)
    mask[[2, 5]] = True
    check_no_floating(net, mask)
    check_no_floating(net, [2, 5])
    with pytest.raises(SpiceclError, match=r"floating nodes with no path to a held node: 3, 4, 5$"):
        check_no_floating(net, [2])
    # 21 floating nodes: 20 named, and the count of the rest
    net = chain(23, [(0, 1)] + [(i, i + 1) for i in range(2, 22)])
    with pytest.raises(SpiceclError, match=r": 2, 3, .*, 21 and 1 more$"):
        check_no_floating(net, [0])
    net = chain(22, [(0, 1)] + [(i, i + 1) for i in range(2, 21)])
    with pytest.raises(SpiceclError, match=r": 2, 3, .*, 21$"):
        check_no_floating(net, [0])


def test_clamped_outputs_are_exactly_the_clamp_and_eq_1_targets():
    net, sy, r, rng = _task_system(4)
    x = rng.uniform(0, 1, (8, 2))
    clamp = rng.uniform(0, 1, (8, 2))
    v = sy.node_voltages(r, x, clamp=clamp)
    assert np.array_equal(v[:, sy.outputs], clamp)  # held, so exact (no rounding left)
    # Eq. 1: V_C = eta V_D + (1 - eta) V_F, from V_F at eta = 0 to V_D at eta = 1
    vf, vd = np.array([0.2, 0.6]), np.array([0.5, 0.1])
    assert clamp_targets(vf, vd, 0.25) == pytest.approx(0.25 * vd + 0.75 * vf, rel=1e-15)
    assert np.array_equal(clamp_targets(vf, vd, 1.0), vd)
    assert np.array_equal(clamp_targets(vf, vd, 0.0), vf)


def test_kcl_residual_of_a_network_with_every_node_held_is_zero():
    net = chain(3, [(0, 1), (1, 2)])
    assert kcl_residual(net, [1.0, 2.0], np.array([1.0, 0.3, 0.0]), np.arange(3)) == 0.0
    assert kcl_residual(net, [1.0, 2.0], np.array([1.0, 0.3, 0.0]), [0, 2]) == pytest.approx(
        abs((1.0 - 0.3) / 1.0 - 0.3 / 2.0), rel=1e-15)


def test_resistances_down_to_the_smallest_normal_double_are_solved():
    from spicecl.solver import TINY

    # "at least TINY": a divider of two TINY-ohm resistors still halves the voltage
    v = solve_fixed(chain(3, [(0, 1), (1, 2)]), [TINY, TINY], {0: 1.0, 2: 0.0})
    assert v[1] == pytest.approx(0.5, rel=1e-15)
    sy = NodalSystem(exp16(), [0], [4], [8])
    with pytest.raises(SpiceclError, match=r"^expected 16 resistances, got shape \(3,\)$"):
        sy.response(np.full(3, 1e3))


def test_the_sparse_and_dense_checks_estimate_the_same_loss():
    """check_precision carries each pivot's error on to the later ones (``(I - L^2)^-1``);
    the sparse and the dense factorizations of one network estimate about the same loss
    (their elimination orders round differently: 0.22 and 0.21 here)."""
    import re

    net = chain(8, [(i, i + 1) for i in range(7)])
    r = np.array([1.0, 1e-15, 1.0, 1.0, 1.0, 1.0, 1.0])
    loss = []
    for sparse in (False, True):
        with pytest.raises(SpiceclError, match="node 2's voltage would be accurate") as err:
            NodalSystem(net, [0], [], [7], sparse=sparse).node_voltages(r, [[1.0]])
        loss.append(float(re.search(r"accurate to only ~(\S+) of", str(err.value)).group(1)))
    assert 2 / 3 < loss[1] / loss[0] < 1.5, loss


def test_a_response_is_frozen():
    import dataclasses

    resp = NodalSystem(exp16(), [0], [4], [8]).response(np.full(16, 1e3))
    with pytest.raises(dataclasses.FrozenInstanceError):
        resp.M = resp.M * 2


def test_a_system_with_no_held_node_is_refused():
    with pytest.raises(SpiceclError, match=r"^no node is held at a voltage \(no inputs or grounds\)$"):
        NodalSystem(exp16(), [], [4], [])


def test_batched_systems_refuse_systems_they_cannot_batch():
    from spicecl.solver import BatchedSystems

    net = exp16()
    a = NodalSystem(net, [0], [4], [8])
    for other in (NodalSystem(net, [0], [4], [8], sparse=True), NodalSystem(exp16(), [0], [4], [8]),
                  NodalSystem(net, [0], [4, 5], [8]), NodalSystem(net, [0, 1], [4], [8])):
        with pytest.raises(ValueError, match="needs dense systems of one network, equal sizes"):
            BatchedSystems([a, other])


def test_the_precision_estimate_of_a_network_with_every_node_held_is_zero():
    from spicecl.solver import estimate_precision

    net = exp16()
    assert estimate_precision(net, np.full(net.n_edges, 1e3), np.arange(net.n_nodes)) == 0.0


@pytest.mark.parametrize("sparse", [False, True])
def test_a_system_with_every_node_held_gives_the_held_voltages_and_their_drops(sparse):
    # (before: "attempt to get argmax of an empty sequence" from the precision check)
    net = exp16()
    r = np.linspace(1e3, 2e3, net.n_edges)
    x = np.linspace(-1.0, 1.0, net.n_nodes)
    system = NodalSystem(net, np.arange(net.n_nodes), sparse=sparse)
    np.testing.assert_array_equal(system.node_voltages(r, x[None]), x[None])
    resp = system.response(r)
    np.testing.assert_allclose(resp.D @ x, x[net.edges[:, 0]] - x[net.edges[:, 1]], atol=1e-15)
    assert resp.M.shape == (0, net.n_nodes) and resp.W.shape == (0, net.n_edges)


def test_an_unknown_node_id_shows_the_ids_the_file_has(tmp_path, capsys):
    """networkx writes a graph relabelled 'n0', 'n1', ... with those ids: '--fix 0=1' then
    says which ids there are, not only that '0' is none of them."""
    from spicecl.netio import graphml_bytes
    from spicecl.network import Network, exp16

    base = exp16()
    path = tmp_path / "mine.graphml"
    ids = tuple(f"n{i}" for i in range(base.n_nodes))
    path.write_bytes(graphml_bytes(Network("mine", ids, base.edges, base.positions)))
    assert main(["solve", "--network", str(path), "--fix", "0=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no node with id '0'" in err
    assert "'n0', 'n1', 'n2', ..., 'n8'" in err


@pytest.mark.parametrize("fixed, message", [
    ({0: float("nan"), 8: 0.0}, r"^fixed must be finite volts, got nan"),
    ({0: "1", 8: 0.0}, r"^fixed: node 0 must be held at a voltage \(a number\), got '1'"),
    ({"3": 1.0, 8: 0.0}, r"^fixed: node '3' is not a node index"),
    ({1.5: 1.0, 8: 0.0}, r"^fixed: node 1.5 is not a node index"),
    ([(0, 1.0), (8, 0.0)], r"^fixed must be a non-empty dict of node index -> volts"),
])
def test_solve_fixed_refuses_what_is_not_node_indices_and_finite_volts(fixed, message):
    """A NaN voltage gave NaN node voltages, a node 1.5 was node 1, a node id "3" node
    index 3 (of a network whose node "3" may be another), "1" volt a float: silently. A list
    of pairs raised an AttributeError."""
    from spicecl.network import exp16
    from spicecl.solver import solve_fixed

    with pytest.raises(SpiceclError, match=message):
        solve_fixed(exp16(), np.ones(16), fixed)


def test_solve_fixed_takes_integral_node_indices_of_any_kind():
    from spicecl.network import exp16
    from spicecl.solver import solve_fixed

    net = exp16()
    ref = solve_fixed(net, np.ones(16), {0: 1.0, 8: 0.0})
    assert np.array_equal(solve_fixed(net, np.ones(16), {np.int64(0): 1, 8.0: 0.0}), ref)


def test_nodal_system_refuses_fractional_nodes_and_bad_example_voltages():
    from spicecl.network import exp16
    from spicecl.solver import NodalSystem

    net = exp16()
    with pytest.raises(SpiceclError, match=r"^inputs must be node indices \(integers\), got \[1.5\]"):
        NodalSystem(net, [1.5], [], [8])
    with pytest.raises(SpiceclError, match=r"^node index 0 is held twice"):
        NodalSystem(net, [0], [4], [0])
    system = NodalSystem(net, [0], [4], [8])
    with pytest.raises(SpiceclError, match=r"^x must be finite input voltages, got nan"):
        system.node_voltages(np.ones(16), [[np.nan]])
    with pytest.raises(SpiceclError, match=r"^clamp: expected 1 output voltages per example, got 3 "
                       r"\(shape \(1, 3\), not \(B, 1\)\)"):
        system.node_voltages(np.ones(16), [[1.0]], clamp=[[0.1, 0.2, 0.3]])
    with pytest.raises(SpiceclError, match=r"^clamp must have one row per example of x \(2\)"):
        system.node_voltages(np.ones(16), [[1.0], [0.5]], clamp=[[0.1]])
