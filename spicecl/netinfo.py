"""What a network holds, for ``spicecl network info``: a summary (a JSON-able dict), its text
and a drawing of the network with every node labelled by its id.

The summary is computed from the :class:`~spicecl.network.Network` alone (no file is read or
written here but the drawing, through :func:`spicecl.results.atomic_savefig`). Its keys, in
this order, are stable:

``network``: the name (built-in name or file name)
``source``: ``{"path", "sha256"}`` of a network file, as manifests record it, or null
``seed``: the seed of a generated built-in, or null
``nodes``: N
``edges``: E
``degree``: ``{"min", "mean", "max"}`` of the node degrees
``connected``: whether every node has a path to every other
``components``: the number of connected parts (1 when connected)
``largest_component_nodes``: the nodes of the largest part
``resistance_ohms``: ``{"min", "median", "max"}`` of the source's resistances, or null
``default_resistance_ohms``: where ``train`` starts every edge without them (``--r-init``)
``digipot_range_ohms``: ``[R_W, R_W + R_AB]`` of the default digital potentiometer
``outside_digipot_range``: the resistances beyond it by more than half a tap, which the
    discrete rule and the hardware-faithful runs start at an end tap (null without any)
``gamma_equivalent``: the continuous rule's ``--gamma`` for resistances near this network's
    median, equivalent to the default rate at the default resistance (the rate scales with
    R^3); null when the median is within a factor 2 of the default, or without resistances
``positions_given``: the number of nodes whose positions the source gave (the others are on a
    circle, which only plots use)
``node_ids``: every node id, in index order (node i of a manifest is ``node_ids[i]``)
``ids_are_indices``: whether the ids are "0".."N-1" in that order
``tasks``: per task kind (``regression``, ``allostery``): the default ``inputs``,
    ``outputs`` and ``grounds``, the ``nodes_needed`` for them, whether the largest
    connected part ``fits`` them, and ``largest_n``, the largest n of ``--inputs n
    --outputs n`` (with the default grounds) that fits there (0: none)
"""

from __future__ import annotations

import textwrap

import numpy as np

from spicecl.network import Network

#: The node ids the text lists whole; a longer list shows its first and last few.
LISTED_IDS = 30
#: The drawing labels every node up to this many nodes (beyond, labels would overlap).
LABELLED_NODES = 200


def network_summary(net: Network) -> dict:
    """The summary of ``net`` (keys in the module docstring)."""
    import inspect

    from spicecl.learning import LearningConfig, equivalent_gamma
    from spicecl.tasks import TASK_KINDS, default_grounds, make_task
    from spicecl.variation import outside_digipot

    deg = net.degrees()
    comp = net.components()
    sizes = np.bincount(comp)
    largest = int(sizes.max())
    config = LearningConfig()
    r = net.resistance
    gamma = None if r is None else equivalent_gamma(config.gamma, float(np.median(r)))
    defaults = inspect.signature(make_task).parameters
    n_in, n_out = defaults["n_in"].default, defaults["n_out"].default
    tasks = {}
    for kind in TASK_KINDS:
        grounds = default_grounds(kind, n_out)
        need = n_in + n_out + grounds
        tasks[kind] = {"inputs": n_in, "outputs": n_out, "grounds": grounds,
                       "nodes_needed": need, "fits": need <= largest,
                       "largest_n": _largest_n(kind, largest)}
    return {
        "network": net.name,
        "source": net.source,
        "seed": net.seed,
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "degree": {"min": int(deg.min()), "mean": float(deg.mean()), "max": int(deg.max())},
        "connected": len(sizes) == 1,
        "components": len(sizes),
        "largest_component_nodes": largest,
        "resistance_ohms": None if r is None else {
            "min": float(r.min()), "median": float(np.median(r)), "max": float(r.max())},
        "default_resistance_ohms": config.r_init,
        "digipot_range_ohms": [config.r_wiper, config.r_wiper + config.r_ab],
        "outside_digipot_range": None if r is None else int(
            outside_digipot(r, config.r_ab, config.r_wiper, config.levels).size),
        "gamma_equivalent": gamma,
        "positions_given": (net.n_nodes if net.positions_given is None
                            else int(np.count_nonzero(net.positions_given))),
        "node_ids": list(net.node_ids),
        "ids_are_indices": net.node_ids == tuple(str(i) for i in range(net.n_nodes)),
        "tasks": tasks,
    }


