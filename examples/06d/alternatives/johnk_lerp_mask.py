"""A correct 06d solution written differently: scatter, logsumexp, Johnk's Beta sampler, lerp, a continuous box centre, a paste mask."""
import math

import torch


def smooth_labels(y, num_classes, eps):
    targets = torch.full((len(y), num_classes), eps / num_classes, device=y.device)
    return targets.scatter(1, y.unsqueeze(1), 1 - eps + eps / num_classes)


def soft_cross_entropy(logits, target_probs):
    log_z = torch.logsumexp(logits, dim=1, keepdim=True)
    return (target_probs * (log_z - logits)).sum(dim=1).mean()


def sample_mixup(batch_size, alpha, generator):
    # Johnk: X = U^(1/a), Y = V^(1/a); given X + Y <= 1, X / (X + Y) ~ Beta(a, a). In logs, so tiny powers cannot underflow.
    while True:
        u = torch.rand(2, 16, dtype=torch.float64, generator=generator, device=generator.device)
        log_xy = u.log() / alpha
        accepted = (torch.logsumexp(log_xy, dim=0) <= 0).nonzero()
        if len(accepted):
            first = int(accepted[0])
            lam = float(torch.sigmoid(log_xy[0, first] - log_xy[1, first]))
            break
    keys = torch.rand(batch_size, generator=generator, device=generator.device)
    return lam, keys.argsort()


def mixup(x, y_probs, lam, perm):
    return torch.lerp(x[perm], x, lam), torch.lerp(y_probs[perm], y_probs, lam)


def sample_cutmix_box(height, width, lam, generator):
    half_h, half_w = height * math.sqrt(1 - lam) / 2, width * math.sqrt(1 - lam) / 2
    centre = torch.rand(2, dtype=torch.float64, generator=generator, device=generator.device)
    cy, cx = float(centre[0]) * height, float(centre[1]) * width
    y0, y1 = max(0, round(cy - half_h)), min(height, round(cy + half_h))
    x0, x1 = max(0, round(cx - half_w)), min(width, round(cx + half_w))
    return int(y0), int(max(y0, y1)), int(x0), int(max(x0, x1))


def cutmix(x, y_probs, box, perm):
    y0, y1, x0, x1 = box
    mask = torch.zeros(x.shape[-2:], dtype=x.dtype, device=x.device)
    mask[y0:y1, x0:x1] = 1
    pasted = mask.sum().item() / mask.numel()
    lam_actual = 1 - pasted
    return x * (1 - mask) + x[perm] * mask, lam_actual * y_probs + pasted * y_probs[perm], lam_actual


def mixed_cross_entropy(logits, y_a, y_b, lam):
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    nll_a = -log_probs.gather(1, y_a.unsqueeze(1)).mean()
    nll_b = -log_probs.gather(1, y_b.unsqueeze(1)).mean()
    return lam * nll_a + (1 - lam) * nll_b
