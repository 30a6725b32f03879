"""Load and validate ``course.yml``.

Every command starts here, so a bad field fails early with a message that
names the file, the field, the value found and what is allowed.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ROOT = Path(__file__).resolve().parent.parent
COURSE_FILE = ROOT / "course.yml"
LAB_ID = re.compile(r"^(?P<short>\d\d[a-z])-[a-z0-9]+(-[a-z0-9]+)*$")


class ConfigError(ValueError):
    """course.yml is missing, unreadable or has a bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Course(_Strict):
    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    seed: int = Field(ge=0)


class Tolerance(_Strict):
    rtol: float = Field(ge=0, le=0.1)
    atol: float = Field(ge=0, le=0.1)


class Grading(_Strict):
    sandbox: Literal["required", "auto", "off"] = "auto"
    cell_timeout_s: float = Field(gt=0, le=3600)
    probe_timeout_s: float = Field(gt=0, le=600)
    cpu_time_s: int = Field(gt=0)
    memory_mb: int = Field(ge=512)
    max_processes: int = Field(ge=8)
    max_file_mb: int = Field(gt=0)
    max_disk_mb: int = Field(gt=0)
    max_files: int = Field(default=20_000, ge=100)          # files and folders the kernel may make
    max_output_kb: int = Field(gt=0)
    max_record_mb: int = Field(default=32, gt=0)            # one probe record read back from the kernel
    max_notebook_mb: int = Field(default=20, gt=0)          # a submitted notebook larger than this is refused
    submission_timeout_s: float = Field(gt=0, le=24 * 3600)
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    profile: Literal["ci", "cpu", "gpu"] = "ci"   # the budget profile notebooks run in while graded
    tolerances: dict[Literal["cpu", "cuda"], Tolerance]

    @field_validator("tolerances")
    @classmethod
    def _both_devices(cls, value):
        missing = {"cpu", "cuda"} - set(value)
        if missing:
            raise ValueError(f"needs an entry for each device; missing: {', '.join(sorted(missing))}")
        return value


class Budgets(_Strict):
    ci: float = Field(gt=0)
    cpu: float = Field(gt=0)
    gpu: float = Field(gt=0)


Setting = bool | int | float | str
ProfileName = Literal["ci", "cpu", "gpu"]


class Lab(_Strict):
    id: str
    title: str = Field(min_length=1)
    solutions: str = Field(pattern=r"^solutions\.[a-z_][a-z0-9_]*$")
    checks: str = Field(pattern=r"^autograder\.checks\.[a-z_][a-z0-9_]*$")
    points: float = Field(gt=0)
    release: dt.date
    due: dt.datetime
    budgets: Budgets
    # Optional per-profile settings (data sizes, model, epochs...): the build
    # writes them into the notebook's reglab="profiles" cell as PROFILES.
    profiles: dict[ProfileName, dict[str, Setting | list[Setting]]] | None = None

    @field_validator("profiles")
    @classmethod
    def _every_profile(cls, value):
        missing = {"ci", "cpu", "gpu"} - set(value or {"ci", "cpu", "gpu"})
        if missing:
            raise ValueError(f"needs an entry for each profile; missing: {', '.join(sorted(missing))}")
        return value

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value):
        if not LAB_ID.match(value):
            raise ValueError("must look like '06b-batchnorm-by-hand': two digits, a letter, "
                             "then lowercase words joined by '-'")
        return value

    @field_validator("due")
    @classmethod
    def _due_has_zone(cls, value):
        if value.tzinfo is None:
            raise ValueError("needs a time zone, e.g. 2026-10-12T23:59:00+00:00")
        return value

    @model_validator(mode="after")
    def _due_after_release(self):
        if self.due.date() < self.release:
            raise ValueError(f"due ({self.due.isoformat()}) is before release ({self.release.isoformat()})")
        return self

    @property
    def short(self) -> str:
        """The two-digit-and-letter prefix a person types: ``06b``."""
        return LAB_ID.match(self.id)["short"]

    @property
    def notebook(self) -> Path:
        """The authored text of the lab (jupytext percent format)."""
        return ROOT / "notebooks" / f"{self.id}.py"

    def source_path_in(self, root: Path) -> Path:
        """The nbgrader source notebook under the course folder ``root``: ``source/<id>/<id>.ipynb``."""
        return root / "source" / self.id / f"{self.id}.ipynb"

    def release_path_in(self, root: Path) -> Path:
        """The student notebook nbgrader generates under ``root``: ``release/<id>/<id>.ipynb``."""
        return root / "release" / self.id / f"{self.id}.ipynb"

    @property
    def source_path(self) -> Path:
        """The nbgrader source notebook of this course (built from the notebook and the solutions)."""
        return self.source_path_in(ROOT)

    @property
    def release_path(self) -> Path:
        """The student notebook of this course, as released: what grading restores submissions to."""
        return self.release_path_in(ROOT)


class Extension(_Strict):
    """More time for one student: on one lab (its id or short prefix), or on every lab ("all")."""

    student: str = Field(min_length=1)
    lab: str = "all"
    hours: float = Field(gt=0, le=24 * 365)
    why: str = ""


class CourseConfig(_Strict):
    course: Course
    grading: Grading
    labs: list[Lab] = Field(min_length=1)
    extensions: list[Extension] = Field(default_factory=list)

    @model_validator(mode="after")
    def _extensions_name_labs(self):
        known = {key for lab in self.labs for key in (lab.id, lab.short)} | {"all"}
        for extension in self.extensions:
            if extension.lab not in known:
                raise ValueError(f"extension for {extension.student!r} names lab {extension.lab!r}, "
                                 "which course.yml does not have (use a lab id, its short prefix, or all)")
        return self

    def extension_hours(self, lab: Lab, student: str) -> tuple[float, str]:
        """(hours of extension, why) for ``student`` on ``lab``: the sum of every entry that applies."""
        found = [e for e in self.extensions if e.student == student and e.lab in (lab.id, lab.short, "all")]
        return sum(e.hours for e in found), "; ".join(e.why for e in found if e.why)

    @field_validator("labs")
    @classmethod
    def _unique_ids(cls, labs):
        seen = set()
        for lab in labs:
            for key in (lab.id, lab.short):
                if key in seen:
                    raise ValueError(f"lab id {key!r} appears twice")
                seen.add(key)
        return labs

    def lab(self, name: str) -> Lab:
        """Find a lab by its full id or its short prefix (``06b``)."""
        for lab in self.labs:
            if name in (lab.id, lab.short):
                return lab
        known = ", ".join(f"{lab.short} ({lab.id})" for lab in self.labs)
        raise ConfigError(f"no lab {name!r} in course.yml; known labs: {known}")


def _describe(error: dict) -> str:
    where = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in error["loc"]).replace(".[", "[")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{where}: missing; add this field"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown field (value {error['input']!r}); remove it or fix its spelling"
    return f"{where}: {error['input']!r} is not allowed: {message}"


def parse(data: object, source: str = "course.yml") -> CourseConfig:
    """Validate already-parsed YAML; raise ConfigError listing every bad field."""
    try:
        return CourseConfig.model_validate(data)
    except ValidationError as exc:
        lines = "\n".join(f"  - {_describe(e)}" for e in exc.errors())
        raise ConfigError(f"{source} has {exc.error_count()} bad field(s):\n{lines}") from None


def load(path: Path = COURSE_FILE) -> CourseConfig:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} not found; run reglab from the course repository") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return parse(data, source=str(path))
