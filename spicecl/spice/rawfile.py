"""Reader of ngspice binary raw files (``write`` with ``filetype=binary``), with numpy.

A raw file is a text header (``Title:``, ``Plotname:``, ``Flags:``, ``No. Variables:``,
``No. Points:``, ``Variables:`` with one ``index name type`` line per vector) followed by
``Binary:`` and the data, point by point: one float64 per vector (``Flags: real``) or two
(real, imaginary) per vector (``Flags: complex``). Files holding several plots are read plot by
plot; :func:`read_raw` returns them all and :func:`read_single_plot` refuses more than one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spicecl.errors import SpiceclError


@dataclass(frozen=True)
class RawPlot:
    """One plot of a raw file.

    Attributes
    ----------
    title, plotname, flags : str
    names : tuple of str, length V (lower-cased, as written by ngspice)
    types : tuple of str, length V ('time', 'voltage', 'current', ...)
    data : dict name -> array, shape (P,) (float64, or complex128 for complex plots)
    complete : bool
        False when the file ended before the points its header announces (only the whole
        points are in ``data``)
    """

    title: str
    plotname: str
    flags: str
    names: tuple
    types: tuple
    data: dict
    complete: bool = True


def _parse_plot(buf: bytes, pos: int, path: str) -> tuple[RawPlot, int]:
    header: dict[str, str] = {}
    names: list[str] = []
    types: list[str] = []

    def next_line():
        nonlocal pos
        end = buf.find(b"\n", pos)
        if end < 0:
            raise SpiceclError(f"raw file {path}: truncated header (no 'Binary:' line)")
        line = buf[pos:end].decode("latin-1").rstrip("\r")
        pos = end + 1
        return line

    while True:
        line = next_line()
        if line.startswith("Binary:"):
            break
        if line.startswith("Values:"):
            raise SpiceclError(f"raw file {path}: ASCII raw file, expected binary "
                               f"(set filetype=binary)")
        key, sep, val = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        header[key] = val.strip()
        if key == "Variables":
            try:
                count = int(header["No. Variables"])
            except (KeyError, ValueError):
                raise SpiceclError(f"raw file {path}: 'Variables:' without a valid "
                                   f"'No. Variables:' before it") from None
            for _ in range(count):
                tok = next_line().split()
                if len(tok) < 3:
                    raise SpiceclError(f"raw file {path}: bad variable line {' '.join(tok)!r}")
                names.append(tok[1].lower())
                types.append(tok[2])
    try:
        n_vars = int(header["No. Variables"])
        n_points = int(header["No. Points"])
    except (KeyError, ValueError):
        raise SpiceclError(f"raw file {path}: header lacks 'No. Variables' or "
                           f"'No. Points'") from None
    if n_vars < 1 or n_points < 0:
        # (a negative count moved the read position backwards: read_raw then parsed the same
        # plot for ever, growing without bound)
        raise SpiceclError(f"raw file {path}: header announces {n_vars} variables and "
                           f"{n_points} points")
    if len(names) != n_vars:
        raise SpiceclError(f"raw file {path}: header announces {n_vars} variables, lists "
                           f"{len(names)}")
    flags = header.get("Flags", "real").lower()
    is_complex = "complex" in flags
    width = 2 * n_vars if is_complex else n_vars
    n_bytes = 8 * width * n_points
    avail = len(buf) - pos
    end = pos + n_bytes
    complete = avail >= n_bytes
    if not complete:
        # A run cut short may announce more points than it wrote; keep whole points only
        # (a partial last point is dropped: nothing follows it in the file).
        n_points = avail // (8 * width)
        end = len(buf)
    arr = np.frombuffer(buf, dtype="<f8", count=width * n_points, offset=pos)
    arr = arr.reshape(n_points, width)
    data = {}
    for k, name in enumerate(names):
        if is_complex:
            data[name] = arr[:, 2 * k] + 1j * arr[:, 2 * k + 1]
        else:
            data[name] = arr[:, k].copy()
    plot = RawPlot(header.get("Title", ""), header.get("Plotname", ""), flags,
                   tuple(names), tuple(types), data, complete)
    return plot, end


def read_raw(path) -> list[RawPlot]:
    """Read every plot of a binary raw file."""
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise SpiceclError(f"raw file {path}: {exc.strerror}") from None
    plots = []
    pos = 0
    while pos < len(buf) and buf[pos:].strip():
        plot, pos = _parse_plot(buf, pos, str(path))
        plots.append(plot)
    if not plots:
        raise SpiceclError(f"raw file {path}: empty")
    return plots


def read_single_plot(path) -> RawPlot:
    """Read a binary raw file that must hold exactly one plot."""
    plots = read_raw(path)
    if len(plots) != 1:
        raise SpiceclError(f"raw file {path}: {len(plots)} plots, expected one "
                           f"({', '.join(p.plotname for p in plots)})")
    return plots[0]
