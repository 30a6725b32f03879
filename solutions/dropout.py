"""Lab 06c: inverted dropout from scratch, and variational dropout for sequences.

``p`` is always the DROP probability, as in ``nn.Dropout(p)``: an element is
kept with probability ``1 - p``. Kept elements are scaled by ``1 / (1 - p)``
in training (inverted dropout), so that eval mode is the identity.

Each function draws its own mask instead of calling ``dropout_mask``, so that
a mistake in one of them shows in that function's check alone (the bug zoo in
examples/06c/ relies on this); a student's functions may well share it.
"""

import torch


def dropout_mask(shape, p, generator):
    """Bernoulli keep mask of ``shape`` (a tuple or ``torch.Size``): 1.0 (keep) with
    probability ``1 - p``, 0.0 (drop) with probability ``p``.

    Drawn from ``generator`` on the generator's device (torch's default CPU
    generator when ``generator`` is None), as float32.
    """
    ### BEGIN SOLUTION
    device = generator.device if generator is not None else None
    uniform = torch.rand(shape, generator=generator, device=device)
    return (uniform >= p).float()       # P(U >= p) = 1 - p for U uniform on [0, 1)
    ### END SOLUTION


def dropout_forward(x, p, training, generator=None):
    """Inverted dropout on ``x``; returns ``(out, mask)``.

    Training: ``out = x * mask / (1 - p)`` with a fresh keep mask of ``x``'s
    shape, dtype and device, drawn from ``generator``. ``p = 0`` keeps
    everything; ``p = 1`` drops everything and returns zeros (not 0 / 0 = NaN).
    Eval: the identity, ``(x, None)``.
    """
    ### BEGIN SOLUTION
    if not training:
        return x, None
    mask = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) >= p).to(x.dtype)
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    return x * mask * scale, mask
    ### END SOLUTION


def dropout_backward(dout, mask, p):
    """Gradient of inverted dropout with respect to its input: ``dout`` through the same
    mask and the same ``1 / (1 - p)`` scale (zeros when ``p = 1``)."""
    ### BEGIN SOLUTION
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    return dout * mask * scale
    ### END SOLUTION


class Dropout(torch.nn.Module):
    """Inverted dropout as a layer: drops and rescales in training mode, the identity in eval mode.

    ``model.train()`` / ``model.eval()`` set ``self.training`` on every layer;
    ``forward`` reads it. ``generator`` is where the masks come from (None:
    torch's default generator), so that a run can be replayed.
    """

    def __init__(self, p=0.5, generator=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.generator = generator

    def forward(self, x):
        ### BEGIN SOLUTION
        if not self.training:
            return x
        keep = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype) >= self.p
        scale = 1.0 / (1.0 - self.p) if self.p < 1 else 0.0
        return x * keep * scale
        ### END SOLUTION

    def extra_repr(self):
        return f"p={self.p}"


def variational_dropout(x, p, training, generator=None):
    """Dropout for sequences ``x`` of shape (batch, time, features): one keep mask per
    (sequence, feature), shared by every time step, scaled by ``1 / (1 - p)``.
    Returns ``out``; eval mode is the identity."""
    ### BEGIN SOLUTION
    if not training:
        return x
    batch, _, features = x.shape
    keep = torch.rand((batch, 1, features), generator=generator, device=x.device, dtype=x.dtype) >= p
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    return x * keep * scale             # the (batch, 1, features) mask broadcasts over time
    ### END SOLUTION
