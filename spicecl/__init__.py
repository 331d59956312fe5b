"""spicecl: circuit-level SPICE co-simulation of physics-driven (coupled) learning networks.

Importing the package is cheap: it imports neither PySpice nor matplotlib and starts no
ngspice. See README.md for the command-line tool and the library layout.

Using it from Python: the entry points, by module (each module's docstring gives shapes, with
letters: N nodes, E edges, B examples, I inputs, O outputs, K networks; SI units throughout):

- spicecl.network: Network, exp16, disordered_network, load_network (a built-in name or a
  GraphML / jammed-text file)
- spicecl.netio: read_network_file, graphml_bytes, export_network
- spicecl.tasks: make_task (regression or allostery, from a seed or Generator) -> Task
- spicecl.learning: LearningConfig, train -> History (idealized picture: continuous Eq. 2 or
  discrete Eq. 10 rule, p-gated; K networks trained together)
- spicecl.hardware: HardwareConfig, HardwareParts, train_hardware, train_clock_free
  (hardware-faithful picture on drawn parts)
- spicecl.compare: CompareConfig, run_compare (both pictures on the same tasks and seeds)
- spicecl.solver: NodalSystem, solve_fixed (node voltages, volts)
- spicecl.variation: ToleranceSpec, draw_circuit (component tolerances and draws)
- spicecl.netlist: make_setup, twin_deck -> Deck (its text is the SPICE deck; builds text
  with PySpice, runs no ngspice)
- spicecl.spice.runner: run_ngspice (runs a deck's text with ``ngspice -b``, returns the
  vectors asked for); spicecl.spice.validate: solver_states (the nodal solver's free and
  clamped node voltages of a twin setup, to compare a deck's ``.op`` with)
- spicecl.experiments.common: update_vectors, diffusion_traces, diffusion_spectrum (Eq. 5/6)
- spicecl.sweep: Chunk, spawn_seeds, run_sweep (process pool or Dask; writes a directory)

Bad input raises :class:`SpiceclError` (spicecl.errors) with a one-line message naming the
parameter; nothing is printed to stdout. Stochastic functions take a seed or a numpy
Generator (those that record their seed with the results take a non-negative int).
"""

__version__ = "0.1.0"

from spicecl.errors import SpiceclError  # noqa: E402  (re-exported)

__all__ = ["SpiceclError", "__version__"]
