"""A drop-in :class:`~spicecl.learning.Trainer` whose linear responses are solved in one batch.

:class:`spicecl.learning.Trainer` factorizes the K networks' nodal matrices one at a time, in a
Python loop (about 100 us of interpreter and LAPACK-call overhead per network and step on a
64-node network). :class:`BatchedTrainer` assembles the K reduced Laplacians with one
``bincount`` and solves them with one stacked ``numpy.linalg.solve`` (LU), which is about twice
as fast for K of a few tens. Only :meth:`responses` changes; the update rules, the schedules and
the order of random draws are the parent's, so a network's trajectory equals the parent's to
rounding (LU instead of Cholesky; ~1e-15 relative per solve) and, as in the parent, does not
depend on the networks it is batched with (the stacked solve is one LAPACK call per network).

Used by the sweeps of :mod:`spicecl.experiments` through ``train(..., trainer_cls=...)``; falls
back to the parent when a network is large enough for the sparse path or the K tasks do not
have the same numbers of held nodes.

Shapes: K networks, N nodes, U free nodes, E edges, I inputs, O outputs.
"""

from __future__ import annotations

import numpy as np

from spicecl.learning import Trainer


class BatchedTrainer(Trainer):
    """:class:`~spicecl.learning.Trainer` with a batched dense solve of the K nodal systems."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._plan = self._make_plan()

    def _make_plan(self):
        systems = self.systems
        if any(s.sparse for s in systems):
            return None
        nu = {len(s.free) for s in systems}
        ni = {s.n_in for s in systems}
        no = {s.n_out for s in systems}
        if len(nu) != 1 or len(ni) != 1 or len(no) != 1:
            return None
        nu, ni, no = nu.pop(), ni.pop(), no.pop()
        n = self.net.n_nodes
        e0, e1 = self.net.edges[:, 0], self.net.edges[:, 1]
        width = nu + ni
        flat, eidx, sign = [], [], []
        free_idx = np.empty((self.k, nu), np.int64)
        out_pos = np.empty((self.k, no), np.int64)
        for k, s in enumerate(systems):
            pos = np.full(n, -1)
            pos[s.free] = np.arange(nu)
            col = np.full(n, -1)
            col[s.free] = np.arange(nu)
            col[s.inputs] = nu + np.arange(ni)
            base = k * nu * width
            for u, v in ((e0, e1), (e1, e0)):
                e = np.flatnonzero(pos[u] >= 0)
                # diagonal entry of u
                flat.append(base + pos[u[e]] * width + pos[u[e]])
                eidx.append(k * self.net.n_edges + e)
                sign.append(np.ones(len(e)))
                # off-diagonal entry (u, v) when v is free or an input
                e2 = e[col[v[e]] >= 0]
                flat.append(base + pos[u[e2]] * width + col[v[e2]])
                eidx.append(k * self.net.n_edges + e2)
                sign.append(-np.ones(len(e2)))
            free_idx[k] = s.free
            out_pos[k] = pos[s.outputs]
        full0 = np.zeros((self.k, n, ni + no))
        for k, s in enumerate(systems):
            full0[k, s.inputs, np.arange(ni)] = 1.0
        eo = np.zeros((self.k, nu, no))
        eo[np.arange(self.k)[:, None], out_pos, np.arange(no)[None, :]] = 1.0
        return {
            "nu": nu, "ni": ni, "no": no, "width": width,
            "flat": np.concatenate(flat), "eidx": np.concatenate(eidx),
            "sign": np.concatenate(sign), "free": free_idx, "out_pos": out_pos,
            "full0": full0, "eo": eo, "kk": np.arange(self.k)[:, None],
        }

    def responses(self):
        """(G, M, Sinv) stacked over networks: (K, E, I+O), (K, O, I), (K, O, O)."""
        if self._resp is not None:
            return self._resp
        plan = self._plan
        if plan is None:
            return super().responses()
        nu, ni, width = plan["nu"], plan["ni"], plan["width"]
        cond = (1.0 / self.r).reshape(-1)
        lap = np.bincount(plan["flat"], weights=cond[plan["eidx"]] * plan["sign"],
                          minlength=self.k * nu * width).reshape(self.k, nu, width)
        rhs = np.concatenate([-lap[:, :, nu:], plan["eo"]], axis=2)
        sol = np.linalg.solve(lap[:, :, :nu], rhs)
        full = plan["full0"].copy()
        full[plan["kk"], plan["free"]] = sol
        e = self.net.edges
        g = full[:, e[:, 0]] - full[:, e[:, 1]]
        at_out = sol[plan["kk"], plan["out_pos"]]
        m, s = at_out[:, :, :ni], at_out[:, :, ni:]
        self._resp = (g, m, np.linalg.inv(s))
        return self._resp
