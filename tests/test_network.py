"""Networks: built-ins, the disordered generator, GraphML and jammed-text IO, hostile input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spicecl.errors import SpiceclError
from spicecl.netio import graphml_bytes, read_graphml, read_network_file
from spicecl.network import Network, disordered_network, exp16, is_generated, load_network

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "networks"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared reference networks absent")


def test_exp16_is_a_triangulated_3x3_grid():
    net = exp16()
    assert (net.n_nodes, net.n_edges) == (9, 16)
    assert net.is_connected()
    assert net.degrees().min() >= 2
    lattice = {(i, i + 1) for i in range(9) if i % 3 < 2} | {(i, i + 3) for i in range(6)}
    diagonals = {(0, 4), (1, 5), (3, 7), (4, 8)}  # one per cell, all the same direction
    assert {tuple(e) for e in net.edges.tolist()} == lattice | diagonals


@pytest.mark.parametrize("nodes,edges", [(64, 143), (256, 570), (20, 30)])
def test_disordered_generator_hits_size_degree_and_connectivity(nodes, edges):
    net = disordered_network(nodes, edges, seed=3)
    assert (net.n_nodes, net.n_edges) == (nodes, edges)
    assert net.is_connected()
    assert net.degrees().min() >= 2


def test_disordered_generator_is_deterministic_and_seeded():
    a, b = disordered_network(64, 143, 1), disordered_network(64, 143, 1)
    c = disordered_network(64, 143, 2)
    assert np.array_equal(a.edges, b.edges) and np.array_equal(a.positions, b.positions)
    assert not np.array_equal(a.edges, c.edges)


def test_disordered_generator_scales_to_ten_thousand_edges():
    net = disordered_network(4480, 10000, seed=0)
    assert net.n_edges == 10000 and net.is_connected() and net.degrees().min() >= 2


def test_disordered_generator_above_46340_nodes_has_no_int32_overflow():
    # Delaunay's int32 indices made the edge keys a * N + b overflow above 46340 nodes.
    net = load_network("disordered:47000:94000")
    assert net.n_edges == 94000 and net.is_connected() and net.degrees().min() >= 2


def test_disordered_generator_refuses_impossible_sizes():
    with pytest.raises(SpiceclError, match="edges"):
        disordered_network(64, 40)
    with pytest.raises(SpiceclError, match="at most"):
        disordered_network(10, 40)


def test_load_network_names_and_errors():
    assert load_network("disordered143").n_edges == 143
    assert load_network("disordered:30:50").n_edges == 50
    with pytest.raises(SpiceclError, match="unknown network 'nope'"):
        load_network("nope")
    with pytest.raises(SpiceclError, match="unknown network '': not a built-in name"):
        load_network("")


def test_graphml_round_trip_keeps_ids_positions_and_resistances(tmp_path):
    net = disordered_network(20, 30, seed=0)
    r = np.linspace(100, 300, 30)
    path = tmp_path / "n.graphml"
    path.write_bytes(graphml_bytes(net, r))
    back = read_network_file(path)
    assert back.node_ids == net.node_ids
    assert np.array_equal(back.edges, net.edges)
    assert np.allclose(back.positions, net.positions)
    assert np.array_equal(back.resistance, r)


def _write(tmp_path, text, name="g.graphml"):
    p = tmp_path / name
    p.write_text(text)
    return p


GRAPH = """<?xml version="1.0"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
 <key id="r" for="edge" attr.name="resistance" attr.type="double"/>
 <graph edgedefault="undirected">
  <node id="a"/><node id="b"/><node id="c"/>
  <edge source="a" target="b"><data key="r">{r}</data></edge>
  <edge source="b" target="c"><data key="r">100</data></edge>
 </graph>
