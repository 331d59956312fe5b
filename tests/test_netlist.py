"""spicecl.netlist and spicecl.variation: golden decks, safe names, tolerance specs, CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from conftest import requires_ngspice

from spicecl.cli import main
from spicecl.errors import SpiceclError
from spicecl.netlist import absolute_includes, make_setup, twin_deck
from spicecl.network import load_network
from spicecl.variation import (ComponentTolerance, ToleranceSpec, digipot_resistance,
                               draw_circuit, start_state, taps_for_resistance)

REPO = Path(__file__).resolve().parent.parent
NETLISTS = REPO / "netlists"
MODELS = REPO / "models"
UPDATE = os.environ.get("SPICECL_UPDATE_GOLDEN") == "1"

#: Reference decks: file stem -> CLI arguments (after `spicecl netlist`).
GOLDEN = {
    "exp16_twin": ["twin", "--network", "exp16", "--seed", "1"],
    "exp16_twin_exact_op": ["twin", "--network", "exp16", "--seed", "1", "--tolerance", "0",
                            "--offset", "0", "--analysis", "op", "--no-oscillators",
                            "--precise"],
    "exp16_oscillators": ["oscillators", "--network", "exp16", "--seed", "1"],
}

ALLOWED_DOT = (".include ", ".options ", ".op", ".tran ", ".ic ", ".end")


def _generate(tmp_path, stem, capsys):
    """Run the CLI into tmp/netlists with tmp/models -> repo models (same relative includes)."""
    (tmp_path / "models").symlink_to(MODELS, target_is_directory=True)
    out = tmp_path / "netlists" / f"{stem}.cir"
    args = GOLDEN[stem]
    assert main(["netlist", *args, "--models", str(tmp_path / "models"), "-o", str(out)]) == 0
    capsys.readouterr()
    return out


@pytest.mark.parametrize("stem", sorted(GOLDEN))
def test_golden_decks(tmp_path, capsys, stem):
    """Regenerate the reviewed decks; they must match netlists/ (SPICECL_UPDATE_GOLDEN=1 to
    update them deliberately)."""
    out = _generate(tmp_path, stem, capsys)
    for suffix in (".cir", ".json"):
        new = out.with_suffix(suffix).read_text()
        ref = NETLISTS / f"{stem}{suffix}"
        if UPDATE:
            from spicecl.results import atomic_write_text

            atomic_write_text(ref, new)
        assert ref.exists(), f"{ref} missing: run with SPICECL_UPDATE_GOLDEN=1"
        assert new == ref.read_text(), f"{ref.name} changed: review, then update deliberately"


#: numpy's dispatch targets above its baseline (numpy 2.4 on x86-64); naming one this numpy
#: or CPU does not have only makes numpy warn
_NUMPY_SIMD = "X86_V3 X86_V4 AVX512_ICL AVX512_SPR AVX2 AVX512F AVX512_SKX"


def _logical_lines(text: str) -> list[str]:
    """SPICE lines with '+' continuations joined and comments dropped."""
    out: list[str] = []
    for ln in text.splitlines():
        s = ln.strip()
        if not s or s.startswith("*"):
            continue
        if s.startswith("+") and out:
            out[-1] += " " + s[1:]
        else:
            out.append(s)
    return out


def test_no_parameter_free_model_card_inside_a_subckt_with_params():
    """ngspice copies every .model inside a subckt that takes params once per instance, and
    looks models up by name in a list: a 3000-edge twin deck spent 6.3 of its 9.0 s in subckt
    expansion with the decision cell's two switch models inside it, 1.9 s with them outside.
    A model card with no {expression} needs no copy, so it goes outside."""
    inside = []
    for lib in sorted(MODELS.glob("*.lib")):
        params = False
        for s in _logical_lines(lib.read_text()):
            low = s.lower()
            if low.startswith(".subckt"):
                params = "params:" in low
            elif low.startswith(".ends"):
                params = False
            elif params and low.startswith(".model") and "{" not in s:
                inside.append(f"{lib.name}: {s}")
    assert inside == []


def test_deck_bytes_do_not_depend_on_numpys_cpu_dispatch(tmp_path):
    """A deck's .ic voltages and step come from powers and logarithms: computed by numpy on a
    CPU with AVX-512 (other kernels, SVML) a few percent of them differed in the last bit from
    the same deck written on a CPU without, and exp16_twin.cir no longer matched its golden
    copy. The same seed must write the same bytes with numpy's SIMD kernels switched off."""
    args = ["netlist", "twin", "--network", "disordered:30:60", "--seed", "2"]
    decks = []
    for name, extra in (("default", {}), ("baseline", {"NPY_DISABLE_CPU_FEATURES": _NUMPY_SIMD})):
        out = tmp_path / name / "deck.cir"
        env = {**os.environ, **extra, "PYTHONWARNINGS": "ignore"}
        subprocess.run([sys.executable, "-m", "spicecl", *args, "-o", str(out)], check=True,
                       env=env, capture_output=True)
        decks.append(out.read_text())
    assert decks[0] == decks[1]


def test_start_state_is_the_c_librarys_power():
    """start_state's voltages equal VDD 2/3 2^-f computed by Python's float power (the C
    library) bit for bit, for any phase, on any CPU."""
    phase = np.random.default_rng(3).random(20_000)
    v0, rising = start_state(phase, 5.0)
    f = np.where(rising, 2.0 * phase - 1.0, 2.0 * phase).tolist()
    hi = 2.0 * 5.0 / 3.0
    expect = [5.0 - hi * 2.0 ** -x if r else hi * 2.0 ** -x for x, r in zip(f, rising)]
    assert v0.tolist() == expect


@pytest.mark.spice
@requires_ngspice
@pytest.mark.parametrize("stem", sorted(GOLDEN))
def test_golden_decks_run(stem):
    from spicecl.spice.runner import run_ngspice

    path = NETLISTS / f"{stem}.cir"
    text = absolute_includes(path.read_text(), NETLISTS)
    vec = ["v(cap0)"] if "oscillators" in stem else ["v(f0)", "v(c3)"]
    res = run_ngspice(text, vec, name=stem, timeout=60)
    assert all(np.all(np.isfinite(v)) for v in res.vectors.values())


def test_absolute_includes_splits_lines_as_ngspice_does():
    # str.splitlines also breaks at U+2028 (and \x0b-\x1e, U+0085): a comment holding one
    # was turned into an .include line of its own
    text = "t\n* a\u2028.include x.lib\n.include ../models/comparator.lib\nR1 a 0 1\n"
    out = absolute_includes(text, NETLISTS)
    assert out.split("\n")[1] == "* a\u2028.include x.lib"
    lib = (NETLISTS.parent / "models" / "comparator.lib").resolve()
    assert out.split("\n")[2] == f".include {lib}"
    assert out.endswith("R1 a 0 1\n")


