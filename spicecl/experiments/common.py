"""Shared pieces of the figure experiments: the training job, seeds, fits and plot helpers.

The one job function, :func:`run_train_chunk`, trains the K networks of a :class:`TrainChunk`
together with :func:`spicecl.learning.train` and returns their error curves and final
resistances as arrays. It is defined at module top level and takes a frozen, picklable spec,
so it runs unchanged in this process, a local process pool or on a Dask worker.

Shapes: K networks in a chunk, T recorded steps, S resistance snapshots, E edges.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from spicecl.errors import SpiceclError
from spicecl.learning import LearningConfig, Trainer, record_plan, train
from spicecl.network import Network, is_generated, load_network
from spicecl.solver import NodalSystem
from spicecl.tasks import make_task


@dataclass(frozen=True)
class TaskSpec:
    """How to draw a task (arguments of :func:`spicecl.tasks.make_task`)."""

    kind: str = "regression"
    n_in: int = 2
    n_out: int = 2
    n_ground: int | None = None
    n_train: int = 20
    n_test: int = 50
    volts: float = 1.0
    targets: str = "linear"  # or "teacher": y = M x of a random network on the same graph


@dataclass(frozen=True)
class TrainChunk:
    """K training runs on one network, trained together (picklable).

    task_seeds[k] draws run k's task (the same seed gives the same task, so one task can be
    shared by several p values); run_seeds[k] drives its learning randomness.
    """

    network: str
    network_seed: int
    task: TaskSpec
    task_seeds: tuple
    configs: tuple
    run_seeds: tuple
    steps: int
    n_records: int = 100
    n_snapshots: int = 2
    diffusion: bool = False   # Eq. 5 / Eq. 6 traces at the snapshots (continuous rule)
    noise: bool = False       # integrated update-noise variance (continuous rule), see NoiseTrainer
    keep_snapshots: bool = False  # return the resistance snapshots themselves
    meta: dict = field(default_factory=dict, compare=False)

    def holds(self, res: dict) -> bool:
        """Whether ``res`` (a job file read back) is what :func:`run_train_chunk` returns for
        this spec: its keys, each of its dtype and shape (K = len(run_seeds), the recorded
        and snapshot steps of :func:`spicecl.learning.record_plan`, E edges of the network)
        and finite. A sweep recomputes a job file that is not (written by other code)."""
        k, e = len(self.run_seeds), cached_network(self.network, self.network_seed).n_edges
        steps = record_plan(self.steps, self.n_records)
        snaps = record_plan(self.steps, self.n_snapshots)
        t, s = len(steps), len(snaps)
        shapes = {"steps": (t,), "train_error": (k, t), "test_error": (k, t),
                  "final_resistance": (k, e), "updates": (k,), "cpu_seconds": ()}
        if self.noise:
            shapes["noise_variance"] = (k,)
        if self.keep_snapshots or self.diffusion:
            shapes["snapshot_steps"] = (s,)
        if self.keep_snapshots:
            shapes["resistance_snapshots"] = (k, s, e)
        if self.diffusion:
            shapes.update(trace_deff=(k, s), trace_dsgd=(k, s), update_sq=(k, s),
                          spectrum_deff=(k, e))
        counts = ("steps", "updates", "snapshot_steps")
        return (res.keys() == shapes.keys()
                and all(res[key].dtype == (np.int64 if key in counts else np.float64)
                        and res[key].shape == shape and np.isfinite(res[key]).all()
                        for key, shape in shapes.items())
                and np.array_equal(res["steps"], steps)
                and np.array_equal(res.get("snapshot_steps", snaps), snaps))


@functools.lru_cache(maxsize=8)
def cached_network(spec: str, seed: int) -> Network:
    """:func:`spicecl.network.load_network`, cached per process (workers reuse it)."""
    return load_network(spec, seed)


def draw_task(net: Network, spec: TaskSpec, seed):
    """The task of ``seed``: :func:`spicecl.tasks.make_task`, optionally with teacher targets.

    ``targets='teacher'`` replaces the random linear map by the free-state map ``M`` of the
    same graph with resistances drawn uniformly in [2, 8] kohm, so that a zero-error solution
    exists (a random map is often not realizable by a 16-edge network).
    """
    rng = np.random.default_rng(seed)
    task = make_task(net, spec.kind, rng, n_in=spec.n_in, n_out=spec.n_out,
                     n_ground=spec.n_ground, n_train=spec.n_train, n_test=spec.n_test,
                     volts=spec.volts)
    if spec.targets == "teacher":
        r = rng.uniform(2e3, 8e3, net.n_edges)
        m = NodalSystem(net, task.inputs, task.outputs, task.grounds).response(r).M
        task = replace(task, train_y=task.train_x @ m.T, test_y=task.test_x @ m.T)
    return task


def update_vectors(net: Network, task, config: LearningConfig, r: np.ndarray) -> np.ndarray:
    """Per-example continuous updates dR_ij (B, E) of Eq. 7 at resistances r (E,)."""
    tr = Trainer(net, [task], [config], [0], r_init=r)
    r = tr.r[0]  # the caller's r as a float array (a list, float32), checked
    dvf, dvc = tr.drops()
    with np.errstate(over="ignore", invalid="ignore"):
        dr = config.gamma / (r * r) * (dvc[0] ** 2 - dvf[0] ** 2)
    require_finite(dr, config.gamma)
    return dr


def require_finite(values: np.ndarray, gamma) -> None:
    """A one-line error instead of NaN statistics when the learning rate ``gamma`` (a scalar,
    or one per network broadcasting against ``values``) makes the update statistics overflow;
    the training itself stays finite, its resistances being clipped to their bounds."""
    bad = ~np.isfinite(values)
    if bad.any():
        g = np.broadcast_to(np.asarray(gamma, float), bad.shape)[bad][0]
        raise SpiceclError(f"the updates dR are not finite numbers: learning rate gamma = "
                           f"{g:g} is too large")


def diffusion_traces(per_example: np.ndarray) -> tuple[float, float, float]:
    """Traces of the diffusion matrices from per-example updates (B, E).

    Returns (trace of Eq. 6's gamma^2 D_eff, trace of Eq. 5's gamma^2 D_SGD, |dR|^2) where
    dR is the full-batch update (Eq. 7). Eq. 6 with Delta R_i = dR_i e_i (edge i's part of the
    update): gamma^2 D_eff = diag(dR^2)/N - dR dR^T / N^2, so its trace is
    |dR|^2 (1/N - 1/N^2). Eq. 5 with per-example updates g_j: B^-1 sum_j g_j g_j^T - g g^T
    with g the mean of the g_j.
    """
    b, n = per_example.shape
    full = per_example.sum(axis=0)
    sq = float(full @ full)
    t_eff = sq * (1.0 / n - 1.0 / n ** 2)
    g = per_example.mean(axis=0)
    t_sgd = float(np.mean(np.sum(per_example ** 2, axis=1)) - g @ g)
    return t_eff, t_sgd, sq


def diffusion_spectrum(full_update: np.ndarray) -> np.ndarray:
    """Eigenvalues (E,), descending, of Eq. 6's gamma^2 D_eff for the full update dR (E,)."""
    n = len(full_update)
    d = np.diag(full_update ** 2) / n - np.outer(full_update, full_update) / n ** 2
    return np.linalg.eigvalsh(d)[::-1]


