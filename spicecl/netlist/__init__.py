"""SPICE deck generation: safe names, twin networks with per-edge cells, oscillator banks.

Builds text only (with PySpice's Circuit API, imported lazily); never runs ngspice.
"""

from spicecl.netlist.twin import (Deck, DeckConfig, TwinSetup, absolute_includes,
                                  default_models_dir, make_setup, oscillator_deck, twin_deck)

__all__ = ["Deck", "DeckConfig", "TwinSetup", "absolute_includes", "default_models_dir",
           "make_setup", "oscillator_deck", "twin_deck"]
