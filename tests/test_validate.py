"""spicecl validate dc|decisions: SPICE twin decks against the nodal solver and Eq. 10."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import requires_ngspice

from spicecl.cli import main
from spicecl.spice.validate import cell_rule, eq10_rule


def test_cell_rule_is_eq10_without_offsets():
    rng = np.random.default_rng(0)
    dvc, dvf = rng.normal(size=(2, 1000))
    np.testing.assert_array_equal(cell_rule(dvc, dvf, 0.0, 0.0), eq10_rule(dvc, dvf))
    # equal positive offsets act as sigma of Eq. 10 when dV_C >= 0
    s = 0.05
    pos = dvc >= 0
    np.testing.assert_array_equal(cell_rule(dvc, dvf, s, s)[pos], eq10_rule(dvc, dvf, s)[pos])


def _run(capsys, argv) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.spice
@requires_ngspice
@pytest.mark.parametrize("network", ["exp16", "disordered143"])
def test_validate_dc(capsys, network):
    out = _run(capsys, ["validate", "dc", "--network", network, "--seed", "1", "--json"])
    # measured 4.5e-13 V (exp16) and 3.5e-12 V (disordered143): a linear .op is exact
    assert out["max_abs_error_volts"] <= 1e-9
    assert out["max_abs_error_free_volts"] <= 1e-9
    assert out["max_abs_error_clamped_volts"] <= 1e-9
    assert out["n_edges"] == (16 if network == "exp16" else 143)


@pytest.mark.spice
@requires_ngspice
@pytest.mark.parametrize("seed", [1, 2])
def test_validate_decisions_exp16(capsys, seed):
    out = _run(capsys, ["validate", "decisions", "--network", "exp16", "--seed", str(seed),
                        "--json"])
    assert out["agreement_away_from_ties"] == 1.0
    assert out["agreement"] == 1.0 or out["n_ties"] > 0
    assert out["latched_down_before_clock"]  # the latch holds until the clock pulse


@pytest.mark.spice
@requires_ngspice
def test_validate_decisions_with_large_offsets(capsys):
    """Offsets of 50 mV at the comparators (5 mV input-referred) change decisions; the cells
    still follow the offset-aware rule exactly."""
    out = _run(capsys, ["validate", "decisions", "--network", "exp16", "--seed", "3",
                        "--offset", "0.05", "--json"])
    assert out["agreement_away_from_ties"] == 1.0


@pytest.mark.spice
@requires_ngspice
def test_validate_gives_a_verdict_and_exit_status(capsys):
    """PASS/FAIL and exit status 0/1, so a CI job can run it (it always exited 0)."""
    base = ["validate", "dc", "--network", "exp16", "--seed", "1"]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "max_abs_error_volts: 4.5" in out and "PASS: max node difference" in out
    assert main(base + ["--max-error", "1e-14", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["passed"] is False
    # seed 2 has one tie (2.8 uV margin, inside the hysteresis): it passes
    assert main(["validate", "decisions", "--network", "exp16", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "PASS: every decision away from ties agrees with the rule (1 tie(s))" in out
    assert main(base + ["--max-error", "0"]) == 2
    assert "--max-error must be in (0, 1]" in capsys.readouterr().err


@pytest.mark.spice
@requires_ngspice
def test_validate_at_5_volts(capsys):
    """--volts 5 (the 5 V board of results/compare): the deck's node voltages are the 1 V
    ones times 5 (a linear network) and still agree with the solver; the decision cells
    still follow the rule."""
    base = ["validate", "dc", "--network", "exp16", "--seed", "1", "--json"]
    one = _run(capsys, base)
    five = _run(capsys, base + ["--volts", "5"])
    assert (one["volts"], five["volts"]) == (1.0, 5.0)
    assert five["max_abs_voltage"] == pytest.approx(5 * one["max_abs_voltage"], rel=1e-12)
    assert five["max_abs_voltage"] > 1.0
    # measured 2.3e-12 V (4.5e-13 of 5 V)
    assert five["max_abs_error_volts"] <= 1e-9 and five["passed"]
    out = _run(capsys, ["validate", "decisions", "--network", "disordered:20:40", "--seed", "1",
                        "--volts", "5", "--json"])
    assert out["volts"] == 5.0 and out["passed"] and out["agreement_away_from_ties"] == 1.0


@pytest.mark.spice
@requires_ngspice
def test_validate_json_records_what_picked_the_deck(capsys, tmp_path):
    """The JSON said only the network's name, which is the same for every --network-seed,
    and (decisions) nothing of the parts' tolerances or the task and example: two checks of
    different decks printed the same header."""
    base = ["validate", "decisions", "--network", "disordered:12:24", "--seed", "1", "--json"]
    one, two = _run(capsys, base), _run(capsys, base + ["--network-seed", "2", "--offset",
                                                       "0.01", "--example", "3"])
    assert one["network"] == two["network"] == "disordered:12:24"
    assert (one["network_seed"], two["network_seed"]) == (0, 2)
    assert (one["example"], two["example"]) == (0, 3) and one["task"] == "regression"
    assert one["tolerance"]["comparator_offset"]["tolerance"] == 0.005
    assert two["tolerance"]["comparator_offset"]["tolerance"] == 0.01


@pytest.mark.spice
@requires_ngspice
def test_models_under_a_directory_with_spaces_quotes_and_accents(capsys, tmp_path):
    """ngspice reads a double-quoted .include path whole, the .lib files' own relative
    includes (oscillator.lib's comparator.lib) too: a checkout under such a directory runs
    (it was refused: 'models path ... has characters that are unsafe in a SPICE deck')."""
    import shutil

    from spicecl.netlist import default_models_dir

    models = tmp_path / "My Proj's résumé-$1 (v2)" / "models"
    shutil.copytree(default_models_dir(), models)
    out = _run(capsys, ["validate", "decisions", "--network", "exp16", "--seed", "1",
                        "--models", str(models), "--json"])
    assert out["agreement_away_from_ties"] == 1.0 and out["n_up"] > 0
    deck = tmp_path / "deck dir" / "t.cir"
    assert main(["netlist", "twin", "--network", "exp16", "--seed", "1", "--models",
                 str(models), "-o", str(deck)]) == 0
    assert '.include "../My Proj\'s résumé-$1 (v2)/models/oscillator.lib"' in \
        deck.read_text().splitlines()
