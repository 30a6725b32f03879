"""Text that came from a student's kernel, made safe to show on a terminal or in a text file.

A kernel's exception text or printout may hold escape sequences: ANSI colour
and cursor moves that rewrite a line a TA reads ("FAIL" becomes "ok"), OSC
sequences that set a window title or write the clipboard, bare carriage
returns and backspaces that overprint. ``visible`` shows every control
character as a visible escape (``\\x1b``), so the text reads as what it is.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, and the Unicode line/paragraph separators and
# bidirectional overrides, which reorder what a terminal or an editor shows.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, newlines: bool = True) -> str:
    """``text`` with every control character written as a visible escape; ``newlines=False``
    escapes newlines and tabs too (for text that must stay on one line)."""
    text = _CONTROL.sub(_escape, str(text))
    if not newlines:
        text = text.replace("\t", "\\t").replace("\n", "\\n")
    return text


def one_line(text: str, limit: int = 200) -> str:
    """The first line of ``text``, made visible and cut to ``limit`` characters (for tables)."""
    first = str(text).strip().splitlines()[0] if str(text).strip() else ""
    first = visible(first, newlines=False)
    return first if len(first) <= limit else first[: limit - 3] + "..."
