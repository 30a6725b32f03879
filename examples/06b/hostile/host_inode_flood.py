"""Hostile to the host: a hundred and sixty thousand empty folders. Loses: none

Empty folders hold no bytes, so a disk budget that counts file sizes lets them through while
they cost the host's disk its inodes. The kernel's filesystem must stop them at its file limit,
on a filesystem of its own: the host's disk is untouched. The probes' records have a filesystem of
their own too, so the functions (the reference) are still graded: full marks.
"""
# @REFERENCE@

import os

made = 0
try:
    for index in range(160_000):
        os.mkdir(os.path.expanduser(f"~/empty-{index}"))
        made += 1
except OSError as exc:
    print(f"stopped after {made} folders: {type(exc).__name__}")
