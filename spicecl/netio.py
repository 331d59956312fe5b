"""Network file formats: GraphML (read and write, with lxml) and the jammed-network text format.

GraphML is parsed with entity resolution, DTD loading and network access all off; a document
that declares a DTD is refused outright. Node ids and x/y positions come from ``<data>`` keys
named ``x`` and ``y``; the edge key named ``resistance`` (ohms) gives initial resistances.

The jammed-network text format (coupled-learning literature)::

    N E L          number of nodes, number of edges, side of the periodic box
    x y            N lines: node positions; node ids are 0..N-1 in this order
    i j            E lines: an edge between node i and node j (0-based)
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from spicecl.errors import SpiceclError
from spicecl.network import Network

GRAPHML_NS = "http://graphml.graphdrawing.org/xmlns"

# Characters XML cannot hold (control characters, lone surrogates from undecodable file names).
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _safe_parser():
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True)


#: Largest network file read (a 10^6-node GraphML is a few hundred MB); also stops /dev/zero.
MAX_FILE_BYTES = 1 << 30


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, read once (so a pipe such as /dev/stdin works), at most
    :data:`MAX_FILE_BYTES`."""
    chunks, size = [], 0
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 24):
                size += len(chunk)
                if size > MAX_FILE_BYTES:
                    raise SpiceclError(f"network file {path}: larger than "
                                       f"{MAX_FILE_BYTES >> 20} MiB")
                chunks.append(chunk)
    except OSError as exc:
        raise SpiceclError(f"network file {path}: {exc.strerror or exc}") from None
    return b"".join(chunks)


def _refuse_nul(path: Path, raw: bytes) -> None:
    # UTF-16/32: GraphML's DTD check reads the bytes as ASCII, and no network tool needs them
    if b"\x00" in raw[:4096]:
        raise SpiceclError(f"network file {path}: not UTF-8 text (NUL bytes); network files "
                           f"must be UTF-8")


def read_network_file(path: Path) -> Network:
    """Read a GraphML or jammed-text network file, telling the format from its content."""
    path = Path(path)
    raw = _read_bytes(path)
    _refuse_nul(path, raw)
    head = raw[:512].removeprefix(b"\xef\xbb\xbf").lstrip()  # a UTF-8 BOM is fine
    if not raw.removeprefix(b"\xef\xbb\xbf").strip():
        raise SpiceclError(f"network file {path}: the file is empty")
    if head.startswith(b"{"):
        raise SpiceclError(f"network file {path}: a JSON network (network export --format "
                           f"json, for other tools) is not read back; export GraphML instead")
    return read_graphml(path, raw) if head.startswith(b"<") else read_jammed_text(path, raw)


def _source(path: Path, raw: bytes) -> dict:
    """A file network's provenance, which manifests record (the file may change later)."""
    return {"path": str(path.resolve()), "sha256": hashlib.sha256(raw).hexdigest()}


