"""Lab 06d: label smoothing, Mixup and CutMix, from tensor arithmetic.

Samplers (``sample_mixup``, ``sample_cutmix_box``) draw all their randomness
from an explicit ``torch.Generator``; the mixing functions are deterministic
given what the samplers drew, so they can be checked exactly.
"""

import torch


def smooth_labels(y, num_classes, eps):
    """Label-smoothed targets of shape (N, K) for integer labels ``y`` of shape (N,).

    ``(1 - eps) * one_hot + eps / K``: eps is spread over all K classes, the
    convention of ``F.cross_entropy(label_smoothing=eps)``; the true class
    keeps ``1 - eps + eps / K``. Float32, on ``y``'s device.
    """
    ### BEGIN SOLUTION
    one_hot = torch.zeros(y.shape[0], num_classes, device=y.device)
    one_hot[torch.arange(y.shape[0], device=y.device), y] = 1.0
    return (1 - eps) * one_hot + eps / num_classes
    ### END SOLUTION


def soft_cross_entropy(logits, target_probs):
    """Cross entropy against a distribution per sample: mean over the batch of -sum_k p_k log softmax(z)_k.

    ``log_softmax`` keeps it finite for large logits, where ``log(softmax)``
    would take the log of an underflowed 0.
    """
    ### BEGIN SOLUTION
    log_probs = torch.log_softmax(logits, dim=1)
    return -(target_probs * log_probs).sum(dim=1).mean()
    ### END SOLUTION


def sample_mixup(batch_size, alpha, generator):
    """Draw Mixup's randomness: ``lam ~ Beta(alpha, alpha)`` (a float) and a random permutation of the batch.

    ``torch.distributions.Beta`` takes no generator, so lam comes from Johnk's
    method, uniform draws only: with U, V uniform on (0, 1], X = U^(1/alpha)
    and Y = V^(1/alpha), the pairs with X + Y <= 1 give X / (X + Y) ~ Beta(alpha,
    alpha). In logs, so a small alpha cannot underflow X and Y to 0; a pair is
    kept with probability Gamma(alpha + 1)^2 / Gamma(2 alpha + 1) (0.95 at
    alpha = 0.2, 1/6 at alpha = 2).
    """
    ### BEGIN SOLUTION
    while True:
        u = 1.0 - torch.rand(2, dtype=torch.float64, generator=generator, device=generator.device)   # in (0, 1]
        log_xy = u.log() / alpha                                          # log X, log Y
        if torch.logsumexp(log_xy, dim=0) <= 0:                           # X + Y <= 1
            break
    lam = torch.sigmoid(log_xy[0] - log_xy[1]).item()                     # X / (X + Y)
    perm = torch.randperm(batch_size, generator=generator, device=generator.device)
    return lam, perm
    ### END SOLUTION


def mixup(x, y_probs, lam, perm):
    """Mix each sample with its partner ``perm[i]``: ``lam * a + (1 - lam) * b`` for inputs and labels alike."""
    ### BEGIN SOLUTION
    x_mix = lam * x + (1 - lam) * x[perm]
    y_mix = lam * y_probs + (1 - lam) * y_probs[perm]
    return x_mix, y_mix
    ### END SOLUTION


def sample_cutmix_box(height, width, lam, generator):
    """A box ``(y0, y1, x0, x1)`` of Python ints for CutMix, rows y0:y1 and columns x0:x1.

    Its sides are ``sqrt(1 - lam)`` times the image's, so its area is about
    ``(1 - lam) * H * W``; its centre is a uniformly random pixel, and the box
    is clipped to the image (so it can come out smaller: ``cutmix`` recomputes lam).
    """
    ### BEGIN SOLUTION
    ratio = (1.0 - lam) ** 0.5
    cut_h, cut_w = round(height * ratio), round(width * ratio)
    cy = int(torch.randint(height, (1,), generator=generator, device=generator.device))
    cx = int(torch.randint(width, (1,), generator=generator, device=generator.device))
    y0, x0 = cy - cut_h // 2, cx - cut_w // 2
    y1, x1 = y0 + cut_h, x0 + cut_w
    return (min(max(y0, 0), height), min(max(y1, 0), height),
            min(max(x0, 0), width), min(max(x1, 0), width))
    ### END SOLUTION


def cutmix(x, y_probs, box, perm):
    """Paste ``box`` from the partner images ``x[perm]`` into a copy of ``x`` (N, C, H, W).

    Returns ``(x_mix, y_mix, lam_actual)``: ``lam_actual = 1 - box area / (H * W)``
    is the share of each image that is still its own, and the labels mix with it.
    """
    ### BEGIN SOLUTION
    y0, y1, x0, x1 = box
    height, width = x.shape[-2:]
    x_mix = x.clone()
    x_mix[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
    lam_actual = 1.0 - (y1 - y0) * (x1 - x0) / (height * width)
    y_mix = lam_actual * y_probs + (1 - lam_actual) * y_probs[perm]
    return x_mix, y_mix, lam_actual
    ### END SOLUTION


def mixed_cross_entropy(logits, y_a, y_b, lam):
    """The lecture's Mixup loss: ``lam * CE(logits, y_a) + (1 - lam) * CE(logits, y_b)``, integer labels, batch mean."""
    ### BEGIN SOLUTION
    log_probs = torch.log_softmax(logits, dim=1)
    rows = torch.arange(logits.shape[0], device=logits.device)
    ce_a = -log_probs[rows, y_a].mean()
    ce_b = -log_probs[rows, y_b].mean()
    return lam * ce_a + (1 - lam) * ce_b
    ### END SOLUTION
