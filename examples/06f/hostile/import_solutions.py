"""Hostile: imports the reference solution from the course folder. Loses: all
Says: not defined

The builder writes the real course path in place of @COURSE_ROOT@.
"""
import sys

sys.path[:0] = ["@COURSE_ROOT@", "..", "../..", "../../.."]   # the course path, as if it were known
from solutions.double_descent import (  # noqa: F401
    min_norm_least_squares,
    random_relu_features,
    ridge,
    test_error_curve,
)