def test_absolute_includes_reads_a_quoted_path(tmp_path):
    # (decks from a directory with a space include their libraries in double quotes)
    text = 't\n.include "../mo dels/x.lib"\nR1 a 0 1\n'
    lib = tmp_path / "mo dels" / "x.lib"
    assert absolute_includes(text, tmp_path / "deck dir").split("\n")[1] == f'.include "{lib}"'


def test_sidecar_matches_header(tmp_path, capsys):
    out = _generate(tmp_path, "exp16_twin", capsys)
    side = json.loads(out.with_suffix(".json").read_text())
    text = out.read_text()
    assert side["seed"] == 1 and side["network"]["n_edges"] == 16
    r_f = np.asarray(side["resistance_free"])
    d = side["draw"]["values"]
    np.testing.assert_allclose(r_f, np.asarray(d["rw_free"]) + np.asarray(side["taps"]) *
                               np.asarray(d["rab_free"]) / 127, rtol=1e-15)
    # each drawn digipot value is in the deck literally
    for e in range(16):
        assert f"rab={float(d['rab_free'][e])!r}" in text
        assert f"rab={float(d['rab_clamped'][e])!r}" in text
    assert "* tolerance spec" in text and "seed 1" in text.splitlines()[0]



def test_netlist_output_never_overwrites_other_files(tmp_path, capsys):
    """-o writes NAME.cir and NAME.json: an existing file that is not an earlier deck (an input
    network, another run's manifest) is refused; an earlier deck is replaced."""
    from spicecl.cli import main

    net = tmp_path / "net.graphml"
    assert main(["network", "export", "exp16", "--format", "graphml", "-o", str(net)]) == 0
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "manifest.json").write_text('{"command": "spicecl train"}')
    before = {p: p.read_bytes() for p in (net, tmp_path / "run" / "manifest.json")}
    capsys.readouterr()
    for out in (net, tmp_path / "run" / "manifest.cir", tmp_path / "x.json", "-"):
        assert main(["netlist", "twin", "--network", str(net), "--seed", "1",
                     "-o", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("spicecl: error: -o ") and "\n" not in err, err
    assert {p: p.read_bytes() for p in before} == before
    deck = tmp_path / "d.cir"
    deck.touch()  # an empty file (mktemp) is no one's
    for kind, seed in (("twin", "1"), ("twin", "2"), ("oscillators", "3")):
        assert main(["netlist", kind, "--network", "exp16", "--seed", seed, "-o", str(deck)]) == 0
        assert json.loads(deck.with_suffix(".json").read_text())["seed"] == int(seed)

def test_a_deeply_nested_json_beside_the_deck_is_refused_in_one_line(tmp_path, capsys):
    # json.loads of the would-be sidecar raised RecursionError: a traceback, exit 1
    (tmp_path / "o.json").write_text("[" * 200_000)
    assert main(["netlist", "twin", "--network", "exp16", "--seed", "1",
                 "-o", str(tmp_path / "o.cir")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("spicecl: error: -o ") and "\n" not in err, err
    assert (tmp_path / "o.json").read_text() == "[" * 200_000


def test_an_interrupted_netlist_never_pairs_a_new_deck_with_an_old_sidecar(tmp_path, capsys,
                                                                          monkeypatch):
    """The deck was written before its sidecar: a run interrupted between the two left the new
    deck beside the old deck's sidecar (another seed's draw), and over no earlier deck left a
    deck without a sidecar, which the same command then refused as someone else's file."""
    import spicecl.results
    from spicecl.cli import main

    deck = tmp_path / "d.cir"
    assert main(["netlist", "twin", "--network", "exp16", "--seed", "1", "-o", str(deck)]) == 0
    real = spicecl.results.atomic_write_text

    def interrupted_after_the_deck(path, text):
        real(path, text)
        raise KeyboardInterrupt

    monkeypatch.setattr(spicecl.results, "atomic_write_text", interrupted_after_the_deck)
    assert main(["netlist", "twin", "--network", "exp16", "--seed", "2", "-o", str(deck)]) == 130
    assert "seed 2" in deck.read_text().splitlines()[0]
    assert not deck.with_suffix(".json").exists()  # no seed-1 sidecar beside the seed-2 deck
    monkeypatch.setattr(spicecl.results, "atomic_write_text", real)
    capsys.readouterr()
    assert main(["netlist", "twin", "--network", "exp16", "--seed", "2", "-o", str(deck)]) == 0
    assert json.loads(deck.with_suffix(".json").read_text())["seed"] == 2
    # a deck-less .cir of someone else's is still refused
    other = tmp_path / "other.cir"
    other.write_text("my own deck\n* hand written\n")
    assert main(["netlist", "twin", "--network", "exp16", "--seed", "2", "-o", str(other)]) == 2
    assert other.read_text() == "my own deck\n* hand written\n"


@pytest.mark.spice
@requires_ngspice
@pytest.mark.parametrize("network", ["exp16", "disordered143"])
@pytest.mark.parametrize("spec", [ToleranceSpec.exact(), ToleranceSpec.default()],
                         ids=["exact", "tolerances"])
def test_decks_parse_and_run(network, spec):
    """Every kind of deck runs: twin .op (cells, enables high) and a short twin transient with
    oscillators (clock pulse early), for both networks, with and without tolerances."""
    from spicecl.netlist import DeckConfig
    from spicecl.spice.runner import run_ngspice

    net = load_network(network)
    setup = make_setup(net, 2, spec)
    d = twin_deck(setup, analysis="op", oscillators=False)
    res = run_ngspice(d.text, ["v(f0)", "v(up0)"], name=f"{network}-op", timeout=60)
    up = res.vectors["v(up0)"][0]
    assert up < 0.1 or up > 4.9  # a logic level, never in between
    # the full deck (cells + oscillators, uic); clock early to keep the 143-edge run short
    delay = 2e-4 if network == "exp16" else 2e-5
    d = twin_deck(setup, config=DeckConfig(clock_delay=delay), analysis="tran",
                  oscillators=True)
    res = run_ngspice(d.text, ["time", "v(en0)", "v(up0)"], name=f"{network}-tran", timeout=60)
    assert res.vectors["time"][-1] == pytest.approx(delay + 10e-6 + 20e-6)


def test_distribution_alone_keeps_each_class_tolerance(tmp_path):
    """--distribution normal used to set every relative class to the resistor's 1 %
    (digipot_rab 20 % -> 1 %) without a word."""
    out = tmp_path / "n.cir"
    assert main(["netlist", "twin", "--network", "exp16", "--seed", "1", "--distribution",
                 "normal", "-o", str(out)]) == 0
    spec = json.loads(out.with_suffix(".json").read_text())["draw"]["tolerance"]
    default = ToleranceSpec.default().to_dict()
    for name, c in spec.items():
        assert c["tolerance"] == default[name]["tolerance"], name
        if c["kind"] == "relative":
            assert c["distribution"] == "normal", name
    assert spec["digipot_rab"]["tolerance"] == 0.2
    assert main(["netlist", "twin", "--network", "exp16", "--seed", "1", "--distribution",
                 "normal", "--tolerance", "0.1", "-o", str(out)]) == 0
    spec = json.loads(out.with_suffix(".json").read_text())["draw"]["tolerance"]
    assert spec["digipot_rab"]["tolerance"] == 0.1 and spec["resistor"]["tolerance"] == 0.1


def test_decks_that_ngspice_cannot_solve_are_refused(tmp_path, capsys):
    """An .op deck with oscillators has no DC solution (ngspice fell back to a "transient op"
    snapshot: enables all 0, network voltages off by 2.4e-8 V on disordered143); the precise
    options stopped 7 of 8 exp16 decks with oscillators at the clock edge."""
    setup = make_setup(load_network("exp16"), 1)
    with pytest.raises(SpiceclError, match="no DC operating point"):
        twin_deck(setup, analysis="op", oscillators=True)
    with pytest.raises(SpiceclError, match="precise options stop a deck with oscillators"):
        twin_deck(setup, analysis="tran", oscillators=True, precise=True)
    err = _cli_error(capsys, ["netlist", "twin", "--network", "exp16", "--seed", "1",
                              "--precise", "-o", str(tmp_path / "p.cir")])
    # one line naming the option given (it said "the precise options", named nowhere)
    assert err.count("\n") == 1 and err.startswith("spicecl: error: --precise: ")
    assert "precise options stop a deck with oscillators" in err and "--no-oscillators" in err
    # --analysis op leaves the oscillators out by itself
    out = tmp_path / "op.cir"
    assert main(["netlist", "twin", "--network", "exp16", "--seed", "1", "--analysis", "op",
                 "-o", str(out)]) == 0
    text = out.read_text()
    assert ".op" in text and "relax_osc" not in text and "oscillator.lib" not in text
    assert json.loads(out.with_suffix(".json").read_text())["oscillators"] is False


def test_twin_deck_warns_when_file_resistances_leave_the_digipot_range(tmp_path, capsys):
    """GraphML resistances of 10 ohm and 1 Mohm become the end taps (~75 ohm and ~10 kohm);
    the deck is written, and the warning says so (it used to be silent)."""
    from spicecl.netio import graphml_bytes

    net = load_network("exp16")
    r = np.full(net.n_edges, 5000.0)
    r[3], r[7] = 10.0, 1e6
    path = tmp_path / "extreme.graphml"
    path.write_bytes(graphml_bytes(net, r))
    out = tmp_path / "x.cir"
    assert main(["netlist", "twin", "--network", str(path), "--seed", "1", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert ("spicecl: warning: 2 of 16 resistances of network extreme.graphml lie outside "
            "the digipot range [75, 10075] ohm (e.g. edge 3: 10 ohm)") in err
    taps = json.loads(out.with_suffix(".json").read_text())["taps"]
    assert taps[3] == 0 and taps[7] == 127
    r[3], r[7] = 5000.0, 5000.0
    path.write_bytes(graphml_bytes(net, r))
    assert main(["netlist", "twin", "--network", str(path), "--seed", "1", "-o", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err


# ---------------------------------------------------------------------------- security

HOSTILE_IDS = ["a\n.control\nshell rm -rf /\n.endc", ".include /etc/passwd", "shell",
               "x\r\n.endc", "  .options  ", "*/ .end", "n\u2028.control"]


def _hostile_graphml(path: Path) -> Path:
    from lxml import etree

    ns = "http://graphml.graphdrawing.org/xmlns"
    root = etree.Element("graphml", nsmap={None: ns})
    etree.SubElement(root, "key", id="label", attrib={"for": "node", "attr.name": "label",
                                                      "attr.type": "string"})
    g = etree.SubElement(root, "graph", id=".control\nshell", edgedefault="undirected")
    ids = HOSTILE_IDS + ["plain1", "plain2"]
    for nid in ids:
        n = etree.SubElement(g, "node", id=nid)
        etree.SubElement(n, "data", key="label").text = "\n.include /etc/passwd\n.control"
    for k in range(len(ids)):
        etree.SubElement(g, "edge", source=ids[k], target=ids[(k + 1) % len(ids)])
    etree.SubElement(g, "edge", source=ids[0], target=ids[3])
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return path


def _assert_safe(text: str):
    lines = text.splitlines()
    assert lines[0].startswith("spicecl ")  # the title line (a comment to ngspice)
    for ln in lines[1:]:
        s = ln.strip()
        low = s.lower()
        assert not low.startswith((".control", ".endc", "shell", ".include /etc")), ln
        if s.startswith("."):
            assert s.startswith(ALLOWED_DOT), ln
        assert "\r" not in ln and "\u2028" not in ln
        if not s.startswith("*"):  # sanitized ids may appear in comments only
            assert "passwd" not in low and "shell" not in low and "control" not in low, ln
    assert ".control" not in text.lower() and ".include /etc" not in text


def test_hostile_graphml_cannot_inject(tmp_path, capsys):
    src = _hostile_graphml(tmp_path / ".control shell;.include etc.graphml")
    out = tmp_path / "deck.cir"
    assert main(["netlist", "twin", "--network", str(src), "--seed", "0", "-o", str(out)]) == 0
    capsys.readouterr()
    text = out.read_text()
    _assert_safe(text)
    assert re.search(r"^Xrf0 f\d+ f\d+ digipot", text, re.M)
    # the original ids survive only in the JSON sidecar (JSON-escaped)
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["network"]["node_ids"][0] == HOSTILE_IDS[0]
    osc = tmp_path / "osc.cir"
    assert main(["netlist", "oscillators", "--network", str(src), "--seed", "0",
                 "-o", str(osc)]) == 0
    _assert_safe(osc.read_text())


@pytest.mark.spice
@requires_ngspice
def test_hostile_deck_runs(tmp_path):
    from spicecl.spice.runner import run_ngspice

    net = load_network(str(_hostile_graphml(tmp_path / "h.graphml")))
    d = twin_deck(make_setup(net, 0), analysis="op", oscillators=False)
    _assert_safe(d.text)
    res = run_ngspice(d.text, ["v(f0)"], name="hostile")
    assert np.isfinite(res.vectors["v(f0)"][0])


# ---------------------------------------------------------------------- tolerances

def test_tolerance_validation():
    with pytest.raises(SpiceclError, match="unknown component class 'bogus'"):
        ToleranceSpec.from_dict({"bogus": {"tolerance": 0.1}})
    with pytest.raises(SpiceclError, match="unknown component class"):
        ToleranceSpec((("inductor", ComponentTolerance(1.0, 0.1)),))
    for bad in (1.0, -0.01, float("nan"), 2):
        with pytest.raises(SpiceclError, match=r"must be in \[0, 1\)"):
            ToleranceSpec.from_dict({"resistor": {"tolerance": bad}})
    with pytest.raises(SpiceclError, match="distribution"):
        ToleranceSpec.from_dict({"capacitor": {"distribution": "cauchy"}})
    with pytest.raises(SpiceclError, match="nominal"):
        ToleranceSpec.from_dict({"digipot_rab": {"nominal": -5}})
    with pytest.raises(SpiceclError, match="unknown field"):
        ToleranceSpec.from_dict({"resistor": {"tol": 0.1}})


def test_tolerance_json_roundtrip_and_draws():
    spec = ToleranceSpec.default().replace("digipot_rab", distribution="normal")
    assert ToleranceSpec.from_json(spec.to_json()) == spec
    a = draw_circuit(spec, 500, np.random.default_rng(7), seed=7)
    b = draw_circuit(spec, 500, np.random.default_rng(7), seed=7)
    for k in a.values:
        np.testing.assert_array_equal(a[k], b[k])
    rab = a["rab_free"]
    assert np.all(np.abs(rab / 10e3 - 1) <= 0.2) and rab.std() < 0.2 * 10e3 / 2.5
    off = a["cell_voff1"]
    assert np.all(np.abs(off) <= 0.005) and off.std() > 0.002  # uniform +-5 mV
    exact = draw_circuit(ToleranceSpec.exact(), 3, np.random.default_rng(0))
    assert np.all(exact["rab_free"] == 10e3) and np.all(exact["cell_voff2"] == 0)


def test_digipot_taps():
    r = digipot_resistance([0, 127], 10e3, 75.0)
    np.testing.assert_allclose(r, [75.0, 10075.0])
    assert taps_for_resistance(r, 10e3, 75.0).tolist() == [0, 127]
    with pytest.raises(SpiceclError, match="taps"):
        digipot_resistance([128], 10e3, 75.0)
    # a tap is an integer (make_setup would otherwise truncate 3.5 to 3 without a word)
    with pytest.raises(SpiceclError, match="taps must be integers"):
        digipot_resistance([3.5], 10e3, 75.0)
    # the nearest tap, not the one below: 10.6 and 10.4 steps above the wiper
    step = 10e3 / 127
    assert taps_for_resistance([75.0 + 10.6 * step, 75.0 + 10.4 * step, 1e9, 1.0],
                               10e3, 75.0).tolist() == [11, 10, 127, 0]


def test_a_tolerance_spec_naming_a_class_twice_is_refused():
    twice = (("capacitor", ComponentTolerance(10e-9, 0.05)),
             ("capacitor", ComponentTolerance(10e-9, 0.5)))
    with pytest.raises(SpiceclError, match="names a component class twice"):
        ToleranceSpec(twice)


# ------------------------------------------------------------------- CLI bad input

def _cli_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("spicecl: error:") and err.count("\n") == 1, err
    return err


def test_cli_bad_input_exit_2(tmp_path, capsys):
    base = ["netlist", "twin", "--network", "exp16", "--seed", "1", "-o", str(tmp_path / "d.cir")]
    assert "[0, 1)" in _cli_error(capsys, base + ["--tolerance", "1.5"])
    assert "[0, 1)" in _cli_error(capsys, base + ["--tolerance", "-0.1"])
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"flux_capacitor": {"tolerance": 0.1}}))
    assert "flux_capacitor" in _cli_error(capsys, base + ["--tolerance-spec", str(spec)])
    empty = tmp_path / "empty_models"
    empty.mkdir()
    assert "comparator.lib" in _cli_error(capsys, base + ["--models", str(empty)])
    (empty / "comparator.lib").write_text("* x\n")
    (empty / "digipot.lib").write_text("* x\n")
    assert "decision_cell.lib" in _cli_error(capsys, base + ["--models", str(empty)])
    assert "oscillator.lib" in _cli_error(
        capsys, ["netlist", "oscillators", "--network", "exp16", "--seed", "1", "--models",
                 str(empty), "-o", str(tmp_path / "o.cir")])
    assert "--eta must be in (0, 1], got 0.0" in _cli_error(capsys, base + ["--eta", "0"])
    assert "--tolerance must be in [0, 1), got 1.5" in _cli_error(capsys, base + ["--tolerance",
                                                                                  "1.5"])
    assert "--offset must be in [0, 1), got inf" in _cli_error(capsys, base + ["--offset", "inf"])
    assert "--example 99 is out of range 0..19" in _cli_error(capsys, base + ["--example", "99"])
    assert "--tolerance-spec /dev/zero: larger than 1 MiB" in _cli_error(
        capsys, base + ["--tolerance-spec", "/dev/zero"])  # (read for ever before)
    spec.write_bytes(b"\xff\xfe\x00binary")
    assert "not a text (JSON) file" in _cli_error(capsys, base + ["--tolerance-spec", str(spec)])
    assert not (tmp_path / "d.cir").exists()


@pytest.mark.parametrize("text, match", [
    ('{"resistor": {"nominal": true}}', "tolerance spec .*spec.json: resistor: nominal must be "
                                        "a number, got True"),
    ('{"capacitor": {"tolerance": "0.1"}}', "capacitor: tolerance must be a number, got '0.1'"),
    ('{"resistor": {"tolerance": 1e400}}', r"spec.json: tolerance of resistor must be in \[0, 1\)"),
    ("[]", "tolerance spec .*spec.json: must be a JSON object"),
    ("[" * 100000 + "]" * 100000, "spec.json: nested too deeply; not a tolerance spec"),
    # (the last of two values was used without a word)
    ('{"resistor": {"tolerance": 0.01, "tolerance": 0.2}}', "spec.json: 'tolerance' is given twice"),
    # finite but absurd part values put inf into the deck (was accepted)
    ('{"digipot_rab": {"nominal": 1e308}}', r"nominal of digipot_rab = 1e\+308 ohm is outside "
                                            r"the physical range \[0.001, 1e\+12\] ohm"),
    ('{"digipot_wiper": {"nominal": 3e12}}',
     "nominal of digipot_wiper = 3000000000000.0 ohm is outside"),
    # a per-part nominal was recorded in the deck's header but never drawn
    ('{"capacitor": {"nominal": 22e-9, "tolerance": 0.1}}',
     "capacitor: nominal 2.2e-08 would not be used: capacitor values are set per part"),
    ('{"resistor": {"nominal": 47000}}', "resistor: nominal 47000 would not be used"),
    ('{"comparator_offset": {"nominal": 1e300}}', "nominal of comparator_offset = 1e"),
])
def test_tolerance_spec_file_errors_name_the_file_and_refuse_non_numbers(tmp_path, capsys, text,
                                                                         match):
    spec = tmp_path / "spec.json"
    spec.write_text(text)
    err = _cli_error(capsys, ["netlist", "twin", "--network", "exp16", "--seed", "1",
                              "--tolerance-spec", str(spec), "-o", str(tmp_path / "d.cir")])
    assert re.search(match, err), err


def _two_rings(tmp_path):
    """Two disjoint 6-node rings with a chord: a disconnected 12-node, 14-edge network."""
    edges = [(c + i, c + (i + 1) % 6) for c in (0, 6) for i in range(6)] + [(0, 3), (6, 9)]
    p = tmp_path / "rings.txt"
    p.write_text(f"12 {len(edges)} 1\n" + "".join(f"{i} 0\n" for i in range(12))
                 + "".join(f"{a} {b}\n" for a, b in edges))
    return p


def test_twin_deck_of_a_network_part_with_no_input_or_ground_is_refused(tmp_path, capsys):
    # seed 92 puts every input, output and ground on one ring: the other ring's free nodes
    # float and ngspice finds the deck singular ("check node f3"); the deck used to be written.
    out = tmp_path / "d.cir"
    err = _cli_error(capsys, ["netlist", "twin", "--network", str(_two_rings(tmp_path)),
                              "--seed", "92", "-o", str(out)])
    assert "floating nodes with no path to a held node: 0, 1, 2, 3, 4, 5" in err
    assert not out.exists()
    # seed 4 puts the inputs and the ground on one ring and outputs on the other: those
    # outputs can never move, which is named first
    err = _cli_error(capsys, ["netlist", "twin", "--network", str(_two_rings(tmp_path)),
                              "--seed", "4", "-o", str(out)])
    assert "is not connected: output node(s) 5, 0 have no path to an input node" in err
    assert not out.exists()


def test_oscillator_deck_needs_no_task(tmp_path, capsys):
    # a 3-node network has too few nodes for a task, but an oscillator bank needs edges only
    p = tmp_path / "tri.txt"
    p.write_text("3 3 1\n0 0\n1 0\n0 1\n0 1\n1 2\n2 0\n")
    out = tmp_path / "bank.cir"
    assert main(["netlist", "oscillators", "--network", str(p), "--seed", "1",
                 "-o", str(out)]) == 0
    assert "3 oscillators" in out.read_text()


def _enable_duty(path, n_edges):
    """Each enable's fraction of time high in a bank deck's run (after its first tenth),
    and the rail voltage."""
    from spicecl.spice.runner import run_ngspice

    text = absolute_includes(path.read_text(), path.parent)
    vec = ["time", "v(vcc)"] + [f"v(en{e})" for e in range(n_edges)]
    res = run_ngspice(text, vec, name=path.stem, timeout=120).vectors
    t = res["time"]
    keep = t >= t[-1] / 10
    dt = np.diff(t[keep])
    duty = [float(np.sum(dt * (res[f"v(en{e})"][keep][:-1] > 2.5)) / np.sum(dt))
            for e in range(n_edges)]
    return np.array(duty), res["v(vcc)"]


@pytest.mark.spice
@requires_ngspice
def test_netlist_bias_and_supply_options_reach_the_deck(tmp_path, capsys):
    """--bias sets each enable's duty (p = analytic_p(bias)); --supply-resistance 0
    and --decoupling 0 make an ideal rail; the defaults are the DeckConfig's."""
    from spicecl.netlist import DeckConfig
    from spicecl.oscbank.design import analytic_p

    (tmp_path / "models").symlink_to(MODELS, target_is_directory=True)
    base = ["netlist", "oscillators", "--network", "exp16", "--seed", "1", "--models",
            str(tmp_path / "models"), "--periods", "30"]
    ideal, default = tmp_path / "ideal.cir", tmp_path / "default.cir"
    assert main(base + ["--bias", "3", "--supply-resistance", "0", "--decoupling", "0",
                        "-o", str(ideal)]) == 0
    assert main(base + ["-o", str(default)]) == 0
    capsys.readouterr()
    hw = json.loads(ideal.with_suffix(".json").read_text())["hardware"]
    assert (hw["bias"], hw["supply_resistance"], hw["decoupling"]) == (3.0, 0.0, 0.0)
    assert json.loads(default.with_suffix(".json").read_text())["hardware"] == \
        DeckConfig().to_dict()
    duty3, vcc3 = _enable_duty(ideal, 16)
    duty25, vcc25 = _enable_duty(default, 16)
    # 30 periods, 1 % hysteresis resistors, 5 mV offsets: each edge near the nominal duty
    assert np.max(np.abs(duty3 - analytic_p(3.0))) < 0.04
    assert np.max(np.abs(duty25 - analytic_p(2.5))) < 0.04
    assert np.all(vcc3 == 5.0)  # no series resistance: the rail is the source
    assert 0 < 5.0 - np.min(vcc25) < 0.02  # 0.1 ohm: the rail sags (8.5 mV), a little


def test_netlist_bias_and_supply_options_are_checked(tmp_path, capsys):
    out = str(tmp_path / "d.cir")
    twin = ["netlist", "twin", "--network", "exp16", "--seed", "1", "-o", out]
    assert "--bias sets the oscillators' enable comparators; a deck with --no-oscillators " \
        "has none" in _cli_error(capsys, twin + ["--bias", "3", "--no-oscillators"])
    assert "a deck with --analysis op has none" in \
        _cli_error(capsys, twin + ["--bias", "3", "--analysis", "op"])
    assert "--bias must be in [0, 5], got 6.0" in _cli_error(capsys, twin + ["--bias", "6"])
    assert "--supply-resistance must be in [0, 1e+12], got -1.0" in \
        _cli_error(capsys, twin + ["--supply-resistance", "-1"])
    assert "--decoupling must be in [0, 1], got nan" in \
        _cli_error(capsys, twin + ["--decoupling", "nan"])
    assert main(twin + ["--bias", "1"]) == 0
    assert "--bias 1 V is outside the oscillators' swing (1.67 to 3.33 V): every enable stays " \
        "high (p = 1)" in capsys.readouterr().err
    assert "Vbias bias 0 1.0" in Path(out).read_text()
    # the help's defaults are the deck's (the parser leaves them to DeckConfig)
    from spicecl.netlist import DeckConfig

    with pytest.raises(SystemExit):
        main(["netlist", "oscillators", "--help"])
    helptext = " ".join(capsys.readouterr().out.split())
    cfg = DeckConfig()
    for flag, value in (("--bias V", cfg.bias), ("--supply-resistance OHMS",
                                                cfg.supply_resistance),
                        ("--decoupling FARADS", cfg.decoupling)):
        assert re.search(re.escape(flag) + rf" [^-]*\(default {value:g}[;:)]", helptext), flag


@pytest.mark.parametrize("kind", ["twin", "oscillators"])
@pytest.mark.parametrize("option, value", [("--decoupling", "1e300"),
                                           ("--supply-resistance", "1e300")])
def test_netlist_refuses_supply_parts_no_board_has(tmp_path, capsys, kind, option, value):
    # a 1e300 F capacitor went into the deck, where ngspice stops at "timestep too small"
    out = tmp_path / "d.cir"
    err = _cli_error(capsys, ["netlist", kind, "--network", "exp16", "--seed", "1", "-o",
                              str(out), option, value])
    assert err.startswith(f"spicecl: error: {option} must be in [0, ")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kind", ["twin", "oscillators"])
@pytest.mark.parametrize("name", ["/", ".", "sub/.."])
def test_netlist_output_that_names_a_directory_is_refused(tmp_path, capsys, monkeypatch,
                                                          kind, name):
    # -o / and -o . raised ValueError from Path.with_suffix (a traceback); -o sub/.. made
    # sub/ and then failed to rename the deck onto the current directory
    monkeypatch.chdir(tmp_path)
    err = _cli_error(capsys, ["netlist", kind, "--network", "exp16", "--seed", "1", "-o",
                              name])
    assert err.startswith(f"spicecl: error: -o {name}: is a directory")
    assert not list(tmp_path.iterdir())


def test_netlist_output_that_is_a_fifo_is_refused_not_waited_on(tmp_path, capsys):
    import signal

    def waited(signum, frame):
        raise TimeoutError("waited on the FIFO")

    fifo = tmp_path / "deck.cir"
    os.mkfifo(fifo)
    # (before, reading the old file's header waited for a writer that never comes)
    previous = signal.signal(signal.SIGALRM, waited)
    signal.alarm(20)
    try:
        err = _cli_error(capsys, ["netlist", "twin", "--network", "exp16", "--seed", "1",
                                  "-o", str(fifo)])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert err.startswith(f"spicecl: error: -o {fifo}: {fifo} is not a regular file")


#: The options of each SPICE command that become deck values, with a range (DECK_RANGES).
RANGED = {("netlist", "twin"): ["--tolerance", "--offset", "--eta", "--bias",
                                "--supply-resistance", "--decoupling"],
          ("netlist", "oscillators"): ["--tolerance", "--offset", "--bias",
                                       "--supply-resistance", "--decoupling", "--periods"],
          ("validate", "dc"): ["--tolerance", "--offset", "--eta", "--timeout", "--max-error"],
          ("validate", "decisions"): ["--tolerance", "--offset", "--eta", "--timeout"],
          ("oscillators",): ["--tolerance", "--offset", "--supply-resistance", "--decoupling",
                             "--steps-per-period"],
          ("cosim",): ["--p", "--eta", "--timeout"]}


@pytest.mark.parametrize("command", sorted(RANGED))
def test_deck_option_ranges_are_in_the_help_and_their_ends_pass(tmp_path, command):
    """Each ranged option states its range in --help, and the ends of a closed range are
    values the command takes."""
    import argparse

    from spicecl.cli import build_parser
    from spicecl.commands.spice import DECK_RANGES
    from spicecl.errors import interval

    parser = build_parser()
    for name in command:
        parser = next(a for a in parser._actions
                      if isinstance(a, argparse._SubParsersAction)).choices[name]
    required = {"netlist": ["-o", str(tmp_path / "d.cir"), "--network", "exp16"],
                "validate": ["--network", "exp16"], "cosim": ["--network", "exp16", "--steps", "1"],
                "oscillators": ["--edges", "2", "--bias", "2.5", "--samples", "2"]}
    base = [*command, *required[command[0]], "--seed", "1"]
    for flag in RANGED[command]:
        r = DECK_RANGES[flag]
        bounds = interval(r.low, r.high, low_open=r.low_open, high_open=r.high_open)
        action = next(a for a in parser._actions if flag in a.option_strings)
        assert action.help.endswith(f"; in {bounds} {r.unit}".rstrip()), flag
        for end, is_open in ((r.low, r.low_open), (r.high, r.high_open)):
            if not is_open:
                args = build_parser().parse_args([*base, flag, repr(end)])
                assert getattr(args, flag[2:].replace("-", "_")) == end


def test_validate_timeout_beyond_what_python_can_wait_is_a_one_line_error(capsys):
    for check in ("dc", "decisions"):
        err = _cli_error(capsys, ["validate", check, "--network", "exp16", "--seed", "1",
                                  "--timeout", "1e300"])
        assert "--timeout must be in (0, 1e+06], got 1e+300" in err


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf"])
def test_validate_timeout_must_be_positive_and_finite(capsys, timeout):
    for check in ("dc", "decisions"):
        err = _cli_error(capsys, ["validate", check, "--network", "exp16", "--seed", "1",
                                  "--timeout", timeout])
        assert "--timeout must be in (0, 1e+06]" in err


def test_deck_numbers_round_trip_and_non_finite_values_are_refused():
    # "nan" or "inf" in a deck is read by ngspice as a node or model name, or as garbage
    from spicecl.netlist.names import number

    for v in (1e-15, 5089.370078740158, 0.1 + 0.2, -3.0, 1e300):
        assert float(number(v)) == v
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(SpiceclError, match="cannot be written to a deck"):
            number(bad)


def test_start_phases_are_uniform_in_time():
    """start_state: the time an ideal RC oscillator needs from its start voltage to its next
    threshold (VDD/3 falling, 2VDD/3 rising) is (1 - f) of a half period, f = 2 phase mod 1:
    uniform phases are uniform in time over the whole period, half of them charging."""
    from spicecl.variation import start_state

    vdd, half = 5.0, np.log(2.0)  # time in units of RC
    phase = np.linspace(0.0, 1.0, 41, endpoint=False)
    v0, rising = start_state(phase, vdd)
    assert np.array_equal(rising, phase >= 0.5)
    assert np.all((v0 >= vdd / 3 - 1e-12) & (v0 <= 2 * vdd / 3 + 1e-12))
    left = np.where(rising, np.log((vdd - v0) / (vdd / 3)), np.log(v0 / (vdd / 3)))
    assert np.allclose(left, (1.0 - (2.0 * phase) % 1.0) * half)


@pytest.mark.spice
@requires_ngspice
@pytest.mark.parametrize("bias", [2.5, 2.0])
def test_twin_deck_enables_at_the_clock_are_on_with_the_bias_p(bias):
    """At the clock pulse (about 4.4 periods in) about p(bias) of the enables are on (1/2 at
    2.5 V, 0.79 at 2.0 V), and the oscillators drawn to start charging do charge. (Every
    oscillator started discharging from a voltage uniform in volts: at 2.5 V 23 % were on,
    the phases bunched; SPICE audit.) Measured on exp16 seeds 1-4: 0.47 and 0.83."""
    from spicecl.netlist.twin import DeckConfig
    from spicecl.oscbank.design import analytic_p
    from spicecl.spice.runner import run_ngspice
    from spicecl.variation import start_state

    net = load_network("exp16")
    cfg = DeckConfig(bias=bias)
    on = []
    for seed in range(1, 5):
        setup = make_setup(net, seed)
        deck = twin_deck(setup, config=cfg)
        en = [f"v(en{e})" for e in range(net.n_edges)]
        cap = [f"v(cap{e})" for e in range(net.n_edges)]
        r = run_ngspice(deck.text, ["time"] + en + cap, name=f"phases{seed}")
        t = r.vectors["time"]
        v0, rising = start_state(setup.draw["osc_phase"], cfg.vdd)
        k = np.searchsorted(t, 5e-6)  # ~1 % of a period: every capacitor on its way
        moved = np.array([r.vectors[c][k] for c in cap]) - v0
        # (within 2 % of a half period of a nominal threshold, the loaded one may be passed)
        f = (2.0 * setup.draw["osc_phase"]) % 1.0
        clear = (f > 0.02) & (f < 0.98)
        assert rising[clear].any() and not rising[clear].all()
        assert np.array_equal(moved[clear] > 0, rising[clear]), seed
        k = np.searchsorted(t, 2e-3 + cfg.clock_pulse / 2)
        on += [r.vectors[n][k] > cfg.vdd / 2 for n in en]
    # 64 edges, binomial sd <= 0.0625: +-0.15 is +-2.4 sd or more (deterministic seeds)
    assert abs(np.mean(on) - float(analytic_p(bias))) < 0.15, np.mean(on)


def test_twin_deck_and_validate_take_node_roles_by_id(tmp_path, capsys):
    """netlist twin / validate place inputs, outputs and grounds where the board has them
    (they were always drawn from the seed); the same rules as train's."""
    out = tmp_path / "r.cir"
    roles = ["--input-nodes", "0,2", "--output-nodes", "6,8", "--ground-nodes", "4"]
    assert main(["netlist", "twin", "--network", "exp16", "--seed", "1", *roles, "-o",
                 str(out)]) == 0
    task = json.loads(out.with_suffix(".json").read_text())["task"]
    assert (task["inputs"], task["outputs"], task["grounds"]) == ([0, 2], [6, 8], [4])
    capsys.readouterr()
    assert main(["validate", "dc", "--network", "exp16", "--seed", "1", *roles,
                 "--json"]) == 0
    capsys.readouterr()
    assert main(["netlist", "twin", "--network", "exp16", "--seed", "1", *roles[:4], "-o",
                 str(out)]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "--input-nodes and --output-nodes need --ground-nodes too")


def test_clamped_outputs_follow_eq1_at_an_eta_other_than_one_half():
    """V_C = eta V_D + (1 - eta) V_F in the deck's behavioural sources (at eta = 0.5 the two
    weights are the same, so a swap would go unseen)."""
    from spicecl.netlist.names import clamped_node, free_node, number

    setup = make_setup(load_network("exp16"), 3, eta=0.3)
    text = twin_deck(setup, oscillators=False, cells=False, analysis="op").text
    for k, o in enumerate(setup.task.outputs):
        want = (f"Bcl{o} {clamped_node(o)} 0 v={number(0.3 * setup.y[k])} + "
                f"{number(0.7)} * V({free_node(o)})")
        assert want in text.splitlines(), want


def test_twin_setup_and_deck_refuse_bad_example_taps_and_sizes():
    from dataclasses import replace

    net = load_network("exp16")
    with pytest.raises(SpiceclError, match=r"--example 20 is out of range 0\.\.19"):
        make_setup(net, 0, example=20)
    with pytest.raises(SpiceclError, match=r"digipot taps must be integers in 0\.\.127"):
        make_setup(net, 0, taps=128)
    setup = make_setup(net, 0)
    with pytest.raises(SpiceclError, match="draw and taps are for 16 edges"):
        twin_deck(replace(setup, taps=setup.taps[:-1]), analysis="op", oscillators=False)


def test_netlist_twin_volts_scales_the_decks_inputs_and_is_recorded(tmp_path, capsys):
    """--volts V draws the deck's inputs in [0, V] (as train --volts: the same example scaled
    by V), writes them into the sources, and records V in the header and sidecar (the
    default, 1 V, is left out: the golden decks stay as they were)."""
    decks = {}
    for v in ("1", "5"):
        out = tmp_path / f"t{v}.cir"
        assert main(["netlist", "twin", "--network", "exp16", "--seed", "1", "--volts", v,
                     "-o", str(out)]) == 0
        decks[v] = (out.read_text(), json.loads(out.with_suffix(".json").read_text()))
    capsys.readouterr()
    (text1, side1), (text5, side5) = decks["1"], decks["5"]
    np.testing.assert_allclose(side5["task"]["x"], 5 * np.array(side1["task"]["x"]),
                               rtol=1e-15)
    assert side5["volts"] == 5.0 and "volts" not in side1
    assert "; volts 5.0; " in text5.splitlines()[2] and "volts" not in text1.splitlines()[2]
    for k, i in enumerate(side5["task"]["inputs"]):
        src = [ln for ln in text5.splitlines() if ln.startswith(f"Vif{i} ")]
        assert len(src) == 1 and float(src[0].split()[-1]) == side5["task"]["x"][k]
    assert max(side5["task"]["x"]) > 1.0  # (seed 1: 1.67 V, beyond what 1 V decks can hold)


@pytest.mark.parametrize("argv", [["netlist", "twin", "-o", "DECK"], ["validate", "dc"],
                                  ["validate", "decisions"], ["cosim", "--steps", "2"]])
@pytest.mark.parametrize("volts, match", [
    ("6", "--volts 6: inputs up to 6 V would drive the networks above the decks' 5 V supply"),
    ("5.000001", "--volts 5.000001: inputs up to 5.000001 V"),
    ("0", "--volts must be in (0, inf), got 0"),
    ("nan", "--volts must be in (0, inf), got nan"),
])
def test_deck_commands_refuse_volts_beyond_the_supply(tmp_path, capsys, argv, volts, match):
    """Inputs above the decks' 5 V supply would put the digipots' terminals outside the rails
    (no such board): a one-line error before any deck is written or ngspice starts; bad
    values as in train."""
    argv = [str(tmp_path / "x.cir") if a == "DECK" else a for a in argv]
    assert main([*argv, "--network", "exp16", "--seed", "1", "--volts", volts]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"spicecl: error: {match}") and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_twin_deck_refuses_volts_above_its_own_supply():
    """The limit is the deck's supply (a DeckConfig of another vdd too), checked where the
    deck is built, also for a task made elsewhere."""
    from dataclasses import replace

    from spicecl.netlist.twin import DeckConfig

    net = load_network("exp16")
    setup = make_setup(net, 1, volts=5)
    np.testing.assert_allclose(setup.x, 5 * make_setup(net, 1).x, rtol=1e-15)
    with pytest.raises(SpiceclError, match="above the decks' 3.3 V supply"):
        twin_deck(setup, config=DeckConfig(vdd=3.3, bias=1.65), oscillators=False)
    task = replace(setup.task, train_x=setup.task.train_x * 4)  # example 0 up to 6.7 V
    with pytest.raises(SpiceclError, match="must lie between ground and its 5 V supply"):
        twin_deck(make_setup(net, 1, task=task), oscillators=False)


def test_decks_build_when_pyspice_is_compiled_under_warnings_as_errors(tmp_path):
    """PySpice 1.5's sources hold invalid escape sequences ('\\s' in docstrings): compiled
    without a cached .pyc (an installer that does not byte-compile, a read-only
    site-packages) they warn (SyntaxWarning from Python 3.12, DeprecationWarning before), a
    SyntaxError under -W error or pytest's warnings as errors, and stray lines on stderr."""
    (pyspice,) = find_spec("PySpice").submodule_search_locations
    shutil.copytree(pyspice, tmp_path / "site" / "PySpice",
                    ignore=shutil.ignore_patterns("__pycache__"))
    import spicecl

    path = [str(tmp_path / "site"), str(Path(spicecl.__file__).parent.parent)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, "-W", "error", "-m", "spicecl", "netlist", "twin",
                          "--network", "exp16", "--seed", "1", "-o", "x.cir"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    (line,) = out.stderr.splitlines()  # (no warning lines)
    assert line.startswith("wrote x.cir") and (tmp_path / "x.cir").is_file()


# ------------------------------------------------------------ variation: parts and digipots

def test_tolerance_specs_refuse_what_is_no_component_tolerance():
    import dataclasses

    with pytest.raises(SpiceclError, match="not a ComponentTolerance"):
        ToleranceSpec((("resistor", (100e3, 0.01)),))
    with pytest.raises(SpiceclError, match="nominal and tolerance must be numbers"):
        ToleranceSpec((("digipot_rab", ComponentTolerance("10k", 0.1)),))
    with pytest.raises(SpiceclError, match="expected an object with nominal"):
        ToleranceSpec.from_dict({"resistor": 0.01})
    with pytest.raises(SpiceclError, match="unknown component class 'inductor'"):
        ToleranceSpec.default()["inductor"]
    # a relative class needs a positive nominal: 0 is not one
    with pytest.raises(SpiceclError, match="nominal of digipot_rab must be a positive"):
        ToleranceSpec.from_dict({"digipot_rab": {"nominal": 0.0}})
    # the ends of the physical ranges are in them (1 mohm to 1 Tohm, 1 aF to 1 F, 1 nV to 10 V)
    for name, lo, hi in (("digipot_rab", 1e-3, 1e12), ("capacitor", 1e-18, 1.0),
                         ("comparator_offset", 1e-9, 10.0)):
        for nominal in (lo, hi):
            spec = ToleranceSpec(((name, ComponentTolerance(nominal, 0.0)),))
            assert spec[name].nominal == nominal
        for nominal in (lo / 1.5, hi * 1.5):
            with pytest.raises(SpiceclError, match="outside the physical range"):
                ToleranceSpec(((name, ComponentTolerance(nominal, 0.0)),))
    for obj, field in ((ToleranceSpec.default(), "components"),
                       (ComponentTolerance(1.0, 0.1), "tolerance"),
                       (draw_circuit(ToleranceSpec.default(), 2, 0), "seed")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, field, None)


def test_tolerance_json_errors_name_the_line_and_the_repeated_class():
    with pytest.raises(SpiceclError, match=r"^spec.json, line 1: not valid JSON"):
        ToleranceSpec.from_json("{", "spec.json")
    text = ('{"capacitor": {"tolerance": 0.05}, "resistor": {"tolerance": 0.01}, '
            '"resistor": {"tolerance": 0.02}}')
    with pytest.raises(SpiceclError, match=r"^spec.json: 'resistor' is given twice$"):
        ToleranceSpec.from_json(text, "spec.json")


def test_normal_draws_have_three_sigma_at_the_tolerance_clipped_there():
    spec = ToleranceSpec.default().replace("digipot_rab", tolerance=0.3, distribution="normal")
    rab = draw_circuit(spec, 20_000, np.random.default_rng(3))["rab_free"]
    dev = rab / 10e3 - 1
    assert np.all(np.abs(dev) <= 0.3 + 1e-15) and dev.min() < -0.2 and dev.max() > 0.2
    # sigma = 0.1; clipping at 3 sigma leaves 0.987 of it (20,000 draws: +-0.5 %)
    assert 0.97 < dev.std() / 0.1 < 1.0 and abs(dev.mean()) < 0.003


def test_circuit_draws_of_no_edges_and_the_twins_resistances():
    empty = draw_circuit(ToleranceSpec.default(), 0, np.random.default_rng(0))
    assert empty.n_edges == 0 and all(len(v) == 0 for v in empty.values.values())
    from spicecl.variation import CircuitDraw

    assert CircuitDraw(ToleranceSpec.default(), None).n_edges == 0
    draw = draw_circuit(ToleranceSpec.default(), 3, np.random.default_rng(0))
    taps = np.array([0, 64, 127])
    for which in ("free", "clamped"):
        np.testing.assert_array_equal(draw.resistance(taps, which), draw[f"rw_{which}"]
                                      + taps * draw[f"rab_{which}"] / 127)
    with pytest.raises(SpiceclError, match=r"^which must be 'free' or 'clamped', got 'both'"):
        draw.resistance(taps, "both")


def test_start_state_at_the_half_period_charges_from_a_third():
    # phase 0: discharging from 2 VDD / 3; phase 1/2: the other half, charging from VDD / 3
    v0, rising = start_state(np.array([0.0, 0.5]), 3.0)
    assert v0.tolist() == [2.0, 1.0] and rising.tolist() == [False, True]


def test_resistances_more_than_half_a_tap_past_the_digipot_are_told():
    from spicecl.variation import outside_digipot_range

    rab, rw = 12.7e3, 100.0  # a tap of 100 ohm: half a tap is 50 ohm, exactly
    inside = [rw - 50.0, rw + rab + 50.0, rw - 49.8, rw + rab + 49.8, 5e3]
    assert outside_digipot_range(inside, rab, rw, "n") is None
    for r, edge in (([5e3, rw - 50.2], 1), ([rw + rab + 50.2, 5e3], 0)):
        msg = outside_digipot_range(r, rab, rw, "n")
        assert msg.startswith(f"1 of 2 resistances of network n lie outside the digipot "
                              f"range [100, 12800] ohm (e.g. edge {edge}: ")


def test_digipot_grid_is_the_specs_nominals_with_mid_scale_in_the_learning_range():
    from spicecl.variation import digipot_grid

    spec = ToleranceSpec.default().replace("digipot_rab", nominal=12.7e3).replace(
        "digipot_wiper", nominal=100.0)
    assert digipot_grid(spec) == {"r_ab": 12.7e3, "r_wiper": 100.0, "r_init": 6500.0}
    # tap 64 exactly at the ends of LearningConfig's range [10, 1e6] ohm: accepted
    for rab, rw, r_init in ((127 / 64, 9.0, 10.0), (127e3, 936e3, 1e6)):
        spec = ToleranceSpec.default().replace("digipot_rab", nominal=rab).replace(
            "digipot_wiper", nominal=rw)
        assert digipot_grid(spec)["r_init"] == r_init
    spec = ToleranceSpec.default().replace("digipot_rab", nominal=1e9)
    with pytest.raises(SpiceclError, match="outside the learning range"):
        digipot_grid(spec)