</graphml>"""


def test_graphml_without_positions_and_with_resistances(tmp_path):
    net = read_graphml(_write(tmp_path, GRAPH.format(r="50")))
    assert net.node_ids == ("a", "b", "c")
    assert list(net.resistance) == [50.0, 100.0]


def test_graphml_with_a_namespace_prefix_is_read(tmp_path):
    # <g:graphml xmlns:g="..."> is the same document as with a default namespace (it was
    # "expected one <graph>, found 0")
    text = GRAPH.format(r="50").replace('xmlns="', 'xmlns:g="').replace("<", "<g:").replace(
        "<g:/", "</g:").replace("<g:?xml", "<?xml")
    assert "<g:edge " in text and "</g:graph>" in text
    net = read_graphml(_write(tmp_path, text))
    assert net.node_ids == ("a", "b", "c") and list(net.resistance) == [50.0, 100.0]


def test_graphml_negative_resistance_is_an_error_naming_the_line(tmp_path):
    with pytest.raises(SpiceclError, match=r"line 6: resistance -5 ohm must be positive"):
        read_graphml(_write(tmp_path, GRAPH.format(r="-5")))


def test_graphml_key_defaults_fill_missing_resistances(tmp_path):
    """A <default> in the resistance key is every edge's value unless it has its own (was
    ignored: 'some edges have a resistance and some do not')."""
    text = GRAPH.replace('attr.type="double"/>', 'attr.type="double"><default>2000</default>'
                         '</key>').replace('<data key="r">{r}</data>', '')
    net = read_graphml(_write(tmp_path, text))
    assert list(net.resistance) == [2000.0, 100.0]


@pytest.mark.parametrize("r", ["1_000", "\u0661\u0662", "0x10"])
def test_graphml_numbers_are_xml_schema_doubles(tmp_path, r):
    # float() read "1_000" as 1000 and Arabic-Indic digits as digits
    with pytest.raises(SpiceclError, match="is not a number"):
        read_graphml(_write(tmp_path, GRAPH.format(r=r)))


def test_a_huge_bad_value_is_clipped_in_its_error(tmp_path):
    # a 5 MB <default> made a 5 MB error line
    with pytest.raises(SpiceclError, match=r"line 6: resistance 'x{40}\.\.\.' is not a number$"):
        read_graphml(_write(tmp_path, GRAPH.format(r="x" * 100000)))


def test_graphml_key_default_without_for_applies_to_edges(tmp_path):
    # GraphML: a key without "for" is for all elements
    text = GRAPH.replace(' for="edge"', '').replace(
        'attr.type="double"/>', 'attr.type="double"><default>2000</default></key>').replace(
        '<data key="r">{r}</data>', '')
    assert list(read_graphml(_write(tmp_path, text)).resistance) == [2000.0, 100.0]


def test_graphml_with_some_resistances_missing_names_the_edge_and_line(tmp_path):
    text = GRAPH.replace('<data key="r">{r}</data>', '')
    with pytest.raises(SpiceclError, match=r"line 6: edge 'a'-'b' has no resistance, 1 other "
                                           r"edge has one; give all or none"):
        read_graphml(_write(tmp_path, text))


@pytest.mark.parametrize("edge, match", [
    ('<edge source="c" target="b"/>', r"line 8: edge 'c'-'b' repeats the edge of line 7"),
    ('<edge source="a" target="a"/>', r"line 8: edge from 'a' to itself \(a self loop\)"),
])
def test_graphml_duplicate_edges_and_self_loops_name_their_lines(tmp_path, edge, match):
    text = GRAPH.format(r="50").replace("</graph>", f" {edge}\n </graph>")
    with pytest.raises(SpiceclError, match=match):
        read_graphml(_write(tmp_path, text))


def test_duplicate_edges_are_named():
    with pytest.raises(SpiceclError, match=r"duplicate edges 0 and 2 \(nodes a and b\)"):
        Network("t", ("a", "b", "c"), np.array([(0, 1), (1, 2), (1, 0)]), np.zeros((3, 2)))


def test_graphml_with_entities_or_dtd_is_refused(tmp_path):
    xxe = """<?xml version="1.0"?>
