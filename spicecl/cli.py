"""Command-line entry point: parse arguments, build a configuration, call the library.

Each group of commands lives in a module of :mod:`spicecl.commands` with a ``register``
function that adds its subparsers; every subparser sets ``func(args) -> int``. A
:class:`~spicecl.errors.SpiceclError` is printed as one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import contextvars
import errno
import importlib
import io
import os
import signal
import sys
import threading
import time

from spicecl.errors import SpiceclError, Terminated, closest_name

# Modules that add subcommands, in the order they appear in --help.
COMMAND_MODULES = (
    "spicecl.commands.core",
    "spicecl.commands.spice",
    "spicecl.commands.oscillators",
    "spicecl.commands.reproduce",
    "spicecl.commands.cosim",
    "spicecl.commands.demo",
)

# `spicecl bench NAME`: NAME -> "module:function"; the function takes the parsed args and
# returns a JSON-able dict.
BENCHMARKS = {
    "learning": "spicecl.bench:bench_learning",
    "solver": "spicecl.bench:bench_solver",
    "precision": "spicecl.bench:bench_precision",
    "oscillators": "spicecl.oscbank:bench_oscillators",
}


#: The command line being parsed by _Parser.parse_args (None outside it): a subcommand's
#: parser reads it to tell a mistyped option from a missing one.
_ARGV: contextvars.ContextVar = contextvars.ContextVar("spicecl_argv", default=None)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit status 2, and which takes
    no prefix of an option for the option (``oscillators --steps`` would have set
    --steps-per-period, ``compare --tolerance`` --tolerance-spec). A mistyped choice or
    option gets a "maybe you meant" hint (argparse gives none before Python 3.14)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):  # noqa: D401 - argparse API
        argv = _ARGV.get()
        if argv is not None and message.startswith(("the following arguments are required",
                                                     "one of the arguments")):
            # `train --netwrok exp16` is missing --network because --netwrok is mistyped:
            # say that, not only that --network is required
            unknown = self._unknown_options(argv)
            if unknown:
                message = f"unrecognized arguments: {' '.join(unknown)}"
        if message.startswith("unrecognized arguments: "):
            hints = [hint for hint in map(self._option_hint, message.split()[2:]) if hint]
            if hints:
                message += f" (maybe you meant {', '.join(hints)}?)"
        self.exit(2, f"{self.prog}: error: {message}\n")

    def _check_value(self, action, value):
        # argparse's own check, with the closest choice named: `spicecl trian`, `validate DC`
        if (action.choices is not None and isinstance(value, str)
                and value not in action.choices):
            hint = closest_name(value, action.choices)
            if hint is not None:
                raise argparse.ArgumentError(
                    action, f"invalid choice: {value!r}, maybe you meant {hint!r}? (choose "
                            f"from {', '.join(map(repr, action.choices))})")
        super()._check_value(action, value)

    def _print_message(self, message, file=None):
        # argparse ignores a failed write, so `spicecl --help | head -1` exited 0 where every
        # command gives 141: --help and --version written to standard output, and flushed,
        # fail as a command's output does (_run_command)
        if message and file is not None and file is sys.stdout:
            file.write(message)
            file.flush()
        else:
            super()._print_message(message, file)

    def _unknown_options(self, argv) -> list:
        """The option-like words of ``argv`` that this parser does not know."""
        return [word for word in argv
                if word.startswith("-") and word != "--"
                and not self._negative_number_matcher.match(word)
                and word.partition("=")[0] not in self._option_string_actions]

    def _option_hint(self, word: str) -> str | None:
        """This parser's option closest to an unknown option-like ``word`` (``--stepz``,
        ``-json``), or None."""
        if (not word.startswith("-") or len(word) < 3
                or self._negative_number_matcher.match(word)):
            return None
        options = [o for o in self._option_string_actions if o.startswith("--")]
        return closest_name(word.partition("=")[0], options)

    def parse_args(self, args=None, namespace=None):
        argv = sys.argv[1:] if args is None else list(args)
        token = _ARGV.set(argv)
        try:
            ns, extra = self.parse_known_args(argv, namespace)
            if extra:
                # argparse reports a subcommand's unknown options as the top parser's
                # ("spicecl: error: unrecognized arguments"): name the subcommand given them
                self._chosen(ns).error(f"unrecognized arguments: {' '.join(extra)}")
        finally:
            _ARGV.reset(token)
        return ns

    def _chosen(self, ns) -> argparse.ArgumentParser:
        """The deepest (sub)parser that ``ns`` went through."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                sub = action.choices.get(getattr(ns, action.dest, None))
                if sub is not None:
                    return sub._chosen(ns) if isinstance(sub, _Parser) else sub
        return self


