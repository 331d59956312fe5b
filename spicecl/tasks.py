"""Learning tasks: node roles (inputs, outputs, grounds) and example data, drawn from a seed.

Two kinds, as in the reference paper:

* ``regression``: ``n_in`` inputs, ``n_out`` outputs, ``n_ground`` ground nodes; separate
  training and test sets; targets ``y = A x`` from a random linear map ``A`` with non-negative
  entries whose rows sum below 1: necessary for a passive resistor network (every node voltage
  is a convex combination of the applied voltages and ground), not sufficient: a given network
  and node roles may not realize it (use teacher targets when a zero-error solution is needed).
* ``allostery``: one fixed input pattern and its desired outputs (Fig. 4C/D); by default 2
  inputs, ``O`` outputs and max(1, O/2) ground nodes (Fig. 4D asks for ``O`` inputs); the
  test set is the training example.

Shapes: B training examples, T test examples, I inputs, O outputs.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass

import numpy as np

from spicecl.errors import SpiceclError, as_generator, check_count, check_range
from spicecl.network import Network, integral

TASK_KINDS = ("regression", "allostery")


@dataclass(frozen=True, eq=False)
class Task:
    """Node roles and example data of one learning task.

    Attributes
    ----------
    kind : str
    inputs, outputs, grounds : int arrays, shapes (I,), (O,), (G,)
        Node indices of the network; disjoint, I >= 1, O >= 1.
    train_x : (B, I) input voltages, volts
    train_y : (B, O) desired output voltages, volts
    test_x : (T, I)
    test_y : (T, O)

    Validated on construction (B, T >= 1; finite voltages); the node indices are checked
    against a network where one is given (:func:`check_roles`, the solver). Sequences are
    taken and kept as numpy arrays.
    """

    kind: str
    inputs: np.ndarray
    outputs: np.ndarray
    grounds: np.ndarray
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray

    def __post_init__(self):
        if self.kind not in TASK_KINDS:
            raise SpiceclError(f"Task kind must be one of {', '.join(TASK_KINDS)}, "
                               f"got {self.kind!r}")
        role_of: dict[int, str] = {}
        for role in ("inputs", "outputs", "grounds"):
            raw = np.asarray(getattr(self, role))
            if raw.ndim != 1 or (raw.size and not integral(raw)) or np.any(raw < 0):
                raise SpiceclError(f"Task {role} must be a list of node indices (integers "
                                   f">= 0), got {reprlib.repr(raw.tolist())}")
            if role != "grounds" and raw.size == 0:
                raise SpiceclError(f"Task {role} must name at least one node")
            nodes = raw.astype(np.int64)
            for i in nodes.tolist():
                if i in role_of:
                    also = f" (also in {role_of[i]})" if role_of[i] != role else ""
                    raise SpiceclError(f"Task {role}: node {i} is given twice{also}")
                role_of[i] = role
            object.__setattr__(self, role, nodes)
        width = {"x": ("I", len(self.inputs)), "y": ("O", len(self.outputs))}
        for name in ("train_x", "train_y", "test_x", "test_y"):
            try:
                v = np.asarray(getattr(self, name), float)
            except (TypeError, ValueError):
                raise SpiceclError(f"Task {name} must be voltages (numbers), got "
                                   f"{reprlib.repr(getattr(self, name))}") from None
            letter, n = width[name[-1]]
            rows = "B" if name.startswith("train") else "T"
            if v.ndim != 2 or v.shape[1] != n or len(v) == 0:
                raise SpiceclError(f"Task {name} must have shape ({rows}, {letter}) with "
                                   f"{rows} >= 1 and {letter} = {n} (the number of "
                                   f"{'inputs' if letter == 'I' else 'outputs'}), got "
                                   f"{v.shape}")
            if not np.isfinite(v).all():
                j, i = np.argwhere(~np.isfinite(v))[0]
                raise SpiceclError(f"Task {name} must be finite voltages, got {v[j, i]} at "
                                   f"example {j}, column {i}")
            object.__setattr__(self, name, v)
        for a, b in (("train_x", "train_y"), ("test_x", "test_y")):
            if len(getattr(self, a)) != len(getattr(self, b)):
                raise SpiceclError(f"Task {a} and {b} must have one row per example, got "
                                   f"{len(getattr(self, a))} and {len(getattr(self, b))} rows")

    def __repr__(self) -> str:
        """One line (the example arrays are attributes): node roles and set sizes."""
        return (f"Task({self.kind!r}: inputs {reprlib.repr(self.inputs.tolist())}, outputs "
                f"{reprlib.repr(self.outputs.tolist())}, grounds "
                f"{reprlib.repr(self.grounds.tolist())}; "
                f"{len(self.train_x)} training and {len(self.test_x)} test examples)")

    @property
    def n_in(self) -> int:
        return len(self.inputs)

    @property
    def n_out(self) -> int:
        return len(self.outputs)

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                for k, v in self.__dict__.items()}

    def node_ids(self, net: Network) -> dict:
        """The nodes of each role by the network's node ids (a file's own ids; ``inputs``,
        ``outputs`` and ``grounds`` are node indices): the nodes to wire on a board."""
        return {f"{role}_nodes": [net.node_ids[i] for i in getattr(self, f"{role}s")]
                for role in ("input", "output", "ground")}


def check_roles(net: Network, inputs, outputs, grounds) -> tuple[np.ndarray, ...]:
    """Validate node roles: integer indices in range, no node in two roles, none repeated."""
    out = []
    seen: dict[int, str] = {}
    for role, idx in (("input", inputs), ("output", outputs), ("ground", grounds)):
        raw = np.asarray(idx).reshape(-1)
        if raw.size and not integral(raw):
            raise SpiceclError(f"{role} nodes must be integer node indices, got "
                               f"{raw.tolist()}")
        arr = raw.astype(np.int64)
        for i in arr:
            if i < 0 or i >= net.n_nodes:
                raise SpiceclError(f"{role} node {int(i)} is out of range for network "
                                   f"{net.name} (0..{net.n_nodes - 1})")
            if int(i) in seen:
                raise SpiceclError(f"node {net.node_ids[i]} is given twice ({seen[int(i)]} "
                                   f"and {role})")
            seen[int(i)] = role
        out.append(arr)
    if len(out[0]) == 0:
        raise SpiceclError("a task needs at least one input node")
    if len(out[1]) == 0:
        raise SpiceclError("a task needs at least one output node")
    comp = net.components()
    if comp.max() > 0:
        cut = out[1][~np.isin(comp[out[1]], comp[out[0]])]
        if cut.size:
            ids = ", ".join(net.node_ids[i] for i in cut[:10])
            raise SpiceclError(f"network {net.name} is not connected: output node(s) {ids} "
                               f"have no path to an input node, so no input can move them "
                               f"(choose nodes in one connected part)")
    # a part held at a single node (one input, no ground) sits at that node's voltage
    fixed = np.concatenate([out[0], out[2]])
    held = np.bincount(comp[fixed], minlength=comp.max() + 1)
    alone = out[1][held[comp[out[1]]] < 2]
    if alone.size:
        ids = ", ".join(net.node_ids[i] for i in alone[:10])
        if comp.max() == 0:
            raise SpiceclError(f"output node(s) {ids}: a task with one input and no ground "
                               f"node holds every node at the input's voltage whatever the "
                               f"resistances; add a ground or an input")
        raise SpiceclError(f"network {net.name} is not connected: output node(s) {ids} "
                           f"share their connected part with only one input or ground "
                           f"node, so they sit at its voltage whatever the resistances "
                           f"(choose nodes in one connected part)")
    return tuple(out)


def random_linear_map(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    """A (O, I) map with entries >= 0 and row sums in [0.3, 0.8]: realizable by a passive net."""
    a = rng.dirichlet(np.ones(n_in + 1), size=n_out)[:, :n_in]
    s = a.sum(axis=1, keepdims=True)
    target = rng.uniform(0.3, 0.8, size=(n_out, 1))
    return a / np.maximum(s, 1e-12) * target


def default_grounds(kind: str, n_out: int) -> int:
    """Ground nodes of a task when none are asked for: 1 for regression, max(1, O/2) for
    allostery (Fig. 4D)."""
    return 1 if kind == "regression" else max(1, n_out // 2)


def make_task(net: Network, kind: str, rng: np.random.Generator, *, n_in: int = 2,
              n_out: int = 2, n_ground: int | None = None, n_train: int = 20,
              n_test: int = 50, roles=None, volts: float = 1.0) -> Task:
    """Draw a task on ``net``.

    Parameters
    ----------
    kind : 'regression' or 'allostery'
    rng : numpy Generator (the only source of randomness; its draws continue), or a seed
        (int or SeedSequence) for a new one
    n_in, n_out, n_train, n_test : integers (inputs, outputs, training and test examples)
    n_ground : ground nodes; default 1 for regression and max(1, n_out // 2) for allostery
    roles : optional (inputs, outputs, grounds) node indices instead of random ones
    volts : input voltages are drawn uniformly in [0, volts]
    """
    if kind not in TASK_KINDS:
        raise SpiceclError(f"--task must be one of {', '.join(TASK_KINDS)}, got {kind!r}")
    rng = as_generator(rng, "rng")
    n_in, n_out = check_count("n_in", n_in, 0), check_count("n_out", n_out, 0)
    n_train, n_test = check_count("n_train", n_train, 0), check_count("n_test", n_test, 0)
    if n_ground is not None:
        n_ground = check_count("n_ground", n_ground, None)  # < 0: the message below
    if n_in < 1 or n_out < 1:
        raise SpiceclError(f"inputs and outputs must be >= 1, got {n_in} and {n_out}")
    if n_ground is not None and n_ground < 0:
        raise SpiceclError(f"grounds must be >= 0, got {n_ground}")
    check_range("--volts", volts, 0, float("inf"), low_open=True, high_open=True)
    if n_ground is None:
        n_ground = default_grounds(kind, n_out)
    if roles is not None:
        inputs, outputs, grounds = check_roles(net, *roles)
    else:
        need = n_in + n_out + n_ground
        if need > net.n_nodes:
            raise SpiceclError(f"task needs {need} distinct nodes, network {net.name} has "
                               f"{net.n_nodes}")
        perm = rng.permutation(net.n_nodes)[:need]
        inputs, outputs, grounds = check_roles(net, perm[:n_in], perm[n_in:n_in + n_out],
                                               perm[n_in + n_out:])
    n_in, n_out = len(inputs), len(outputs)
    a = random_linear_map(rng, n_out, n_in)
    if kind == "regression":
        if n_train < 1 or n_test < 1:
            raise SpiceclError("regression needs at least one training and one test example")
        train_x = rng.uniform(0, volts, size=(n_train, n_in))
        test_x = rng.uniform(0, volts, size=(n_test, n_in))
    else:
        train_x = rng.uniform(0.5 * volts, volts, size=(1, n_in))
        test_x = train_x.copy()
    return Task(kind, inputs, outputs, grounds, train_x, train_x @ a.T, test_x, test_x @ a.T)
