"""Hostile: right losses from F.cross_entropy reached by a renamed alias, a from-scratch rest. Loses: soft_cross_entropy, mixed_cross_entropy
Says: mixed_cross_entropy calls torch.nn.functional.cross_entropy"""
import torch
import torch.nn.functional as F

_ce = getattr(F, "cross" + "_entropy")


def smooth_labels(y, num_classes, eps):
    return F.one_hot(y, num_classes).float() * (1 - eps) + eps / num_classes


def soft_cross_entropy(logits, target_probs):
    return _ce(logits, target_probs)


def sample_mixup(batch_size, alpha, generator):
    concentration = torch.full((2,), float(alpha), dtype=torch.float64, device=generator.device)
    g1, g2 = torch._standard_gamma(concentration, generator=generator).tolist()
    return g1 / (g1 + g2), torch.randperm(batch_size, generator=generator, device=generator.device)


def mixup(x, y_probs, lam, perm):
    return lam * x + (1 - lam) * x[perm], lam * y_probs + (1 - lam) * y_probs[perm]


def sample_cutmix_box(height, width, lam, generator):
    cut_h, cut_w = round(height * (1 - lam) ** 0.5), round(width * (1 - lam) ** 0.5)
    cy = int(torch.randint(height, (1,), generator=generator, device=generator.device))
    cx = int(torch.randint(width, (1,), generator=generator, device=generator.device))
    y0, x0 = cy - cut_h // 2, cx - cut_w // 2
    return max(y0, 0), min(max(y0 + cut_h, 0), height), max(x0, 0), min(max(x0 + cut_w, 0), width)


def cutmix(x, y_probs, box, perm):
    y0, y1, x0, x1 = box
    x_mix = x.clone()
    x_mix[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
    lam = 1.0 - (y1 - y0) * (x1 - x0) / (x.shape[-2] * x.shape[-1])
    return x_mix, lam * y_probs + (1 - lam) * y_probs[perm], lam


def mixed_cross_entropy(logits, y_a, y_b, lam):
    return lam * _ce(logits, y_a) + (1 - lam) * _ce(logits, y_b)