def _largest_n(kind: str, nodes: int) -> int:
    """The largest n of n inputs and n outputs, with the default grounds, on ``nodes`` nodes
    (0 when not even n = 1 fits)."""
    from spicecl.tasks import default_grounds

    def fits(n):
        return 2 * n + default_grounds(kind, n) <= nodes

    lo, hi = 0, nodes  # fits(lo) or lo = 0; not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def _shown(node_id: str) -> str:
    """A node id as the text shows it: quoted when it is empty, holds a comma or a space
    (the list is wrapped at spaces) or a character that does not print (a tab, a line
    break)."""
    plain = (node_id and node_id.isprintable() and "," not in node_id
             and not any(c.isspace() for c in node_id))
    return node_id if plain else repr(node_id)


def summary_text(s: dict) -> str:
    """The summary ``s`` (:func:`network_summary`) as short lines of text."""
    from spicecl.network import BUILTIN_NAMES

    kind = (f" (generated, seed {s['seed']})" if s["seed"] is not None
            else " (built-in)" if s["network"] in BUILTIN_NAMES and not s["source"] else "")
    rows = [("network", s["network"] + kind)]
    if s["source"]:
        rows += [("file", s["source"]["path"]), ("sha256", s["source"]["sha256"])]
    d = s["degree"]
    rows += [("nodes", str(s["nodes"])), ("edges", str(s["edges"])),
             ("degree", f"min {d['min']}, mean {d['mean']:.3g}, max {d['max']}")]
    if s["connected"]:
        rows.append(("connected", "yes"))
    else:
        rows.append(("connected", f"no: {s['components']} connected parts, the largest of "
                                  f"{s['largest_component_nodes']} nodes (a task's nodes must "
                                  f"share one part; solve needs a held node in each)"))
    r, lo, hi = s["resistance_ohms"], *s["digipot_range_ohms"]
    where = "in the file" if s["source"] else "in the network"
    if r is None:
        rows.append(("resistance", f"none {where}: the learning default applies (train starts "
                                   f"every edge at {s['default_resistance_ohms']:.5g} ohm, the "
                                   f"digipot mid-scale tap; --r-init)"))
    else:
        text = f"min {r['min']:.5g}, median {r['median']:.5g}, max {r['max']:.5g} ohm"
        if s["outside_digipot_range"]:
            text += (f"; {s['outside_digipot_range']} outside the digipot range [{lo:g}, "
                     f"{hi:g}] ohm (the discrete rule and the hardware runs start them at an "
                     f"end tap)")
        if s["gamma_equivalent"] is not None:
            text += (f"; continuous rule: --gamma {s['gamma_equivalent']:.3g} is the "
                     f"default rate's equivalent for them")
        rows.append(("resistance", text))
    given, n = s["positions_given"], s["nodes"]
    if given == n:
        rows.append(("positions", f"given {where} (all {n} nodes)"))
    else:
        rows.append(("positions", f"{'none' if given == 0 else f'{given} of {n}'} {where}"
                                  f"{'' if given == 0 else ', the others'} drawn on a circle "
                                  f"(for plots only)"))
    ids = s["node_ids"]
    if s["ids_are_indices"]:
        rows.append(("node ids", f"0..{n - 1} (each id is its index)"))
    else:
        pairs = [f"{_shown(i)}={k}" for k, i in enumerate(ids)]
        if n > LISTED_IDS:
            pairs = pairs[:LISTED_IDS - 5] + [f"... ({n - LISTED_IDS + 5} more)"] + pairs[-5:]
        rows.append(("node ids", "id=index: " + ", ".join(pairs)))
    for kind, t in s["tasks"].items():
        text = (f"{t['inputs']} inputs, {t['outputs']} outputs, {t['grounds']} ground"
                f"{'s' if t['grounds'] != 1 else ''} (the defaults) need {t['nodes_needed']} "
                f"nodes{' in one connected part' if not s['connected'] else ''}: "
                f"{'fit' if t['fits'] else 'do not fit'}")
        if t["largest_n"]:
            text += f"; --inputs N --outputs N fit up to N = {t['largest_n']}"
        rows.append((kind, text))
    width = max(len(k) for k, _ in rows) + 2
    return "\n".join(textwrap.fill(v, 92, initial_indent=k.ljust(width),
                                   subsequent_indent=" " * width, break_on_hyphens=False,
                                   break_long_words=False)
                     for k, v in rows) + "\n"


