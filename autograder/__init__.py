"""The grading engine and the hidden checks of each lab.

Points are decided here, in a process that never runs student code: the
student's notebook runs in a sandboxed kernel, ``harness.py`` replays hidden
calls there, and the checks in ``autograder.checks`` compare the returned data
with the reference solutions.
"""