<!DOCTYPE graphml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph>
<node id="&xxe;"/><node id="b"/><edge source="b" target="b"/></graph></graphml>"""
    with pytest.raises(SpiceclError, match="DTD is not allowed"):
        read_graphml(_write(tmp_path, xxe))
    bomb = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<graphml><graph><node id="&lol2;"/></graph></graphml>"""
    with pytest.raises(SpiceclError, match="DTD"):
        read_graphml(_write(tmp_path, bomb))
    # UTF-16 (no byte-order mark) hid the DTD from the byte-level check: refused up front
    for enc in ("utf-16-le", "utf-16-be"):
        path = tmp_path / f"{enc}.graphml"
        path.write_bytes(xxe.replace('<?xml version="1.0"?>', "").lstrip().encode(enc))
        with pytest.raises(SpiceclError, match="not UTF-8 text"):
            read_network_file(path)


def test_malformed_xml_and_unknown_format(tmp_path):
    with pytest.raises(SpiceclError, match="malformed XML"):
        read_network_file(_write(tmp_path, "<graphml><graph>"))
    with pytest.raises(SpiceclError, match="neither GraphML nor"):
        read_network_file(_write(tmp_path, "hello world\n", "x.txt"))
    with pytest.raises(SpiceclError, match="unknown node"):
        read_graphml(_write(tmp_path, GRAPH.format(r="1").replace('target="c"', 'target="z"')))


def test_jammed_text_format(tmp_path):
    p = _write(tmp_path, "3 3 1.0\n0 0\n1 0\n0 1\n0 1\n1 2\n2 0\n", "tri.txt")
    net = read_network_file(p)
    assert net.n_nodes == 3 and net.n_edges == 3
    bad = _write(tmp_path, "3 3 1.0\n0 0\n1 0\n0 1\n0 1\n1 9\n2 0\n", "bad.txt")
    with pytest.raises(SpiceclError, match="line 6: node index outside"):
        read_network_file(bad)


@pytest.mark.shared
@needs_shared
def test_reads_the_reference_143_edge_network():
    net = load_network(str(SHARED / "data_N00064_Lp0.0100_r1.txt"))
    assert (net.n_nodes, net.n_edges) == (64, 143)
    assert net.is_connected()


@pytest.mark.parametrize("x", ["nan", "inf", "-Infinity"])
def test_non_finite_positions_are_errors_naming_the_line(tmp_path, x):
    graph = GRAPH.format(r="50").replace(
        '<key id="r"', '<key id="x" for="node" attr.name="x"/>\n <key id="r"').replace(
        '<node id="b"/>', f'<node id="b"><data key="x">{x}</data></node>')
    with pytest.raises(SpiceclError, match=f"line 6: node 'b' has x='{x}', not a finite"):
        read_graphml(_write(tmp_path, graph))
    text = _write(tmp_path, f"3 3 1.0\n0 0\n1 {x}\n0 1\n0 1\n1 2\n2 0\n", "tri.txt")
    with pytest.raises(SpiceclError, match=r"line 3: expected 'x y' \(finite numbers\)"):
        read_network_file(text)


def test_graphml_export_of_a_file_name_xml_cannot_hold(tmp_path):
    # a control character, and an undecodable byte (a lone surrogate in the str name)
    p = _write(tmp_path, "3 3 1.0\n0 0\n1 0\n0 1\n0 1\n1 2\n2 0\n", "tri\x01\udcff.txt")
    net = read_network_file(p)
    back = read_graphml(_write(tmp_path, graphml_bytes(net).decode(), "back.graphml"))
    assert back.node_ids == net.node_ids and np.array_equal(back.edges, net.edges)


def test_disordered_generator_refuses_sizes_that_cannot_fit_in_memory():
    with pytest.raises(SpiceclError, match=r"nodes must be in 3\.\.1000000, got 99999999999"):
        load_network("disordered:99999999999:99999999999")