def read_jammed_text(path: Path, raw: bytes | None = None) -> Network:
    """Read the jammed-network text format (see module docstring); ``raw``: the file's bytes
    when already read."""
    path = Path(path)
    raw = _read_bytes(path) if raw is None else raw
    try:
        lines = raw.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise SpiceclError(f"network file {path}: neither GraphML nor the jammed-network "
                           f"text format (not text)") from None
    rows = [(i + 1, ln.split()) for i, ln in enumerate(lines) if ln.strip()]
    what = "neither GraphML nor the jammed-network text format"
    if not rows or len(rows[0][1]) != 3:
        raise SpiceclError(f"network file {path}, line 1: {what} (expected 'N E L')")
    try:
        n, e = _integer(rows[0][1][0]), _integer(rows[0][1][1])
        box = _double(rows[0][1][2])
    except ValueError:
        raise SpiceclError(f"network file {path}, line {rows[0][0]}: {what} "
                           f"(expected 'N E L')") from None
    if not (np.isfinite(box) and box > 0):
        raise SpiceclError(f"network file {path}, line {rows[0][0]}: box side L = "
                           f"{rows[0][1][2]} must be a positive finite number")
    if n < 2 or e < 1:
        raise SpiceclError(f"network file {path}, line {rows[0][0]}: N={n}, E={e} is not a network")
    if len(rows) != 1 + n + e:
        raise SpiceclError(f"network file {path}: header says {n} nodes and {e} edges, "
                           f"file has {len(rows) - 1} data lines (expected {n + e})")
    pos = np.empty((n, 2))
    edges = np.empty((e, 2), np.int64)
    for k, (lineno, tok) in enumerate(rows[1:]):
        try:
            if k < n:
                if len(tok) != 2:
                    raise ValueError
                pos[k] = _double(tok[0]), _double(tok[1])
                if not np.isfinite(pos[k]).all():
                    raise ValueError
            else:
                if len(tok) != 2:
                    raise ValueError
                # Out of range (even beyond int64) -> -1, reported below with its line.
                edges[k - n] = [i if 0 <= i < n else -1
                                for i in (_integer(tok[0]), _integer(tok[1]))]
        except ValueError:
            kind = "'x y' (finite numbers)" if k < n else "'i j' (integers)"
            raise SpiceclError(f"network file {path}, line {lineno}: expected {kind}") from None
    bad = np.flatnonzero((edges < 0).any(1) | (edges >= n).any(1))
    if bad.size:
        raise SpiceclError(f"network file {path}, line {rows[1 + n + bad[0]][0]}: "
                           f"node index outside 0..{n - 1}")
    return Network(path.name, tuple(str(i) for i in range(n)), edges, pos,
                   source=_source(path, raw))


#: a GraphML double as XML Schema writes one (float() also takes "1_000" and non-ASCII digits)
_DOUBLE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(INF|inf|NaN|nan)",
                     re.ASCII)


def _double(text: str) -> float:
    """``text`` as a number, or ValueError: the XML Schema form only."""
    if not _DOUBLE.fullmatch(text):
        raise ValueError(text)
    return float(text)


_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)


def _integer(text: str) -> int:
    """``text`` as a whole number in ASCII digits, or ValueError (int() also takes "1_0")."""
    if not _INTEGER.fullmatch(text):
        raise ValueError(text)
    return int(text)


def _clip(text: str, n: int = 40) -> str:
    """``text`` for an error message: at most ``n`` characters (a value may be megabytes)."""
    return text if len(text) <= n else text[:n] + "..."


def read_graphml(path: Path, raw: bytes | None = None) -> Network:
    """Read a GraphML network safely (no DTD, no entities, no network access); ``raw``: the
    file's bytes when already read."""
    from lxml import etree

    path = Path(path)
    raw = _read_bytes(path) if raw is None else raw
    root = _graphml_root(path, raw)
    # (the root's own namespace: a default one, or a prefix such as <g:graphml xmlns:g=...>)
    uri = etree.QName(root).namespace
    ns = {"g": uri} if uri else None
    keys, defaults = _graphml_keys(root, ns)
    graphs = _findall(root, "graph", ns)
    if len(graphs) != 1:
        raise SpiceclError(f"network file {path}: expected one <graph>, found {len(graphs)}")
    ids, pos = _graphml_nodes(path, graphs[0], ns, keys, defaults["node"])
    edges, res, lines, other = _graphml_edges(path, graphs[0], ns, keys, defaults["edge"], ids)
    if not ids or not edges:
        raise SpiceclError(f"network file {path}: no nodes or no edges")
    resistance = _graphml_resistances(path, ids, edges, np.array(res), lines, other)
    given = ~np.isnan(np.array(pos, float)).any(axis=1)
    return Network(path.name, tuple(ids), np.array(edges), _fill_positions(pos), resistance,
                   source=_source(path, raw), positions_given=None if given.all() else given)