def noise_coefficients(config: LearningConfig, n_examples: int,
                       n_edges: int) -> tuple[float, float]:
    """Coefficients (A, C) with ``E||xi||^2 = A sum_ij g_ij^2 + C sum_i g_i^2``.

    See :func:`update_noise_variance`. Derivation: the update of edge i is ``m_i s_i`` with the
    edge gate ``m_i`` (marginal inclusion q) independent of the example sum
    ``s_i = sum_j w_j g_ij`` (mean ``beta g_i``, variance ``V_i = a S_i + c g_i^2`` with
    ``S_i = sum_j g_ij^2``), so ``Var(m_i s_i) = q V_i + q (1 - q) beta^2 g_i^2``.
    """
    e, b = n_edges, n_examples
    if config.p >= 1.0:
        q = 1.0
    elif config.p_mode == "bernoulli":
        q = config.p
    else:  # exactly round(p E) of the E edges: each edge's marginal is k / E
        q = config.gated_edges(e) / e
    if config.batch == "full":
        beta, a, c = 1.0, 0.0, 0.0
    elif config.batch == "bernoulli":
        beta = config.batch_fraction
        a, c = beta * (1.0 - beta), 0.0
    else:  # 'fixed' or 'single': k of the B examples without replacement
        k = 1 if config.batch == "single" else config.batch_size(b)
        beta = k / b
        # Var(sum of k of B draws without replacement) = k (B - k) / (B (B - 1)) *
        # sum_j (g_ij - mean_j g_ij)^2, and sum_j (g_ij - mean)^2 = S_i - g_i^2 / B.
        f = k * (b - k) / (b * (b - 1)) if b > 1 else 0.0
        a, c = f, -f / b
    return q * a, q * c + q * (1.0 - q) * beta * beta


