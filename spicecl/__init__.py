"""spicecl: circuit-level SPICE co-simulation of physics-driven (coupled) learning networks.

Importing the package is cheap: it imports neither PySpice nor matplotlib and starts no
ngspice. See README.md for the command-line tool and the library layout.
"""

__version__ = "0.1.0"

from spicecl.errors import SpiceclError  # noqa: E402  (re-exported)

__all__ = ["SpiceclError", "__version__"]
