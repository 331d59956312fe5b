"""Readability of the PNG plots, checked on the matplotlib figure objects (not pixels)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np


def _capture(monkeypatch, module):
    figs = []

    def keep(fig, path, *a, **k):
        fig.canvas.draw()
        figs.append(fig)
        return path

    monkeypatch.setattr(module, "atomic_savefig", keep)
    monkeypatch.setattr("matplotlib.pyplot.close", lambda *a, **k: None)
    return figs


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _hist(r_last):
    steps = np.arange(0, 11)
    e = np.linspace(1.0, 0.1, 11)
    r = np.full((6, 4), 5e3)
    r[-1, 0] = r_last
    return SimpleNamespace(steps=steps, test_scaled=[e], train_scaled=[e],
                           snapshot_steps=np.arange(0, 12, 2), resistance=[r])


def test_training_resistance_axis_is_log_when_values_span_decades():
    """An edge clipped at r_max (1 Mohm) flattened the other traces (~5 kohm) onto zero."""
    from spicecl.report import plot_training

    cfg = SimpleNamespace(p=0.5, rule="continuous")
    assert plot_training(_hist(1e6), cfg).axes[1].get_yscale() == "log"
    assert plot_training(_hist(6e3), cfg).axes[1].get_yscale() == "linear"


def test_training_error_panel_leaves_out_step_zero():
    """Step 0 (x = 0) was drawn at x = p, on top of step 1: a spurious vertical segment."""
    from spicecl.report import plot_training

    fig = plot_training(_hist(6e3), SimpleNamespace(p=0.5, rule="continuous"))
    for line in fig.axes[0].get_lines():
        x = line.get_xdata()
        assert len(x) == 10 and len(set(x)) == 10


def test_training_png_title_names_the_seed(tmp_path, monkeypatch, capsys):
    from spicecl import report
    from spicecl.cli import main

    figs = _capture(monkeypatch, report)
    assert main(["train", "--network", "exp16", "--steps", "5", "--p", "0.5", "--seed", "7",
                 "--out", str(tmp_path / "run")]) == 0
    assert figs[0]._suptitle.get_text() == "exp16: regression, continuous rule, p = 0.5, seed 7"
    capsys.readouterr()
