"""The 06d reference against torch's cross entropy and torchvision's MixUp / CutMix, over many shapes and seeds."""

import math

import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from torchvision.transforms import v2

from solutions.mixing import (
    cutmix,
    mixed_cross_entropy,
    mixup,
    sample_cutmix_box,
    sample_mixup,
    smooth_labels,
    soft_cross_entropy,
)

SHAPES = [(seed, n, k) for seed, (n, k) in enumerate([(1, 2), (1, 7), (3, 3), (8, 5), (16, 10), (64, 3), (5, 100)])]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("seed, n, k", SHAPES)
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.37, 1.0])
def test_smoothed_soft_cross_entropy_is_torch_label_smoothing(seed, n, k, eps):
    gen = _gen(seed)
    logits = torch.randn(n, k, generator=gen) * 4
    y = torch.randint(k, (n,), generator=gen)
    targets = smooth_labels(y, k, eps)
    assert targets.dtype == torch.float32 and targets.shape == (n, k)
    torch.testing.assert_close(targets.sum(dim=1), torch.ones(n))
    torch.testing.assert_close(soft_cross_entropy(logits, targets), F.cross_entropy(logits, y, label_smoothing=eps))


@pytest.mark.parametrize("seed, n, k", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_soft_cross_entropy_is_torch_cross_entropy_with_probabilities(seed, n, k, dtype):
    gen = _gen(seed)
    logits = (torch.randn(n, k, generator=gen, dtype=torch.float64) * 3).to(dtype)
    target = torch.softmax(torch.randn(n, k, generator=gen, dtype=torch.float64), dim=1).to(dtype)
    loss = soft_cross_entropy(logits, target)
    assert loss.shape == () and loss.dtype == dtype
    torch.testing.assert_close(loss, F.cross_entropy(logits, target))


def test_soft_cross_entropy_is_finite_for_large_logits():
    logits = torch.tensor([[800.0, -800.0, 0.0], [-300.0, 300.0, 299.0]])
    target = smooth_labels(torch.tensor([1, 2]), 3, 0.1)
    torch.testing.assert_close(soft_cross_entropy(logits, target), F.cross_entropy(logits, target))


@pytest.mark.parametrize("seed, n, k", SHAPES)
@pytest.mark.parametrize("lam", [0.0, 0.3, 0.91, 1.0])
def test_mixed_cross_entropy_is_two_torch_cross_entropies_and_soft_ce_on_mixed_labels(seed, n, k, lam):
    gen = _gen(seed)
    logits = torch.randn(n, k, generator=gen) * 3
    y_a = torch.randint(k, (n,), generator=gen)
    perm = torch.randperm(n, generator=gen)
    y_b = y_a[perm]
    expected = lam * F.cross_entropy(logits, y_a) + (1 - lam) * F.cross_entropy(logits, y_b)
    torch.testing.assert_close(mixed_cross_entropy(logits, y_a, y_b, lam), expected)
    _, y_mix = mixup(torch.zeros(n, 1), F.one_hot(y_a, k).float(), lam, perm)
    torch.testing.assert_close(soft_cross_entropy(logits, y_mix), expected)


@pytest.mark.parametrize("seed", range(5))
def test_mixup_matches_torchvision_mixup(seed):
    """torchvision's MixUp pairs sample i with i - 1 (a roll) and draws lam from torch's global state."""
    x, y = torch.rand(6, 3, 8, 9, generator=_gen(seed)), torch.tensor([0, 1, 2, 3, 4, 0])
    torch.manual_seed(seed)
    x_tv, y_tv = v2.MixUp(alpha=0.7, num_classes=5)(x, y)
    torch.manual_seed(seed)
    lam = float(torch.distributions.Beta(0.7, 0.7).sample(()))
    x_mix, y_mix = mixup(x, F.one_hot(y, 5).float(), lam, torch.arange(6).roll(1))
    torch.testing.assert_close(x_mix, x_tv)
    torch.testing.assert_close(y_mix, y_tv)


@pytest.mark.parametrize("seed", range(8))
def test_cutmix_matches_torchvision_cutmix_on_its_box(seed):
    """Replays torchvision's draws (lam, then the centre column and row) to get its box."""
    height, width = 10, 17
    x, y = torch.rand(5, 2, height, width, generator=_gen(seed)), torch.tensor([0, 1, 2, 3, 1])
    torch.manual_seed(seed)
    x_tv, y_tv = v2.CutMix(alpha=1.0, num_classes=4)(x, y)
    torch.manual_seed(seed)
    lam = float(torch.distributions.Beta(1.0, 1.0).sample(()))
    r_x, r_y = int(torch.randint(width, (1,))), int(torch.randint(height, (1,)))
    half_w, half_h = int(0.5 * math.sqrt(1 - lam) * width), int(0.5 * math.sqrt(1 - lam) * height)
    box = (max(r_y - half_h, 0), min(r_y + half_h, height), max(r_x - half_w, 0), min(r_x + half_w, width))
    x_before = x.clone()
    x_mix, y_mix, lam_actual = cutmix(x, F.one_hot(y, 4).float(), box, torch.arange(5).roll(1))
    torch.testing.assert_close(x_mix, x_tv)
    torch.testing.assert_close(y_mix, y_tv)
    assert torch.equal(x, x_before)
    assert isinstance(lam_actual, float)


@pytest.mark.parametrize("alpha", [0.1, 0.2, 1.0, 2.0, 5.0])
def test_sample_mixup_draws_beta_and_a_permutation(alpha):
    gen = _gen(int(alpha * 100))
    # Johnk's method keeps 1 pair in 250 at alpha = 5 (seconds per thousand draws), 1 in 6 at alpha = 2
    count = 3000 if alpha <= 2 else 600
    draws = [sample_mixup(7, alpha, gen) for _ in range(count)]
    lams = [lam for lam, _ in draws]
    assert all(isinstance(lam, float) and 0 <= lam <= 1 for lam in lams)
    assert stats.kstest(lams, "beta", args=(alpha, alpha)).pvalue > 1e-4
    perms = torch.stack([perm for _, perm in draws])
    assert perms.dtype == torch.int64
    assert torch.equal(perms.sort(dim=1).values, torch.arange(7).expand(count, 7))
    assert stats.chisquare(torch.bincount(perms[:, 0], minlength=7).numpy()).pvalue > 1e-4
    lam, perm = sample_mixup(7, alpha, _gen(11))
    again = sample_mixup(7, alpha, _gen(11))
    assert lam == again[0] and torch.equal(perm, again[1])


@pytest.mark.parametrize("height, width", [(32, 32), (20, 45), (7, 3)])
@pytest.mark.parametrize("lam", [0.0, 0.1, 0.5, 0.64, 0.99, 1.0])
def test_sample_cutmix_box_size_bounds_and_edges(height, width, lam):
    gen = _gen(height * 100 + width)
    boxes = torch.tensor([sample_cutmix_box(height, width, lam, gen) for _ in range(500)])
    y0, y1, x0, x1 = boxes.T
    assert ((0 <= y0) & (y0 <= y1) & (y1 <= height) & (0 <= x0) & (x0 <= x1) & (x1 <= width)).all()
    inside = (y0 > 0) & (y1 < height) & (x0 > 0) & (x1 < width)
    assert ((y1 - y0)[inside] == round(height * math.sqrt(1 - lam))).all()
    assert ((x1 - x0)[inside] == round(width * math.sqrt(1 - lam))).all()
    if lam == 1.0:
        assert not ((y1 - y0) * (x1 - x0)).any()
    if lam == 0.0:                       # an image-sized box, clipped: it reaches an edge on each axis
        assert (((y0 == 0) | (y1 == height)) & ((x0 == 0) | (x1 == width))).all()


def test_sample_cutmix_box_centre_is_uniform_and_boxes_are_clipped_not_moved():
    gen = _gen(3)
    boxes = torch.tensor([sample_cutmix_box(24, 40, 1 - 1 / 64, gen) for _ in range(4000)]).double()
    centre_rows = ((boxes[:, 0] + boxes[:, 1]) / 2 * 4 / 24).floor().long()
    assert stats.chisquare(torch.bincount(centre_rows, minlength=4).numpy()).pvalue > 1e-4
    boxes = torch.tensor([sample_cutmix_box(24, 40, 0.64, gen) for _ in range(4000)])
    touching = ((boxes[:, 0] == 0) | (boxes[:, 1] == 24)).double().mean().item()
    cut = round(24 * 0.6)
    assert abs(touching - (cut + 1) / 24) < 0.03        # exactly (cut + 1) / H for an integer centre


def test_deterministic_cores_leave_inputs_alone_and_keep_dtype():
    gen = _gen(0)
    x = torch.randn(4, 3, 6, 7, generator=gen, dtype=torch.float64)
    y = torch.softmax(torch.randn(4, 5, generator=gen, dtype=torch.float64), dim=1)
    perm = torch.tensor([2, 0, 3, 1])
    saved = x.clone(), y.clone(), perm.clone()
    for out in (*mixup(x, y, 0.3, perm), *cutmix(x, y, (1, 4, 2, 7), perm)[:2]):
        assert out.dtype == torch.float64
    assert torch.equal(x, saved[0]) and torch.equal(y, saved[1]) and torch.equal(perm, saved[2])
    assert cutmix(x, y, (1, 4, 2, 7), perm)[2] == 1 - 15 / 42


def test_kernel_helpers_draw_in_sequence_from_one_generator():
    """The hidden checks' helpers (their text runs in the student's kernel): stdlib and torch only, and the draws
    are those of calling the sampler again and again with one generator."""
    import ast
    import inspect

    from autograder.checks.kernel import mixing as helpers

    tree = ast.parse(inspect.getsource(helpers))
    assert {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names} == {"torch"}
    assert not any(isinstance(node, ast.ImportFrom) for node in ast.walk(tree))
    S = {"sample_mixup": sample_mixup, "sample_cutmix_box": sample_cutmix_box}
    lams = helpers.draw_lams(S, _gen(5), 4, 0.5, 50)
    gen = _gen(5)
    assert lams.dtype == torch.float64 and lams.tolist() == [sample_mixup(4, 0.5, gen)[0] for _ in range(50)]
    boxes = helpers.draw_boxes(S, _gen(6), 20, 30, 0.5, 40)
    gen = _gen(6)
    assert boxes.dtype == torch.int64
    assert boxes.tolist() == [list(sample_cutmix_box(20, 30, 0.5, gen)) for _ in range(40)]