def _graphml_root(path: Path, raw: bytes):
    """The root ``<graphml>`` element of ``raw``, parsed with :func:`_safe_parser`; a DTD, an
    entity reference or malformed XML is refused, naming the line."""
    from lxml import etree

    _refuse_nul(path, raw)
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        line = raw[:max(raw.find(b"<!DOCTYPE"), raw.find(b"<!ENTITY"))].count(b"\n") + 1
        raise SpiceclError(f"network file {path}, line {line}: a DTD is not allowed in GraphML "
                           f"input (entities and external references are refused)")
    try:
        tree = etree.fromstring(raw, _safe_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise SpiceclError(f"network file {path}, line {exc.lineno}: malformed XML "
                           f"({exc.msg})") from None
    except OSError as exc:
        raise SpiceclError(f"network file {path}: {exc}") from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise SpiceclError(f"network file {path}: a DTD is not allowed in GraphML input "
                           f"(entities and external references are refused)")
    for node in tree.iter():
        if isinstance(node, etree._Entity):
            raise SpiceclError(f"network file {path}, line {node.sourceline}: "
                               f"entity references are not allowed")
    root = tree.getroot()
    if etree.QName(root).localname != "graphml":
        raise SpiceclError(f"network file {path}: root element is <{etree.QName(root).localname}>, "
                           f"not <graphml>")
    return root


def _findall(el, tag: str, ns: dict | None) -> list:
    """``el``'s children ``<tag>``, in the GraphML namespace when the document has one."""
    return el.findall(f"g:{tag}", ns) if ns else el.findall(tag)


def _graphml_keys(root, ns: dict | None) -> tuple[dict, dict]:
    """The ``<key>`` declarations: key id -> (attribute name, element kind, default (text, line)
    or None), and for 'node' and 'edge' the attribute name -> default (text, line) that applies."""
    keys = {}
    for k in _findall(root, "key", ns):
        default = _findall(k, "default", ns)
        default = ((default[0].text or "").strip(), default[0].sourceline) if default else None
        keys[k.get("id")] = (k.get("attr.name") or k.get("id"), k.get("for"), default)
    defaults = {kind: {name: default for name, k, default in keys.values()
                       if default is not None and k in (kind, "all", None)}
                for kind in ("node", "edge")}
    return keys, defaults


def _graphml_data(el, keys: dict, ns: dict | None) -> dict:
    """name -> (text, line) of an element's own ``<data>`` (the keys' defaults give the rest)."""
    out = {}
    for d in _findall(el, "data", ns):
        name = keys.get(d.get("key"), (d.get("key"),))[0]
        out[name] = (d.text or "").strip(), d.sourceline
    return out


def _graphml_nodes(path: Path, graph, ns, keys: dict, defaults: dict) -> tuple[list, list]:
    """Node ids (unique) and their [x, y] (NaN where neither the node nor a default gives one),
    in file order."""
    ids, pos = [], []
    for nd in _findall(graph, "node", ns):
        nid = nd.get("id")
        if nid is None:
            raise SpiceclError(f"network file {path}, line {nd.sourceline}: node without id")
        d = _graphml_data(nd, keys, ns)
        xy = []
        for c in ("x", "y"):
            text, line = d.get(c) or defaults.get(c) or ("", nd.sourceline)
            try:
                v = _double(text) if text else np.nan
                if text and not np.isfinite(v):
                    raise ValueError
            except ValueError:
                raise SpiceclError(f"network file {path}, line {line}: node {nid!r} has "
                                   f"{c}={_clip(text)!r}, not a finite number") from None
            xy.append(v)
        ids.append(nid)
        pos.append(xy)
    if len(set(ids)) != len(ids):
        seen = set()
        dup = next(i for i in ids if i in seen or seen.add(i))
        raise SpiceclError(f"network file {path}: duplicate node id {dup!r}")
    return ids, pos


def _graphml_edges(path: Path, graph, ns, keys: dict, defaults: dict, ids: list):
    """Edges as (node index, node index), their resistances (NaN where not given), the line of
    each, and the names of the edge data spicecl ignores; in file order."""
    index = {nid: i for i, nid in enumerate(ids)}
    edges, res, lines = [], [], []
    other = {k for k in defaults if k != "resistance"}
    seen = {}  # sorted (node, node) -> line of its edge
    for ed in _findall(graph, "edge", ns):
        s, t = ed.get("source"), ed.get("target")
        if s is None or t is None:
            raise SpiceclError(f"network file {path}, line {ed.sourceline}: edge without "
                               f"{'source' if s is None else 'target'}")
        for end in (s, t):
            if end not in index:
                raise SpiceclError(f"network file {path}, line {ed.sourceline}: edge names "
                                   f"unknown node {end!r}")
        pair = tuple(sorted((index[s], index[t])))
        if pair[0] == pair[1]:
            raise SpiceclError(f"network file {path}, line {ed.sourceline}: edge from {s!r} to "
                               f"itself (a self loop)")
        if pair in seen:
            raise SpiceclError(f"network file {path}, line {ed.sourceline}: edge {s!r}-{t!r} "
                               f"repeats the edge of line {seen[pair]}")
        seen[pair] = ed.sourceline
        edges.append((index[s], index[t]))
        lines.append(ed.sourceline)
        d = _graphml_data(ed, keys, ns)
        other.update(k for k in d if k != "resistance")
        text, line = d.get("resistance") or defaults.get("resistance") or ("", ed.sourceline)
        res.append(_resistance_value(path, text, line) if text else np.nan)
    return edges, res, lines, other


def _resistance_value(path: Path, text: str, line: int) -> float:
    """An edge's resistance attribute in ohms: a positive finite number."""
    try:
        r = _double(text)
    except ValueError:
        raise SpiceclError(f"network file {path}, line {line}: resistance {_clip(text)!r} "
                           f"is not a number") from None
    if not (r > 0 and np.isfinite(r)):
        raise SpiceclError(f"network file {path}, line {line}: resistance "
                           f"{_clip(text)} ohm must be positive and finite")
    return r


def _fill_positions(pos: list) -> np.ndarray:
    """Positions (N, 2), the missing ones laid out on a circle."""
    pos = np.array(pos, float)
    if np.isnan(pos).any():
        t = 2 * np.pi * np.arange(len(pos)) / len(pos)
        miss = np.isnan(pos).any(1)
        pos[miss] = np.column_stack([np.cos(t), np.sin(t)])[miss]
    return pos


def _graphml_resistances(path: Path, ids: list, edges: list, res: np.ndarray, lines: list,
                        other: set) -> np.ndarray | None:
    """The edges' resistances (E,), or None when no edge gives one (then a warning names the
    edge data ignored, which may have been meant as resistances); some but not all is an
    error."""
    if np.isnan(res).all():
        if other:
            from spicecl.errors import warn

            names = ", ".join(repr(k) for k in sorted(other, key=str)[:5])
            warn(f"network file {path}: edge data {names} ignored: spicecl reads the edge "
                 f"attribute 'resistance' (ohm), which no edge has, so every edge gets the "
                 f"command's default resistance")
        return None
    if np.isnan(res).any():
        k = int(np.flatnonzero(np.isnan(res))[0])
        s, t = (ids[i] for i in edges[k])
        n = int(np.sum(~np.isnan(res)))
        raise SpiceclError(f"network file {path}, line {lines[k]}: edge {s!r}-{t!r} has no "
                           f"resistance, {n} other edge{' has' if n == 1 else 's have'} "
                           f"one; give all or none (or a <default> in the resistance key)")
    return res


#: nodes (or edges) serialized together by graphml_chunks: its memory is that of one batch
GRAPHML_BATCH = 4096


def graphml_chunks(net: Network, resistance=None):
    """The GraphML of :func:`graphml_bytes`, as an iterator of byte strings (the same bytes).

    Nodes and edges are serialized a batch at a time: a whole lxml tree of 10^6 nodes and
    2 x 10^6 edges held ~3 GB to write a 240 MB file.
    """
    from lxml import etree

    r = net.resistance if resistance is None else np.asarray(resistance, float)
    root = etree.Element("graphml", nsmap={None: GRAPHML_NS})
    for kid, name, for_, typ in (("x", "x", "node", "double"), ("y", "y", "node", "double"),
                                 ("resistance", "resistance", "edge", "double")):
        if kid == "resistance" and r is None:
            continue
        etree.SubElement(root, "key", id=kid, attrib={"for": for_, "attr.name": name,
                                                       "attr.type": typ})
    g = etree.SubElement(root, "graph", id=_NOT_XML.sub("_", net.name), edgedefault="undirected")
    if net.n_nodes == 0 and net.n_edges == 0:  # an empty <graph/>
        yield etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
        return
    # The document without its nodes and edges, split where they go (a text, which no
    # attribute can hold unescaped, marks the place; pretty printing keeps the rest as is)
    g.text = "@"
    head, _sep, tail = etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                      pretty_print=True).rpartition(b">@</graph>")
    yield head + b">\n"

    def batch(fill, n):
        for start in range(0, n, GRAPHML_BATCH):
            box = etree.Element("box")
            fill(box, range(start, min(start + GRAPHML_BATCH, n)))
            text = etree.tostring(box, xml_declaration=False, encoding="UTF-8",
                                  pretty_print=True)
            # children of <box> are indented by 2, of <graph> by 4 (no raw newline in an
            # attribute or a number: lxml writes &#10;)
            body = text[len(b"<box>\n"):-len(b"</box>\n") - 1]
            yield b"  " + body.replace(b"\n", b"\n  ") + b"\n"

    given = net.positions_given  # (None: every node's; a node laid out on a circle has none)

    def nodes(box, idx):
        for i in idx:
            n = etree.SubElement(box, "node", id=net.node_ids[i])
            if given is None or given[i]:
                x, y = net.positions[i]
                etree.SubElement(n, "data", key="x").text = repr(float(x))
                etree.SubElement(n, "data", key="y").text = repr(float(y))

    def edges(box, idx):
        for i in idx:
            a, b = net.edges[i]
            e = etree.SubElement(box, "edge", id=f"e{i}", source=net.node_ids[a],
                                 target=net.node_ids[b])
            if r is not None:
                etree.SubElement(e, "data", key="resistance").text = repr(float(r[i]))

    yield from batch(nodes, net.n_nodes)
    yield from batch(edges, net.n_edges)
    yield b"  </graph>" + tail


