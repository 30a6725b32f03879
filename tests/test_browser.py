"""The labs in a real browser: JupyterLab on loopback, headless Chromium.

A student's path: open the 06b release notebook, type the reference
``batchnorm_forward`` into its solution cell, run all cells, and see the
forward self-checks pass and the next cell stop on the still-blank backward
with NotImplementedError. A TA's path: nbgrader's formgrader lists a class
graded by reglab with its auto scores and the written answers to grade.
Screenshots of both are kept under ``test-artifacts/browser/``.

Chromium comes from the system (Debian ``chromium``, which scripts/setup installs
as root; or the path in REGLAB_CHROMIUM), driven through Playwright's Python
package: no browser is downloaded.
Skipped only where Chromium is missing and ``CI`` is not set; in CI it must run.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from reglab.config import ROOT

CHROMIUM = Path(os.environ.get("REGLAB_CHROMIUM", "/usr/bin/chromium"))
LAB = "06b-batchnorm-by-hand"
SCREENSHOT = ROOT / "test-artifacts" / "browser" / f"{LAB}-forward-selfchecks.png"
FORMGRADER_SCREENSHOT = ROOT / "test-artifacts" / "browser" / f"{LAB}-formgrader.png"
FORWARD_SELFCHECKS = ["forward_train: OK", "running_stats: OK", "eval_mode: OK"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                       reason=f"Chromium not installed at {CHROMIUM} (as root: apt-get install -y chromium "
                              "chromium-driver, or run scripts/setup); in CI this test always runs"),
]

# JupyterLab settings for a quiet, deterministic page: every cell in the DOM
# (no windowing), no news or update toasts over the notebook.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"checkForUpdates": False,
                                                                        "fetchNews": "false"},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _solution_source(function) -> str:
    """The reference's code for one function, as a student would type it (no nbgrader markers)."""
    lines = inspect.getsource(function).splitlines()
    return "\n".join(line for line in lines if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)


@contextlib.contextmanager
def _jupyter_server(root, tmp_path):
    """A JupyterLab server on 127.0.0.1 with a token, serving ``root`` (nbgrader's formgrader
    included); yields its base URL and token, and always stops it (and its kernels)."""
    lab_exe = Path(sys.executable).parent / "jupyter-lab"
    assert lab_exe.exists(), f"{lab_exe} missing: JupyterLab comes with the dev install (scripts/setup)"
    config = tmp_path / "jupyter-config"
    for name, settings in LAB_SETTINGS.items():
        path = config / "lab" / "user-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    token, port = secrets.token_hex(16), _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data"),   # no user kernelspec shadows this venv's
           "IPYTHONDIR": str(tmp_path / "ipython"),
           "PATH": f"{lab_exe.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log_path = tmp_path / "jupyterlab.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [str(lab_exe), "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
             "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
             f"--LabApp.user_settings_dir={config / 'lab' / 'user-settings'}",
             f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer on {base} in 30 s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.3)
        yield base, token
    finally:
        # The server and its kernels share the session started above: stop them together.
        for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(server.pid, sig)
                server.wait(timeout=wait_s)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab serving a folder that holds only the 06b release notebook."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(ROOT / "release" / LAB / f"{LAB}.ipynb", root)
    with _jupyter_server(root, tmp_path) as served:
        yield served


@contextlib.contextmanager
def _page(width=1400, height=1000):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


def test_student_fills_forward_and_its_selfchecks_pass_in_jupyterlab(jupyterlab):
    from playwright.sync_api import expect

    from solutions.batchnorm import batchnorm_forward

    base, token = jupyterlab
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    with _page() as page:
        page.goto(f"{base}/lab/tree/{LAB}.ipynb?token={token}")

        solution_cell = page.locator(".jp-CodeCell", has_text="def batchnorm_forward(")
        solution_cell.locator(".cm-content").click()
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.insert_text(_solution_source(batchnorm_forward))
        expect(solution_cell).to_contain_text("running_mean.mul_(1 - momentum)")
        expect(solution_cell).not_to_contain_text("NotImplementedError")

        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()

        # Run All stops at the first failing cell: the staged-backward self-check, whose
        # function is still the blank stub.
        error = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        expect(error.first).to_contain_text("NotImplementedError", timeout=90_000)
        for message in FORWARD_SELFCHECKS:
            expect(page.locator(".jp-OutputArea-output", has_text=message)).to_have_count(1)
        errors = error.all_inner_texts()
        assert len(errors) == 1 and "batchnorm_backward" in errors[0], errors

        page.locator(".jp-CodeCell", has_text=FORWARD_SELFCHECKS[0]).scroll_into_view_if_needed()
        page.screenshot(path=SCREENSHOT)
    assert SCREENSHOT.stat().st_size > 10_000


