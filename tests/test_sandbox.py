"""The kernel's confinement: what student code can and cannot reach, and the fallback when bubblewrap is missing."""

import nbformat
import pytest

from autograder import execute, probes, sandbox
from autograder.workspace import Workspace
from reglab.config import ROOT

PROBE = f"""
import socket
def attempt(what, action):
    try:
        action()
        print(what, "REACHED")
    except Exception as exc:
        print(what, "blocked:", type(exc).__name__)
attempt("course.yml", lambda: open({str(ROOT / 'course.yml')!r}).read())
attempt("solutions", lambda: __import__("solutions.batchnorm"))
attempt("network", lambda: socket.create_connection(("127.0.0.1", 22), timeout=2))
attempt("write /usr", lambda: open("/usr/reglab-test", "w"))
attempt("scratch", lambda: open("scratch-file", "w").write("ok"))
import tempfile
attempt("tmpdir", lambda: tempfile.NamedTemporaryFile().write(b"ok"))
attempt("another student", lambda: open(OTHER_STUDENT).read())
import os
print("profile", os.environ.get("REGLAB_PROFILE"))
"""


def _run(course, tmp_path, grading):
    other = tmp_path / "submitted" / "alice" / "06b-batchnorm-by-hand.ipynb"
    other.parent.mkdir(parents=True)
    other.write_text("{}")
    source = f"OTHER_STUDENT = {str(other)!r}\n" + PROBE
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    with Workspace.create(grading, uid=sandbox.kernel_user(grading)) as ws:
        probes.write_plan([], ws.plan, "cpu", 5)
        command = sandbox.kernel_command(ws, grading, "cpu", hidden=[str(ROOT)])
        run = execute.KernelRun(nb, command, ws, execute.Limits.from_grading(grading), []).run()
    return command, run


@pytest.mark.skipif(sandbox.bubblewrap_problem() is not None, reason="bubblewrap cannot run here")
def test_sandboxed_kernel_sees_only_its_scratch_folder(course, tmp_path):
    command, run = _run(course, tmp_path, course.grading.model_copy(update={"sandbox": "required"}))
    assert command.sandboxed and run.harness_finished, run
    for blocked in ("course.yml", "solutions", "network", "write /usr", "another student"):
        assert f"{blocked} blocked" in run.printout, run.printout
    assert "scratch REACHED" in run.printout and "tmpdir REACHED" in run.printout
    assert "profile ci" in run.printout               # notebooks run in the grading profile


def test_without_bubblewrap_the_report_says_not_sandboxed(course, tmp_path):
    command, run = _run(course, tmp_path, course.grading.model_copy(update={"sandbox": "off"}))
    assert not command.sandboxed and command.note.startswith("NOT SANDBOXED")
    assert "solutions blocked" in run.printout        # the import system still hides the course packages
    assert "scratch REACHED" in run.printout and "profile ci" in run.printout


def test_required_sandbox_refuses_to_fall_back(course, tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "bubblewrap_problem", lambda: "bubblewrap (bwrap) is not installed")
    grading = course.grading.model_copy(update={"sandbox": "required"})
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
        with Workspace.create(grading, uid=None) as ws:
            sandbox.kernel_command(ws, grading, "cpu", hidden=[])
    with Workspace.create(grading, uid=None) as ws:
        auto = sandbox.kernel_command(ws, course.grading.model_copy(update={"sandbox": "auto"}), "cpu", hidden=[])
    assert not auto.sandboxed and "not installed" in auto.note
