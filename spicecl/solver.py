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

Precision: Cholesky loses accuracy where a pivot cancels, a node's conductance ``A_kk``
against the pivot left after elimination (what connects it to the held nodes): resistances
spanning many decades in series (1 ohm, 1e-15 ohm, 1 ohm gave voltages off by 6 %, silently).
The checked calls (:meth:`NodalSystem.node_voltages`, :meth:`NodalSystem.unit_response`,
training's error records) estimate the relative error of the voltages from the pivots
(:func:`check_precision`) and refuse a state above :data:`PRECISION_LIMIT`.

Shapes: E edges, N nodes, I inputs, O outputs, B examples, K independent networks.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from spicecl.errors import SpiceclError
from spicecl.network import Network, integral

#: Above this many free nodes the sparse path is used.
DENSE_MAX_NODES = 700
#: Largest estimated relative error of the node voltages (of the applied voltages) accepted.
PRECISION_LIMIT = 1e-6
#: Smallest normal double (a number below it has lost digits; 1/x of it overflows).
TINY = float(np.finfo(float).tiny)


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


def _sparse_factor(a, inspect: bool = False):
    """Factor the sparse SPD matrix ``a``: its solve function, and with ``inspect`` the
    SuperLU factorization for :func:`check_precision` (else None). CHOLMOD when available and
    not ``inspect``ed (its factors are not checked here), else SuperLU."""
    if not inspect:
        try:  # optional: scikit-sparse
            from sksparse.cholmod import cholesky  # type: ignore

            return cholesky(a.tocsc()), None
        except Exception:  # ImportError, or an API change: fall back to SuperLU
            pass
    from scipy.sparse.linalg import splu

    # COLAMD, not MMD_AT_PLUS_A: less fill with MMD, but its factorization is 31x slower at
    # 20,000 nodes (`spicecl bench solver`) and took 88-100 s at 50,000 (README)
    if not inspect:
        return splu(a.tocsc(), permc_spec="COLAMD").solve, None
    # inspected: diagonal pivots only (Pr = Pc, so U = D L^T). SuperLU's default partial
    # pivoting takes an off-diagonal entry where it ties with the diagonal (a node whose
    # remaining conductance all goes to one neighbour), a negative "pivot" that was refused
    # as a breakdown: uniform 1 kohm on disordered:20000:44000
    lu = splu(a.tocsc(), permc_spec="COLAMD", diag_pivot_thresh=0.0,
              options={"SymmetricMode": True})
    return lu.solve, lu


def precision_errors(diag: np.ndarray, pivots: np.ndarray, lower_sq) -> np.ndarray:
    """Estimated relative error (U,) of each pivot of the Cholesky factorization of the
    reduced Laplacian ``A = L D L^T`` (L unit lower triangular): of the node voltages, as a
    fraction of the applied voltages; inf where a pivot is not positive (the factorization
    broke down) or the estimate overflows.

    Pivot k is ``A_kk - sum_j L_kj^2 D_j``: a sum of terms of one sign for a Laplacian except
    this subtraction, which cancels (``A_kk`` >> ``D_k``: a node tied by a small resistance to
    one eliminated before it). Its absolute error is then about ``e_k = eps A_kk + sum_j
    L_kj^2 e_j`` (the errors of the earlier pivots carried on), so ``e = (I - L^2)^-1 eps
    diag(A)`` and the relative error of pivot k, ``e_k / D_k``, estimates the relative error
    of the voltages (``spicecl bench precision`` compares it with the exact rational
    solution; ``eps * max A_kk / D_k`` alone was up to 960x low).

    ``diag``, ``pivots`` (U,): the diagonal of A and D, in the order of the factorization;
    ``lower_sq``: ``L**2``, dense (U, U; only the part below the diagonal is read) or sparse
    (lower triangular, e.g. SuperLU's ``L`` squared; overwritten).
    """
    from scipy.linalg import solve_triangular
    from scipy.sparse.linalg import spsolve_triangular

    b = np.finfo(float).eps * diag
    with np.errstate(all="ignore"):  # (overflow is reported as a loss of precision)
        if not np.all(pivots > 0):
            return np.where(pivots > 0, 0.0, np.inf)
        if sp.issparse(lower_sq):  # (one copy, as CSR: a factor's L is as large as A's LU)
            lower_sq.data *= -1.0  # (its diagonal is taken for 1)
            err = spsolve_triangular(lower_sq.tocsr(), b, lower=True, unit_diagonal=True,
                                     overwrite_A=True) / pivots
        else:  # (the diagonal and the part above it are not read)
            err = solve_triangular(-lower_sq, b, lower=True, unit_diagonal=True,
                                   check_finite=False) / pivots
    return np.where(np.isnan(err), np.inf, err)


def check_precision(net: Network, free: np.ndarray, r: np.ndarray, diag: np.ndarray,
                    pivots: np.ndarray, lower_sq, order=None) -> None:
    """Raise a SpiceclError when the Cholesky factorization of the reduced Laplacian lost too
    much precision: estimated relative error of the node voltages (:func:`precision_errors`)
    above :data:`PRECISION_LIMIT`, or a pivot that is not positive (the factorization broke
    down).

    ``free`` (U,): the free nodes; ``r`` (E,): resistances; ``diag``, ``pivots``,
    ``lower_sq``: as :func:`precision_errors`; ``order`` (U,): the position in ``free`` of
    each row of the factorization (default: the same order). Resistances that are not finite
    (a diverged training run) are the caller's to report: NaN in, NaN out.
    """
    if not np.isfinite(r).all():
        return
    err = precision_errors(diag, pivots, lower_sq)
    k = int(np.argmax(err))
    loss = float(err[k])
    if loss <= PRECISION_LIMIT:
        return
    node = net.node_ids[free[k if order is None else order[k]]]
    raise _imprecise(net, r, f"node {node}'s voltage would be accurate to only ~{loss:.2g} of "
                            f"the applied voltages (limit {PRECISION_LIMIT:g})"
                    if np.isfinite(loss) else f"the factorization breaks down at node {node}")


def _imprecise(net: Network, r: np.ndarray, what: str) -> SpiceclError:
    """The error of :func:`check_precision`, saying ``what`` went wrong."""
    return SpiceclError(f"network {net.name}: resistances from {r.min():.3g} to {r.max():.3g} "
                        f"ohm span too many decades for double precision: {what}; narrow the "
                        f"range of the resistances")


def _dense_pivots(c, info: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """D (U,) and ``L**2`` (U, U) of ``A = L D L^T`` from ``c``, the Cholesky factor from
    LAPACK ``potrf`` (lower, its upper part not cleaned); ``info`` its status (> 0: pivot
    ``info`` was not positive, and the factorization stopped there: it and the later ones are
    set to 0)."""
    d = np.diagonal(c) ** 2
    if info:
        d = d.copy()
        d[info - 1:] = 0.0
    with np.errstate(all="ignore"):
        lower_sq = c * c / d  # (L D^1/2)^2 / D = L^2, column by column
    return d, lower_sq


def _check_dense(net: Network, free, r, diag, c, info: int = 0) -> None:
    """:func:`check_precision` of a dense factorization ``c`` with status ``info`` (as
    :func:`_dense_pivots`)."""
    check_precision(net, free, r, diag, *_dense_pivots(c, info))


def _singular_outputs(det) -> SpiceclError:
    """The error for an outputs' response matrix S (transfer resistances, ohm) that is
    singular in double precision (determinant ``det`` <= 0, or LAPACK found it singular)."""
    return SpiceclError(f"the output nodes' response matrix is singular in double precision "
                        f"(determinant {det:.3g}): output nodes joined by resistances too small "
                        f"against the others; narrow the range of the resistances")


def _closed_form(ad: np.ndarray, det: np.ndarray) -> np.ndarray:
    """Where the 2 x 2 closed form of :func:`spd_inverse` applies (bool, (K,)), for K matrices
    [[a, b], [b, d]] with products ``ad`` = a d and determinants ``det`` (K,); see there."""
    normal = (ad >= TINY) & (ad < np.inf)
    singular = normal & (det <= 0)
    if singular.any():
        raise _singular_outputs(float(det[singular][0]))
    return normal & (det >= TINY)


def spd_inverse(s: np.ndarray) -> np.ndarray:
    """Inverse of a small symmetric positive definite matrix (closed form up to 2 x 2);
    a SpiceclError (:func:`_singular_outputs`) when it is singular in double precision.

    The 2 x 2 closed form [[d, -b], [-b, a]] / (a d - b^2) holds where a d is a normal number
    and the determinant too; a determinant <= 0 then means S is singular. Where a d underflows
    or overflows (the resistances' scale: 1e-200 ohm) or is NaN (NaN resistances, a diverged
    training run: NaN in, NaN out), and where the determinant underflows, LU takes over.
    """
    n = s.shape[0]
    if n == 1:
        return 1.0 / s
    if n == 2:
        a, b, _, d = s.ravel().tolist()
        ad = a * d
        det = ad - b * b
        if TINY <= ad < math.inf:
            if det <= 0:
                raise _singular_outputs(det)
            if det >= TINY:
                return np.array(((d / det, -b / det), (-b / det, a / det)))
    return _lu_inverse(s)


def _lu_inverse(s: np.ndarray) -> np.ndarray:
    """``np.linalg.inv(s)`` (one LAPACK gesv per matrix of a stack), with a SpiceclError
    (:func:`_singular_outputs`) for a singular one."""
    try:
        return np.linalg.inv(s)
    except np.linalg.LinAlgError:
        raise _singular_outputs(0.0) from None


def check_no_floating(net: Network, held) -> None:
    """Raise a SpiceclError naming the nodes with no path to a held node.

    ``held``: bool mask (N,) or node indices of the nodes held at a voltage.
    """
    held = np.asarray(held)
    mask = held if held.dtype == bool else np.isin(np.arange(net.n_nodes), held)
    comp = net.components()
    floating = np.flatnonzero(~np.isin(comp, np.unique(comp[mask])))
    if floating.size:
        ids = ", ".join(net.node_ids[i] for i in floating[:20])
        more = f" and {floating.size - 20} more" if floating.size > 20 else ""
        raise SpiceclError(f"network {net.name}: floating nodes with no path to a held "
                           f"node: {ids}{more}")


def _voltages(name: str, value, width: int, what: str) -> np.ndarray:
    """``value`` as finite voltages of shape (B, width) (one example: (width,)), else a
    SpiceclError naming ``name``."""
    try:
        v = np.atleast_2d(np.asarray(value, float))
    except (TypeError, ValueError):
        raise SpiceclError(f"{name} must be {what} (numbers), got "
                           f"{reprlib.repr(value)}") from None
    if v.ndim != 2 or v.shape[1] != width:
        raise SpiceclError(f"{name}: expected {width} {what} per example, got "
                           f"{v.shape[-1]} (shape {np.shape(value)}, not (B, {width}))")
    if not np.isfinite(v).all():
        raise SpiceclError(f"{name} must be finite {what}, got {v[~np.isfinite(v)][0]}")
    return v


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
        if not isinstance(net, Network):
            raise SpiceclError(f"net must be a spicecl.network.Network, got "
                               f"{type(net).__name__}")
        self.net = net
        roles = []
        for role, idx in (("inputs", inputs), ("outputs", outputs), ("grounds", grounds)):
            raw = np.asarray(idx).reshape(-1)
            # (int64 of 1.5 is node 1, of "3" node 3: an index, or a node id taken for one)
            if raw.size and not integral(raw):
                raise SpiceclError(f"{role} must be node indices (integers), got "
                                   f"{reprlib.repr(raw.tolist())}")
            roles.append(raw.astype(np.int64))
        self.inputs, self.outputs, self.grounds = roles
        n = net.n_nodes
        for role, idx in (("input", self.inputs), ("output", self.outputs),
                          ("ground", self.grounds)):
            bad = idx[(idx < 0) | (idx >= n)]
            if bad.size:  # numpy would wrap -1 to node N-1 or raise an IndexError
                raise SpiceclError(f"{role} node index {int(bad[0])} is out of range "
                                   f"0..{n - 1} for network {net.name}")
        held = np.concatenate([self.inputs, self.grounds])
        if len(np.unique(held)) != len(held):  # (which voltage would such a node hold?)
            twice = int(np.flatnonzero(np.bincount(held, minlength=n) > 1)[0])
            raise SpiceclError(f"node index {twice} is held twice (inputs and grounds "
                               f"must be distinct nodes)")
        fixed = np.zeros(n, bool)
        fixed[self.inputs] = True
        fixed[self.grounds] = True
        if np.any(fixed[self.outputs]):
            raise SpiceclError("an output node is also an input or ground node")
        if not fixed.any():
            raise SpiceclError("no node is held at a voltage (no inputs or grounds)")
        self.free = np.flatnonzero(~fixed)
        check_no_floating(net, fixed)
        pos = np.full(n, -1)
        pos[self.free] = np.arange(len(self.free))
        self.out_pos = pos[self.outputs]
        self.sparse = len(self.free) > DENSE_MAX_NODES if sparse is None else bool(sparse)
        nu, ni, no = len(self.free), len(self.inputs), len(self.outputs)
        self._e0, self._e1 = net.edges[:, 0].copy(), net.edges[:, 1].copy()
        e = net.n_edges
        inc = net.incidence()
        if self.sparse:
            # Incidence restricted to the free nodes (E, U), and the edge drops that the unit
            # input voltages cause directly (I + O, E; zero in the output rows): the drops of
            # any unit solution X (U, C) are then (Bu @ X)^T + G0T.
            self._bu = inc[:, self.free].tocsc()
            self._bi = inc[:, self.inputs].toarray()
            self._g0T = np.zeros((ni + no, e))
            self._g0T[:ni] = inc[:, self.inputs].toarray().T
        else:
            # The drops of a unit solution X (U, C) are differences of node voltages: gathered
            # from X (read C-ordered, (C, U)) followed by the constants 0 and 1 (a held node is
            # at 1 V in the column of its own input, else at 0 V).
            nx = (ni + no) * nu
            cols = np.arange(ni + no)
            at = np.empty((n, ni + no), np.int64)
            at[self.grounds] = nx
            at[self.inputs] = np.where(cols == np.arange(ni)[:, None], nx + 1, nx)
            at[self.free] = cols * nu + np.arange(nu)[:, None]
            self._at0, self._at1 = at[self._e0].T.ravel(), at[self._e1].T.ravel()
            self._xc = np.zeros(nx + 2)
            self._xc[-1] = 1.0
            # Scatter plan: one bincount of sign * k[edge] fills one buffer holding
            # [ A = L[U, U] (U*U) | -L[I, U] (I*U) | E_O^T (O*U) ]. A is symmetric, so its
            # C-ordered block is also Fortran-ordered; the last two blocks, read as (U, I + O)
            # Fortran-ordered, are the right-hand sides [-L[U, I] | E_O].
            flat, eidx, sign = [], [], []
            for k, (a, b) in enumerate(net.edges):
                for u, v in ((a, b), (b, a)):
                    if pos[u] < 0:
                        continue
                    flat += [pos[u] * nu + pos[u]]
                    eidx += [k]
                    sign += [1.0]
                    if pos[v] >= 0:
                        flat += [pos[u] * nu + pos[v]]
                        eidx += [k]
                        sign += [-1.0]
                    else:
                        j = np.flatnonzero(self.inputs == v)
                        if j.size:  # -L[u, i] = +k
                            flat += [nu * nu + int(j[0]) * nu + pos[u]]
                            eidx += [k]
                            sign += [1.0]
            for j, o in enumerate(self.out_pos):  # E_O entries: weight k_ext[E] = 1
                flat += [nu * nu + (ni + j) * nu + int(o)]
                eidx += [e]
                sign += [1.0]
            self._flat = np.asarray(flat, np.int64)
            self._eidx = np.asarray(eidx, np.int64)
            self._sign = np.asarray(sign)
            self._size = nu * (nu + ni + no)
            self._kext = np.ones(e + 1)
            self._wbuf = np.empty(len(self._flat))

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
        ok = (r >= TINY) & (r < np.inf)  # below TINY, 1/r overflows
        if not ok.all():
            raise SpiceclError(f"resistances must be positive and finite (at least {TINY:.1e} "
                               f"ohm), got {float(r[~ok][0])!r} ohm")
        return r

    def _solve_units(self, r: np.ndarray, check: bool = False) -> np.ndarray:
        """Solve A X = [-L[U, I] | E_O] for resistances r (E,); X has shape (U, I + O).

        ``check``: refuse a factorization that lost too much precision
        (:func:`check_precision`); one that broke down is refused always.
        """
        ni, no, nu = self.n_in, self.n_out, len(self.free)
        if nu == 0:  # every node held: nothing to solve
            return np.zeros((0, ni + no), order="F")
        if self.sparse:
            kb = sp.diags(1.0 / r) @ self._bu
            a = (self._bu.T @ kb).tocsc()
            rhs = np.zeros((nu, ni + no))
            rhs[:, :ni] = -(kb.T @ self._bi)
            rhs[self.out_pos, ni + np.arange(no)] = 1.0
            try:
                solve, lu = _sparse_factor(a, inspect=check)
            except RuntimeError:  # SuperLU: "Factor is exactly singular"
                if not np.isfinite(r).all():  # (NaN in, NaN out: as check_precision)
                    return np.full((nu, ni + no), np.nan)
                raise _imprecise(self.net, r, "the factorization breaks down") from None
            if check:  # Pr a Pc = L U with diagonal pivots (Pr = Pc): U = D L^T. (A pivot
                # that cancels to exactly 0 is "exactly singular" above, or SuperLU takes an
                # off-diagonal one; in the cases tried, that U then had pivots <= 0, refused.)
                order = np.argsort(lu.perm_c)  # row j of the factors is row order[j] of a
                lower = lu.L  # (a new copy of the factor at each access)
                lower.data **= 2
                check_precision(self.net, self.free, r, a.diagonal()[order], lu.U.diagonal(),
                                lower, order=order)
            return solve(rhs)
        buf = self._assemble(r)
        diag = buf[:nu * nu:nu + 1].copy() if check else None
        c, info = lapack.dpotrf(buf[:nu * nu].reshape(nu, nu).T, lower=1, clean=0,
                                overwrite_a=1)
        if info != 0 or check:
            if diag is None:  # (the factorization overwrote A: rebuild its diagonal)
                diag = self._assemble(r)[:nu * nu:nu + 1]
            _check_dense(self.net, self.free, r, diag, c, info)
        x, info = lapack.dpotrs(c, buf[nu * nu:].reshape(ni + no, nu).T, lower=1,
                                overwrite_b=1)
        return x

    def _assemble(self, r: np.ndarray) -> np.ndarray:
        """The dense path's buffer [A (U*U) | right-hand sides (I + O)*U] for resistances r
        (E,) (the scatter plan of ``__init__``)."""
        kext, wbuf = self._kext, self._wbuf
        np.divide(1.0, r, out=kext[:-1])
        np.take(kext, self._eidx, out=wbuf, mode="clip")  # "clip": out unbuffered
        np.multiply(wbuf, self._sign, out=wbuf)
        return np.bincount(self._flat, weights=wbuf, minlength=self._size)

    def unit_drops(self, r: np.ndarray, out: np.ndarray | None = None, check: bool = False):
        """Unit solution and its edge drops for resistances r (E,), unchecked (``check``: the
        precision of :meth:`_solve_units` only).

        Returns ``X`` (U, I + O), the free-node voltages per unit source (:meth:`_solve_units`),
        and ``G`` (I + O, E), the edge drops of each unit solution (``out`` if given), with the
        input columns including the drop across edges that touch an input node.
        """
        x = self._solve_units(r, check)
        if self.sparse:
            g = np.asarray((self._bu @ x).T, order="C")
            g += self._g0T
            return x, g
        xc = self._xc
        xc[:-2] = x.T.reshape(-1)  # x is Fortran-ordered: x.T.reshape(-1) is a view
        g = np.empty((self.n_in + self.n_out, self.net.n_edges)) if out is None else out
        np.take(xc, self._at0, out=g.reshape(-1), mode="clip")  # "clip": out unbuffered
        g -= xc.take(self._at1).reshape(g.shape)
        return x, g

    def unit_response(self, resistance, check: bool = True):
        """Raw linear response of a conductance state; ``check``: the resistances and the
        precision of the solution (:func:`check_precision`) are checked.

        Returns
        -------
        D : (E, I) free-state edge drops per volt at each input
        M : (O, I) free-state output voltages per volt at each input
        W : (O, E) change of the edge drops per volt of clamping at each output; the clamped
            drops are ``dV_C = dV_F + (V_C,O - V_F,O) @ W``
        """
        r = self._check_r(resistance) if check else resistance
        x, g = self.unit_drops(r, check=check)
        ni = self.n_in
        xo = x[self.out_pos]
        if self.n_out:
            w = spd_inverse(xo[:, ni:]) @ g[ni:]
        else:
            w = np.zeros((0, self.net.n_edges))
        return g[:ni].T, xo[:, :ni], w

    def response(self, resistance) -> Response:
        """Linear response (D, M, W) of the state with resistances ``resistance`` (E,)."""
        return Response(*self.unit_response(resistance))

    def node_voltages(self, resistance, x, clamp=None, check: bool = True) -> np.ndarray:
        """Node voltages for examples ``x`` (B, I); shape (B, N).

        With ``clamp`` (B, O), the output nodes are held at those voltages (clamped state);
        otherwise they float (free state). ``check``: refuse a factorization that lost too
        much precision (:func:`check_precision`); one that broke down is refused always.
        """
        r = self._check_r(resistance)
        x = _voltages("x", x, self.n_in, "input voltages")
        sol = self._solve_units(r, check=check)
        t, z = sol[:, :self.n_in], sol[:, self.n_in:]
        v = np.zeros((x.shape[0], self.net.n_nodes))
        v[:, self.inputs] = x
        v[:, self.free] = x @ t.T
        if clamp is not None:
            clamp = _voltages("clamp", clamp, self.n_out, "output voltages")
            if len(clamp) != len(x):
                raise SpiceclError(f"clamp must have one row per example of x ({len(x)}), "
                                   f"got {len(clamp)}")
            s = z[self.out_pos]
            delta = clamp - v[:, self.outputs]
            v[:, self.free] += np.linalg.solve(s, delta.T).T @ z.T
            v[:, self.outputs] = clamp  # exact by construction; removes rounding
        return v


class BatchedSystems:
    """K dense :class:`NodalSystem` of one network, with equal role counts, solved together.

    The K reduced systems (different node roles allowed) live in one persistent buffer,
    refilled each step by one ``bincount`` over their nonzero entries, and are expanded to
    edge drops by gathers and batched products; only the factorization and triangular solves
    loop (LAPACK ``potrf``/``potrs`` in place in the buffer, no copies), so the Python overhead
    per network is a fraction of K separate :meth:`NodalSystem.unit_response` calls. Results
    equal theirs to rounding.
    """

    def __init__(self, systems: list[NodalSystem]):
        s0 = systems[0]
        shape = (len(s0.free), s0.n_in, s0.n_out)
        if any(s.sparse or s.net is not s0.net or (len(s.free), s.n_in, s.n_out) != shape
               for s in systems):
            raise ValueError("BatchedSystems needs dense systems of one network, equal sizes")
        k, (nu, ni, no) = len(systems), shape
        e, size = s0.net.n_edges, s0._size
        self.k, self.nu, self.ni, self.no, self.size = k, nu, ni, no, size
        self._net, self._free = s0.net, [s.free for s in systems]
        # The buffer: network i's [A (U*U) | right-hand sides (I + O)*U] at i * step (as
        # NodalSystem's), then the constants 0 and 1. Each block starts on a 64-byte boundary:
        # some CPUs' OpenBLAS kernels (Sandybridge's potrf/potrs) round differently on data 8
        # bytes off a 16-byte boundary, which made a network's bits depend on its place in
        # the batch there (a fresh array, as NodalSystem's, is 16-byte aligned).
        step = -(-size // 8) * 8
        raw = np.zeros(k * step + 2 + 7)
        start = (-raw.ctypes.data // 8) % 8
        self._buf = raw[start:start + k * step + 2]
        self._zero, self._one = k * step, k * step + 1
        self._buf[self._one] = 1.0
        flat = np.concatenate([s._flat + i * step for i, s in enumerate(systems)])
        # bincount over the distinct entries only: each sums its terms in the order of the
        # full-size bincount (input order), so the values are the same.
        self._nz, self._bin = np.unique(flat, return_inverse=True)
        self._eidx = np.concatenate([s._eidx + i * (e + 1) for i, s in enumerate(systems)])
        self._sign = np.concatenate([s._sign for s in systems])
        self._kext = np.ones((k, e + 1))
        self._wbuf = np.empty(len(flat))
        blocks = self._buf[:k * step].reshape(k, step)
        # a[i] is symmetric, so a[i].T is the same matrix, Fortran-ordered: factored in place;
        # the right-hand sides, read Fortran-ordered (U, I + O), are overwritten by the solution.
        self._views = [(blocks[i, :nu * nu].reshape(nu, nu).T,
                        blocks[i, nu * nu:size].reshape(ni + no, nu).T) for i in range(k)]
        # where each network's A has its diagonal, (K, U)
        self._diag = np.arange(k)[:, None] * step + np.arange(nu) * (nu + 1)
        # Where each node's voltage per unit source c lies in the buffer: the solution for a
        # free node, the constant 1 (c = its input) or 0 for a held node. The edge drops and the
        # outputs' rows are then gathers.
        where = np.empty((k, s0.net.n_nodes, ni + no), np.int64)
        cols = np.arange(ni + no)
        for i, s in enumerate(systems):
            where[i, s.grounds] = self._zero
            where[i, s.inputs] = np.where(cols == np.arange(ni)[:, None], self._one, self._zero)
            where[i, s.free] = i * step + nu * nu + cols * nu + np.arange(nu)[:, None]
        self._at0 = where[:, s0._e0].ravel()
        self._at1 = where[:, s0._e1].ravel()
        self._at_out = np.stack([where[i, s.outputs] for i, s in enumerate(systems)]).ravel()

    def unit_responses(self, resistance: np.ndarray, check: bool = False):
        """(D, M, W) of each network, shapes (K, E, I), (K, O, I), (K, O, E), for
        resistances (K, E); see :meth:`NodalSystem.unit_response` (``check``: the precision
        only, :func:`check_precision`)."""
        ni = self.ni
        g, xo = self._solve(resistance, check)
        w = _lu_inverse(xo[:, :, ni:]) @ np.swapaxes(g[:, :, ni:], 1, 2)
        return g[:, :, :ni], xo[:, :, :ni], w

    def each_unit_response(self, resistance: np.ndarray):
        """(D, M, W) as :meth:`unit_responses`, but bit for bit the arrays that K separate
        :meth:`NodalSystem.unit_response` calls return, stacked by ``np.stack`` (memory
        layout included: D is each network's (E, I) Fortran-ordered block, so products with
        it take the same BLAS path): W from :func:`spd_inverse` (closed form up to 2 x 2) and
        one matrix product per network, where :meth:`unit_responses` takes a batched LU
        inverse (equal to rounding). For callers whose results were computed network by
        network."""
        k, ni, no, e = self.k, self.ni, self.no, self._kext.shape[1] - 1
        g, xo = self._solve(resistance)
        d = np.swapaxes(np.array(np.swapaxes(g[:, :, :ni], 1, 2), order="C"), 1, 2)
        m = np.array(xo[:, :, :ni], order="C")  # (a fresh copy: canonical strides)
        if no == 0:
            return d, m, np.zeros((k, 0, e))
        s = xo[:, :, ni:]
        if no == 1:
            s_inv = 1.0 / s
        elif no == 2:  # spd_inverse's closed form, elementwise (the same IEEE operations)
            a, b, dd = s[:, 0, 0], s[:, 0, 1], s[:, 1, 1]
            with np.errstate(all="ignore"):  # (rows not closed are replaced below)
                ad = a * dd
                det = ad - b * b
                closed = _closed_form(ad, det)
                s_inv = np.empty((k, 2, 2))
                s_inv[:, 0, 0] = dd / det
                s_inv[:, 0, 1] = s_inv[:, 1, 0] = -b / det
                s_inv[:, 1, 1] = a / det
            if not closed.all():
                s_inv[~closed] = _lu_inverse(s[~closed])  # as spd_inverse, matrix by matrix
        else:
            s_inv = _lu_inverse(s)  # one LAPACK gesv per matrix, as np.linalg.inv(s[i])
        # Each network's (O, E) block C-ordered, as its own g[ni:]. matmul over a stack picks
        # its kernel (BLAS gemm/gemv or its own loop) from the core shapes and strides alone,
        # then calls it once per network: the products of K separate calls.
        g_out = np.array(np.swapaxes(g[:, :, ni:], 1, 2), order="C")
        return d, m, np.matmul(s_inv, g_out)

    def _solve(self, resistance: np.ndarray, check: bool = False):
        """Assemble, factor and solve every network: the edge drops (K, E, I + O) of the unit
        solutions and their rows at the outputs (K, O, I + O). ``check``: refuse a network
        whose factorization lost too much precision (:func:`check_precision`); one that broke
        down is refused always."""
        k, ni, no, buf = self.k, self.ni, self.no, self._buf
        np.divide(1.0, resistance, out=self._kext[:, :-1])
        np.take(self._kext.reshape(-1), self._eidx, out=self._wbuf, mode="clip")  # unbuffered
        np.multiply(self._wbuf, self._sign, out=self._wbuf)
        buf[:self._zero] = 0.0  # the factorizations and solves of the last call filled it
        buf[self._nz] = np.bincount(self._bin, weights=self._wbuf, minlength=len(self._nz))
        diag = buf.take(self._diag)  # (K, U), before the factorizations overwrite A
        for i, (a, rhs) in enumerate(self._views):
            c, info = lapack.dpotrf(a, lower=1, clean=0, overwrite_a=1)
            if info != 0 or check:  # (info != 0: refused)
                _check_dense(self._net, self._free[i], resistance[i], diag[i], c, info)
            lapack.dpotrs(c, rhs, lower=1, overwrite_b=1)
        g = buf.take(self._at0)
        g -= buf.take(self._at1)
        g = g.reshape(k, -1, ni + no)
        xo = buf.take(self._at_out).reshape(k, no, ni + no)
        return g, xo


def clamp_targets(free_out: np.ndarray, desired: np.ndarray, eta: float) -> np.ndarray:
    """Eq. 1: V_C,O = eta * V_D + (1 - eta) * V_F,O."""
    return eta * desired + (1.0 - eta) * free_out


def solve_fixed(net: Network, resistance, fixed: dict[int, float],
                check: bool = True) -> np.ndarray:
    """Node voltages (N,) with the nodes in ``fixed`` (index -> volts) held, others free
    (``check``: as :meth:`NodalSystem.node_voltages`). A node id is not an index:
    ``net.node_index(id)`` gives the index of one."""
    if not isinstance(fixed, Mapping) or not fixed:
        raise SpiceclError(f"fixed must be a non-empty dict of node index -> volts, got "
                           f"{reprlib.repr(fixed)}")
    for key, volts in fixed.items():
        if (isinstance(key, bool) or not isinstance(key, numbers.Real)
                or not float(key).is_integer()):
            raise SpiceclError(f"fixed: node {key!r} is not a node index (an integer; "
                               f"net.node_index(id) gives the index of a node id)")
        if isinstance(volts, (str, bytes, bool)) or volts is None:
            raise SpiceclError(f"fixed: node {key} must be held at a voltage (a number), "
                               f"got {volts!r}")
    idx = np.array([int(k) for k in fixed], np.int64)
    vals = _voltages("fixed", [list(fixed.values())], len(fixed), "volts")[0]
    if len(np.unique(idx)) == net.n_nodes:  # every node held: nothing to solve
        v = np.empty(net.n_nodes)
        v[idx] = vals
        return v
    system = NodalSystem(net, idx, (), ())
    return system.node_voltages(resistance, vals[None, :], check=check)[0]


def estimate_precision(net: Network, resistance, held) -> float:
    """Estimated relative error of the node voltages, as a fraction of the applied voltages,
    with the nodes ``held`` (indices) held and the others free: what :func:`solve_fixed` and
    the other checked solves refuse above :data:`PRECISION_LIMIT` (:func:`check_precision`),
    from the dense factorization they make (of at most :data:`DENSE_MAX_NODES` free nodes);
    inf where it breaks down."""
    system = NodalSystem(net, held, sparse=False)
    nu = len(system.free)
    if nu == 0:  # every node held: nothing to solve (scipy < 1.14 refuses an empty solve)
        return 0.0
    a = system._assemble(system._check_r(resistance))[:nu * nu].reshape(nu, nu).T
    c, info = lapack.dpotrf(a, lower=1, clean=0)
    return float(np.max(precision_errors(np.diagonal(a), *_dense_pivots(c, info))))


def exact_voltages(net: Network, resistance, fixed: dict[int, float]) -> np.ndarray:
    """Node voltages (N,) with the nodes in ``fixed`` (index -> volts) held, by exact rational
    elimination (:class:`fractions.Fraction`) of the reduced nodal equations, rounded once:
    the reference for the solver's precision (slow: 0.1 s at 40 nodes, 2 s at 64)."""
    from fractions import Fraction

    free = [u for u in range(net.n_nodes) if u not in fixed]
    pos = {u: k for k, u in enumerate(free)}
    a = [[Fraction(0)] * len(free) for _ in free]
    b = [Fraction(0)] * len(free)
    for (u, w), ohms in zip(net.edges.tolist(), np.asarray(resistance).tolist()):
        g = 1 / Fraction(ohms)
        for s, t in ((u, w), (w, u)):
            if s in pos:
                a[pos[s]][pos[s]] += g
                if t in pos:
                    a[pos[s]][pos[t]] -= g
                else:
                    b[pos[s]] += g * Fraction(fixed[t])
    n = len(free)
    for k in range(n):  # (A is positive definite: no pivoting needed)
        for i in range(k + 1, n):
            f = a[i][k] / a[k][k]
            if f:
                for j in range(k, n):
                    a[i][j] -= f * a[k][j]
                b[i] -= f * b[k]
    x = [Fraction(0)] * n
    for k in reversed(range(n)):
        x[k] = (b[k] - sum(a[k][j] * x[j] for j in range(k + 1, n))) / a[k][k]
    v = np.empty(net.n_nodes)
    for u, volts in fixed.items():
        v[u] = volts
    for u, k in pos.items():
        v[u] = float(x[k])
    return v


def kcl_residual(net: Network, resistance, v: np.ndarray, held: np.ndarray) -> float:
    """Max |net current| (A) into any node not in ``held``, for voltages v (N,)."""
    inc = net.incidence()
    current = (inc @ v) / np.asarray(resistance, float)
    into = inc.T @ current
    mask = np.ones(net.n_nodes, bool)
    mask[held] = False
    return float(np.max(np.abs(into[mask]))) if mask.any() else 0.0