def test_formgrader_shows_the_graders_scores_and_the_written_answers_to_grade(tmp_path, graded_course):
    """A class graded by reglab, seen in nbgrader's formgrader: each submission with its auto
    score and its written answers flagged for manual grading; a submission's page has the auto
    points in the self-check cells' score boxes and empty boxes for the written answers."""
    from playwright.sync_api import expect

    (tmp_path / "course").mkdir()
    root = graded_course(tmp_path / "course")
    with _jupyter_server(root, tmp_path) as (base, token), _page() as page:
        page.set_extra_http_headers({"Authorization": f"token {token}"})   # formgrader's own API calls too
        page.goto(f"{base}/formgrader/gradebook/{LAB}/{LAB}")
        rows = page.locator("table tbody tr")
        expect(rows).to_have_count(3)
        expected = {"alice": ("14 / 18", "14 / 14"), "bob": ("0 / 18", "0 / 14"), "carol": ("12 / 18", "12 / 14")}
        for student, (overall, code) in expected.items():
            row = rows.filter(has=page.locator(f"a.name-shown:text-is('{student}')"))
            expect(row.locator(".score")).to_have_text(overall)
            expect(row.locator(".code-score")).to_have_text(code)
            expect(row.locator(".written-score")).to_have_text("0 / 4")
            expect(row.locator(".needs-manual-grade .glyphicon-ok")).to_have_count(1)
        page.locator("#toggle_names").click()
        FORMGRADER_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=FORMGRADER_SCREENSHOT)

        page.goto(base + rows.filter(has=page.locator("a.name-shown:text-is('alice')")).locator("a.name-shown")
                  .get_attribute("href"))
        # formgrader shows an auto score as the box's placeholder; the box itself takes a TA's override
        expect(page.locator("input.score#forward_train")).to_have_attribute("placeholder", "3")
        expect(page.locator("input.score#backward_fast")).to_have_attribute("placeholder", "3")
        expect(page.locator("input.score#q_small_batch")).to_have_value("")
        expect(page.locator(".nbgrader_cell", has_text="noisy")).to_have_count(1)   # alice's written answer
    assert FORMGRADER_SCREENSHOT.stat().st_size > 10_000


# A laptop's screen: JupyterLab at 1366 px wide with its file browser open leaves the notebook about
# 930 px, some 110 characters of code font. Rendered markdown wraps a <pre> that is wider (white-space:
# pre-wrap), which breaks an ASCII diagram's lines apart.
LAPTOP = {"width": 1366, "height": 768}
_WRAPPED = """() => Array.from(document.querySelectorAll('.jp-RenderedMarkdown pre')).map((pre) => {
  const [style, width] = [pre.style.whiteSpace, pre.style.width];
  const room = pre.getBoundingClientRect().width;
  pre.style.whiteSpace = 'pre';
  pre.style.width = 'max-content';
  const need = pre.getBoundingClientRect().width;
  [pre.style.whiteSpace, pre.style.width] = [style, width];
  return {wraps: need > room + 0.5, width: Math.round(room), need: Math.ceil(need), text: pre.textContent};
})"""


def test_no_markdown_block_of_a_release_wraps_at_1366_px(tmp_path):
    """Every lab's release, opened in JupyterLab at 1366 x 768 with the file browser open: no <pre> of its
    markdown (the ASCII diagrams: 06b's computational graph, 06e's pre- and post-norm blocks) wraps.
    Screenshots of the diagrams: ``test-artifacts/browser/<lab>-diagram-<n>.png``."""
    from reglab import config

    labs = [lab.id for lab in config.load().labs]
    root = tmp_path / "root"
    root.mkdir()
    for lab in labs:
        shutil.copy(ROOT / "release" / lab / f"{lab}.ipynb", root)
    wrapped, blocks = [], 0
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    with _jupyter_server(root, tmp_path) as (base, token), _page(**LAPTOP) as page:
        for lab in labs:
            page.goto(f"{base}/lab/tree/{lab}.ipynb?reset&token={token}")     # reset: this notebook's tab alone
            page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedMarkdown").first.wait_for()
            page.wait_for_timeout(1000)          # fonts and the last markdown cells
            rows = page.evaluate(_WRAPPED)
            blocks += len(rows)
            for n, row in enumerate(rows):
                print(f"{lab}: <pre> {n}: {row['need']} px of {row['width']} px")
                if "──" in row["text"] or row["wraps"]:
                    page.evaluate("(n) => document.querySelectorAll('.jp-RenderedMarkdown pre')[n]"
                                  ".scrollIntoView({block: 'center'})", n)
                    page.screenshot(path=SCREENSHOT.parent / f"{lab}-diagram-{n}.png")
                if row["wraps"]:
                    wrapped.append(f"{lab}: a block {row['need']} px wide in {row['width']} px, "
                                   f"starting {row['text'].strip()[:60]!r}")
    assert blocks >= 2, f"found {blocks} markdown <pre> blocks; 06b and 06e have a diagram each"
    assert not wrapped, "markdown blocks that wrap at 1366 px:\n" + "\n".join(wrapped)
