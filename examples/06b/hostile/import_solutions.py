"""Hostile: imports the reference solution from the course folder. Loses: all

The builder writes the real course path in place of @COURSE_ROOT@.
Says: not defined
"""
import sys

sys.path[:0] = ["@COURSE_ROOT@", "..", "../..", "../../.."]   # the course path, as if it were known
from solutions.batchnorm import batchnorm_backward, batchnorm_backward_fast, batchnorm_forward  # noqa: E402,F401
