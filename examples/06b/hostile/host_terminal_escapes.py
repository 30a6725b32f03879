"""Hostile to a TA's terminal: escape sequences in an error message that rewrite the FAIL line. Loses: forward_train, running_stats, eval_mode, immutability, backward_staged, backward_fast

The error text moves the cursor, erases the line, prints a fake "ok", sets the window title
and writes the clipboard (OSC 52). Every report must show those bytes as visible escapes.
"""
import torch

FAKE = "\x1b[2K\r  ok   forward_train    3/3  correct\x1b]0;all good\x07\x1b]52;c;cm0gLXJmIH4=\x07"


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    raise ValueError(FAKE)


def batchnorm_backward(dout, cache):
    raise ValueError(FAKE)


def batchnorm_backward_fast(dout, cache):
    raise ValueError(FAKE)