class _Version(argparse.Action):
    """``--version``: spicecl's version and source hash, ``spicecl 0.1.0 (source HASH)``, to
    check a manifest's ``versions`` against the installed code (the files are hashed only
    when asked)."""

    def __init__(self, option_strings, dest, help=None):
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                         nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        import spicecl
        from spicecl.results import source_hash

        # flushed here, as --help is (_Parser._print_message): a closed pipe then fails inside
        # _run_command (141), not in the interpreter's final flush of a buffered stdout (120)
        print(f"spicecl {spicecl.__version__} (source {source_hash()})", flush=True)
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="spicecl", description="SPICE co-simulation of coupled-learning "
                     "resistor networks.")
    parser.add_argument("--version", action=_Version, help="show spicecl's version and the "
                        "hash of its source files (as manifests record them) and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); return the exit status. The
    manifests written meanwhile record it as their command (only meanwhile: a library call
    after main() records its own process's argv, not this command line)."""
    import shlex

    from spicecl import results

    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    before = results.COMMAND_LINE
    results.COMMAND_LINE = shlex.join(["spicecl", *argv])
    try:
        return _run(argv)
    finally:
        results.COMMAND_LINE = before


class _Stop:
    """What the signal handlers note for the running command's one line; reset before and
    after each command (a library call after it must not be taken for an interrupted one)."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        #: when the first SIGTERM of this command arrived (time.monotonic), or None
        self.first_sigterm: float | None = None
        #: the signal (SIGINT or SIGTERM) that stopped the command, or None
        self.signalled: int | None = None
        #: what the one line says after "interrupted" or "terminated" (say_when_stopped)
        self.hint = ""


_stop = _Stop()


def say_when_stopped(hint: str) -> None:
    """What the running command's one line adds if a signal stops it (reproduce: how to
    resume), in place of whether its --out was left unchanged."""
    _stop.hint = hint


def stopping_signal(exc: BaseException) -> int | None:
    """The signal that ended the command with ``exc``, or None for an ordinary error:
    SIGTERM for :class:`~spicecl.errors.Terminated`, SIGINT for KeyboardInterrupt, and for
    another exception the signal that came before it (an extension module that was
    interrupted raises its own error in place of ours: matplotlib's Agg renderer, "ValueError:
    Invalid affine transformation matrix")."""
    if isinstance(exc, Terminated):
        return signal.SIGTERM
    if isinstance(exc, KeyboardInterrupt):
        return signal.SIGINT
    return _stop.signalled if isinstance(exc, Exception) else None


def _on_sigint(signum, frame):
    """Ctrl-C: KeyboardInterrupt, as Python's own handler, noting that it came."""
    _stop.signalled = signum
    raise KeyboardInterrupt


def _on_sigterm(signum, frame):
    """Raise :class:`~spicecl.errors.Terminated` at the first SIGTERM, so that the command
    stops as for Ctrl-C; a second one within a second is the same kill (`timeout` signals the
    process and then its group); a later one kills at once."""
    now = time.monotonic()
    if _stop.first_sigterm is None:
        _stop.first_sigterm = now
        _stop.signalled = signum
        raise Terminated
    if now - _stop.first_sigterm < 1.0:
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _stopped(signum: int, exc: BaseException) -> int:
    """Print the one line of a command stopped by ``signum`` (with ``exc``); its exit status."""
    what = "terminated" if signum == signal.SIGTERM else "interrupted"
    print(f"spicecl: {what}{_stop.hint or _unwritten(exc)}", file=sys.stderr)
    return 128 + signum


def _run(argv: list) -> int:
    _stop.reset()
    # (a signal handler can only be set in the main thread; an ignored Ctrl-C, as under
    # nohup or in a background job, stays ignored)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = {}
    if main_thread:
        previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, _on_sigterm)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, _on_sigint)
    try:
        return _run_command(argv)
    except BaseException as exc:
        sig = stopping_signal(exc)
        if sig is None:
            raise
        return _stopped(sig, exc)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop.reset()


class _ClosedStdout(io.TextIOBase):
    """Standard output of a process started without one (`spicecl ... >&-`), where Python
    sets sys.stdout to None: print() wrote nothing, a JSON result raised AttributeError and
    --help went to stderr. Writing here fails as writing a closed descriptor does."""

    def write(self, text):
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    @property
    def buffer(self):  # for the commands that write bytes (network export)
        return self


def _run_command(argv: list) -> int:
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()
    try:
        # inside the try: a Ctrl-C while the command modules import (~1 s) is an interrupt
        parser = build_parser()
        if not argv:  # no command: the overview of the commands, not a one-word usage error
            parser.print_help(sys.stderr)
            return 2
        args = parser.parse_args(argv)
        status = args.func(args)
        if sys.stdout is not None:
            sys.stdout.flush()  # a full disk or closed pipe shows here, not at exit
    except SpiceclError as exc:
        print(f"spicecl: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt as exc:
        return _stopped(signal.SIGINT, exc)
    except BrokenPipeError:
        # Standard output closed before the command was done (`spicecl network export ... |
        # head -1`): stop quietly, with the status a shell shows for a tool that SIGPIPE
        # killed, 128 + 13 (as 130 and 143 for Ctrl-C and SIGTERM). Not 1: that says a
        # simulation failed or validate found a FAIL, and here nothing failed but the reader.
        _drop_stdout()
        return 128 + signal.SIGPIPE
    except MemoryError as exc:
        detail = " ".join(str(exc).split())
        print(f"spicecl: error: out of memory{f' ({detail})' if detail else ''}: a size "
              f"option of the command is too large", file=sys.stderr)
        return SpiceclError.exit_status
    except OSError as exc:
        # Writing standard output failed (files spicecl writes itself raise SpiceclError).
        if exc.filename is not None or exc.errno not in _OUTPUT_ERRNOS:
            raise
        _drop_stdout()
        print(f"spicecl: error: cannot write standard output: {exc.strerror}", file=sys.stderr)
        return SpiceclError.exit_status
    return int(status or 0)


def _unwritten(exc: BaseException) -> str:
    """For the message of a command interrupted with ``exc``: the output directory that its
    results did not reach (spicecl.results.staged_outputs), and that it is unchanged."""
    out = getattr(exc, "unwritten_outputs", None)
    if out is None:
        return ""
    return f"; nothing was written to {out} (any earlier results there are unchanged)"


#: errno values of a failed write to standard output (disk full, quota, I/O error, too big,
#: closed).
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EBADF}


def _drop_stdout() -> None:
    """Point standard output at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, AttributeError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
