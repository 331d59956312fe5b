"""`spicecl network info`: the summary of a network as spicecl reads it, its text, JSON and
drawing."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from spicecl.cli import main
from spicecl.learning import R_INIT, LearningConfig
from spicecl.netinfo import LABELLED_NODES, network_figure, network_summary, summary_text
from spicecl.network import Network, disordered_network, exp16

# A 5-node part whose degrees are 4, 2, 2, 1, 1 (a star on node 0 and the edge 1-2), and a
# triangle apart from it: 8 nodes, 8 edges.
EDGES = [(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (5, 6), (6, 7), (7, 5)]
R = [100.0, 200.0, 300.0, 20e3, 1e6, 400.0, 500.0, 5.0]  # 20k, 1M and 5 beyond the digipot


def _net(resistance=R, given=None):
    pos = np.arange(16, dtype=float).reshape(8, 2)
    return Network("known", tuple(str(i) for i in range(8)), EDGES, pos, resistance,
                   positions_given=given)


def test_the_summary_counts_a_network_with_known_degrees_and_resistances():
    s = network_summary(_net(given=np.array([True] * 5 + [False] * 3)))
    assert (s["nodes"], s["edges"]) == (8, 8)
    assert s["degree"] == {"min": 1, "mean": 2.0, "max": 4}
    assert (s["connected"], s["components"], s["largest_component_nodes"]) == (False, 2, 5)
    assert s["resistance_ohms"] == {"min": 5.0, "median": 350.0, "max": 1e6}
    assert s["outside_digipot_range"] == 3
    assert s["digipot_range_ohms"] == [50.0, 10050.0]
    # the median, 350 ohm, is far from the default: the continuous rate for it (R^3)
    assert s["gamma_equivalent"] == pytest.approx(LearningConfig().gamma * (350 / R_INIT) ** 3)
    assert s["positions_given"] == 5
    assert s["ids_are_indices"] and s["node_ids"] == [str(i) for i in range(8)]
    # the default tasks (2 inputs, 2 outputs, 1 ground) just fit the 5-node part
    for kind in ("regression", "allostery"):
        assert s["tasks"][kind] == {"inputs": 2, "outputs": 2, "grounds": 1,
                                    "nodes_needed": 5, "fits": True, "largest_n": 2}
    text = summary_text(s)
    assert "no: 2 connected parts, the largest of 5 nodes" in text
    assert "5 of 8 in the network, the others drawn on a circle" in text


def test_without_resistances_the_summary_names_the_learning_default():
    s = network_summary(_net(resistance=None))
    assert s["resistance_ohms"] is s["outside_digipot_range"] is s["gamma_equivalent"] is None
    assert s["default_resistance_ohms"] == LearningConfig().r_init
    assert (f"none in the network: the learning default applies (train starts every edge at "
            f"{R_INIT:.5g} ohm") in " ".join(summary_text(s).split())
    # resistances near the default need no other rate
    near = network_summary(_net(resistance=[R_INIT] * 8))
    assert near["gamma_equivalent"] is None and near["outside_digipot_range"] == 0


@pytest.mark.parametrize("nodes, regression, allostery", [(5, 2, 2), (4, 1, 1), (2, 0, 0),
                                                          (64, 31, 25)])
def test_the_largest_task_is_the_largest_that_fits(nodes, regression, allostery):
    # n inputs + n outputs + the default grounds (1; allostery max(1, n // 2)) <= nodes,
    # and n + 1 does not fit
    from spicecl.netinfo import _largest_n
    from spicecl.tasks import default_grounds

    for kind, n in (("regression", regression), ("allostery", allostery)):
        assert _largest_n(kind, nodes) == n
        assert n == 0 or 2 * n + default_grounds(kind, n) <= nodes
        assert 2 * (n + 1) + default_grounds(kind, n + 1) > nodes


GRAPHML = """<?xml version="1.0"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
 <key id="r" for="edge" attr.name="resistance" attr.type="double"/>
 <key id="x" for="node" attr.name="x" attr.type="double"/>
 <key id="y" for="node" attr.name="y" attr.type="double"/>
 <graph edgedefault="undirected">
  <node id="in1"><data key="x">0</data><data key="y">0</data></node>
  <node id="in 2"><data key="x">2</data><data key="y">0</data></node>
  <node id="mid"/>
  <node id="out,a"><data key="x">1</data><data key="y">2</data></node>
  <node id="gnd"><data key="x">1</data><data key="y">-1</data></node>
  <edge source="in1" target="mid"><data key="r">100</data></edge>
  <edge source="in 2" target="mid"><data key="r">470</data></edge>
  <edge source="mid" target="out,a"><data key="r">22000</data></edge>
  <edge source="in1" target="gnd"><data key="r">1000</data></edge>
 </graph>
