"""06e's grading beyond the per-lab invariants of test_lab_examples.py (the zoo's messages are its bugs.yml
``says:``): more mistakes graded in-process with the words they must be told, judging without kept state, and the
blocks' checks not depending on a student's initialization."""

import inspect

import pytest

from autograder.checks.norms import make_checks
from autograder.grade import grade_in_process
from solutions import norms

LAB = "06e"


@pytest.fixture(scope="module")
def graded06e(graded):
    return graded(LAB)


def test_blank_messages_name_the_unwritten_function(graded06e):
    _, result = graded06e["blank"]
    for item in result.items:
        assert "is not written yet" in item.message, (item.id, item.message)


def test_alternatives_with_other_initializations_keep_the_block_items(graded06e):
    """The wiring, norm and sublayer items never compare weights, so differently built blocks pass."""
    for name in ("own_norm_modules", "float64_core"):
        _, result = graded06e[name]
        assert all(item.message == "correct" for item in result.items), [(i.id, i.message) for i in result.items]


def test_every_item_has_points_and_the_lab_adds_up(course):
    lab = course.lab(LAB)
    hidden = sum(item.points for item in make_checks().items)
    assert hidden == 20 and lab.points == hidden + 6


# More mistakes than the sandboxed zoo holds, graded in-process (as tests/test_checks_over_seeds.py does):
# (function, find, replace, the item it must cost, words of the message).
MORE_MISTAKES = [
    ("layer_norm", "centred / torch.sqrt(var + eps)", "centred / (torch.sqrt(var) + eps)", "layer_norm",
     "eps is added outside the square root"),
    ("layer_norm", "* weight + bias", "", "layer_norm", "weight and bias are not applied"),
    ("rms_norm", "x / rms * weight", "x / rms", "rms_norm", "weight is not applied"),
    ("group_norm", "groups = x.reshape(n, num_groups, -1)", "groups = x.reshape(n, c, -1)", "group_norm",
     "normalizes each channel on its own"),
    ("group_norm", "var = (centred * centred).mean(dim=-1, keepdim=True)",
     "var = groups.var(dim=-1, keepdim=True)", "group_norm", "unbiased variance"),
    ("PreNormBlock", "x = x + self.attn(self.norm1(x))", "x = self.attn(self.norm1(x))", "prenorm_wiring",
     "the residual connection around attn is missing"),
    ("PreNormBlock", "return x + self.ffn(self.norm2(x))", "return x + self.ffn(self.norm1(x))", "prenorm_wiring",
     "the ffn sublayer uses norm1"),
    ("PreNormBlock", "x = x + self.attn(self.norm1(x))\n        return x + self.ffn(self.norm2(x))",
     "x = x + self.norm1(self.attn(x))\n        return x + self.norm2(self.ffn(x))", "prenorm_wiring",
     "the norms are applied to the sublayers' outputs"),
    ("PostNormBlock", "x = self.norm1(x + self.attn(x))\n        return self.norm2(x + self.ffn(x))",
     "x = x + self.attn(self.norm1(x))\n        return x + self.ffn(self.norm2(x))", "postnorm_wiring",
     "this is the pre-norm wiring"),
    ("PostNormBlock", "return self.norm2(x + self.ffn(x))", "return x + self.norm2(self.ffn(x))", "postnorm_wiring",
     "norm2 is applied to ffn's output before the residual sum"),
    ("PostNormBlock", "return self.norm2(x + self.ffn(x))", "return x + self.ffn(x)", "postnorm_wiring",
     "norm2 is not applied after the residual sum"),
    ("PostNormBlock",
     'self.norm1 = torch.nn.LayerNorm(d_model) if norm == "layer" else torch.nn.RMSNorm(d_model, eps=1e-6)',
     "self.norm1 = torch.nn.LayerNorm(d_model)", "block_norms", "behaves like LayerNorm; it should be RMSNorm(d_model"),
    ("PostNormBlock", "x = self.norm1(x + self.attn(x))",
     "x = self.norm1(x + self.attn(x.transpose(0, 1)).transpose(0, 1))",
     "postnorm_wiring", "attn runs along the batch dimension"),
    ("PreNormBlock", "x = x + self.attn(self.norm1(x))", "x += self.attn(self.norm1(x))",
     "prenorm_wiring", "PreNormBlock modified its input x in place"),
    ("rms_norm", "return x / rms * weight", "x.unsqueeze_(0)\n    return (x / rms * weight)[0]", "norm_immutability",
     "rms_norm changed the shape of its input x in place"),
    ("grad_norms_by_layer", "out = x\n", "out = x.unsqueeze_(0)[0]\n", "grad_norms",
     "grad_norms_by_layer changed the shape of its input x in place"),
    ("grad_norms_by_layer", "norms.append(torch.stack(squares).sum().sqrt().item() if squares else 0.0)",
     "norms.append(sum(s.sqrt().item() for s in squares))", "grad_norms", "it adds up the norms of the parameters"),
    ("grad_norms_by_layer", "out.mean(dim=1).pow(2).mean().backward()", "out.sum().backward()", "grad_norms",
     "the loss is out.sum()"),
]

NAMES = ["layer_norm", "rms_norm", "group_norm", "SelfAttention", "PreNormBlock", "PostNormBlock",
         "grad_norms_by_layer"]


def _patched(function, find, replace):
    parts = ["import torch"]
    for name in NAMES:
        text = inspect.getsource(getattr(norms, name))
        if name == function:
            assert text.count(find) == 1, f"{find!r} not found once in {name}"
            text = text.replace(find, replace)
        parts.append(text)
    namespace = {}
    exec(compile("\n\n".join(parts), function or "reference", "exec"), namespace)   # noqa: S102 - our own reference, patched
    return namespace


@pytest.mark.parametrize("function, find, replace, loses, words", MORE_MISTAKES,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(MORE_MISTAKES)])
def test_more_mistakes_lose_their_item_with_a_message_that_says_what_to_fix(course, tmp_path, function, find, replace,
                                                                           loses, words):
    results = grade_in_process(_patched(function, find, replace), course.lab(LAB), course, 0, tmp_path)
    lost = {r.id: r.message for r in results if r.points < r.max_points}
    assert set(lost) == {loses}, lost
    assert words in lost[loses], lost[loses]

