"""A feedback page per student and lab: what each hidden check found, in words, and nothing more.

    write(lab, student, result, root)  ->  feedback/<student>/<lab>/hidden-checks.html

nbgrader's own feedback re-renders the graded notebook, hidden tests included;
this page gives each item's points and message, a bar per item, the given
cells the student edited (as a diff against the release, which they have; the
grading kept them in the result, ``GradeResult.edits``), the problems met while
running, and the end of their printout. It never shows the
checks' code, the hidden inputs or the reference's outputs, so a lab can be
reused next term. ``nbgrader release_feedback`` hands the folder out as usual.
"""

from __future__ import annotations

import difflib
import html
from pathlib import Path

from autograder.grade import GradeResult
from autograder.lateness import Lateness
from autograder.report import write_atomically
from reglab.config import ROOT, Lab

PAGE_NAME = "hidden-checks.html"
PRINTOUT_SHOWN = 2000          # characters of the student's printout, from its end
DIFF_LINES_SHOWN = 40          # per edited cell

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; padding: .35rem .5rem; vertical-align: top; }
tr + tr td { border-top: 1px solid #ddd; } .ok { color: #176b2c; } .lost { color: #a3261b; }
code, pre { font: 13px/1.4 ui-monospace, monospace; } pre { background: #f5f5f5; padding: .6rem; overflow-x: auto; }
.note { color: #555; }
"""


def _bars(result: GradeResult) -> str:
    """An inline SVG: one bar per item, the earned share filled."""
    width, row, label = 520, 22, 170
    rows = []
    for index, item in enumerate(result.items):
        y = index * row
        share = item.points / item.max_points if item.max_points else 0
        colour = "#2e8b45" if share == 1 else "#c0392b" if share == 0 else "#d4a017"
        rows.append(
            f'<text x="0" y="{y + 15}" font-size="13">{html.escape(item.id)}</text>'
            f'<rect x="{label}" y="{y + 4}" width="{width - label - 60}" height="14" fill="#eee"/>'
            f'<rect x="{label}" y="{y + 4}" width="{(width - label - 60) * share:.1f}" height="14" fill="{colour}"/>'
            f'<text x="{width - 52}" y="{y + 15}" font-size="13">{item.points:g}/{item.max_points:g}</text>')
    height = row * len(result.items)
    return (f'<svg role="img" aria-label="points per item" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{"".join(rows)}</svg>')


def _diff(grade_id: str, theirs: str, release: str) -> str:
    lines = list(difflib.unified_diff(release.splitlines(), theirs.splitlines(), "release", "your notebook",
                                      lineterm="", n=1))
    if len(lines) > DIFF_LINES_SHOWN:
        lines = lines[:DIFF_LINES_SHOWN] + [f"... ({len(lines) - DIFF_LINES_SHOWN} more lines)"]
    return f"<h3><code>{html.escape(grade_id)}</code></h3><pre>{html.escape(chr(10).join(lines))}</pre>"


def page(lab: Lab, student: str, result: GradeResult) -> str:
    esc = html.escape
    rows = "".join(
        f'<tr><td><code>{esc(item.id)}</code></td><td>{esc(item.title)}</td>'
        f'<td>{", ".join(f"<code>{esc(f)}</code>" for f in item.functions)}</td>'
        f'<td class="{"ok" if item.points == item.max_points else "lost"}">{item.points:g}/{item.max_points:g}</td>'
        f'<td>{esc(item.message)}</td></tr>' for item in result.items)
    written = lab.points - result.max_points
    parts = [
        (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(lab.id)}: {esc(student)}</title>"
         f"<style>{_STYLE}</style></head><body>"),
        f"<h1>{esc(lab.title)}</h1>",
        (f"<p><strong>{esc(student)}</strong>: {result.points:g} of {result.max_points:g} points from the hidden "
         f"checks. The written answers ({written:g} points) are graded by hand.</p>"),
        *([f"<p><strong>Submitted:</strong> {esc(Lateness(**result.late).describe())}.</p>"] if result.late else []),
        _bars(result),
        ("<h2>Each check</h2><table><tr><th>item</th><th>what it checks</th><th>functions</th><th>points</th>"
         f"<th>what we found</th></tr>{rows}</table>"),
    ]
    if result.flags:
        shown = "".join(f"<li>{esc(flag[:300])}</li>" for flag in result.flags[:20])
        parts.append("<h2>Flagged for your TA</h2><p class='note'>A review of your code found constructs the labs "
                     f"do not allow; a TA will look at them.</p><ul>{shown}</ul>")
    if result.problems:
        shown = "".join(f"<li>{esc(p[:400])}</li>" for p in result.problems[:20])
        more = f"<li>... and {len(result.problems) - 20} more</li>" if len(result.problems) > 20 else ""
        parts.append(f"<h2>While your notebook ran</h2><ul>{shown}{more}</ul>")
    if result.edits:
        parts.append("<h2>Given cells you changed</h2><p class='note'>Grading used the release's version of "
                     "these cells; here is what you changed.</p>" + "".join(_diff(*edit) for edit in result.edits))
    if result.printout.strip():
        tail = result.printout[-PRINTOUT_SHOWN:]
        cut = "the last " + f"{PRINTOUT_SHOWN:,} characters of " if len(result.printout) > PRINTOUT_SHOWN else ""
        parts.append(f"<h2>What your notebook printed</h2><p class='note'>({cut}the printout while graded)</p>"
                     f"<pre>{esc(tail)}</pre>")
    ran = f"Graded on {esc(result.device)} in {result.seconds:.0f} s; {esc(result.sandbox)}. " \
        if result.sandbox != "not run" else "Your notebook could not be run (see above). "
    parts.append(f"<p class='note'>{ran}"
                 "The hidden checks run your functions on inputs drawn fresh for your submission; this page "
                 "says what was wrong, not what the inputs or the expected outputs were.</p></body></html>")
    return "\n".join(parts) + "\n"


def write(lab: Lab, student: str, result: GradeResult, root: Path = ROOT) -> Path:
    """Write the page atomically and return its path."""
    path = root / "feedback" / student / lab.id / PAGE_NAME
    write_atomically(path, page(lab, student, result))
    return path