def update_noise_variance(per_example: np.ndarray, config) -> np.ndarray | float:
    """Variance ``E||xi||^2`` of one step's stochastic update around its conditional mean.

    ``per_example`` holds the per-example updates ``g_ij`` (edge i, example j), already
    multiplied by ``gamma / R_i^2`` (Eq. 7: ``g_i = sum_j g_ij`` is the full-batch update), of
    shape (B, E) or (K, B, E); ``config`` is one :class:`~spicecl.learning.LearningConfig` or
    a sequence of K. The update actually applied is ``m_i sum_j w_j g_ij`` with the edge mask
    ``m`` (:func:`spicecl.learning.edge_mask`) and the example weights ``w``
    (:func:`spicecl.learning.example_weights`); clipping to the resistance bounds is ignored.
    Exact per schedule (q = edge inclusion):

    * Bernoulli p and b (either may be 1):
      ``sum_i [p b^2 (1 - p) g_i^2 + p b (1 - b) sum_j g_ij^2]``;
    * fixed fraction p-bar (k = round(p E) of the E edges): as Bernoulli with p -> k / E;
    * fixed fraction b-bar (k = max(1, round(b B)) of the B examples, without replacement):
      ``k (B - k) / (B (B - 1)) sum_i sum_j (g_ij - g_i / B)^2`` (``batch='single'``: k = 1);
    * p-bar and b-bar together: ``sum_i [q V_i + q (1 - q) (k/B)^2 g_i^2]``, V_i the b-bar
      variance of edge i and q = k_E / E.

    Returns a float for (B, E) input, else an array (K,), in ohm^2.
    """
    g = np.asarray(per_example, float)
    single = g.ndim == 2
    if single:
        g = g[None]
    k, b, e = g.shape
    configs = [config] * k if isinstance(config, LearningConfig) else list(config)
    if len(configs) != k:
        raise ValueError(f"{len(configs)} configs for {k} networks")
    out = _noise_variance(g, np.array([noise_coefficients(c, b, e) for c in configs]))
    return float(out[0]) if single else out


