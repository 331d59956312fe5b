"""The exception types for user mistakes, environment problems and failed simulations.

A :class:`SpiceclError` carries a one-line message that names the file, line or parameter at
fault. The command-line tool prints it as ``spicecl: error: <message>`` and exits with status 2
(1 for a :class:`SimulationError`: a simulation that failed on valid input); it never shows a
traceback for one. Programming errors are left as ordinary exceptions.
"""

from __future__ import annotations

import numbers


class SpiceclError(Exception):
    """A user-facing error: bad input, a missing tool, a failed simulation."""

    exit_status = 2

    def __init__(self, message: str):
        # Keep the message to one line whatever the caller passed.
        super().__init__(" ".join(str(message).split()))


class SimulationError(SpiceclError):
    """ngspice ran on valid input and failed (no convergence, timeout, crash): exit status 1,
    as opposed to 2 for input the command refuses."""

    exit_status = 1


class RunError(SpiceclError):
    """A run that failed on accepted input for another reason than ngspice (a worker process
    died, the Dask scheduler went away): exit status 1, as for a failed simulation."""

    exit_status = 1


class Terminated(BaseException):
    """SIGTERM (``kill PID``, a batch system's time limit), raised in the main thread like
    KeyboardInterrupt by the command-line tool's handler: the ngspice being waited for is
    killed, temporary files and directories are removed and worker pools are stopped on the
    way out. (The default action killed the process alone: an ngspice, in its own session,
    kept running.)"""


def closest_name(word: str, names) -> str | None:
    """The one of ``names`` that a mistyped ``word`` most likely meant, for a "did you mean"
    hint: the same name in other capitals (``FIG1`` -> ``fig1``), else difflib's closest with
    a similarity of at least 0.6 (``trian`` -> ``train``); None when nothing is that close."""
    import difflib

    by_lower = {}
    for name in map(str, names):
        by_lower.setdefault(name.lower(), name)
    word = str(word).lower()
    if word in by_lower:
        return by_lower[word]
    match = difflib.get_close_matches(word, list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def as_scalar(value):
    """A 0-d numpy array (a value read from an .npz file) as the numpy scalar it holds; any
    other value as it is. (numpy is not imported here: an array means it already is.)"""
    import sys

    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


def check_count(name: str, value, low: int | None, high: int | None = None) -> int:
    """Return ``value`` as an int if ``low <= value <= high`` (None: no bound), else raise a
    :class:`SpiceclError` naming ``name`` (limits of 10^9 and more written as 1e+12).

    Integers (Python or numpy) and integral floats (``1e3``) are taken; anything else (a
    string, None, a bool, 10.5) is refused rather than converted or truncated.
    """
    value = as_scalar(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        v = int(value)
    elif (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and float(value).is_integer()):
        v = int(value)
    else:
        raise SpiceclError(f"{name} must be an integer, got {value!r}")
    if low is not None and v < low:
        raise SpiceclError(f"{name} must be >= {low}, got {value}")
    if high is not None and v > high:
        limit = f"{high:.0e}" if high >= 1e9 else f"{high}"
        raise SpiceclError(f"{name} must be <= {limit}, got {value}")
    return v


def check_range(name: str, value: float, low: float, high: float, *,
                low_open: bool = False, high_open: bool = False) -> float:
    """Return ``value`` if it lies in the interval, else raise a :class:`SpiceclError`.

    The interval is [low, high] with either end made open by the flags. A string, bytes, a
    bool or None is refused (``float("0.5")`` would take a string, and keeping the caller's
    string would fail later, far from here).
    """
    if value is None or isinstance(value, (str, bytes, bool)):
        raise SpiceclError(f"{name} must be a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SpiceclError(f"{name} must be a number, got {value!r}") from None
    ok_low = v > low if low_open else v >= low
    ok_high = v < high if high_open else v <= high
    if not (ok_low and ok_high) or v != v:
        raise SpiceclError(f"{name} must be in "
                           f"{interval(low, high, low_open=low_open, high_open=high_open)}, "
                           f"got {value!r}")
    return v


def interval(low: float, high: float, *, low_open: bool = False,
             high_open: bool = False) -> str:
    """The interval from ``low`` to ``high`` as check_range writes it: ``[0, 1)``."""
    return f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def warn(message: str) -> None:
    """Print a one-line ``spicecl: warning: ...`` to stderr (input that is used, but probably
    not as the user meant)."""
    import sys

    print("spicecl: warning: " + " ".join(str(message).split()), file=sys.stderr)


def as_generator(seed, name: str = "seed"):
    """``seed`` as a :class:`numpy.random.Generator`: a Generator is used as is (its draws
    continue); an int, a :class:`numpy.random.SeedSequence` or None (fresh entropy) seeds a
    new one. Anything else (a string, a float, a negative int) raises a :class:`SpiceclError`
    naming ``name``."""
    import numpy as np

    if isinstance(seed, np.random.Generator):
        return seed
    if not isinstance(seed, (str, bytes, bool, float)):
        try:
            return np.random.default_rng(seed)
        except (TypeError, ValueError):
            pass
    raise SpiceclError(f"{name} must be a seed (int), a numpy SeedSequence or Generator, or "
                       f"None, got {seed!r}")


def check_instance(name: str, value, cls: type, hint: str = ""):
    """``value`` if it is a ``cls``, else a :class:`SpiceclError` naming ``name`` and the class
    (an object of another type fails later with an AttributeError far from the call)."""
    if not isinstance(value, cls):
        raise SpiceclError(f"{name} must be a {cls.__module__}.{cls.__qualname__}{hint}, got "
                           f"{type(value).__name__}")
    return value


def check_seed(value, name: str = "seed") -> int:
    """``value`` as an int if it is a non-negative integer (Python or numpy), else a
    :class:`SpiceclError` naming ``name``: for the functions that record their seed with their
    results (a Generator has no number to record, and 1.5 must not become 1)."""
    value = as_scalar(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0:
        return int(value)
    raise SpiceclError(f"{name} must be a non-negative integer (it is recorded with the "
                       f"results), got {value!r}")
