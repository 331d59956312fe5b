"""The README quotes numbers of the committed results: each quoted here is the committed
file's number, rounded as the README writes it (a re-run that moves a number, or a README
edited by hand, is caught; the README had fig1's 295.5 s as 296 s and fig2a_wide's 816.5 s
as 817 s)."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def _readme() -> str:
    # one space for every run of whitespace: the quotes wrap across lines
    return " ".join((ROOT / "README.md").read_text().split())


def _summary(where: str) -> dict:
    return json.loads((RESULTS / where / "summary.json").read_text())


def _bench(name: str) -> dict:
    return json.loads((RESULTS / "bench" / f"{name}.json").read_text())


def _f(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def _e(x: float) -> str:
    """Two digits in scientific notation as the README writes them: 3.4e-7."""
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _s(x: float) -> str:
    """Seconds as the README writes them: whole, with a thousands separator."""
    return f"{x:,.0f}"


def _exponents(s: dict, modes: tuple[str, ...], names: tuple[str, ...]) -> str:
    """"p 0.48 [0.41, 0.55], b ..." for a fig2 summary."""
    return ", ".join(f"{n} {_f(s[f'exponent_{m}'])} [{_f(s[f'exponent_{m}_ci95'][0])}, "
                     f"{_f(s[f'exponent_{m}_ci95'][1])}]" for m, n in zip(modes, names))


def _pm(v: dict) -> str:
    return f"{v['mean']:.3f} ± {v['sem']:.3f}"


def _quotes() -> list[tuple[str, str]]:
    """(what, the README text the committed files give)."""
    q = []
    fig1 = _summary("fig1")["run"]
    q.append(("fig1 timing", f"took **{_s(fig1['seconds'])} s ("))
    q.append(("fig1 timing (performance)",
              f"took {_s(fig1['seconds'])} s, {round(fig1['task_steps_per_second'], -1):,.0f} "
              "task-steps/s"))
    fig2 = ("p", "b", "pb"), ("p", "b", "p = b")
    q.append(("fig2a row", "exponents " + _exponents(_summary("fig2a"), *fig2)))
    q.append(("fig2b row", _exponents(_summary("fig2b"), ("pbar", "bbar", "pbbar"),
                                      ("p-bar", "b-bar", "p-bar = b-bar"))))
    s = _summary("fig2a_wide/fig2a")
    q.append(("fig2a_wide", f"--out results/fig2a_wide`, {_s(s['run']['seconds'])} s, converged "
              f"to {100 * s['convergence']['max_relative_change_of_mean_l2']:.1f} %; "
              f"`results/fig2a_wide/`) gives " + _exponents(s, *fig2)))
    for eta, out in (("0.1", "`--out results/fig2a_eta/eta0.1`"),
                     ("1", "`results/fig2a_eta/eta1`")):
        s = _summary(f"fig2a_eta/eta{eta}/fig2a")
        q.append((f"fig2a_eta eta{eta}",
                  f"({_s(s['run']['seconds'])} s; {out}) gives " + _exponents(s, *fig2)))
    for steps in ("6000", "18000"):
        s = _summary(f"fig2a_equal/s{steps}/fig2a")
        q.append((f"fig2a_equal s{steps} row",
                  f"| {int(steps):,} | " + " | ".join(
                      f"{_f(s[f'exponent_{m}'])} [{_f(s[f'exponent_{m}_ci95'][0])}, "
                      f"{_f(s[f'exponent_{m}_ci95'][1])}]" for m in fig2[0])))
        q.append((f"fig2a_equal s{steps} timing",
                  f"results/fig2a_equal/s{steps}`, {_s(s['run']['seconds'])} s"))
    for g in ("1e10", "9e10"):
        s = _summary(f"fig2a_gamma/g{g}/fig2a")
        q.append((f"fig2a_gamma g{g} row", f"({_s(s['run']['seconds'])} s) | " + " | ".join(
            f"{_f(s[f'exponent_{m}'])} [{_f(s[f'exponent_{m}_ci95'][0])}, "
            f"{_f(s[f'exponent_{m}_ci95'][1])}]" for m in fig2[0])))
    for k in (1, 2, 3):
        s = _summary(f"fig2a_network/s{k}/fig2a")
        q.append((f"fig2a_network s{k} row", f"| disordered:9:16, seed {k} | " + " | ".join(
            f"{_f(s[f'exponent_{m}'])} [{_f(s[f'exponent_{m}_ci95'][0])}, "
            f"{_f(s[f'exponent_{m}_ci95'][1])}]" for m in fig2[0])))
    # the sigma sweep of fig4e: p = 1 means, full batch
    sweep = [("fig4e_sigma0/fig4e", 3), ("fig4e_sigma/s0.005/fig4e", 3),
             ("fig4e_sigma/s0.01/fig4e", 3), ("fig4e_sigma/s0.02/fig4e", 3), ("fig4e", 3)]
    q.append(("fig4e sigma table", "| mean final error at p = 1, full batch | " + " | ".join(
        _f(_summary(w)["final_error_by_p"]["1"]["mean"], d) for w, d in sweep) + " |"))
    for key, label in (("final_error_by_p", "p = 0.2 against p = 1: geometric-mean ratio "
                                            "(tasks lower of 10)"),
                       ("final_error_by_p_single_example", "the same, one example per step")):
        cells = []
        for w, _ in sweep:
            v = _summary(w)[key]["0.2"]
            cells.append(f"{_f(v['geomean_ratio_to_p1'])} ({v['tasks_below_p1']})")
        q.append((f"fig4e sigma table {key}", f"| {label} | " + " | ".join(cells) + " |"))
    # the compare table
    runs = [("exp16-allostery", "exp16 allostery, 25 tasks"),
            ("disordered143-regression", "disordered143 regression, 10 tasks, 1 V"),
            ("disordered143-regression-5V", "same, 5 V inputs"),
            ("disordered143-regression-5V-sigma0", "same, 5 V, sigma = 0")]
    rows = [("idealized", "idealized"), ("ideal_discrete", "discrete"), ("hardware", "hardware"),
            ("clock_free", "clock-free (same updates per edge)")]
    for where, label in runs:
        st = _summary(f"compare/{where}")["stats"]
        first = True
        for key, name in rows:
            if key not in st:
                continue
            head = f"| {label} |" if first else "| |"
            q.append((f"compare {where} {key}", f"{head} {name} | "
                      + " | ".join(_pm(st[key][p]) for p in ("1", "0.5", "0.2")) + " |"))
            first = False
    # the benchmarks
    b = _bench("learning")
    q.append(("bench learning step", f"| spicecl step | {b['step_time_us']:.0f} us "
              f"({round(b['spicecl_steps_per_s'], -2):,.0f} steps/s) |"))
    q.append(("bench learning floor",
              f"| floor (Cholesky + solve) | {b['floor_time_us']:.0f} us |"))
    q.append(("bench learning speedup",
              f"| `speedup_vs_baseline` | {b['speedup_vs_baseline']:.0f} (target >= 20) |"))
    q.append(("bench learning ratio",
              f"| `ratio_to_floor` | {_f(b['ratio_to_floor'])} in this run"))
    q.append(("bench learning batched", f"| {round(b['batched_task_steps_per_s'], -2):,.0f} "
              f"({_f(b['batched_ratio_to_floor'])} floors per task-step"))
    q.append(("bench learning discrete",
              f"{b['discrete_step_time_us']:.0f} us a step, {_f(b['discrete_ratio_to_floor'])} "
              f"floors, {b['discrete_speedup_vs_baseline']:.0f} times faster than the baseline; "
              f"50 networks together {round(b['discrete_batched_task_steps_per_s'], -2):,.0f} "
              f"task-steps/s ({_f(b['discrete_batched_ratio_to_floor'])} floors per task-step)"))
    sizes = _bench("solver")["sizes"]
    q.append(("bench solver", " / ".join(f"{x['factor_solve_s']:.2g} s" for x in sizes)
              + " at " + " / ".join(f"{x['nodes']:,}" for x in sizes) + " nodes, "
              + " / ".join(f"{x['speedup_vs_mmd']:.2g}x" for x in sizes) + " faster"))
    b = _bench("oscillators")
    q.append(("bench oscillators", f"= {b['fast_vs_transient_speedup']:.0f} at {b['edges']} edges "
              f"x {b['samples']} samples ({b['transient_seconds']:.0f} s against "
              f"{_f(b['fast_seconds'])} s"))
    b = _bench("precision")
    rows = {r["decades"]: r for r in b["decades"]}
    err = {d: _e(rows[d]["max_error"]) for d in (4, 12, 16, 20)}
    q.append(("bench precision errors",
              f"the largest error was {err[4]} V per volt at D = 4, {err[12]} at D = 12 (1 mohm to "
              f"1 Gohm: {rows[12]['refused'] or 'none'} refused), {err[16]} at 16, {err[20]} at "
              f"20 and {rows[30]['max_error']:.1f} at 30 ({rows[30]['broke_down']} "
              "factorizations there broke down)"))
    q.append(("bench precision check", "no accepted solution is off by more than "
              f"{_e(max(r['max_error_accepted'] for r in b['decades']))} (refused: "
              f"{rows[16]['refused']} of {rows[16]['networks']} at D = 16, "
              f"{rows[20]['refused']} at 20, {rows[30]['refused']} at 30)"))
    q.append(("bench precision estimate",
              f"at most {b['max_error_over_estimate']:.1f} times the estimate over the "
              f"{sum(r['networks'] for r in b['decades'])} networks"))
    q.append(("bench precision refused within the limit",
              f"{sum(r['refused_within_limit'] for r in b['decades'])} of the "
              f"{sum(r['refused'] for r in b['decades'])} networks it refused"))
    simd = b["simd"]
    q.append(("bench precision simd",
              f"of {simd['values']:,} x uniform in [0, 1), {simd['power_differ']:,} of numpy's "
              f"2^-x, {simd['exp_differ']:,} of its e^x and {simd['log_differ']:,} of its "
              f"ln(1 + x) differ"))
    ulps = max(simd[f"{name}_max_ulps"] for name in ("power", "exp", "log"))
    q.append(("bench precision simd ulps", "each by one unit in the last place" if ulps == 1
              else f"by up to {ulps:g} units in the last place"))
    q.append(("bench precision simd extensions", "the SIMD extensions numpy found: "
              + ", ".join(simd["simd_extensions"]["found"])))
    q.append(("oscillators timing", "the committed default run recorded "
              f"{_summary('oscillators')['seconds']:.1f} s"))
    return q


QUOTES = _quotes()


@pytest.mark.parametrize("what,text", QUOTES, ids=[w for w, _ in QUOTES])
def test_the_readme_quotes_the_committed_numbers(what, text):
    readme = _readme()
    if text not in readme:
        # what the README says in its place: the same text with any number there
        parts = re.split(r"\d[\d,.e+-]*", text)
        pattern = r"\d[\d,.e+-]*".join(re.escape(p) for p in parts)
        found = re.search(pattern, readme)
        pytest.fail(f"README, {what}: the committed results give {text!r}; the README says "
                    f"{found.group(0)!r}" if found else
                    f"README, {what}: {text!r} (from the committed results) not found")


def test_the_contents_link_every_section_by_its_github_anchor():
    text = (ROOT / "README.md").read_text()
    headings = re.findall(r"^#{2,3} (.+)$", text, flags=re.M)
    # GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens
    anchors = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert set(links) == anchors - {"quick-start"}


def test_the_python_example_runs_and_prints_what_the_readme_says(capsys):
    text = (ROOT / "README.md").read_text()
    section = text.split("### From Python\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"\n\n((?:    .*\n|\n)+)", section).group(1)
    code = "\n".join(line[4:] for line in block.splitlines())
    exec(compile(code, "README.md (From Python)", "exec"), {})
    printed = capsys.readouterr().out
    said = " ".join(section.split()).split("It prints ", 1)[1]

    def numbers(s):
        return [float(x) for x in re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", s)]

    expected = numbers(re.findall(r"`([^`]*)`", said)[0] + " " + re.findall(r"`([^`]*)`",
                                                                            said)[1])
    assert np.allclose(numbers(printed), expected, rtol=1e-6, atol=0)
