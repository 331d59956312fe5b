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
    return figs


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _finals(ps, mean):
    return {p: {"mean": mean, "sem": 0.05, "median": mean, "n": 3} for p in ps}


def test_final_vs_p_legend_does_not_cover_the_data(tmp_path, monkeypatch):
    """fig4e's and scaling's legend (loc="best") sat on the error bars."""
    from spicecl.experiments import plots

    figs = _capture(monkeypatch, plots)
    ps = [0.1, 0.2, 0.4, 0.6, 0.8, 1.0]
    finals = {"batch = full": _finals(ps, 0.56), "batch = single": _finals(ps, 0.57)}
    st = np.arange(0, 101, 10)
    curves = {p: (st, 1.0 / (1 + st)) for p in ps}
    plots.plot_final_vs_p(tmp_path, "fig4e", finals, curves, "final error",
                          tmp_path / "f.csv")
    ax = figs[0].axes[0]
    r = figs[0].canvas.get_renderer()
    leg = ax.get_legend()
    assert leg is not None
    assert not _overlaps(leg.get_window_extent(r), ax.get_window_extent(r))
    assert not _overlaps(leg.get_window_extent(r), ax.xaxis.label.get_window_extent(r))


def test_final_vs_p_one_series_is_named_in_the_title(tmp_path, monkeypatch):
    """fig4c's one series (its network and task) was named nowhere: no legend, title 'fig4c'."""
    from spicecl.experiments import plots

    figs = _capture(monkeypatch, plots)
    plots.plot_final_vs_p(tmp_path, "fig4c", {"exp16, allostery 2-2": _finals([0.5, 1.0], 0.1)},
                          None, "final error", tmp_path / "f.csv")
    assert figs[0].axes[0].get_title() == "fig4c: exp16, allostery 2-2"


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


def _fake_bank():
    from spicecl.oscbank.design import OscillatorDesign

    d = OscillatorDesign()
    t = np.linspace(0, 1.4e-3, 400)
    phase = (t[:, None] / 4.6e-4 + np.arange(3) / 7) % 1.0
    cap = 1.7 + 1.6 * np.abs(2 * phase - 1)
    en = np.where(phase < 0.3, 0.0, d.vdd)
    rng = np.random.default_rng(0)
    job = {"wave": {"t": t, "cap": cap, "en": en}, "bias_volts": 2.0,
           "updates": rng.random((40, 3)) < 0.8}
    return SimpleNamespace(jobs=[job], config=SimpleNamespace(design=d))


def test_waveforms_legend_does_not_cover_the_traces(tmp_path, monkeypatch):
    """The top panel's legend sat low inside the axes, on the enable traces."""
    from spicecl import results
    from spicecl.oscbank import plots

    figs = _capture(monkeypatch, results)
    plots.plot_waveforms(_fake_bank(), tmp_path / "w.png")
    ax = figs[0].axes[0]
    r = figs[0].canvas.get_renderer()
    assert not _overlaps(ax.get_legend().get_window_extent(r), ax.get_window_extent(r))
    assert ax.get_ylabel() == "capacitor voltage (V)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "enable (scaled, offset per edge)" in labels


def test_compare_final_vs_p_legend_is_off_the_data_and_titles_name_the_seed(tmp_path,
                                                                            monkeypatch):
    """compare's final_vs_p legend (loc="best") sat on error bars; no title named the seed."""
    from spicecl import results
    from spicecl.compare import CompareConfig, plot_compare, run_compare
    from spicecl.network import exp16

    cfg = CompareConfig(ps=(1.0, 0.5), n_tasks=2, steps=10, seed=3, imperfections=False)
    res = run_compare(exp16(), cfg)
    figs = _capture(monkeypatch, results)
    plot_compare(res, tmp_path)
    curves, final = figs[0], figs[1]
    assert curves._suptitle.get_text().endswith("seed 3")
    ax = final.axes[0]
    assert ax.get_title().endswith("(seed 3)")
    r = final.canvas.get_renderer()
    assert not _overlaps(ax.get_legend().get_window_extent(r), ax.get_window_extent(r))


