"""The grading host is out of the student's reach: each hostile submission of ``examples/06b/hostile/host_*.py``
is graded in a grader process of its own, and what it tried is measured on the host, where a verdict
cannot show it: files beside the course, a root-only file, the grader's peak memory, the time it took,
and the bytes that reach a TA's terminal.

The verdicts themselves (which items each loses) are checked with every other example in
``tests/test_lab_examples.py``.
"""

import json
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from autograder import workspace
from reglab.config import ROOT
from reglab.examples import examples

PLANTED = ROOT / "host-check-planted.txt"         # the hostile examples aim links at these two
ROOT_ONLY = ROOT / "host-check-root-only.txt"
LIMITS = {"probe_timeout_s": 10, "cell_timeout_s": 60, "submission_timeout_s": 240}

# One grading in a grader process of its own, which prints its result and its peak memory (VmHWM).
GRADE_ONE = """
import json, sys
from pathlib import Path
from reglab import config
from autograder.grade import grade_submission
from autograder import report
course = config.load()
course = course.model_copy(update={"grading": course.grading.model_copy(update=json.loads(sys.argv[2]))})
result = grade_submission(Path(sys.argv[1]), course.lab("06b"), course)
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
print(json.dumps({"result": result.to_json(), "text": report.readable(result), "peak_kb": int(peak)}))
"""


@pytest.fixture(scope="module")
def host_gradings(lab06b, tmp_path_factory):
    """{example name: {"result", "text", "peak_kb", "seconds"}} for the reference and every host_ example,
    graded with a planted file and a root-only file beside the course folder."""
    import nbformat
    folder = tmp_path_factory.mktemp("host")
    PLANTED.write_text("planted by the test\n")
    secret = f"root-only-{os.urandom(8).hex()}"
    ROOT_ONLY.write_text(secret + "\n")
    os.chmod(ROOT_ONLY, 0o600)
    before = set(os.listdir(ROOT))

    def grade(example):
        path = folder / f"{example.name}.ipynb"
        nbformat.write(example.notebook, path)
        done = subprocess.run([sys.executable, "-c", GRADE_ONE, str(path), json.dumps(LIMITS)],
                              capture_output=True, text=True, timeout=400, cwd=ROOT)
        assert done.returncode == 0, done.stderr[-2000:]
        return example.name, json.loads(done.stdout.strip().splitlines()[-1])

    chosen = [e for e in examples(lab06b) if e.name == "reference" or e.name.startswith("host_")]
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:       # two grader processes at a time, as -j 2 runs
            graded = dict(pool.map(grade, chosen))
        graded["_host"] = {"secret": secret, "planted": PLANTED.read_text(), "root_only": os.stat(ROOT_ONLY),
                           "new_files": set(os.listdir(ROOT)) - before}
    finally:
        PLANTED.unlink(missing_ok=True)
        ROOT_ONLY.unlink(missing_ok=True)
    return graded


def test_links_planted_for_the_grader_write_nothing_on_the_host(host_gradings):
    host = host_gradings["_host"]
    assert host["planted"] == "planted by the test\n"
    assert host["new_files"] == set()
    linked = host_gradings["host_planted_links"]["result"]
    assert any("went on running after it was interrupted" in item["message"] for item in linked["items"])


def test_a_root_only_file_stays_root_only_and_unread(host_gradings):
    host = host_gradings["_host"]
    info = host["root_only"]
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (os.geteuid(), os.getegid(), 0o600)
    for name, graded in host_gradings.items():
        if name != "_host":
            assert host["secret"] not in json.dumps(graded), name


def test_blocking_paths_do_not_stall_the_grader(host_gradings):
    graded = host_gradings["host_blocking_paths"]["result"]
    assert graded["points"] == graded["max_points"], graded["items"]
    assert graded["seconds"] < LIMITS["submission_timeout_s"]


def test_every_byte_from_the_kernel_has_a_budget(host_gradings):
    """The grader's peak memory against a kernel that floods it stays within 1.5 GB and twice a normal grading."""
    normal = host_gradings["reference"]["peak_kb"]
    flood = host_gradings["host_memory_flood"]
    print(f"grader peak memory: reference {normal / 1024:.0f} MB, memory flood {flood['peak_kb'] / 1024:.0f} MB")
    assert flood["peak_kb"] <= min(1.5 * 2**20, 2 * normal), (normal, flood["peak_kb"])
    assert flood["result"]["points"] == 0
    assert len(flood["result"]["printout"]) <= 64 * 1024 + 200


def test_empty_folders_stop_at_the_file_limit_on_a_filesystem_of_their_own(host_gradings):
    graded = host_gradings["host_inode_flood"]
    assert graded["result"]["seconds"] < LIMITS["submission_timeout_s"]
    words = " ".join(graded["result"]["problems"]) + graded["result"]["printout"]
    assert "files and folders" in words or "stopped after" in words, words[-500:]


def test_escape_sequences_reach_no_terminal(host_gradings):
    text = host_gradings["host_terminal_escapes"]["text"]
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "\\x1b]52;c;" in text                      # shown, as a visible escape
    assert text.count("FAIL") == 6


def test_no_two_gradings_share_a_kernel_user(tmp_path):
    state = tmp_path / "state" / "next-kernel-uid"
    uids = [workspace.fresh_uid(state) for _ in range(50)]
    assert len(set(uids)) == 50 and min(uids) >= workspace.UID_FIRST
    assert workspace.fresh_uid(state) not in uids                  # the counter outlives the process's memory
    assert stat.S_IMODE(os.stat(state.parent).st_mode) == 0o700