</graphml>"""


def _info(capsys, *argv) -> tuple[int, str, str]:
    status = main(["network", "info", *map(str, argv)])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_a_graphml_with_its_own_ids_lists_each_with_its_index(tmp_path, capsys):
    path = tmp_path / "mine.graphml"
    path.write_text(GRAPHML)
    status, out, _ = _info(capsys, path)
    assert status == 0
    text = " ".join(out.split())
    # in file order; an id holding a space or a comma quoted
    assert "node ids id=index: in1=0, 'in 2'=1, mid=2, 'out,a'=3, gnd=4" in text
    assert f"file {path.resolve()}" in text
    assert f"sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}" in text
    assert "4 of 5 in the file, the others drawn on a circle" in text
    assert "min 100, median 735, max 22000 ohm; 1 outside the digipot range" in text
    status, out, _ = _info(capsys, "--network", path, "--json")
    s = json.loads(out)
    assert s["node_ids"] == ["in1", "in 2", "mid", "out,a", "gnd"]
    assert not s["ids_are_indices"]
    assert s["source"] == {"path": str(path.resolve()),
                           "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    assert (s["positions_given"], s["degree"]["max"]) == (4, 3)


def test_the_json_keys_are_the_documented_ones(capsys):
    from spicecl import netinfo

    documented = re.findall(r"^``(\w+)``:", netinfo.__doc__, flags=re.M)
    status, out, _ = _info(capsys, "disordered:20:30", "--seed", "4", "--json")
    s = json.loads(out)
    assert status == 0 and list(s) == documented
    assert (s["network"], s["seed"], s["nodes"], s["edges"]) == ("disordered:20:30", 4, 20, 30)
    assert list(s["tasks"]) == ["regression", "allostery"]
    with pytest.raises(SystemExit):
        main(["network", "info", "--help"])
    helped = capsys.readouterr().out
    assert all(f"\n{k}: " in helped for k in documented)


def test_a_jammed_text_file_is_summarized(tmp_path, capsys):
    path = tmp_path / "two.txt"
    path.write_text("6 6 2.0\n0 0\n1 0\n0 1\n1.5 1.5\n1.8 1.5\n1.6 1.9\n"
                    "0 1\n1 2\n2 0\n3 4\n4 5\n5 3\n")
    status, out, _ = _info(capsys, path, "--json")
    s = json.loads(out)
    assert status == 0 and (s["components"], s["largest_component_nodes"]) == (2, 3)
    assert s["ids_are_indices"] and s["positions_given"] == 6 and s["resistance_ohms"] is None
    assert not s["tasks"]["regression"]["fits"] and s["tasks"]["regression"]["largest_n"] == 1


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("network", ["exp16", "disordered143", "file"])
def test_plot_writes_a_png_of_sensible_size(tmp_path, capsys, network):
    if network == "file":
        network = tmp_path / "mine.graphml"
        network.write_text(GRAPHML)
    png = tmp_path / "sub" / "net.png"
    status, out, err = _info(capsys, network, "--plot", png)
    assert status == 0 and out.startswith("network ") and err == f"wrote {png}\n"
    width, height = _png_size(png)
    assert 300 <= width <= 1500 and 300 <= height <= 1500
    assert not list(png.parent.glob(".*"))  # (no temporary file left beside it)


def test_the_drawing_labels_every_node_by_its_id_up_to_its_limit():
    net = Network("ids", ("a", "b", "c\td"), [(0, 1), (1, 2)], [(0, 0), (1, 0), (2, 1)],
                  [10.0, 1000.0])
    fig = network_figure(net)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["a", "b", "c\\td"]
    assert len(fig.axes) == 2  # the resistance colour bar
    big = disordered_network(LABELLED_NODES + 1, 2 * LABELLED_NODES + 10)
    ax = network_figure(big).axes[0]
    assert not ax.texts and "labels left out" in ax.get_title()
    assert len(network_figure(exp16()).axes[0].texts) == 9


@pytest.mark.parametrize("argv, message", [
    (["{tmp}/missing.graphml"], "unknown network '{tmp}/missing.graphml': not a built-in name"),
    (["{tmp}/bad.graphml"], "network file {tmp}/bad.graphml, line 2: malformed XML"),
    (["exp16", "--network", "exp16"], "network info: give the network once"),
    (["exp16", "--seed", "1"], "--network-seed applies to the generated networks"),
    (["exp16", "--plot", "{tmp}/net.jpg"], "--plot {tmp}/net.jpg: expected a .png file"),
])
def test_bad_input_is_one_line_and_exit_status_2(tmp_path, capsys, argv, message):
    (tmp_path / "bad.graphml").write_text('<graphml><graph><node id="a"/></graph\n')
    status, out, err = _info(capsys, *(a.format(tmp=tmp_path) for a in argv))
    assert status == 2 and out == ""
    assert err.startswith(f"spicecl: error: {message.format(tmp=tmp_path)}")
    assert err.count("\n") == 1


def test_info_without_plot_does_not_import_matplotlib():
    code = ("import sys; from spicecl.cli import main; "
            "assert main(['network', 'info', 'exp16', '--json']) == 0; "
            "print('matplotlib' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stderr == "False\n"



# the README's example file
MINE = """<?xml version="1.0"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
 <key id="r" for="edge" attr.name="resistance" attr.type="double"/>
 <key id="x" for="node" attr.name="x" attr.type="double"/>
 <key id="y" for="node" attr.name="y" attr.type="double"/>
 <graph edgedefault="undirected">
  <node id="in1"><data key="x">0</data><data key="y">0</data></node>
  <node id="in2"><data key="x">2</data><data key="y">0</data></node>
  <node id="mid"/>
  <node id="out"><data key="x">1</data><data key="y">2</data></node>
  <node id="gnd"><data key="x">1</data><data key="y">-1</data></node>
  <edge source="in1" target="mid"><data key="r">100</data></edge>
  <edge source="in2" target="mid"><data key="r">470</data></edge>
  <edge source="mid" target="out"><data key="r">22000</data></edge>
  <edge source="in1" target="gnd"><data key="r">1000</data></edge>
  <edge source="in2" target="gnd"><data key="r">1000</data></edge>
  <edge source="out" target="in1"><data key="r">330</data></edge>
 </graph>
</graphml>
"""


def test_the_readme_example_is_what_network_info_prints(tmp_path, capsys, monkeypatch):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("      $ spicecl network info mine.graphml --plot mine.png\n", 1)[1]
    shown = []
    for line in block.splitlines():
        if not line.startswith("      ") or line.lstrip().startswith("- "):
            break
        shown.append(line[6:])
    (tmp_path / "mine.graphml").write_text(MINE)
    monkeypatch.chdir(tmp_path)
    status, out, err = _info(capsys, "mine.graphml", "--plot", "mine.png")
    assert status == 0 and err == "wrote mine.png\n"
    printed = out.splitlines()
    assert len(shown) > 5 and [line for line in shown if line not in printed] == ["..."]