def test_correlation_histogram_shows_a_few_aliasing_pairs_among_thousands(tmp_path,
                                                                          monkeypatch):
    """At 143 edges (10,153 pairs) the ~20 aliasing pairs at |r| 0.3-0.8 had bars of density
    ~0.05 on a linear axis reaching ~12: invisible, so the histogram looked like the null.
    Every non-empty bin must stand clear of the axis bottom (at least a tenth of the axis,
    in log decades, above it)."""
    from spicecl import results
    from spicecl.oscbank import plots

    n, k = 143, 1000
    rng = np.random.default_rng(0)
    r = rng.normal(0, 1 / np.sqrt(k), (n, n))
    r = np.triu(r, 1)
    r[3, 40] = 0.8
    r = r + r.T
    np.fill_diagonal(r, 1.0)
    job = {"pearson": r, "p_mean": 0.5, "bias_volts": 2.5,
           "correlation": {"mean_pearson_r": 0.0, "max_abs_pearson_r": 0.8}}
    run = SimpleNamespace(jobs=[job], config=SimpleNamespace(n_samples=k))
    figs = _capture(monkeypatch, results)
    plots.plot_correlation(run, tmp_path / "c.png")
    ax = figs[0].axes[0]
    lo, hi = ax.get_ylim()
    assert ax.get_yscale() == "log"
    bars = [p.get_height() for p in ax.patches if p.get_height() > 0]
    smallest = min(bars)  # the one pair's bin
    assert np.log10(smallest / lo) > 0.1 * np.log10(hi / lo), (smallest, lo, hi)


def test_the_figures_style_stays_in_the_figures(tmp_path, monkeypatch):
    """The figures' style (9 pt text, no top or right spine, legends without a frame) was set
    on the process's rcParams: a session's own plots, and spicecl's compare, oscillator and
    train plots drawn later in the same process, came out in it."""
    import matplotlib

    from spicecl.experiments import plots

    figs = _capture(monkeypatch, plots)
    theirs = {"font.size": 11.0, "axes.spines.top": True, "axes.spines.right": True,
              "legend.frameon": True}
    with matplotlib.rc_context(theirs):
        plots.plot_final_vs_p(tmp_path, "fig4e", {"a": _finals([0.5, 1.0], 0.1),
                                                  "b": _finals([0.5, 1.0], 0.2)},
                              None, "final error", tmp_path / "f.csv")
        assert {k: matplotlib.rcParams[k] for k in theirs} == theirs
    ax = figs[0].axes[0]
    assert ax.xaxis.label.get_fontsize() == 9.0
    assert not ax.spines["top"].get_visible() and not ax.spines["right"].get_visible()
    assert not ax.get_legend().get_frame_on()


def test_plotting_leaves_a_sessions_matplotlib_alone(tmp_path):
    """Plotting called matplotlib.use("Agg"), which switched a session's backend (a notebook's
    inline one, a GUI) so that its own plots no longer showed, and kept every figure in
    pyplot's registry until closed; the figures' style leaked into the session too."""
    import subprocess
    import sys

    code = f"""
import matplotlib
matplotlib.use("svg")
import sys
from types import SimpleNamespace
import numpy as np
from spicecl.experiments.plots import plot_final_vs_p
from spicecl.report import plot_training
before = dict(matplotlib.rcParams)
finals = {{"s": {{p: {{"mean": 0.5, "sem": 0.05, "median": 0.5, "n": 3}} for p in (0.5, 1.0)}}}}
from pathlib import Path
plot_final_vs_p(Path({str(tmp_path)!r}), "fig4e", finals, None, "error", {str(tmp_path / "f.csv")!r})
steps = np.arange(0, 101, 10)
hist = SimpleNamespace(steps=steps, test_scaled=np.linspace(1, 0.1, 11)[None],
                       train_scaled=np.linspace(1, 0.1, 11)[None], snapshot_steps=steps,
                       resistance=np.ones((1, 11, 3)))
plot_training(hist, SimpleNamespace(p=1.0, rule="continuous"))
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert "matplotlib.pyplot" not in sys.modules
assert dict(matplotlib.rcParams) == before
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]
    assert (tmp_path / "fig4e.png").stat().st_size > 1000
