"""What a grading run leaves behind: a JSON result and a readable report per submission, and a class table."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from autograder.grade import GradeResult
from autograder.lateness import Lateness
from autograder.text import one_line, visible


def write_atomically(path: Path, data: str | bytes) -> None:
    """Write ``path`` so that a reader, or a run killed mid-write, sees the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False, suffix=".tmp") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    os.replace(handle.name, path)


def readable(result: GradeResult) -> str:
    ran = (f"graded on {result.device}, seed {result.seed}, in {result.seconds:.1f} s; {result.sandbox}"
           if result.sandbox != "not run" else "not run: the notebook could not be graded (below)")
    lines = [f"{result.lab}: {result.points:g} / {result.max_points:g} points", f"submission: {result.submission}", ran]
    if result.late:
        lines.append(f"submitted: {Lateness(**result.late).describe()}")
    lines.append("")
    width = max(len(item.id) for item in result.items)
    for item in result.items:
        mark = "ok  " if item.points == item.max_points else "FAIL"
        lines.append(f"  {mark} {item.id:<{width}}  {item.points:g}/{item.max_points:g}  "
                     f"{visible(item.message, newlines=False)}")
    if result.flags:
        lines += ["", "FLAGGED for a TA's look (the code review found constructs the labs do not allow):"]
        lines += [f"  - {visible(flag, newlines=False)}" for flag in result.flags[:20]]
    if result.problems:
        lines += ["", "While running the notebook:"]
        lines += [f"  - {visible(p, newlines=False)}" for p in result.problems[:20]]
    lines += ["", "Written answers are graded by hand; this report covers the hidden checks only."]
    return "\n".join(lines) + "\n"


def write(result: GradeResult, out_dir: Path, name: str) -> tuple[Path, Path]:
    """``<out_dir>/<name>.json`` and ``<name>.txt``, each written atomically."""
    json_path, text_path = out_dir / f"{name}.json", out_dir / f"{name}.txt"
    write_atomically(json_path, json.dumps(result.to_json(), indent=2) + "\n")
    write_atomically(text_path, readable(result))
    return json_path, text_path


def table(rows: list[tuple[str, GradeResult, str]]) -> str:
    """A class table: one row per submission, one column per item; ``rows`` are (name, result, note)."""
    if not rows:
        return "(no submissions)\n"
    items = [item.id for item in rows[0][1].items]
    name_width = max(12, *(len(name) for name, _, _ in rows))
    widths = [max(len(i), 4) for i in items]
    columns = "  ".join(f"{i:>{w}}" for i, w in zip(items, widths))
    header = f"{'submission':<{name_width}}  " + columns + "   total  note"
    lines = [header, "-" * len(header)]
    for name, result, note in rows:
        cells = [f"{item.points:>{w}g}" for item, w in zip(result.items, widths)]
        total = f"{result.points:g}/{result.max_points:g}"
        late = result.late and result.late.get("hours_late", 0) > 0
        note = ("FLAGGED; " if result.flags else "") + \
            (f"late {result.late['hours_late']:.1f} h (-{result.late['penalty_percent']:g}%); " if late else "") + note
        lines.append(f"{name:<{name_width}}  " + "  ".join(cells) + f"  {total:>6}  {one_line(note, 120)}")
    return "\n".join(lines) + "\n"
