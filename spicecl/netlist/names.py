"""Safe names and comments for SPICE decks.

Nothing read from a user file reaches a deck as an identifier: nodes are ``f<index>`` (free
network), ``c<index>`` (clamped network) and fixed internal names; element names are built
from fixed prefixes and integers. Original ids and labels appear only inside ``*`` comment lines,
reduced by :func:`comment_text` to letters, digits and ``_ : + -`` (no whitespace, no newlines;
a text cut at the length limit ends in "..." after the ``*``), so no input can start a line,
end a comment, or form a dot command.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from spicecl.errors import SpiceclError

_UNSAFE = re.compile(r"[^A-Za-z0-9_:+\-]")
# (fullmatch: "$" also matched before a final "\n"; "@" as in user@host checkouts, which
# ngspice reads as is; not "~", which it expands at the start of a path)
_PATH_OK = re.compile(r"[A-Za-z0-9_./+@\-]+")


def default_models_dir() -> Path:
    """The directory of the SPICE model libraries (models/*.lib).

    An installed spicecl (wheel or sdist) carries them inside the package as
    ``spicecl/models/`` (pyproject.toml maps the repository's models/ there); a source
    checkout, run in place or installed editable, has them in ``models/`` beside the spicecl
    package."""
    package = Path(__file__).resolve().parents[1]
    inside = package / "models"
    return inside if inside.is_dir() else package.parent / "models"


def comment_text(text, limit: int = 40) -> str:
    """A string safe inside a ``*`` comment: unsafe characters become '_', length limited."""
    s = _UNSAFE.sub("_", str(text))
    if len(s) > limit:
        s = s[: limit - 3] + "..."
    return s or "_"


def free_node(i: int) -> str:
    return f"f{int(i)}"


def clamped_node(i: int) -> str:
    return f"c{int(i)}"


def number(value) -> str:
    """A float as a SPICE literal that round-trips exactly (repr of a Python float)."""
    v = float(value)
    if not math.isfinite(v):
        raise SpiceclError(f"non-finite value {value!r} cannot be written to a deck")
    return repr(v)


# What ngspice cannot read even in a double-quoted .include path: the quote itself, the
# comments it strips from every line before (';', '//', and '$' after a blank), and a leading
# '~' (expanded as a home directory); control characters (newlines) are refused apart.
_QUOTED_BAD = re.compile(r'[";]|//|\s\$|^~')


def include_path(path: Path, relative_to: Path | None = None) -> str:
    """A path for an ``.include`` line: relative to ``relative_to`` when given, checked safe.

    A path of letters, digits and ``_ . / + - @`` is written as is; any other (a checkout
    under "My Projects", "résumé" or "O'Brien") in double quotes, which ngspice reads
    whole (a bare space ended the path)."""
    import os

    p = Path(path)
    s = (os.path.relpath(os.path.abspath(p), os.path.abspath(relative_to))
         if relative_to is not None else str(p.resolve()))
    if _PATH_OK.fullmatch(s):
        return s
    if s.isprintable() and not _QUOTED_BAD.search(s):
        return f'"{s}"'
    raise SpiceclError(f"models path {s!r} has characters that ngspice cannot read in an "
                       f".include line (a double quote, ';', '//', '$' after a space, a "
                       f"leading '~' or a control character such as a newline)")


def unquote_include(arg: str) -> str:
    """The path of an ``.include`` line's argument ``arg`` (its double quotes removed)."""
    arg = arg.strip()
    return arg[1:-1] if len(arg) >= 2 and arg[0] == arg[-1] == '"' else arg
