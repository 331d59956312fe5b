"""The variation file: per-edge update data from simulated oscillator banks, for learning runs.

Written by ``spicecl oscillators --out DIR`` as ``DIR/variation.npz`` (arrays) beside
``DIR/variation.json`` (manifest), both atomically through :mod:`spicecl.results`; read with
:func:`load_variation`, which the hardware-faithful learning code uses.

Arrays (J jobs = Monte Carlo draws x bias values, K clock samples, N edges):

================  ==========  ===============================================================
name              shape       meaning
================  ==========  ===============================================================
updates           (J, K, N)   bool: edge n updates on clock sample k (enable high)
bias_volts        (J,)        bias of each job, V
draw              (J,)        Monte Carlo draw index of each job
p_edge            (J, N)      fraction of clock samples on which each edge updates
period            (J, N)      oscillator period, s (characterization transient)
duty              (J, N)      fraction of each period the enable is high
pearson           (J, N, N)   Pearson correlation matrix of the update sequences
lag1              (J, N)      lag-1 autocorrelation of each edge's update sequence
rt, ct            (D, N)      drawn timing resistor (ohm) and capacitor (F) per draw D
kh                (D, N, 3)   drawn factors of the three hysteresis resistors
voff_osc          (D, N)      drawn offsets of the oscillator comparators, V
voff_bias         (D, N)      drawn offsets of the bias comparators, V
v0                (D, N)      initial capacitor voltages, V
================  ==========  ===============================================================

The manifest holds the configuration, the seed, the netlist hashes (sha256 of each job's deck
and the model files), versions and the summary statistics.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spicecl.errors import SpiceclError

FORMAT = "spicecl-variation"
FORMAT_VERSION = 1
NPZ_NAME = "variation.npz"
JSON_NAME = "variation.json"

_JOB_ARRAYS = ("updates", "bias_volts", "draw", "p_edge", "period", "duty", "pearson", "lag1")
_DRAW_ARRAYS = ("rt", "ct", "kh", "voff_osc", "voff_bias", "v0")


@dataclass(frozen=True, eq=False)
class VariationData:
    """Contents of a variation file (see the module docstring for the arrays).

    Attributes
    ----------
    arrays : dict name -> ndarray
    manifest : dict
    path : Path of the NPZ file
    sha256 : hex sha256 of the NPZ file's bytes as read (None when not read from a file);
        manifests of runs that use the file record it, as they record a network file's
    """

    arrays: dict
    manifest: dict
    path: Path
    sha256: str | None = None

    @property
    def n_edges(self) -> int:
        return int(self.arrays["updates"].shape[2])

    @property
    def n_samples(self) -> int:
        return int(self.arrays["updates"].shape[1])

    @property
    def updates(self) -> np.ndarray:
        """bool array, shape (J, K, N)."""
        return self.arrays["updates"]

    @property
    def seed(self):
        return self.manifest.get("seed")

    def updates_for(self, bias: float | None = None, draw: int = 0) -> np.ndarray:
        """The (K, N) update sequence of one job: the given bias (closest, within 1 mV) and
        draw; the first job of the draw when ``bias`` is None."""
        jobs = np.flatnonzero(self.arrays["draw"] == draw)
        if len(jobs) == 0:
            raise SpiceclError(f"variation file {self.path}: no draw {draw}")
        if bias is None:
            return self.updates[jobs[0]]
        d = np.abs(self.arrays["bias_volts"][jobs] - float(bias))
        if d.min() > 1e-3:
            have = ", ".join(f"{b:g}" for b in self.arrays["bias_volts"][jobs])
            raise SpiceclError(f"variation file {self.path}: no bias {bias:g} V (has {have})")
        return self.updates[jobs[int(np.argmin(d))]]


def write_variation(out_dir, arrays: dict, manifest: dict) -> tuple[Path, Path]:
    """Write ``variation.npz`` and ``variation.json`` into ``out_dir`` (atomically)."""
    from spicecl.results import atomic_write_json, atomic_write_npz

    missing = [k for k in _JOB_ARRAYS + _DRAW_ARRAYS if k not in arrays]
    if missing:
        raise ValueError(f"write_variation: missing arrays {missing}")
    out_dir = Path(out_dir)
    man = dict(manifest)
    man.update({"format": FORMAT, "format_version": FORMAT_VERSION,
                "arrays": {k: list(np.shape(v)) for k, v in arrays.items()}})
    npz = atomic_write_npz(out_dir / NPZ_NAME, **{k: np.asarray(v) for k, v in arrays.items()})
    js = atomic_write_json(out_dir / JSON_NAME, man)
    return npz, js


def _resolve(path) -> tuple[Path, Path]:
    p = Path(path)
    if p.is_dir():
        return p / NPZ_NAME, p / JSON_NAME
    if p.suffix == ".json":
        return p.with_suffix(".npz"), p
    return p, p.with_suffix(".json")


def load_variation(path, n_edges: int | None = None) -> VariationData:
    """Read a variation file (its NPZ, its JSON manifest, or the directory holding them).

    Raises SpiceclError (one line naming the file) when a file is missing, corrupt or
    truncated, when arrays disagree in shape, or when ``n_edges`` is given and differs from
    the file's edge count.
    """
    from spicecl.results import read_json, read_npz

    npz, js = _resolve(path)
    what = (f"(a variation file is the {NPZ_NAME} and {JSON_NAME} that `spicecl oscillators "
            f"--out DIR` writes into DIR; give either, or DIR)")
    if not npz.exists():
        raise SpiceclError(f"variation file {npz}: no such file {what}")
    if not js.exists():
        raise SpiceclError(f"variation file {npz}: its manifest {js.name} is missing {what}")
    for f in (npz, js):  # a FIFO waited for, /dev/zero read until memory ran out
        if not f.is_file():
            raise SpiceclError(f"variation file {f}: not a regular file {what}")
    try:
        manifest = read_json(js)
    except (OSError, ValueError) as exc:
        raise SpiceclError(f"variation manifest {js}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SpiceclError(f"variation manifest {js}: not a spicecl variation manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise SpiceclError(f"variation manifest {js}: format version "
                           f"{manifest.get('format_version')!r}, this spicecl reads "
                           f"{FORMAT_VERSION}")
    try:
        raw = npz.read_bytes()  # (read once: its sha256 goes into manifests)
        arrays = read_npz(raw)
    except (OSError, ValueError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise SpiceclError(f"variation file {npz}: corrupt or truncated ({reason})") from None
    sha256 = hashlib.sha256(raw).hexdigest()
    missing = [k for k in _JOB_ARRAYS + _DRAW_ARRAYS if k not in arrays]
    if missing:
        raise SpiceclError(f"variation file {npz}: missing arrays {', '.join(missing)}")
    u = arrays["updates"]
    if u.ndim != 3 or u.dtype != np.bool_:
        raise SpiceclError(f"variation file {npz}: 'updates' must be a bool array (J, K, N), "
                           f"got {u.dtype} {u.shape}")
    j, n_samples, n = u.shape
    if j < 1 or n_samples < 1:
        raise SpiceclError(f"variation file {npz}: no jobs or no clock samples (updates "
                           f"{u.shape})")
    expect = {"bias_volts": (j,), "draw": (j,), "p_edge": (j, n), "period": (j, n),
              "duty": (j, n), "pearson": (j, n, n), "lag1": (j, n)}
    for k, shape in expect.items():
        if arrays[k].shape != shape:
            raise SpiceclError(f"variation file {npz}: '{k}' has shape {arrays[k].shape}, "
                               f"expected {shape}")
    d = arrays["rt"].shape[0] if arrays["rt"].ndim else 0
    for k in _DRAW_ARRAYS:  # exact shapes: a trailing axis broadcast or crashed downstream
        shape = (d, n, 3) if k == "kh" else (d, n)
        if arrays[k].shape != shape:
            raise SpiceclError(f"variation file {npz}: '{k}' has shape {arrays[k].shape}, "
                               f"expected {shape}")
    draw = arrays["draw"]
    if draw.dtype.kind not in "iu" or draw.min() < 0 or draw.max() >= d:
        raise SpiceclError(f"variation file {npz}: 'draw' must hold draw indices in "
                           f"0..{d - 1}, got {draw.tolist()[:5]}")
    for k in ("bias_volts",) + _DRAW_ARRAYS:  # part values and biases: no NaN, no text
        if arrays[k].dtype.kind not in "fiu" or not np.isfinite(arrays[k]).all():
            raise SpiceclError(f"variation file {npz}: '{k}' must hold finite numbers")
    for k in ("rt", "ct", "kh"):  # resistances, capacitances, resistor factors
        if not (arrays[k] > 0).all():
            raise SpiceclError(f"variation file {npz}: '{k}' must hold positive part values")
    recorded = manifest.get("arrays")
    recorded = recorded.get("updates") if isinstance(recorded, dict) else None
    if recorded is not None and recorded != list(u.shape):
        raise SpiceclError(f"variation file {npz}: updates shape {list(u.shape)} differs from "
                           f"its manifest ({recorded})")
    if n_edges is not None and int(n_edges) != n:
        raise SpiceclError(f"variation file {npz}: has {n} edges, the network has "
                           f"{int(n_edges)}")
    return VariationData(arrays, manifest, npz, sha256)


def arrays_from_run(run) -> dict:
    """The variation-file arrays of a :class:`spicecl.oscbank.run.BankRun`."""
    jobs = run.jobs
    arrays = {
        "updates": np.stack([j["updates"] for j in jobs]).astype(bool),
        "bias_volts": np.array([j["bias_volts"] for j in jobs], float),
        "draw": np.array([j["draw"] for j in jobs], np.int64),
        "p_edge": np.stack([j["p_edge"] for j in jobs]),
        "period": np.stack([j["period"] for j in jobs]),
        "duty": np.stack([j["duty"] for j in jobs]),
        "pearson": np.stack([j["pearson"] for j in jobs]),
        "lag1": np.stack([j["lag1"] for j in jobs]),
    }
    for k in _DRAW_ARRAYS:
        arrays[k] = np.stack([d.arrays()[k] for d in run.draws])
    return arrays
