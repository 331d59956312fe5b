"""SPICE commands: `spicecl netlist twin|oscillators` and `spicecl validate dc|decisions`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NamedTuple

from spicecl.commands.core import (add_network_args, add_role_args, add_volts_arg,
                                   integer_arg, network_from_args, output_path_arg, path_arg,
                                   print_json, real_arg, roles_from_args, seed_arg)
from spicecl.errors import SpiceclError, check_range, interval, warn
from spicecl.netlist.twin import MAX_PERIODS, DeckConfig
from spicecl.oscbank.run import MAX_TMAX, MIN_TMAX
from spicecl.spice.runner import MAX_TIMEOUT
from spicecl.variation import PLAUSIBLE


class Range(NamedTuple):
    """The values a numeric option takes: ``low`` to ``high`` (an end excluded when open)."""

    low: float
    high: float
    unit: str = ""
    low_open: bool = False
    high_open: bool = False


#: The ranges of the numeric options that become part values or simulation parameters of
#: the decks (netlist, validate, oscillators, cosim), checked as the command line is parsed
#: and given in --help. Generous: what a board or a bench can have passes (a part value up
#: to the magnitudes variation.PLAUSIBLE allows its unit); what none has is refused, such as
#: a 1e300 F --decoupling that stopped ngspice at "timestep too small". Checks that depend
#: on other values come after, in the library (--bias of oscillators against the swing,
#: --volts against the supply, the clock against the oscillator period).
DECK_RANGES = {
    "--bias": Range(0, DeckConfig.vdd, "V"),  # between the rails of the decks' supply
    "--supply-resistance": Range(0, PLAUSIBLE["ohm"][1], "ohm"),  # 0: an ideal supply
    "--decoupling": Range(0, PLAUSIBLE["F"][1], "F"),  # 0: none
    "--tolerance": Range(0, 1, high_open=True),  # relative
    "--offset": Range(0, 1, "V", high_open=True),
    "--sigma-max": Range(0, 1, "V"),  # Eq. 10's comparator bias (the paper measured 0.05 V)
    "--eta": Range(0, 1, low_open=True),
    "--p": Range(0, 1, low_open=True),
    "--periods": Range(0, MAX_PERIODS, low_open=True),
    "--steps-per-period": Range(1 / MAX_TMAX, 1 / MIN_TMAX),
    "--timeout": Range(0, MAX_TIMEOUT, "s", low_open=True),
    "--max-error": Range(0, 1, "V", low_open=True),
}


def add_deck_option(p, flag: str, help: str, **kwargs):
    """Add the option ``flag`` of DECK_RANGES: a number (real_arg) checked against its range
    as the command line is parsed (check_range's one-line error, exit 2), the range ending
    its --help."""
    r = DECK_RANGES[flag]
    bounds = interval(r.low, r.high, low_open=r.low_open, high_open=r.high_open)

    def in_range(text: str) -> float:
        return check_range(flag, real_arg(text), r.low, r.high, low_open=r.low_open,
                           high_open=r.high_open)

    return p.add_argument(flag, type=in_range, help=f"{help}; in {bounds} {r.unit}".rstrip(),
                          **kwargs)


def _add_tolerance_args(p) -> None:
    from spicecl.variation import COMPONENT_CLASSES

    relative = [(name, tol) for name, (kind, _, tol, _) in COMPONENT_CLASSES.items()
                if kind == "relative"]
    add_deck_option(p, "--tolerance", "relative tolerance of every relative component class "
                    "(default: " + ", ".join(f"{name} {tol:g}" for name, tol in relative) + ")",
                    default=None, metavar="REL")
    add_deck_option(p, "--offset", f"comparator input-offset tolerance, V (default "
                    f"{COMPONENT_CLASSES['comparator_offset'][2]:g})", default=None,
                    metavar="VOLTS")
    p.add_argument("--tolerance-spec", default=None, metavar="FILE",
                   help="JSON tolerance spec: {class: {nominal, tolerance, distribution}} "
                        "(resistor and capacitor: tolerance and distribution only, their "
                        "nominals are set per part)")
    p.add_argument("--distribution", choices=("uniform", "normal"), default=None,
                   help="distribution of the relative classes, each keeping its tolerance "
                        "unless --tolerance is given (normal: the tolerance is the 3-sigma "
                        "limit)")
    p.add_argument("--models", type=path_arg, default=None, metavar="DIR",
                   help="directory of the SPICE .lib files (default: spicecl's own models/)")


def _add_task_args(p) -> None:
    """Task options of the decks that hold a learning step (not the oscillator bank)."""
    add_deck_option(p, "--eta", "nudge amplitude of Eq. 1 (default 0.5)", default=0.5)
    p.add_argument("--task", choices=("regression", "allostery"), default="regression",
                   help="task drawn from the seed (default regression)")
    p.add_argument("--example", type=integer_arg, default=0, metavar="INDEX",
                   help="index of the task's training example applied (default 0)")
    add_volts_arg(p, deck=True)
    add_role_args(p)


def _add_supply_args(p) -> None:
    """The global circuit of decks with oscillators (defaults: netlist.twin.DeckConfig)."""
    add_deck_option(p, "--bias", "global bias voltage of the enable comparators (default 2.5: "
                    "p about 0.5)", default=None, metavar="V")
    add_deck_option(p, "--supply-resistance", "series resistance of the 5 V supply to the "
                    "shared rail (default 0.1; 0: an ideal supply)", default=None,
                    metavar="OHMS")
    add_deck_option(p, "--decoupling", "decoupling capacitance on the shared rail (default "
                    "1e-05; 0: none)", default=None, metavar="FARADS")


def circuit_from_args(args):
    """The deck's DeckConfig: defaults, with the supply and bias options given."""
    from spicecl.netlist.twin import DeckConfig

    given = {k: getattr(args, k) for k in ("bias", "supply_resistance", "decoupling")
             if getattr(args, k, None) is not None}
    return DeckConfig(**given)


#: Largest --tolerance-spec read (a spec is a few hundred bytes of JSON).
MAX_SPEC_BYTES = 1 << 20


def load_tolerance_spec(name):
    """The ToleranceSpec of ``--tolerance-spec FILE``, or the default one for None."""
    from spicecl.variation import ToleranceSpec

    if not name:
        return ToleranceSpec.default()
    path = Path(name)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)  # (bounded: /dev/zero read for ever)
        if len(raw) > MAX_SPEC_BYTES:
            raise SpiceclError(f"--tolerance-spec {path}: larger than "
                               f"{MAX_SPEC_BYTES >> 20} MiB; not a tolerance spec")
        text = raw.decode("utf-8")
    except OSError as exc:
        raise SpiceclError(f"--tolerance-spec {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SpiceclError(f"--tolerance-spec {path}: not a text (JSON) file") from None
    return ToleranceSpec.from_json(text, source=f"tolerance spec {path}")


def tolerance_from_args(args):
    """The ToleranceSpec of the command line (spec file, then --tolerance/--offset)."""
    spec = load_tolerance_spec(args.tolerance_spec)
    if args.tolerance is not None or args.distribution is not None:
        spec = spec.with_relative(args.tolerance, args.distribution)
    if args.offset is not None:
        spec = spec.replace("comparator_offset", tolerance=args.offset)
    return spec


def _setup(args):
    from spicecl.netlist import make_setup

    net = network_from_args(args)
    spec = tolerance_from_args(args)
    if net.resistance is not None:
        from spicecl.variation import outside_digipot_range

        msg = outside_digipot_range(net.resistance, spec["digipot_rab"].nominal,
                                    spec["digipot_wiper"].nominal, net.name)
        if msg:
            warn(msg)
    return make_setup(net, args.seed, spec, task_kind=args.task, example=args.example,
                      eta=args.eta, roles=roles_from_args(args, net), volts=args.volts)


def _add_deck_args(q, task: bool = True):
    """The arguments every deck-building command shares: network, tolerances, seed (and the
    task options unless the deck holds no learning step)."""
    add_network_args(q)
    _add_tolerance_args(q)
    if task:
        _add_task_args(q)
    q.add_argument("--seed", type=seed_arg, required=True,
                   help="seed of task, parts and taps" if task else "seed of the part draw")
    return q


def register(sub) -> None:
    p = sub.add_parser("netlist", help="write SPICE decks (twin networks, oscillator banks)")
    nsub = p.add_subparsers(dest="netlist_command", metavar="KIND")
    nsub.required = True
    for kind, helptext in (("twin", "free + clamped networks, decision cells, oscillators"),
                           ("oscillators", "the per-edge oscillator bank only")):
        q = _add_deck_args(nsub.add_parser(kind, help=helptext), task=kind == "twin")
        q.add_argument("-o", "--output", type=output_path_arg, required=True, metavar="FILE",
                       help="deck file (.cir); the sidecar is written next to it as .json")
        _add_supply_args(q)
        if kind == "twin":
            q.add_argument("--analysis", choices=("tran", "op"), default="tran",
                           help="tran: one clock pulse (default); op: DC operating point, "
                                "without oscillators (an astable circuit has none)")
            q.add_argument("--no-oscillators", action="store_true",
                           help="no oscillators: every enable tied high (p = 1)")
            q.add_argument("--precise", action="store_true",
                           help="tight simulator tolerances (for comparisons with the solver; "
                                "without oscillators)")
        else:
            add_deck_option(q, "--periods", "nominal oscillator periods simulated (default "
                            "20)", default=20.0)
        q.set_defaults(func=cmd_netlist, netlist_kind=kind)

    v = sub.add_parser("validate", help="cross-check SPICE decks against the nodal solver")
    vsub = v.add_subparsers(dest="validate_command", metavar="CHECK")
    vsub.required = True
    for check, helptext in (("dc", "twin-deck .op node voltages vs the nodal solver"),
                            ("decisions", "decision cells vs the discrete rule (Eq. 10)")):
        q = _add_deck_args(vsub.add_parser(check, help=helptext))
        q.add_argument("--json", action="store_true", help="print JSON")
        add_deck_option(q, "--timeout", "ngspice timeout (default 600)", default=600.0,
                        metavar="SECONDS")
        if check == "dc":
            add_deck_option(q, "--max-error", "largest SPICE-vs-solver node difference that "
                            "passes (default 1e-6; measured ~1e-12)", default=1e-6,
                            metavar="VOLTS")
        q.set_defaults(func=cmd_validate, check=check)


def _check_deck_output(out: Path) -> None:
    """-o writes the deck and its .json sidecar: refuse to overwrite files that are not an
    earlier deck of ``spicecl netlist`` (an input network, another command's manifest)."""
    from spicecl.results import read_json

    if out.suffix.lower() == ".json":
        raise SpiceclError(f"-o {out}: the deck must not end in .json (that is the sidecar)")
    if str(out) == "-":
        raise SpiceclError("-o -: a deck is written to a file, with its .json sidecar next to "
                           "it (standard output cannot hold both)")
    if out.name in ("", ".", ".."):
        # '/', '.', 'x/..' name a directory whether or not it exists (Path('/').with_suffix
        # raised ValueError; 'x/..' made x, then failed to rename the deck onto it)
        raise SpiceclError(f"-o {out}: is a directory (a deck file is expected, e.g. "
                           f"deck.cir)")
    sidecar = out.with_suffix(".json")
    for path in (out, sidecar):
        if path.is_dir():
            raise SpiceclError(f"-o {out}: {path} is a directory")
        if path.exists() and not path.is_file():  # (reading a FIFO's header waited forever)
            raise SpiceclError(f"-o {out}: {path} is not a regular file (a device or a FIFO)")
    # missing or empty (e.g. made by mktemp): no one's
    if all(not p.exists() or (p.is_file() and p.stat().st_size == 0) for p in (out, sidecar)):
        return
    if not sidecar.exists() and _is_spicecl_deck(out):
        return  # an interrupted earlier run wrote the deck but not yet its sidecar
    try:
        kind = read_json(sidecar)
    except (OSError, ValueError):
        kind = None
    kind = kind.get("kind") if isinstance(kind, dict) else None
    if kind not in ("twin", "oscillators"):
        what = sidecar if sidecar.exists() else out
        raise SpiceclError(f"-o {out}: {what} exists and is not a deck of spicecl netlist (or "
                           f"its .json sidecar); it would be overwritten; remove it or choose "
                           f"another -o")


def _is_spicecl_deck(path: Path) -> bool:
    """True when ``path`` starts as a deck written by ``spicecl netlist`` (its header)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).decode("utf-8", "replace").splitlines()
    except OSError:
        return False
    return len(head) > 1 and head[1].startswith("* generated by spicecl (spicecl netlist ")


def cmd_netlist(args) -> int:
    from spicecl.netlist import oscillator_deck, twin_deck
    from spicecl.results import atomic_write_json, atomic_write_text

    out = Path(args.output)
    _check_deck_output(out)
    rel = Path(os.path.abspath(out.parent))
    config = circuit_from_args(args)
    if args.bias is not None and not config.vdd / 3 < args.bias < 2 * config.vdd / 3:
        warn(f"--bias {args.bias:g} V is outside the oscillators' swing ({config.vdd / 3:.3g} "
             f"to {2 * config.vdd / 3:.3g} V): every enable stays "
             f"{'high (p = 1)' if args.bias <= config.vdd / 3 else 'low (p = 0)'}")
    if args.netlist_kind == "twin":
        oscillators = not (args.no_oscillators or args.analysis == "op")
        if args.bias is not None and not oscillators:
            why = "--no-oscillators" if args.no_oscillators else "--analysis op"
            raise SpiceclError(f"--bias sets the oscillators' enable comparators; a deck with "
                               f"{why} has none (every enable is tied high)")
        if args.precise and oscillators:
            raise SpiceclError("--precise: the precise options stop a deck with oscillators at "
                               "the clock edge ('timestep too small' in the latch); add "
                               "--no-oscillators or --analysis op (comparisons with the solver "
                               "use no oscillators)")
        deck = twin_deck(_setup(args), config=config, models_dir=args.models,
                         include_relative_to=rel, analysis=args.analysis,
                         oscillators=oscillators, precise=args.precise, name=out.stem)
    else:  # the bank needs the parts only, no task (so any network with edges will do)
        from spicecl.netlist.twin import draw_for_seed

        net = network_from_args(args)
        draw = draw_for_seed(net.n_edges, args.seed, tolerance_from_args(args))
        deck = oscillator_deck(draw, network_name=net.name, config=config,
                               models_dir=args.models,
                               include_relative_to=rel, periods=args.periods)
    # The sidecar is the deck's manifest: the earlier one goes first and the new one is written
    # last, so that an interrupted run never leaves a new deck beside an old deck's sidecar
    # (a deck without a sidecar is unfinished; the same command replaces it).
    try:
        out.with_suffix(".json").unlink(missing_ok=True)
    except OSError as exc:
        raise SpiceclError(f"cannot write {out.with_suffix('.json')}: "
                           f"{exc.strerror or exc}") from None
    atomic_write_text(out, deck.text)
    atomic_write_json(out.with_suffix(".json"), deck.sidecar)
    print(f"wrote {out} ({deck.text.count(chr(10))} lines) and {out.with_suffix('.json')}",
          file=sys.stderr)
    return 0


def cmd_validate(args) -> int:
    from spicecl.spice.validate import validate_dc, validate_decisions

    setup = _setup(args)
    if args.check == "dc":
        out = validate_dc(setup, models_dir=args.models, timeout=args.timeout)
        keys = ("max_abs_error_volts", "max_abs_error_free_volts",
                "max_abs_error_clamped_volts", "ngspice_seconds")
        out["passed"] = bool(out["max_abs_error_volts"] <= args.max_error)
        verdict = (f"max node difference {out['max_abs_error_volts']:.2g} V "
                   f"{'<=' if out['passed'] else '>'} {args.max_error:g} V")
    else:
        out = validate_decisions(setup, models_dir=args.models, timeout=args.timeout)
        keys = ("agreement", "agreement_away_from_ties", "n_ties", "mismatches", "n_up",
                "ngspice_seconds")
        # a tie (margin inside the comparators' hysteresis) may go either way
        out["passed"] = bool(out["agreement_away_from_ties"] == 1.0)
        verdict = (f"{'every' if out['passed'] else 'not every'} decision away from ties "
                   f"agrees with the rule ({out['n_ties']} tie(s))")
    # what else picked the deck: the network's name is the same for every --network-seed,
    # and the parts and task came from these options too
    out.update(network_seed=args.network_seed or 0, task=setup.task.kind,
               example=setup.example, tolerance=setup.draw.spec.to_dict())
    if args.json:
        print_json(out)
    else:
        print(f"validate {args.check}: network {out['network']}, seed {out['seed']}, inputs "
              f"up to {out['volts']:g} V")
        for k in keys:
            v = out[k]
            print(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}")
        print(f"{'PASS' if out['passed'] else 'FAIL'}: {verdict}")
    return 0 if out["passed"] else 1
