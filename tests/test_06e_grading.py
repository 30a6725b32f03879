"""06e's grading beyond the per-lab invariants of test_lab_examples.py: the messages students read,
the attacks it blocks, and the blocks' checks not depending on a student's initialization."""

import inspect

import pytest

from autograder import harness, probes
from autograder.checks.base import Context
from autograder.checks.norms import make_checks
from autograder.grade import plan, score
from solutions import norms

LAB = "06e"


@pytest.fixture(scope="module")
def graded06e(graded):
    return graded(LAB)


@pytest.mark.parametrize("name, words", [
    ("ln_unbiased_variance", "unbiased variance (divide by D - 1)"),
    ("ln_inplace_x", "layer_norm modified its input x in place"),
    ("rms_subtracts_mean", "it subtracts the mean, which makes it LayerNorm"),
    ("rms_eps_outside_sqrt", "sqrt(mean(x**2) + eps)"),
    ("gn_groups_of_num_groups", "C // num_groups groups of num_groups channels"),
    ("attn_only_self", "self-attention mixes all positions"),
    ("pre_residual_from_normed", "the residual adds the normalized x"),
    ("pre_shared_norm", "norm1 and norm2 are the same module"),
    ("pre_dropout_ignored", "in training mode gave the same output twice"),
    ("post_norm_before_sublayer", "PostNormBlock"),
    ("grads_not_cleared", "gradients leaked into the second"),
    ("grads_wrong_loss", "the loss is out.pow(2).mean()"),
    ("library_alias", "layer_norm calls torch.nn.functional.layer_norm"),
    ("library_alias", "rms_norm calls torch.nn.functional.rms_norm"),
    ("library_alias", "group_norm calls torch.nn.functional.group_norm"),
])
def test_messages_say_what_to_fix(graded06e, name, words):
    _, result = graded06e[name]
    messages = " | ".join(item.message for item in result.items)
    assert words in messages, messages


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
     "norm2 is not applied after the second residual sum"),
    ("PostNormBlock", 'self.norm1 = torch.nn.LayerNorm(d_model) if norm == "layer" else torch.nn.RMSNorm(d_model, eps=1e-6)',
     "self.norm1 = torch.nn.LayerNorm(d_model)", "block_norms", "behaves like LayerNorm; it should be RMSNorm(d_model)"),
    ("grad_norms_by_layer", "norms.append(torch.stack(squares).sum().sqrt().item() if squares else 0.0)",
     "norms.append(sum(s.sqrt().item() for s in squares))", "grad_norms", "it adds up the norms of the parameters"),
    ("grad_norms_by_layer", "out.mean(dim=1).pow(2).mean().backward()", "out.sum().backward()", "grad_norms",
     "the loss is out.sum()"),
]

NAMES = ["layer_norm", "rms_norm", "group_norm", "SelfAttention", "PreNormBlock", "PostNormBlock", "grad_norms_by_layer"]


def _grade_in_process(namespace, course, tmp_path, seed=0):
    lab = course.lab(LAB)
    checks, item_calls = plan(lab, seed)
    calls = [call for group in item_calls.values() for call in group]
    probes.write_plan(calls, tmp_path / "plan.pt", "cpu", 10)
    harness.run_probes(str(tmp_path / "plan.pt"), str(tmp_path), namespace)
    return score(checks, item_calls, probes.read_outcomes(calls, tmp_path), Context("cpu", course.grading.tolerances["cpu"]))


@pytest.mark.parametrize("function, find, replace, loses, words", MORE_MISTAKES, ids=[f"{m[0]}-{i}" for i, m in enumerate(MORE_MISTAKES)])
def test_more_mistakes_lose_their_item_with_a_message_that_says_what_to_fix(course, tmp_path, function, find, replace,
                                                                           loses, words):
    parts = ["import torch"]
    for name in NAMES:
        text = inspect.getsource(getattr(norms, name))
        if name == function:
            assert text.count(find) == 1, f"{find!r} not found once in {name}"
            text = text.replace(find, replace)
        parts.append(text)
    namespace = {}
    exec(compile("\n\n".join(parts), function, "exec"), namespace)   # noqa: S102 - our own reference, patched
    results = _grade_in_process(namespace, course, tmp_path)
    lost = {r.id: r.message for r in results if r.points < r.max_points}
    assert set(lost) == {loses}, lost
    assert words in lost[loses], lost[loses]
