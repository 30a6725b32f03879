"""The weekly calendar: course.yml's release and due dates decide what is published and when.

    reglab publish [--date D]   release every lab whose release date is on or before D
                                (build + nbgrader generate_assignment), set its due date
                                in the gradebook, and list the labs still scheduled
    reglab status [--date D]    per lab: released, due, submissions (and late ones), graded

Late submissions lose points through nbgrader's own late-penalty hook: nbgrader
compares a submission's ``timestamp.txt`` with the assignment's due date in the
gradebook (set here by ``publish``), and ``nbgrader autograde`` asks the plugin
configured in nbgrader_config.py (``SubtractPerHour`` below, capped and with a grace period) for the penalty.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass
from pathlib import Path

from autograder.lateness import submission_time
from reglab.config import ROOT, CourseConfig, Lab


@functools.cache
def _subtract_per_hour() -> type:
    from nbgrader.plugins import BasePlugin
    from traitlets import Float

    class SubtractPerHour(BasePlugin):
        """nbgrader late-penalty plugin: a share of the earned score per started hour late, capped.

        Configured in nbgrader_config.py (``c.AssignLatePenalties.plugin_class``); nbgrader
        caps the penalty at the notebook's score itself.
        """

        grace_minutes = Float(15.0, help="Minutes after the due date that cost nothing.").tag(config=True)
        percent_per_hour = Float(2.0, help="Percent of the earned score lost per started hour late.").tag(config=True)
        max_percent = Float(50.0, help="The most a late submission can lose, in percent of its score.").tag(config=True)

        def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
            late_s = total_seconds_late - 60 * self.grace_minutes
            if late_s <= 0:
                return 0.0
            percent = min(self.max_percent, self.percent_per_hour * math.ceil(late_s / 3600))
            return score * percent / 100

    SubtractPerHour.__module__, SubtractPerHour.__qualname__ = __name__, "SubtractPerHour"
    return SubtractPerHour


def __getattr__(name: str):
    """``reglab.calendar.SubtractPerHour``, made on first use: nbgrader imports it by name, and
    building it lazily keeps every ``reglab`` command from importing nbgrader (seconds)."""
    if name == "SubtractPerHour":
        return _subtract_per_hour()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def due_labs(labs: list[Lab], date: dt.date) -> tuple[list[Lab], list[Lab]]:
    """(labs whose release date is on or before ``date``, labs still scheduled), each by release date."""
    ordered = sorted(labs, key=lambda lab: (lab.release, lab.id))
    return [lab for lab in ordered if lab.release <= date], [lab for lab in ordered if lab.release > date]


def set_due_date(lab: Lab, root: Path = ROOT) -> None:
    """Write the lab's due date into the course gradebook, where nbgrader's late penalty reads it."""
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        gradebook.update_or_create_assignment(lab.id, duedate=lab.due)


def publish(labs: list[Lab], date: dt.date, root: Path = ROOT) -> tuple[list[Lab], list[Lab]]:
    """Release every lab due by ``date`` into ``root`` with its gradebook due date; return (released, scheduled)."""
    from reglab.build import build
    from reglab.release import release
    released, scheduled = due_labs(labs, date)
    for lab in released:
        build(lab, root)
        release(lab, root)
        set_due_date(lab, root)
    return released, scheduled


@dataclass(frozen=True)
class LabStatus:
    lab: Lab
    released: bool
    submitted: int
    late: int
    graded: int


def lab_status(lab: Lab, date: dt.date, root: Path = ROOT, course: CourseConfig | None = None) -> LabStatus:
    """Submissions are ``submitted/<student>/<lab id>/`` folders holding a notebook; grades are
    the class grader's ``grades/<lab id>/<student>.json``. Late counts each student's extensions."""
    folders = [folder for folder in sorted((root / "submitted").glob(f"*/{lab.id}"))
               if folder.is_dir() and any(folder.glob("*.ipynb"))]
    late = 0
    for folder in folders:
        time = submission_time(folder)
        hours = course.extension_hours(lab, folder.parent.name)[0] if course else 0.0
        late += time is not None and time > lab.due + dt.timedelta(hours=hours)
    return LabStatus(lab=lab, released=lab.release <= date, submitted=len(folders), late=late,
                     graded=sum(1 for path in (root / "grades" / lab.id).glob("*.json") if path.is_file()))


def status_table(labs: list[Lab], date: dt.date, root: Path = ROOT, course: CourseConfig | None = None) -> str:
    rows = [("lab", "released", "due", "submitted", "late", "graded")]
    for lab in sorted(labs, key=lambda lab: (lab.release, lab.id)):
        status = lab_status(lab, date, root, course)
        released = f"{'yes' if status.released else 'no'}, {lab.release.isoformat()}"
        due = lab.due.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        rows.append((lab.id, released, due, str(status.submitted), str(status.late), str(status.graded)))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) if column < 3 else cell.rjust(width)
                       for column, (cell, width) in enumerate(zip(row, widths))).rstrip() for row in rows]
    return "\n".join(lines) + "\n"


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--date {text!r} is not a date; write it as YYYY-MM-DD") from None


def cmd_publish(args, course: CourseConfig) -> int:
    date = today() if args.date is None else _date(args.date)
    released, scheduled = publish(list(course.labs), date)
    for lab in released:
        print(f"released {lab.id}  (since {lab.release}; due {lab.due.isoformat()}, set in gradebook.db)")
    if not released:
        print(f"nothing to release on {date}")
    for lab in scheduled:
        print(f"scheduled {lab.id}  (release {lab.release}, due {lab.due.isoformat()})")
    return 0


def cmd_status(args, course: CourseConfig) -> int:
    date = today() if args.date is None else _date(args.date)
    print(f"{course.course.id} on {date}")
    print(status_table(list(course.labs), date, course=course), end="")
    return 0


def add_commands(sub) -> None:
    """Register ``publish`` and ``status`` on reglab's subcommand parser."""
    for name, func, help_text in [("publish", cmd_publish, "release the labs whose release date has come"),
                                  ("status", cmd_status, "per lab: released, due, submitted, late, graded")]:
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--date", help="the day to act as of, YYYY-MM-DD (default: today, UTC)")
        command.set_defaults(func=func)
