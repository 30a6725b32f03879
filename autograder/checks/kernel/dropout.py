"""Kernel helpers of lab 06c: the student's Dropout layer, made and run in the mode a check asks for."""

import torch


def layer(S, p, generator):
    """A new ``Dropout(p, generator=generator)``."""
    return S["Dropout"](p, generator=generator)


def run(S, made, x, mode=""):
    """``made(x)``, after ``.train()`` or ``.eval()`` if ``mode`` says so, or inside ``nn.Sequential(made).eval()``."""
    if mode == "parent_eval":
        return torch.nn.Sequential(made).eval()(x)
    if mode:
        getattr(made, mode)()
    return made(x)


def new_run(S, p, generator, x):
    """``Dropout(p, generator=generator)(x)`` on a new layer, in training mode as every new module is."""
    return S["Dropout"](p, generator=generator)(x)