def _noise_variance(g: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``A sum_ij g_ij^2 + C sum_i g_i^2`` (K,) for per-example updates g (K, B, E) and the
    rows (A, C) of :func:`noise_coefficients` in coef (K, 2)."""
    full = g.sum(axis=1)
    return (coef[:, 0] * np.einsum("kbe,kbe->k", g, g)
            + coef[:, 1] * np.einsum("ke,ke->k", full, full))


class NoiseTrainer(Trainer):
    """:class:`~spicecl.learning.Trainer` that also accumulates, per network, the integrated
    update-noise variance ``noise`` (K,) = sum over steps of :func:`update_noise_variance`
    evaluated at the state before each step (continuous rule only).

    Used by the experiments only (the default Trainer.step stays as it is). It draws no random
    numbers, so its trajectories are those of Trainer with the same seeds (to rounding for
    K = 1, where Trainer takes its fused step).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.rule != "continuous":
            raise ValueError("NoiseTrainer: the update noise is defined for the continuous rule")
        b, e = self.x.shape[1], self.net.n_edges
        self._noise_coef = np.array([noise_coefficients(c, b, e) for c in self.configs])
        # The step computes the responses for N anyway: the general step reuses them, where
        # the fused single-network step would solve the same system again. Off the fused
        # step, overflowing updates are clipped, not NaN: Trainer checks their scale then.
        if self._fused is not None:
            self._fused = None
            self._check_update_scale()
        self.noise = np.zeros(self.k)

    def per_example_updates(self) -> np.ndarray:
        """Per-example updates ``gamma / R_i^2 ((dV_ij^C)^2 - (dV_ij^F)^2)``, (K, B, E)."""
        dvf, dvc = self.drops()
        return (self.gamma / (self.r * self.r))[:, None, :] * (dvc * dvc - dvf * dvf)

    def step(self) -> None:
        # an overflow stays inf or NaN in the sum: run_train_chunk checks it once at the end
        self.noise += _noise_variance(self.per_example_updates(), self._noise_coef)
        super().step()


def run_train_chunk(spec: TrainChunk) -> dict:
    """Train the chunk's K networks; return arrays (see module docstring for shapes).

    Keys: ``steps`` (T,), ``train_error``, ``test_error`` (K, T), ``final_resistance`` (K, E),
    ``updates`` (K,), ``cpu_seconds`` () (this process's CPU time for the chunk); with
    ``noise``: ``noise_variance`` (K,), the integrated update-noise variance (ohm^2) of
    :class:`NoiseTrainer`; with ``diffusion``: ``snapshot_steps`` (S,), ``trace_deff``,
    ``trace_dsgd``, ``update_sq`` (K, S) and ``spectrum_deff`` (K, E) at the last snapshot;
    with ``keep_snapshots``: ``snapshot_steps`` (S,) and ``resistance_snapshots`` (K, S, E).
    """
    cpu0 = time.process_time()
    net = cached_network(spec.network, spec.network_seed)
    tasks = [draw_task(net, spec.task, s) for s in spec.task_seeds]
    seeds = [np.random.default_rng(s) for s in spec.run_seeds]
    trainers = []

    def make_trainer(*args, **kwargs):
        trainers.append(NoiseTrainer(*args, **kwargs) if spec.noise else Trainer(*args, **kwargs))
        return trainers[-1]

    h = train(net, tasks, list(spec.configs), seeds, spec.steps, n_records=spec.n_records,
              n_snapshots=spec.n_snapshots, progress=False, trainer_cls=make_trainer)
    out = {
        "steps": h.steps, "train_error": h.train_error, "test_error": h.test_error,
        "final_resistance": h.final_resistance, "updates": h.updates,
    }
    if spec.noise:
        require_finite(trainers[0].noise, [c.gamma for c in spec.configs])
        out["noise_variance"] = trainers[0].noise.copy()
    if spec.keep_snapshots:
        out.update(snapshot_steps=h.snapshot_steps, resistance_snapshots=h.resistance)
    if spec.diffusion:
        k, s = h.resistance.shape[:2]
        traces = np.empty((3, k, s))
        spectra = np.empty((k, net.n_edges))
        for i in range(k):
            for j in range(s):
                per = update_vectors(net, tasks[i], spec.configs[i], h.resistance[i, j])
                traces[:, i, j] = diffusion_traces(per)
                if j == s - 1:
                    spectra[i] = diffusion_spectrum(per.sum(axis=0))
        out.update(snapshot_steps=h.snapshot_steps, trace_deff=traces[0],
                   trace_dsgd=traces[1], update_sq=traces[2], spectrum_deff=spectra)
    out["cpu_seconds"] = np.array(time.process_time() - cpu0)
    return out


def config_dict(cfg: LearningConfig) -> dict:
    """Every field of a LearningConfig (explicit, so a change of defaults changes the hash)."""
    return asdict(cfg)


def mean_sem(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of the mean along ``axis``."""
    x = np.asarray(x, float)
    n = x.shape[axis]
    sem = x.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(x.mean(axis=axis))
    return x.mean(axis=axis), sem


def power_law_fit(x, y) -> tuple[float, float]:
    """Least-squares fit of log y = a log x + log c over positive points; returns (a, c)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(y)
    if ok.sum() < 2:
        return float("nan"), float("nan")
    a, logc = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
    return float(a), float(np.exp(logc))


# Checkers of `reproduce --set` values (see spicecl.experiments.settings): each returns the
# value or raises ValueError saying what is wrong with it.

def _number(v) -> int | float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        raise ValueError("expected a finite number")
    return v


def count(lo: int = 1, hi: int | None = None):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
            raise ValueError(f"expected a whole number >= {lo}" if hi is None else
                             f"expected whole numbers in {lo}..{hi}" if hi < 1000 else
                             f"expected a whole number >= {lo} and <= {hi:,}")
        return v
    return check


def positive(v) -> float:
    if _number(v) <= 0:
        raise ValueError("expected a number > 0")
    return float(v)


def nonnegative(v) -> float:
    if _number(v) < 0:
        raise ValueError("expected a number >= 0")
    return float(v)


def boolean(v) -> bool:
    if not isinstance(v, bool):
        raise ValueError("expected true or false")
    return v


def fraction(v) -> float:
    if not 0 < _number(v) <= 1:
        raise ValueError("expected a number in (0, 1]")
    return float(v)


def grid(item, min_len: int = 2, distinct=lambda v: v, max_len: int | None = None,
         distinct_text: str = ""):
    """A list of ``min_len`` to ``max_len`` values, each checked by ``item``, distinct after
    ``distinct`` (e.g. the rounding of the job names, said by ``distinct_text``)."""
    def check(v):
        if not isinstance(v, list) or len(v) < min_len:
            raise ValueError(f"expected a list of at least {min_len} values, e.g. [1, 0.5]")
        if max_len is not None and len(v) > max_len:
            raise ValueError(f"expected at most {max_len} values")
        out = [item(x) for x in v]
        if len({distinct(x) for x in out}) != len(out):
            raise ValueError(f"the values must differ{distinct_text}")
        return out
    return check


#: a grid of p values in (0, 1], distinct to the 3 decimals the job names carry; at most 100
#: (the discrete sweeps space their learning streams 100 apart: discrete.sweep_chunks)
P_GRID = grid(fraction, distinct=lambda p: f"{p:.3f}", max_len=100,
              distinct_text=" to 3 decimals (the job names carry p so)")


def builtin_network(v) -> str:
    """A ``--set network=`` value: a built-in network (a file would make the figure depend
    on something its configuration does not hold)."""
    if not isinstance(v, str) or not (v == "exp16" or is_generated(v)):
        raise ValueError("expected a built-in network: exp16, disordered143 or "
                         "disordered:NODES:EDGES")
    if v.startswith("disordered:"):  # one spelling per network (disordered:09:16 is 9:16)
        v = "disordered:{}:{}".format(*(int(x) for x in v.split(":")[1:]))
    return v


def check_network(figure: str, s: dict, overrides: dict | None, task: TaskSpec,
                  edges_multiple_of: int = 1) -> tuple[str, int]:
    """Check a figure's ``network`` and ``network_seed`` settings together (the seed only
    for a generated network; the network drawable, with nodes for the task's roles and an
    edge count that is a multiple of ``edges_multiple_of``); return (network, seed)."""
    name, seed = s["network"], s["network_seed"]
    where = f"--set network={json.dumps(name)} for {figure}"
    if "network_seed" in (overrides or {}) and not is_generated(name):
        raise SpiceclError(f"--set network_seed for {figure}: {name} is not drawn from a seed")
    try:
        net = cached_network(name, seed)
    except SpiceclError as exc:
        raise SpiceclError(f"{where}: {exc}") from None
    roles = task.n_in + task.n_out + task.n_ground
    if net.n_nodes < roles:
        raise SpiceclError(f"{where}: {net.n_nodes} nodes, the task needs {roles}")
    if net.n_edges % edges_multiple_of:
        raise SpiceclError(f"{where}: {net.n_edges} edges; the fixed fractions of {figure} "
                           f"need a multiple of {edges_multiple_of}")
    return name, seed


def plot_title(figure: str, config: dict) -> str:
    """A figure's plot title: its name, and the ``--set`` overrides of a study past the
    paper (so a plot copied out of its directory still says how it was made)."""
    over = config.get("overrides") or {}
    if not over:
        return figure
    return f"{figure} ({', '.join(f'{k}={json.dumps(v)}' for k, v in over.items())})"


#: the figures' matplotlib style, in force while a :func:`styled` function draws
PLOT_STYLE = {"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
              "legend.frameon": False}


def styled(func):
    """``func``, a function that draws and saves a figure, run with :data:`PLOT_STYLE` in
    force and the caller's matplotlib settings back afterwards. (The style was set on the
    process's rcParams: a session's own plots, and spicecl's compare, oscillator and train
    plots drawn later in the same process, came out in it.)"""
    @functools.wraps(func)
    def drawing(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(PLOT_STYLE):
            return func(*args, **kwargs)
    return drawing


def p_colors(ps):
    """One colour per p value, dark (p = 1) to light (small p), like the paper's legends."""
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    ps = list(ps)
    lo, hi = min(ps), max(ps)
    return [cmap(0.9 * (hi - p) / (hi - lo)) if hi > lo else cmap(0.0) for p in ps]


def write_csv(path, header: list[str], rows) -> None:
    """A small CSV written atomically (via spicecl.results); a field holding a comma or a
    quote is quoted (a series label such as "exp16, allostery 2-2" split its row)."""
    import csv
    import io

    from spicecl.results import atomic_write_text

    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(header)
    out.writerows([f"{v:.10g}" if isinstance(v, float) else str(v) for v in row]
                  for row in rows)
    atomic_write_text(path, buf.getvalue())
