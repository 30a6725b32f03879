"""How late a submission is, decided in one place: course.yml's due date, the student's extensions
(course.yml ``extensions:``), the time nbgrader collected it (``timestamp.txt``), and the late-penalty
rule configured for nbgrader (nbgrader_config.py). The class table, the reports, the feedback pages,
the gradebook and the export all read it from here, so none of them can disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

from reglab.config import ROOT, CourseConfig, Lab

TIMESTAMP = "timestamp.txt"


def submission_time(folder: Path) -> dt.datetime | None:
    """When nbgrader collected a submission (its timestamp.txt), in UTC; None if it has none."""
    from nbgrader.utils import parse_utc
    stamp = folder / TIMESTAMP
    if stamp.is_symlink() or not stamp.is_file() or stamp.stat().st_size > 200:
        return None
    try:
        return parse_utc(stamp.read_text().strip()).replace(tzinfo=dt.timezone.utc)
    except (ValueError, OverflowError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class Lateness:
    submitted: str | None         # ISO time the submission was collected, None without a timestamp
    due: str                      # ISO due date for this student, extension included
    extension_hours: float
    extension_why: str
    hours_late: float             # 0 when on time
    penalty_percent: float        # of the score, by nbgrader's late-penalty rule

    def describe(self) -> str:
        extension = f" (with an extension of {self.extension_hours:g} h)" if self.extension_hours else ""
        if self.submitted is None:
            return f"no collection time (timestamp.txt) was found, so it counts as on time; due {self.due}{extension}"
        if self.hours_late <= 0:
            return f"on time (due {self.due}{extension})"
        penalty = f"; the late penalty takes {self.penalty_percent:g}% of the score" if self.penalty_percent else \
            "; within the grace period, no penalty"
        return f"{self.hours_late:.1f} h late (due {self.due}{extension}){penalty}"

    def to_json(self) -> dict:
        return asdict(self)


def _penalty_percent(seconds_late: float, root: Path) -> float:
    """What nbgrader's configured late-penalty plugin takes of a score of 100."""
    from traitlets.config.loader import PyFileConfigLoader
    from traitlets.utils.importstring import import_item
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config() \
        if (root / "nbgrader_config.py").is_file() else None
    name = config.AssignLatePenalties.get("plugin_class") if config else None
    if not name:
        return 0.0
    plugin = import_item(name)(config=config) if isinstance(name, str) else name(config=config)
    return float(plugin.late_submission_penalty("", 100.0, seconds_late))


def lateness(lab: Lab, student: str, folder: Path, course: CourseConfig, root: Path = ROOT) -> Lateness:
    """How late ``student``'s submission of ``lab`` (in ``folder``) is."""
    hours, why = course.extension_hours(lab, student)
    due = lab.due + dt.timedelta(hours=hours)
    submitted = submission_time(folder)
    seconds_late = max(0.0, (submitted - due).total_seconds()) if submitted else 0.0
    due_text = due.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return Lateness(submitted=submitted.isoformat() if submitted else None, due=due_text, extension_hours=hours,
                    extension_why=why, hours_late=round(seconds_late / 3600, 2),
                    penalty_percent=_penalty_percent(seconds_late, root) if seconds_late else 0.0)
