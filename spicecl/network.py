"""Resistor-network topologies: the data class, built-in networks and the generator.

A :class:`Network` is a graph with node ids, node positions and an edge list; resistances are
optional (initial values, from a file). Every command's ``--network`` argument goes through
:func:`load_network`, which accepts a built-in name, a GraphML file or a file in the
jammed-network text format of the coupled-learning literature.

Built-in names
--------------
``exp16``
    A 16-edge stand-in for the experimental network of the reference paper, whose layout is
    not published: a 3x3 grid of 9 nodes, its 12 lattice edges and one diagonal per cell.
``disordered143``
    A connected disordered 2D network of 64 nodes and 143 edges (the paper's simulated size),
    from :func:`disordered_network`.
``disordered:NODES:EDGES``
    The same generator at another size, e.g. ``disordered:256:570``; usable at 10^4+ edges.
"""

from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spicecl.errors import SpiceclError, check_count, check_seed, closest_name

BUILTIN_NAMES = ("exp16", "disordered143", "disordered:NODES:EDGES")
#: Largest generated network (a bigger one would exhaust memory before it could be used).
MAX_GENERATED_NODES = 1_000_000


def integral(a: np.ndarray) -> bool:
    """Whether array ``a`` holds whole numbers (integers, or floats such as a file reader's
    3.0): usable as node indices without truncating 0.5 to node 0, nor turning 1e30 or inf
    into the int64 -2^63."""
    if np.issubdtype(a.dtype, np.integer):
        return True
    with np.errstate(invalid="ignore"):  # (inf and NaN: not whole numbers)
        return bool(np.issubdtype(a.dtype, np.floating)
                    and np.all((np.mod(a, 1) == 0) & (np.abs(a) < 2.0 ** 63)))


