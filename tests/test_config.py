"""course.yml: the real file loads; each kind of bad field is refused with a message naming it."""

import copy

import pytest
import yaml

from reglab import config


@pytest.fixture
def raw():
    return yaml.safe_load(config.COURSE_FILE.read_text())


def test_course_file_loads(course):
    lab = course.lab("06b")
    assert lab.id == "06b-batchnorm-by-hand" and course.lab(lab.id) is lab
    assert lab.notebook.is_file()
    assert set(course.grading.tolerances) == {"cpu", "cuda"}


@pytest.mark.parametrize("edit, field, words", [
    (lambda d: d["labs"][0].update(points=-3), "labs[0].points", "-3"),
    (lambda d: d["labs"][0].update(due="2026-09-01T00:00:00+00:00"), "labs[0]", "before release"),
    (lambda d: d["labs"][0].update(due="2026-10-12T23:59:00"), "labs[0].due", "time zone"),
    (lambda d: d["labs"][0].update(id="lab six"), "labs[0].id", "'lab six'"),
    (lambda d: d["grading"].update(sandbox="maybe"), "grading.sandbox", "'required', 'auto' or 'off'"),
    (lambda d: d["grading"]["tolerances"].pop("cuda"), "grading.tolerances", "cuda"),
    (lambda d: d["grading"].update(timeout=3), "grading.timeout", "unknown field"),
    (lambda d: d["course"].pop("seed"), "course.seed", "missing"),
    (lambda d: d["labs"].append(copy.deepcopy(d["labs"][0])), "labs", "appears twice"),
])
def test_bad_field_is_named_with_its_value(raw, edit, field, words):
    edit(raw)
    with pytest.raises(config.ConfigError) as error:
        config.parse(raw)
    message = str(error.value)
    assert f"{field}:" in message and words in message, message


def test_every_bad_field_is_listed_at_once(raw):
    raw["labs"][0]["points"] = 0
    raw["grading"]["memory_mb"] = 1
    message = str(pytest.raises(config.ConfigError, config.parse, raw).value)
    assert "2 bad field(s)" in message and "labs[0].points" in message and "grading.memory_mb" in message


def test_unknown_lab_lists_the_known_ones(course):
    message = str(pytest.raises(config.ConfigError, course.lab, "06z").value)
    assert "06b (06b-batchnorm-by-hand)" in message


def test_unreadable_file(tmp_path):
    bad = tmp_path / "course.yml"
    bad.write_text("labs: [unclosed")
    assert "not valid YAML" in str(pytest.raises(config.ConfigError, config.load, bad).value)
    assert "not found" in str(pytest.raises(config.ConfigError, config.load, tmp_path / "none.yml").value)


def test_lab_profiles_need_every_profile_and_plain_values(raw):
    lab = next(i for i, entry in enumerate(raw["labs"]) if entry.get("profiles"))
    raw["labs"][lab]["profiles"].pop("gpu")
    with pytest.raises(config.ConfigError, match=rf"labs\[{lab}\]\.profiles: .*missing: gpu"):
        config.parse(raw)
    raw["labs"][lab]["profiles"]["gpu"] = {"model": {"nested": "dict"}}
    with pytest.raises(config.ConfigError, match=rf"labs\[{lab}\]\.profiles\.gpu\.model"):
        config.parse(raw)