@pytest.mark.parametrize("spec", ["disordered:\u0669:\u0661\u0666", "disordered:9:16\n"])
def test_a_generated_network_size_is_in_ascii_digits(spec):
    # \d took other scripts' digits and '$' a trailing newline: each drew disordered:9:16
    assert is_generated("disordered:9:16") and not is_generated(spec)
    with pytest.raises(SpiceclError, match="^unknown network .*: not a built-in name"):
        load_network(spec)


def test_jammed_text_index_beyond_int64_is_out_of_range_naming_the_line(tmp_path):
    p = _write(tmp_path, "3 3 1.0\n0 0\n1 0\n0 1\n0 1\n1 99999999999999999999\n2 0\n", "t.txt")
    with pytest.raises(SpiceclError, match=r"line 6: node index outside 0\.\.2"):
        read_network_file(p)


@pytest.mark.parametrize("lines, line, match", [
    (("3 3 1.0", "1_0 0"), 2, "expected 'x y'"),          # float() read 1_0 as 10
    (("3 3 1.0", "\u0661 0"), 2, "expected 'x y'"),       # and Arabic-Indic digits as digits
    (("3 3 1.0", "0 0", "1 0", "0 1", "0 1", "1 \u0662"), 6, "expected 'i j'"),
    (("3 3 1_0",), 1, "expected 'N E L'"),
    (("0_3 3 1.0",), 1, "expected 'N E L'"),
])
def test_jammed_text_numbers_are_plain_ascii_as_in_graphml(tmp_path, lines, line, match):
    rest = ["0 0", "1 0", "0 1", "0 1", "1 2", "2 0"]
    text = "\n".join(list(lines) + rest[len(lines) - 1:]) + "\n"
    p = _write(tmp_path, text, "t.txt")
    with pytest.raises(SpiceclError, match=f"line {line}: .*{match}"):
        read_network_file(p)


@pytest.mark.parametrize("box", ["nan", "-5", "0", "inf"])
def test_jammed_text_box_side_must_be_positive_and_finite(tmp_path, box):
    p = _write(tmp_path, f"3 3 {box}\n0 0\n1 0\n0 1\n0 1\n1 2\n2 0\n", "t.txt")
    with pytest.raises(SpiceclError, match=f"line 1: box side L = {box} must be a positive"):
        read_network_file(p)


@pytest.mark.parametrize("text", ["", "\n  \n", "\ufeff\n"])
def test_an_empty_network_file_is_called_empty(tmp_path, text):
    from spicecl.netio import read_network_file

    f = tmp_path / "empty.txt"
    f.write_text(text)
    with pytest.raises(SpiceclError, match=r"empty.txt: the file is empty$"):
        read_network_file(f)


def test_graphml_with_a_utf8_byte_order_mark_is_read_as_graphml(tmp_path):
    p = tmp_path / "bom.graphml"
    p.write_bytes(b"\xef\xbb\xbf" + GRAPH.format(r="50").encode())
    assert read_network_file(p).node_ids == ("a", "b", "c")


def test_graphml_edge_without_target_and_infinite_resistance_are_named(tmp_path):
    with pytest.raises(SpiceclError, match="line 6: edge without target"):
        read_graphml(_write(tmp_path, GRAPH.format(r="1").replace(' target="b"', "")))
    with pytest.raises(SpiceclError, match="line 6: resistance inf ohm must be positive and "
                                           "finite"):
        read_graphml(_write(tmp_path, GRAPH.format(r="inf")))


@pytest.mark.parametrize("text", [GRAPH.format(r="50"), "3 3 1.0\n0 0\n1 0\n0 1\n0 1\n1 2\n2 0\n"])
def test_network_file_from_a_pipe_is_read_once(text):
    # `--network /dev/stdin`, `--network <(...)`: the file used to be read twice, and the
    # second read of the pipe found it empty ("Document is empty").
    import os

    r, w = os.pipe()
    os.write(w, text.encode())
    os.close(w)
    try:
        assert read_network_file(Path(f"/dev/fd/{r}")).n_nodes == 3
    finally:
        os.close(r)


