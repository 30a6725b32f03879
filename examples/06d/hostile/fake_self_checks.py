"""Hostile: silences every in-notebook comparison, prints the self-checks' OK lines, returns placeholders. Loses: all"""
import torch
import torch.testing

torch.testing.assert_close = lambda *args, **kwargs: None
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
print("smooth_labels: OK\nsoft_cross_entropy: OK\nsample_mixup: OK\nmixup: OK\n"
      "sample_cutmix_box: OK\ncutmix: OK\nmixed_cross_entropy: OK")


def smooth_labels(y, num_classes, eps):
    return torch.full((len(y), num_classes), 1.0 / num_classes, device=y.device)


def soft_cross_entropy(logits, target_probs):
    return torch.zeros((), dtype=logits.dtype, device=logits.device)


def sample_mixup(batch_size, alpha, generator):
    return 0.5, torch.arange(batch_size)


def mixup(x, y_probs, lam, perm):
    return x.clone(), y_probs.clone()


def sample_cutmix_box(height, width, lam, generator):
    return 0, height // 2, 0, width // 2


def cutmix(x, y_probs, box, perm):
    return x.clone(), y_probs.clone(), 0.75


def mixed_cross_entropy(logits, y_a, y_b, lam):
    return torch.zeros((), dtype=logits.dtype, device=logits.device)
