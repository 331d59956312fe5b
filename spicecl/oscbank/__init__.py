"""Oscillator bank of the desynchronous hardware: per-edge RC relaxation oscillators whose
enables, sampled by the global clock against a bias, decide which edges update.

- :mod:`spicecl.oscbank.design`: nominal design, tolerance draws, analytic p(b), deck text
- :mod:`spicecl.oscbank.measure`: waveform measurements, fast method, correlation statistics
- :mod:`spicecl.oscbank.run`: ngspice jobs (characterization, fast, full transient), sweeps,
  benchmark
- :mod:`spicecl.oscbank.plots`: figures (matplotlib, imported lazily)

The variation file that learning runs read is :mod:`spicecl.variation_file`.
Importing this package starts no process and imports neither PySpice nor matplotlib.
"""


def bench_oscillators(args=None) -> dict:
    """``spicecl bench oscillators`` (see :func:`spicecl.oscbank.run.bench_oscillators`)."""
    from spicecl.oscbank.run import bench_oscillators as _bench

    return _bench(args)
