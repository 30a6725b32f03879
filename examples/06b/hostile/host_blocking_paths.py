"""Hostile to the host: pipes where the grader reads, so a read by name would block it for good. Loses: none

Every record name the harness will write is first made a named pipe, and so is the plan's name.
The harness moves each record into place, replacing the pipes; a grader that opened a
kernel-writable path by name, on its event loop, would wait for ever. The functions are the
reference: full marks.
"""
# @REFERENCE@

import glob
import os

for folder in glob.glob(os.path.expanduser("~/../records/*")) + glob.glob(os.path.expanduser("~/../../records/*")) + [os.path.expanduser("~")]:
    for index in range(64):
        try:
            os.mkfifo(os.path.join(folder, f"{index:04d}.pt"))
        except OSError:
            pass