@dataclass(frozen=True, eq=False)
class Network:
    """An undirected graph of resistors (its arrays are read-only copies).

    Attributes
    ----------
    name : str
        Where the network came from (built-in name or file name).
    node_ids : tuple of str, length N
        External node ids (GraphML ids, or "0".."N-1").
    edges : int array, shape (E, 2)
        Node indices (0..N-1) of each edge's two ends; no self loops, no duplicates.
    positions : float array, shape (N, 2)
        Node positions (for plots and GraphML export).
    resistance : float array, shape (E,), or None
        Initial resistances in ohms when the source gave them.
    source : dict or None
        For a network read from a file: ``{"path": absolute path, "sha256": of its bytes}``,
        which the manifests record (the file may change after a run).
    positions_given : bool array, shape (N,), or None
        Which nodes' positions the source gave (a GraphML file may leave them out: those
        nodes are laid out on a circle, which only plots use); None when it gave every one.
    """

    name: str
    node_ids: tuple[str, ...]
    edges: np.ndarray
    positions: np.ndarray
    resistance: np.ndarray | None = None
    seed: int | None = field(default=None)
    source: dict | None = field(default=None)
    positions_given: np.ndarray | None = field(default=None)

    def __post_init__(self):
        # Node ids are strings (node_index and the file formats look them up as such).
        if isinstance(self.node_ids, (str, bytes)) or not hasattr(self.node_ids, "__iter__"):
            raise SpiceclError(f"network {self.name}: node_ids must be a sequence of node ids "
                               f"(one per node, e.g. range(N)), got {self.node_ids!r}")
        object.__setattr__(self, "node_ids", tuple(str(i) for i in self.node_ids))
        n = len(self.node_ids)
        # The arrays are the network's own read-only copies: a caller's array changed later,
        # or a shared (cached) network changed in place, would bypass the checks below.
        raw = np.array(self.edges)
        if raw.size == 0:
            raw = raw.reshape(0, 2)
        if raw.ndim != 2 or raw.shape[1] != 2:
            raise SpiceclError(f"network {self.name}: edges must have shape (E, 2), got "
                               f"{raw.shape} (a (2, E) array is edges.T)")
        if not integral(raw):
            raise SpiceclError(f"network {self.name}: edges must be integer node indices "
                               f"0..{n - 1}")
        edges = raw.astype(np.int64)
        edges.flags.writeable = False
        object.__setattr__(self, "edges", edges)
        pos = np.array(self.positions, float)
        if pos.shape != (n, 2):
            raise SpiceclError(f"network {self.name}: positions must have shape ({n}, 2), "
                               f"got {pos.shape}")
        pos.flags.writeable = False
        object.__setattr__(self, "positions", pos)
        if self.positions_given is not None:
            given = np.array(self.positions_given)
            if given.shape != (n,) or given.dtype != bool:
                raise SpiceclError(f"network {self.name}: positions_given must be {n} booleans, "
                                   f"got {given.dtype} of shape {given.shape}")
            given.flags.writeable = False
            object.__setattr__(self, "positions_given", given)
        if len(set(self.node_ids)) != n:
            raise SpiceclError(f"network {self.name}: duplicate node ids")
        if edges.size and (edges.min() < 0 or edges.max() >= n):
            raise SpiceclError(f"network {self.name}: an edge names a node outside 0..{n - 1}")
        if np.any(edges[:, 0] == edges[:, 1]):
            i = int(np.flatnonzero(edges[:, 0] == edges[:, 1])[0])
            raise SpiceclError(f"network {self.name}: edge {i} is a self loop on node "
                               f"{self.node_ids[edges[i, 0]]}")
        key = np.sort(edges, axis=1)
        _u, first, counts = np.unique(key, axis=0, return_index=True, return_counts=True)
        if np.any(counts > 1):
            a, b = key[first[np.argmax(counts > 1)]]
            dup = np.flatnonzero((key[:, 0] == a) & (key[:, 1] == b))
            raise SpiceclError(f"network {self.name}: duplicate edges {dup[0]} and {dup[1]} "
                               f"(nodes {self.node_ids[a]} and {self.node_ids[b]})")
        if self.resistance is not None:
            try:
                r = np.asarray(self.resistance, float).reshape(-1)
            except (TypeError, ValueError):
                raise SpiceclError(f"network {self.name}: resistance must be numbers (ohm), "
                                   f"got {reprlib.repr(self.resistance)}") from None
            if r.shape[0] != len(edges):
                raise SpiceclError(f"network {self.name}: {r.shape[0]} resistances for "
                                   f"{len(edges)} edges")
            if not np.all(np.isfinite(r)) or np.any(r <= 0):
                i = int(np.flatnonzero(~(np.isfinite(r) & (r > 0)))[0])
                raise SpiceclError(f"network {self.name}: edge {i} has a non-positive "
                                   f"resistance {float(r[i])!r} ohm")
            r = r.copy()
            r.flags.writeable = False
            object.__setattr__(self, "resistance", r)

    def __repr__(self) -> str:
        """One line (the arrays are attributes): what a notebook shows for a network."""
        r = self.resistance
        res = (f"resistance {r.min():.4g}..{r.max():.4g} ohm" if r is not None and r.size
               else "no resistances")
        return (f"Network({self.name!r}: {self.n_nodes} nodes, {self.n_edges} edges, {res}"
                + (f", seed {self.seed}" if self.seed is not None else "") + ")")

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    def degrees(self) -> np.ndarray:
        """Node degrees, shape (N,)."""
        return np.bincount(self.edges.ravel(), minlength=self.n_nodes)

    def incidence(self):
        """Sparse signed incidence matrix, shape (E, N): +1 at edge[:,0], -1 at edge[:,1].

        The voltage drop across the edges is ``incidence() @ V``.
        """
        import scipy.sparse as sp

        e = self.n_edges
        rows = np.repeat(np.arange(e), 2)
        cols = self.edges.ravel()
        vals = np.tile([1.0, -1.0], e)
        return sp.csr_matrix((vals, (rows, cols)), shape=(e, self.n_nodes))

    def components(self) -> np.ndarray:
        """Connected-component label of each node, shape (N,)."""
        import scipy.sparse as sp
        from scipy.sparse.csgraph import connected_components

        n = self.n_nodes
        a = sp.coo_matrix((np.ones(self.n_edges), (self.edges[:, 0], self.edges[:, 1])),
                          shape=(n, n))
        return connected_components(a, directed=False)[1]

    def is_connected(self) -> bool:
        return self.n_nodes > 0 and int(self.components().max()) == 0

    def node_index(self, node_id: str) -> int:
        """Index of a node given its id; a clear error when there is none."""
        try:
            return self.node_ids.index(str(node_id))
        except ValueError:
            raise SpiceclError(f"network {self.name}: no node with id {node_id!r} (its ids: "
                               f"{self._some_ids()})") from None

    def _some_ids(self) -> str:
        """The first three node ids and the last, for an error message (long ids shortened)."""
        ids = [reprlib.repr(i) for i in self.node_ids]
        return ", ".join(ids if len(ids) <= 4 else ids[:3] + ["...", ids[-1]])


