"""A correct 06d solution written differently: F.one_hot, separate Gamma draws, argsort perm, timm's floored box, torch.where, mixed CE through soft CE."""
import torch
import torch.nn.functional as F


def smooth_labels(y, num_classes, eps):
    return F.one_hot(y, num_classes).float() * (1 - eps) + eps / num_classes


def soft_cross_entropy(logits, target_probs):
    return -(target_probs * F.log_softmax(logits, dim=-1)).sum(-1).mean()


def sample_mixup(batch_size, alpha, generator):
    concentration = torch.tensor([float(alpha)], dtype=torch.float64, device=generator.device)
    g1 = torch._standard_gamma(concentration, generator=generator).item()
    g2 = torch._standard_gamma(concentration, generator=generator).item()
    perm = torch.rand(batch_size, generator=generator, device=generator.device).argsort()
    return g1 / (g1 + g2), perm


def mixup(x, y_probs, lam, perm):
    return x.mul(lam).add(x[perm], alpha=1 - lam), y_probs.mul(lam).add(y_probs[perm], alpha=1 - lam)


def sample_cutmix_box(height, width, lam, generator):
    # timm's rand_bbox: floored sides, half a side on each side of the centre.
    cut = (1 - lam) ** 0.5
    cut_h, cut_w = int(height * cut), int(width * cut)
    cy = torch.randint(0, height, (), generator=generator, device=generator.device).item()
    cx = torch.randint(0, width, (), generator=generator, device=generator.device).item()
    def clip(v, top):
        return min(max(v, 0), top)

    return (clip(cy - cut_h // 2, height), clip(cy + cut_h // 2, height),
            clip(cx - cut_w // 2, width), clip(cx + cut_w // 2, width))


def cutmix(x, y_probs, box, perm):
    y0, y1, x0, x1 = box
    rows = torch.arange(x.shape[-2], device=x.device)
    cols = torch.arange(x.shape[-1], device=x.device)
    inside = ((rows >= y0) & (rows < y1)).unsqueeze(1) & ((cols >= x0) & (cols < x1)).unsqueeze(0)
    lam_actual = 1 - inside.sum().item() / inside.numel()
    return torch.where(inside, x[perm], x), lam_actual * y_probs + (1 - lam_actual) * y_probs[perm], lam_actual


def mixed_cross_entropy(logits, y_a, y_b, lam):
    # Cross entropy is linear in the target: the two-term loss is soft CE on the mixed one-hot labels.
    k = logits.shape[1]
    mixed = lam * F.one_hot(y_a, k).to(logits.dtype) + (1 - lam) * F.one_hot(y_b, k).to(logits.dtype)
    return soft_cross_entropy(logits, mixed)
