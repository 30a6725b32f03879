"""Hostile: imports the reference solution from the course folder. Loses: all

The builder writes the real course path in place of @COURSE_ROOT@.
"""
import sys

sys.path[:0] = ["@COURSE_ROOT@", "..", "../..", "../../.."]   # the course path, as if it were known
from solutions.regularization_stack import *  # noqa: E402,F401,F403