def exp16() -> Network:
    """The 16-edge stand-in for the experimental network (layout assumed, not published).

    A 3x3 grid of 9 nodes (ids 0..8, row by row), its 12 lattice edges, and one diagonal per
    cell (4), all in the same direction (a regular triangulation of the grid).
    """
    pos = np.array([(x, y) for y in range(3) for x in range(3)], float)
    edges = []
    for y in range(3):
        for x in range(3):
            i = 3 * y + x
            if x < 2:
                edges.append((i, i + 1))
            if y < 2:
                edges.append((i, i + 3))
    for y in range(2):
        for x in range(2):
            i = 3 * y + x
            edges.append((i, i + 4))
    return Network("exp16", tuple(str(i) for i in range(9)), np.array(edges), pos)


def disordered_network(n_nodes: int = 64, n_edges: int = 143, seed: int = 0,
                       name: str | None = None) -> Network:
    """A connected disordered 2D network with exactly ``n_nodes`` and ``n_edges``.

    Points are drawn uniformly in a square, triangulated (Delaunay), and edges of the
    triangulation are removed at random, never one of a random spanning tree (so the graph
    stays connected) and never one whose removal would leave a node with degree < 2.
    Deterministic for a given seed; O(E log E), usable at 10^4+ edges.

    Raises SpiceclError when the size cannot be met (E < N, E above what a planar
    triangulation of N points offers, or N above :data:`MAX_GENERATED_NODES`).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial import Delaunay

    # integers, not 20.7 (the ranges are checked below, with their reasons)
    n_nodes = check_count("disordered network: nodes", n_nodes, None)
    n_edges = check_count("disordered network: edges", n_edges, None)
    seed = check_seed(seed)
    if not 3 <= n_nodes <= MAX_GENERATED_NODES:
        raise SpiceclError(f"disordered network: nodes must be in 3..{MAX_GENERATED_NODES}, "
                           f"got {n_nodes}")
    if n_edges < n_nodes:
        raise SpiceclError(f"disordered network: edges ({n_edges}) must be >= nodes "
                           f"({n_nodes}) for every node to have degree >= 2")
    if n_edges > 3 * n_nodes - 6 and n_nodes > 3:  # before triangulating (22 s at 10^6 nodes)
        raise SpiceclError(f"disordered network: {n_edges} edges is more than a planar graph of "
                           f"{n_nodes} nodes can hold (at most 3N - 6 = {3 * n_nodes - 6})")
    rng = np.random.default_rng(np.random.SeedSequence([0x5CC1, int(seed), n_nodes, n_edges]))
    pts = rng.random((n_nodes, 2)) * np.sqrt(n_nodes)
    s = Delaunay(pts).simplices
    e = np.concatenate([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]])
    # int64: Delaunay gives int32 indices, and the edge keys below (a * N + b) overflow int32
    # above 46340 nodes.
    e = np.unique(np.sort(e, axis=1), axis=0).astype(np.int64)
    if len(e) < n_edges:
        raise SpiceclError(f"disordered network: at most ~{len(e)} edges fit on {n_nodes} "
                           f"nodes in 2D, asked for {n_edges}")
    # A random spanning tree that removal never touches keeps the graph connected.
    w = rng.random(len(e)) + 1e-9
    mst = minimum_spanning_tree(coo_matrix((w, (e[:, 0], e[:, 1])), shape=(n_nodes,) * 2))
    tree = np.unique(np.sort(np.column_stack(mst.nonzero()), axis=1), axis=0).astype(np.int64)
    # Every leaf of the tree needs an edge outside it, and one edge serves at most two
    # leaves: fewer edges than that cannot be reached, and the loop below would say so only
    # after minutes (10^6 nodes)
    leaves = int(np.count_nonzero(np.bincount(tree.ravel(), minlength=n_nodes) == 1))
    if n_edges < n_nodes - 1 + (leaves + 1) // 2:
        raise SpiceclError(f"disordered network: cannot thin to {n_edges} edges on {n_nodes} "
                           f"nodes keeping every degree >= 2 (the spanning tree that keeps it "
                           f"connected has {leaves} leaves: at least "
                           f"{n_nodes - 1 + (leaves + 1) // 2} edges)")
    in_tree = np.zeros(len(e), bool)
    key = e[:, 0] * n_nodes + e[:, 1]
    in_tree[np.searchsorted(key, tree[:, 0] * n_nodes + tree[:, 1])] = True
    deg = np.bincount(e.ravel(), minlength=n_nodes)
    keep = np.ones(len(e), bool)
    to_remove = len(e) - n_edges
    # Prefer removing long edges a little (jammed packings have no long bonds).
    length = np.linalg.norm(pts[e[:, 0]] - pts[e[:, 1]], axis=1)
    order = np.argsort(-(length * rng.random(len(e)) ** 0.5), kind="stable")
    for i in order:
        if to_remove == 0:
            break
        a, b = e[i]
        if in_tree[i] or deg[a] <= 2 or deg[b] <= 2:
            continue
        keep[i] = False
        deg[a] -= 1
        deg[b] -= 1
        to_remove -= 1
    if to_remove:
        raise SpiceclError(f"disordered network: cannot thin to {n_edges} edges on "
                           f"{n_nodes} nodes keeping every degree >= 2")
    label = name or (f"disordered{n_edges}" if (n_nodes, n_edges) == (64, 143)
                     else f"disordered:{n_nodes}:{n_edges}")
    return Network(label, tuple(str(i) for i in range(n_nodes)), e[keep], pts, seed=int(seed))


# ASCII digits only and nothing after them (\d took other scripts' digits, '$' a trailing
# newline), as in the network files (netio._integer)
_DISORDERED_RE = re.compile(r"disordered:([0-9]+):([0-9]+)")


def is_generated(spec: str) -> bool:
    """True for the built-in networks drawn from a seed (disordered143, disordered:N:E)."""
    return str(spec) == "disordered143" or _DISORDERED_RE.fullmatch(str(spec)) is not None


def load_network(spec: str, seed: int = 0) -> Network:
    """Resolve a ``--network`` argument: a built-in name, a GraphML file or a jammed text file.

    ``seed`` is used by the generated built-ins only (``disordered143``, ``disordered:N:E``).
    """
    spec = str(spec)
    if spec == "exp16":
        return exp16()
    if spec == "disordered143":
        return disordered_network(64, 143, seed)
    m = _DISORDERED_RE.fullmatch(spec)
    if m:
        return disordered_network(int(m.group(1)), int(m.group(2)), seed)
    path = Path(spec)
    try:
        exists = bool(spec) and path.exists()  # Path("") is the current directory
    except OSError as exc:  # a name longer than the system allows (exists() raised it)
        raise SpiceclError(f"network {spec!r}: {exc.strerror or exc}") from None
    if not exists:
        # a hint for a mistyped built-in name, not for a path or disordered:N:E
        hint = (closest_name(spec, ("exp16", "disordered143"))
                if not any(c in spec for c in "/.:") else None)
        raise SpiceclError(f"unknown network {spec!r}: not a built-in name "
                           f"({', '.join(BUILTIN_NAMES)}) and no such file"
                           + (f" (maybe you meant {hint}?)" if hint else ""))
    if path.is_dir():
        raise SpiceclError(f"network {spec}: is a directory, expected a GraphML or text file")
    from spicecl import netio

    return netio.read_network_file(path)
