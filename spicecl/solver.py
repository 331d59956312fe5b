"""Nodal analysis of resistor networks: free and clamped states, batched.

The network is linear, so a state is fully described by its response to unit sources. For a
conductance state ``k = 1/R`` with input nodes I held at ``x``, ground nodes G at 0 V and the
remaining nodes U free, the reduced Laplacian ``A = L[U, U]`` (symmetric positive definite
when every free node connects to a held node) is factorized **once** (LAPACK Cholesky,
``potrf``; CHOLMOD or SuperLU for large networks) and solved for ``I + O`` right-hand sides:

* ``T = -A^-1 L[U, I]``: free node voltages per volt at each input, so every example's free
  state is ``V = P x`` with ``P[I] = 1``, ``P[G] = 0``, ``P[U] = T``;
* ``Z = A^-1 E_O``: the response to unit current injected at each output node.

The clamped state of Eq. 1 differs from the free state only by currents injected at the
output nodes, so it is the free state plus ``Z S^-1 (V_C,O - V_F,O)`` with ``S = Z[O]`` (the
O x O Schur complement). Every example and both states share the one factorization.

Shapes: E edges, N nodes, I inputs, O outputs, B examples, K independent networks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from spicecl.errors import SpiceclError
from spicecl.network import Network

#: Above this many free nodes the sparse path is used.
DENSE_MAX_NODES = 700


@dataclass(frozen=True)
class Response:
    """Linear response of one conductance state.

    Attributes
    ----------
    D : (E, I) edge voltage drops per volt at each input (free state)
    M : (O, I) output voltages per volt at each input (free state)
    W : (O, E) edge-drop change per volt of clamping at each output (clamped - free)
    """

    D: np.ndarray
    M: np.ndarray
    W: np.ndarray


def _sparse_factor(a):
    """A solve function for the sparse SPD matrix ``a`` (CHOLMOD when available)."""
    try:  # optional: scikit-sparse
        from sksparse.cholmod import cholesky  # type: ignore

        f = cholesky(a.tocsc())
        return f
    except Exception:  # ImportError, or an API change: fall back to SuperLU
        from scipy.sparse.linalg import splu

        return splu(a.tocsc(), permc_spec="MMD_AT_PLUS_A").solve


class NodalSystem:
    """The reduced nodal system of a network with fixed node roles.

    Parameters
    ----------
    net : Network
    inputs : (I,) node indices held at the input voltages
    outputs : (O,) node indices read (free state) or clamped (clamped state)
    grounds : (G,) node indices held at 0 V
    sparse : force the sparse (True) or dense (False) path; default by size
    """

    def __init__(self, net: Network, inputs, outputs=(), grounds=(), sparse: bool | None = None):
        self.net = net
        self.inputs = np.asarray(inputs, np.int64).reshape(-1)
        self.outputs = np.asarray(outputs, np.int64).reshape(-1)
        self.grounds = np.asarray(grounds, np.int64).reshape(-1)
        n = net.n_nodes
        fixed = np.zeros(n, bool)
        fixed[self.inputs] = True
        fixed[self.grounds] = True
        if np.any(fixed[self.outputs]):
            raise SpiceclError("an output node is also an input or ground node")
        if not fixed.any():
            raise SpiceclError("no node is held at a voltage (no inputs or grounds)")
        self.free = np.flatnonzero(~fixed)
        comp = net.components()
        held = np.unique(comp[fixed])
        floating = np.flatnonzero(~np.isin(comp, held))
        if floating.size:
            ids = ", ".join(net.node_ids[i] for i in floating[:20])
            more = f" and {floating.size - 20} more" if floating.size > 20 else ""
            raise SpiceclError(f"network {net.name}: floating nodes with no path to a held "
                               f"node: {ids}{more}")
        pos = np.full(n, -1)
        pos[self.free] = np.arange(len(self.free))
        self.out_pos = pos[self.outputs]
        self.sparse = len(self.free) > DENSE_MAX_NODES if sparse is None else bool(sparse)
        nu, ni, no = len(self.free), len(self.inputs), len(self.outputs)
        self._e0, self._e1 = net.edges[:, 0].copy(), net.edges[:, 1].copy()
        # Column of each node in [free nodes | input nodes]; -1 for grounds.
        col = np.full(n, -1)
        col[self.free] = np.arange(nu)
        col[self.inputs] = nu + np.arange(ni)
        self._col = col
        if self.sparse:
            inc = net.incidence()
            self._bu = inc[:, self.free].tocsc()
            self._bi = inc[:, self.inputs].toarray()
        else:
            # Scatter plan of the Laplacian block L[U, U | I]: entry (row, col) gets
            # sign * k[edge]; one bincount assembles it (O(E), no dense products).
            rows, cols, eidx, sign = [], [], [], []
            for e, (a, b) in enumerate(net.edges):
                for u, v in ((a, b), (b, a)):
                    if pos[u] < 0:
                        continue
                    rows += [pos[u]]
                    cols += [pos[u]]
                    eidx += [e]
                    sign += [1.0]
                    if col[v] >= 0:
                        rows += [pos[u]]
                        cols += [col[v]]
                        eidx += [e]
                        sign += [-1.0]
            width = nu + ni
            self._flat = np.asarray(rows, np.int64) * width + np.asarray(cols, np.int64)
            self._eidx = np.asarray(eidx, np.int64)
            self._sign = np.asarray(sign)
            self._width = width
        self._eo = np.zeros((nu, no))
        self._eo[self.out_pos, np.arange(no)] = 1.0
        # Node values of the unit solutions, inputs preset to the identity.
        self._full0 = np.zeros((n, ni + no))
        self._full0[self.inputs, np.arange(ni)] = 1.0

    @property
    def n_in(self) -> int:
        return len(self.inputs)

    @property
    def n_out(self) -> int:
        return len(self.outputs)

    def _check_r(self, resistance) -> np.ndarray:
        r = np.asarray(resistance, float)
        if r.shape != (self.net.n_edges,):
            raise SpiceclError(f"expected {self.net.n_edges} resistances, got shape {r.shape}")
        if not (r.min() > 0 and r.max() < np.inf):
            raise SpiceclError("resistances must be positive and finite")
        return r

    def _solve_units(self, k: np.ndarray):
        """Solve A [T | Z] = [-L_UI | E_O] for conductances k (E,); returns (T, Z)."""
        ni, nu = self.n_in, len(self.free)
        if self.sparse:
            kb = sp.diags(k) @ self._bu
            a = (self._bu.T @ kb).tocsc()
            rhs = np.hstack([-(kb.T @ self._bi), self._eo])
            sol = _sparse_factor(a)(rhs)
            return sol[:, :ni], sol[:, ni:]
        lap = np.bincount(self._flat, weights=k[self._eidx] * self._sign,
                          minlength=nu * self._width).reshape(nu, self._width)
        rhs = np.empty((nu, ni + self.n_out))
        np.negative(lap[:, nu:], out=rhs[:, :ni])
        rhs[:, ni:] = self._eo
        c, info = lapack.dpotrf(lap[:, :nu], lower=1, clean=0)
        if info != 0:  # pragma: no cover - cannot happen for positive conductances
            raise SpiceclError(f"nodal matrix is not positive definite (potrf info {info})")
        sol, info = lapack.dpotrs(c, rhs, lower=1, overwrite_b=1)
        return sol[:, :ni], sol[:, ni:]

    def unit_response(self, resistance, check: bool = True):
        """Raw linear response of a conductance state (the learning loop's hot path).

        Returns
        -------
        G : (E, I + O) edge drops per volt at each input (first I columns, free state) and
            per ampere injected at each output (last O columns)
        M : (O, I) free-state output voltages per volt at each input
        S : (O, O) output voltages per ampere injected at the outputs (the Schur complement
            that turns a clamping voltage into injected currents)
        """
        r = self._check_r(resistance) if check else resistance
        t, z = self._solve_units(1.0 / r)
        ni = self.n_in
        full = self._full0.copy()
        full[self.free, :ni] = t
        full[self.free, ni:] = z
        g = full[self._e0]
        g -= full[self._e1]
        return g, t[self.out_pos], z[self.out_pos]

    def response(self, resistance) -> Response:
        """Linear response (D, M, W) of the state with resistances ``resistance`` (E,)."""
        g, m, s = self.unit_response(resistance)
        ni = self.n_in
        if self.n_out:
            w = np.linalg.solve(s, g[:, ni:].T)
        else:
            w = np.zeros((0, self.net.n_edges))
        return Response(g[:, :ni], m, w)

    def node_voltages(self, resistance, x, clamp=None) -> np.ndarray:
        """Node voltages for examples ``x`` (B, I); shape (B, N).

        With ``clamp`` (B, O), the output nodes are held at those voltages (clamped state);
        otherwise they float (free state).
        """
        r = self._check_r(resistance)
        x = np.atleast_2d(np.asarray(x, float))
        if x.shape[1] != self.n_in:
            raise SpiceclError(f"expected {self.n_in} input voltages per example, got {x.shape[1]}")
        t, z = self._solve_units(1.0 / r)
        v = np.zeros((x.shape[0], self.net.n_nodes))
        v[:, self.inputs] = x
        v[:, self.free] = x @ t.T
        if clamp is not None:
            clamp = np.atleast_2d(np.asarray(clamp, float))
            s = z[self.out_pos]
            delta = clamp - v[:, self.outputs]
            v[:, self.free] += np.linalg.solve(s, delta.T).T @ z.T
            v[:, self.outputs] = clamp  # exact by construction; removes rounding
        return v


def clamp_targets(free_out: np.ndarray, desired: np.ndarray, eta: float) -> np.ndarray:
    """Eq. 1: V_C,O = eta * V_D + (1 - eta) * V_F,O."""
    return eta * desired + (1.0 - eta) * free_out


def solve_fixed(net: Network, resistance, fixed: dict[int, float]) -> np.ndarray:
    """Node voltages (N,) with the nodes in ``fixed`` (index -> volts) held, others free."""
    idx = np.fromiter(fixed.keys(), np.int64)
    vals = np.fromiter(fixed.values(), float)
    system = NodalSystem(net, idx, (), ())
    return system.node_voltages(resistance, vals[None, :])[0]


def kcl_residual(net: Network, resistance, v: np.ndarray, held: np.ndarray) -> float:
    """Max |net current| (A) into any node not in ``held``, for voltages v (N,)."""
    inc = net.incidence()
    current = (inc @ v) / np.asarray(resistance, float)
    into = inc.T @ current
    mask = np.ones(net.n_nodes, bool)
    mask[held] = False
    return float(np.max(np.abs(into[mask]))) if mask.any() else 0.0