def test_network_file_larger_than_the_limit_is_refused(tmp_path, monkeypatch):
    import spicecl.netio

    monkeypatch.setattr(spicecl.netio, "MAX_FILE_BYTES", 100)
    p = _write(tmp_path, "3 3 1.0\n" + "0 0\n" * 50, "big.txt")
    with pytest.raises(SpiceclError, match=r"big\.txt: larger than 0 MiB"):
        read_network_file(p)


def test_network_export_round_trips_through_graphml_and_json(tmp_path, capsys):
    import json

    from spicecl.cli import main

    net = load_network("disordered:40:90", 3)
    assert main(["network", "export", "disordered:40:90", "--seed", "3", "-o",
                 str(tmp_path / "n.graphml")]) == 0
    back = read_network_file(tmp_path / "n.graphml")
    assert back.node_ids == net.node_ids
    np.testing.assert_array_equal(back.edges, net.edges)
    np.testing.assert_allclose(back.positions, net.positions, rtol=1e-12)
    capsys.readouterr()
    assert main(["network", "export", "disordered:40:90", "--seed", "3", "--format",
                 "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["n_nodes"], d["n_edges"]) == (40, 90)
    ids = {n["id"]: i for i, n in enumerate(d["nodes"])}
    edges = [(ids[e["source"]], ids[e["target"]]) for e in d["edges"]]
    assert edges == [tuple(e) for e in net.edges.tolist()]


def test_network_export_takes_the_network_as_every_command_does(tmp_path, capsys):
    """`network export --network NAME`, the spelling of every other command, was parsed as
    --network-seed NAME ("expected a non-negative integer, got 'exp16'")."""
    from spicecl.cli import main

    assert main(["network", "export", "--network", "disordered:40:90", "--network-seed", "3",
                 "-o", str(tmp_path / "a.graphml")]) == 0
    assert main(["network", "export", "disordered:40:90", "--seed", "3", "-o",
                 str(tmp_path / "b.graphml")]) == 0
    assert (tmp_path / "a.graphml").read_bytes() == (tmp_path / "b.graphml").read_bytes()
    capsys.readouterr()
    for argv in (["network", "export"], ["network", "export", "exp16", "--network", "exp16"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "NETWORK or --network" in err


def test_graphml_edge_data_under_another_name_is_named(tmp_path, capsys):
    """A resistance key called 'R' was ignored silently (every edge got the default); it still
    is, but a warning names it. Files with 'resistance' or without edge data say nothing."""
    net = exp16()
    good = graphml_bytes(net, np.full(net.n_edges, 2000.0))
    path = tmp_path / "r.graphml"
    path.write_bytes(good.replace(b'attr.name="resistance"', b'attr.name="R"'))
    got = read_network_file(path)
    assert got.resistance is None
    err = capsys.readouterr().err
    assert err == (f"spicecl: warning: network file {path}: edge data 'R' ignored: spicecl "
                   f"reads the edge attribute 'resistance' (ohm), which no edge has, so every "
                   f"edge gets the command's default resistance\n")
    path.write_bytes(good)
    assert read_network_file(path).resistance[0] == 2000.0
    path.write_bytes(graphml_bytes(net))
    assert read_network_file(path).resistance is None
    assert capsys.readouterr().err == ""


def test_network_export_format_follows_the_file_and_json_is_not_read_back(tmp_path, capsys):
    from spicecl.cli import main

    assert main(["network", "export", "disordered143", "--network-seed", "3", "-o",
                 str(tmp_path / "n.json")]) == 0
    assert (tmp_path / "n.json").read_text().lstrip().startswith("{")  # json from the suffix
    assert "wrote" in capsys.readouterr().err
    assert main(["network", "export", "exp16", "--format", "graphml", "-o",
                 str(tmp_path / "x.json")]) == 2
    assert "--format graphml into a .json file" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
    # a seed for a network that is not drawn from one would be ignored
    assert main(["network", "export", "exp16", "--seed", "3"]) == 2
    assert "--network-seed applies to the generated networks" in capsys.readouterr().err
    assert main(["solve", "--network", str(tmp_path / "n.json"), "--fix", "0=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a JSON network" in err and "export GraphML" in err
    assert main(["network", "export", "disordered143", "--seed", "3", "-o",
                 str(tmp_path / "n.graphml")]) == 0
    assert read_network_file(tmp_path / "n.graphml").edges.tolist() == \
        load_network("disordered143", 3).edges.tolist()


def test_train_out_csv_quotes_node_ids_with_commas_quotes_and_newlines(tmp_path):
    import csv

    from spicecl.cli import main
    from spicecl.network import Network

    base = exp16()
    ids = ("a,b", "c\nd", 'e"f') + base.node_ids[3:]
    path = tmp_path / "odd.graphml"
    path.write_bytes(graphml_bytes(Network("odd", ids, base.edges, base.positions)))
    assert main(["train", "--network", str(path), "--steps", "2", "--seed", "1",
                 "--out", str(tmp_path / "run")]) == 0
    with open(tmp_path / "run" / "final_resistance.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 1 + base.n_edges and all(len(r) == 4 for r in rows)
    assert {r[1] for r in rows[1:]} | {r[2] for r in rows[1:]} == set(ids)


def test_runs_on_a_network_file_record_its_path_and_hash(tmp_path, capsys):
    """train and compare manifests and the netlist sidecar record the file's absolute path and
    sha256, so a result stays tied to the file's content after the file is edited."""
    import hashlib
    import json

    from spicecl.cli import main

    f = tmp_path / "mine.graphml"
    assert main(["network", "export", "exp16", "--format", "graphml", "-o", str(f)]) == 0
    want = {"path": str(f.resolve()), "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
    assert main(["train", "--network", str(f), "--steps", "3", "--seed", "1", "--out",
                 str(tmp_path / "t")]) == 0
    assert json.loads((tmp_path / "t" / "manifest.json").read_text())["network_file"] == want
    assert main(["compare", "--network", str(f), "--task", "allostery", "--tasks", "2",
                 "--steps", "3", "--seed", "1", "--p", "1", "--no-imperfections",
                 "--no-clock-free", "--out", str(tmp_path / "c")]) == 0
    assert json.loads((tmp_path / "c" / "manifest.json").read_text())["network_file"] == want
    assert main(["netlist", "twin", "--network", str(f), "--seed", "1", "-o",
                 str(tmp_path / "d.cir")]) == 0
    assert json.loads((tmp_path / "d.json").read_text())["network"]["file"] == want
    assert load_network("exp16").source is None
    capsys.readouterr()


def test_more_edges_than_a_planar_graph_holds_is_refused_before_triangulating():
    # (10^6 points were triangulated first: 22 s before the same refusal)
    with pytest.raises(SpiceclError, match=r"at most 3N - 6 = 2999994"):
        disordered_network(1_000_000, 99_999_999)
    with pytest.raises(SpiceclError, match=r"at most 3N - 6 = 21"):
        disordered_network(9, 22)


@pytest.mark.parametrize("edges,resistance,match", [
    ([(0, 0), (0, 1)], None, "edge 0 is a self loop on node a"),
    ([(0, 1), (1, 3)], None, r"an edge names a node outside 0\.\.2"),
    ([(0, 1), (1, 2)], [1e3, 0.0], "edge 1 has a non-positive resistance 0.0 ohm"),
    ([(0, 1), (1, 2)], [1e3, 1e3, 1e3], "3 resistances for 2 edges"),
])
def test_network_refuses_self_loops_bad_node_indices_and_bad_resistances(edges, resistance,
                                                                          match):
    with pytest.raises(SpiceclError, match=match):
        Network("t", ("a", "b", "c"), np.array(edges), np.zeros((3, 2)), resistance)


def test_jammed_text_with_more_lines_than_its_header_is_refused(tmp_path):
    # one edge more than the header says: reading the first E would drop it without a word
    p = _write(tmp_path, "3 2 1.0\n0 0\n1 0\n0 1\n0 1\n1 2\n2 0\n", "extra.txt")
    with pytest.raises(SpiceclError, match="header says 3 nodes and 2 edges, file has 6 data"):
        read_network_file(p)


def _whole_tree_graphml(net: Network, r=None) -> bytes:
    """GraphML written the direct way, one lxml tree for the whole document (the oracle of
    the batched writer)."""
    from lxml import etree

    root = etree.Element("graphml", nsmap={None: "http://graphml.graphdrawing.org/xmlns"})
    keys = [("x", "node"), ("y", "node")] + ([("resistance", "edge")] if r is not None else [])
    for kid, for_ in keys:
        etree.SubElement(root, "key", id=kid, attrib={"for": for_, "attr.name": kid,
                                                       "attr.type": "double"})
    g = etree.SubElement(root, "graph", id=net.name, edgedefault="undirected")
    for nid, (x, y) in zip(net.node_ids, net.positions):
        n = etree.SubElement(g, "node", id=nid)
        etree.SubElement(n, "data", key="x").text = repr(float(x))
        etree.SubElement(n, "data", key="y").text = repr(float(y))
    for i, (a, b) in enumerate(net.edges):
        e = etree.SubElement(g, "edge", id=f"e{i}", source=net.node_ids[a],
                             target=net.node_ids[b])
        if r is not None:
            etree.SubElement(e, "data", key="resistance").text = repr(float(r[i]))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


@pytest.mark.parametrize("batch", [1, 2, 4096])
def test_graphml_written_in_batches_is_the_whole_documents_bytes(monkeypatch, batch):
    import spicecl.netio as netio

    monkeypatch.setattr(netio, "GRAPHML_BATCH", batch)
    odd = Network('a<b>&"c\'', ("a&b", "<c>", 'd"e', "f\tg", "\u00e9", "h\ni"),
                  [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0)],
                  np.arange(12.0).reshape(6, 2) / 3)
    lone = Network("lone", ("a",), np.zeros((0, 2), int), [[0.5, 1.0]])
    for net in (odd, lone, exp16(), load_network("disordered:40:90", 3)):
        for r in (None, np.linspace(1e3, 2e3, net.n_edges) / 7):
            assert graphml_bytes(net, r) == _whole_tree_graphml(net, r)


def test_network_export_never_holds_the_whole_graphml_tree(tmp_path, monkeypatch):
    """`network export` of 10^6 nodes held a 3 GB lxml tree to write 240 MB: the document is
    serialized a batch of nodes or edges at a time, each batch a small tree."""
    from lxml import etree

    from spicecl.cli import main

    largest = []
    tostring = etree.tostring

    def counting(el, *args, **kwargs):
        largest.append(sum(1 for _ in el.iter()))
        return tostring(el, *args, **kwargs)

    monkeypatch.setattr(etree, "tostring", counting)
    path = tmp_path / "big.graphml"
    assert main(["network", "export", "disordered:6000:11000", "-o", str(path)]) == 0
    monkeypatch.undo()
    net = load_network("disordered:6000:11000")
    # the whole tree: 3 elements per node, 1 per edge (the file's own elements)
    assert path.read_bytes().count(b"<node ") + path.read_bytes().count(b"<edge ") == 17000
    assert 3 * net.n_nodes + net.n_edges > 25000
    assert max(largest) < 13000


def test_too_few_edges_for_the_spanning_trees_leaves_are_refused_before_thinning():
    # each leaf of the kept spanning tree needs an edge of its own outside it (degree >= 2)
    with pytest.raises(SpiceclError, match=r"cannot thin to 200 edges on 200 nodes .*"
                                           r"spanning tree .* has \d+ leaves: at least \d+"):
        load_network("disordered:200:200")
    # what is built has every degree >= 2 and is connected
    for edges in (230, 260, 300):
        try:
            net = load_network(f"disordered:200:{edges}")
        except SpiceclError as exc:
            bound = int(str(exc).rsplit("at least ", 1)[1].split()[0])
            assert edges < bound
            continue
        assert np.bincount(net.edges.ravel(), minlength=200).min() >= 2


def test_train_names_its_task_nodes_by_their_file_ids(tmp_path, capsys):
    """The nodes to wire as inputs, outputs and grounds, by the ids of the user's file (not
    spicecl's node indices): in train's --json, summary.json and the manifest's task."""
    import json

    from spicecl.cli import main
    from spicecl.network import Network

    base = exp16()
    ids = tuple(f"n{i}" for i in reversed(range(base.n_nodes)))  # id order is not index order
    path = tmp_path / "mine.graphml"
    path.write_bytes(graphml_bytes(Network("mine", ids, base.edges, base.positions)))
    assert main(["train", "--network", str(path), "--steps", "2", "--seed", "1", "--json",
                 "--out", str(tmp_path / "run")]) == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    task = json.loads((tmp_path / "run" / "manifest.json").read_text())["config"]["task"]
    for role in ("inputs", "outputs", "grounds"):
        want = [ids[i] for i in task[role]]  # the manifest's task: node indices
        assert printed[f"{role[:-1]}_nodes"] == summary[f"{role[:-1]}_nodes"] == want
        assert task[f"{role[:-1]}_nodes"] == want


def _graph_with_one_position(tmp_path):
    """GRAPH (nodes a, b, c) with a position for b only."""
    text = GRAPH.format(r="50").replace(
        '<node id="b"/>', '<node id="b"><data key="x">3</data><data key="y">4</data></node>'
    ).replace('<key id="r"', '<key id="x" for="node" attr.name="x"/>'
              '<key id="y" for="node" attr.name="y"/><key id="r"')
    return read_graphml(_write(tmp_path, text))


def test_a_graphml_network_marks_the_nodes_it_gave_no_position(tmp_path):
    # network info says which positions came from the file: the others are on a circle
    net = _graph_with_one_position(tmp_path)
    assert net.positions_given.tolist() == [False, True, False]
    assert net.positions[1].tolist() == [3.0, 4.0]
    assert not net.positions_given.flags.writeable


def test_graphml_export_writes_only_the_positions_the_network_has(tmp_path):
    # it wrote the circle layout of the nodes without one, so that the export read back
    # claimed every position came from the file
    net = _graph_with_one_position(tmp_path)
    again = read_graphml(_write(tmp_path, graphml_bytes(net).decode(), "again.graphml"))
    assert again.positions_given.tolist() == [False, True, False]
    np.testing.assert_array_equal(again.positions, net.positions)  # (the same circle)
    assert read_graphml(_write(tmp_path, graphml_bytes(exp16()).decode(),
                               "exp16.graphml")).positions_given is None


def test_a_network_whose_file_gave_every_position_has_positions_given_none(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("3 3 1.0\n0 0\n1 0\n0 1\n0 1\n1 2\n2 0\n")
    assert read_network_file(path).positions_given is None
    assert exp16().positions_given is None


def test_positions_given_is_one_boolean_per_node_and_a_copy():
    base = exp16()
    with pytest.raises(SpiceclError, match="positions_given must be 9 booleans"):
        Network("g", base.node_ids, base.edges, base.positions, positions_given=[True] * 8)
    with pytest.raises(SpiceclError, match="positions_given must be 9 booleans"):
        Network("g", base.node_ids, base.edges, base.positions, positions_given=np.ones(9))
    given = np.ones(9, bool)
    net = Network("g", base.node_ids, base.edges, base.positions, positions_given=given)
    given[0] = False  # (the network keeps its own copy)
    assert net.positions_given.all() and not net.positions_given.flags.writeable