def plot_network(net: Network, path) -> None:
    """Draw ``net`` at its node positions into the PNG ``path`` (written atomically): edges
    coloured by resistance (log scale) when the network has them, every node labelled by its
    id up to :data:`LABELLED_NODES` nodes (the title says when labels are left out)."""
    from spicecl.experiments.common import styled

    styled(_draw)(net, path)


def _draw(net: Network, path) -> None:
    from spicecl.results import atomic_savefig

    atomic_savefig(network_figure(net), path)


def network_figure(net: Network):
    """The matplotlib figure of :func:`plot_network` (one axes), not yet saved."""
    import matplotlib
    from matplotlib.collections import LineCollection
    from matplotlib.colors import LogNorm

    from spicecl.results import subplots

    n = net.n_nodes
    pos = net.positions
    span = np.ptp(pos, axis=0)
    span = np.where(span > 0, span, 1.0)
    side = float(np.clip(2.5 + 0.55 * np.sqrt(n), 4.0, 11.0))  # inches: ~5 at 16, ~9 at 150
    aspect = float(np.clip(span[1] / span[0], 0.25, 4.0))
    fig, ax = subplots(figsize=(side, side * aspect) if aspect <= 1 else (side / aspect, side))
    labelled = n <= LABELLED_NODES
    segments = pos[net.edges]
    lines = LineCollection(segments, linewidths=1.6 if n <= 400 else 0.6, zorder=1)
    if net.resistance is not None:
        r = net.resistance
        lo, hi = float(r.min()), float(r.max())
        if hi <= lo * (1 + 1e-9):  # one value: a colour scale of one decade around it
            lo, hi = lo / np.sqrt(10), hi * np.sqrt(10)
        lines.set_array(r)
        lines.set_cmap(matplotlib.colormaps["viridis"])
        lines.set_norm(LogNorm(lo, hi))
        fig.colorbar(lines, ax=ax, shrink=0.7, label="resistance (ohm)")
    else:
        lines.set_color("0.45")
    ax.add_collection(lines)
    if labelled:
        font = 7 if n <= 60 else 6 if n <= 120 else 5
        for (x, y), nid in zip(pos, net.node_ids):
            ax.annotate(_label(nid), (x, y), ha="center", va="center", fontsize=font,
                        zorder=3, bbox={"boxstyle": "round,pad=0.2", "fc": "white",
                                        "ec": "0.3", "lw": 0.5})
    else:
        ax.scatter(pos[:, 0], pos[:, 1], s=4 if n <= 5000 else 0.5, color="k", zorder=2,
                   linewidths=0)
    pad = 0.06 * span
    ax.set_xlim(pos[:, 0].min() - pad[0], pos[:, 0].max() + pad[0])
    ax.set_ylim(pos[:, 1].min() - pad[1], pos[:, 1].max() + pad[1])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    title = f"{net.name}: {n} nodes, {net.n_edges} edges"
    if not labelled:
        title += f"\n(node labels left out above {LABELLED_NODES} nodes)"
    if net.positions_given is not None:
        title += "\n(nodes without positions in the file: on a circle)"
    ax.set_title(title, fontsize=9)
    return fig


def _label(node_id: str, most: int = 12) -> str:
    """A node id as its label: control characters escaped, at most ``most`` characters."""
    text = node_id if node_id.isprintable() else repr(node_id)[1:-1]
    return text if len(text) <= most else text[:most - 1] + "\u2026"