def graphml_bytes(net: Network, resistance=None) -> bytes:
    """Serialize a network as GraphML (node ids, x/y of the nodes that have positions, edge
    resistance in ohms if known)."""
    return b"".join(graphml_chunks(net, resistance))


def network_dict(net: Network) -> dict:
    """A JSON-ready description of a network."""
    r = net.resistance
    return {
        "name": net.name,
        "n_nodes": net.n_nodes,
        "n_edges": net.n_edges,
        "nodes": [{"id": nid, "x": float(x), "y": float(y)}
                  for nid, (x, y) in zip(net.node_ids, net.positions)],
        "edges": [{"source": net.node_ids[a], "target": net.node_ids[b],
                   **({"resistance": float(r[i])} if r is not None else {})}
                  for i, (a, b) in enumerate(net.edges)],
    }


def export_network(net: Network, fmt: str) -> bytes:
    return b"".join(export_chunks(net, fmt))


def export_chunks(net: Network, fmt: str):
    """The bytes of :func:`export_network` as an iterator (GraphML piece by piece)."""
    if fmt == "graphml":
        return graphml_chunks(net)
    if fmt == "json":
        return iter([(json.dumps(network_dict(net), indent=1) + "\n").encode()])
    raise SpiceclError(f"--format must be graphml or json, got {fmt!r}")
