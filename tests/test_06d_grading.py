"""06d's grading beyond the per-lab invariants of test_lab_examples.py: its messages, its release,
the run time of the reference, and the stated false-alarm rate of its statistical checks."""

import nbformat
import pytest

from autograder.checks import mixing
from reglab import build

LAB = "06d"


@pytest.fixture(scope="module")
def graded06d(graded):
    return graded(LAB)


@pytest.mark.parametrize("name, words", [
    ("smoothing_over_k_minus_1", "spread it over all K"),
    ("log_of_softmax", "use torch.log_softmax"),
    ("loss_summed_over_batch", "the loss is summed over the batch"),
    ("library_cross_entropy", "soft_cross_entropy calls torch.nn.functional.cross_entropy"),
    ("lam_ignores_alpha", "lam does not follow Beta(0.2, 0.2)"),
    ("perm_from_global_rng", "seeded alike gave different results"),
    ("labels_not_mixed", "y_mix is y_probs unchanged"),
    ("mixup_weights_swapped", "sample i keeps weight lam"),
    ("box_side_without_sqrt", "sqrt(1 - lam) times the image's"),
    ("box_kept_inside", "do not keep the box inside the image"),
    ("centre_on_the_diagonal", "box centres are not uniform"),
    ("cutmix_in_place", "cutmix modified its input x in place"),
    ("lam_is_box_share", "1 - box area / (H * W)"),
    ("box_axes_swapped", "rows and columns are swapped"),
    ("mixed_loss_weights_swapped", "lam goes with y_a"),
    ("library_alias", "mixed_cross_entropy calls torch.nn.functional.cross_entropy"),
])
def test_messages_say_what_to_fix(graded06d, name, words):
    _, result = graded06d[name]
    messages = " | ".join(item.message for item in result.items)
    assert words in messages, messages


def test_messages_do_not_show_hidden_values(graded06d):
    """Shapes, rates and error sizes only: no tensors and no lists of hidden labels or boxes."""
    for _, result in graded06d.values():
        for item in result.items:
            assert "tensor(" not in item.message and "Generator" not in item.message, item.message


def test_reference_runs_well_inside_the_ci_budget(graded06d, course):
    _, result = graded06d["reference"]
    assert result.seconds < course.lab(LAB).budgets.ci, result.seconds


def test_release_has_a_stub_per_function_and_three_written_questions(course):
    cells = nbformat.read(build.release_path(course.lab(LAB)), as_version=4).cells
    stubs = [c for c in cells if c.metadata["nbgrader"].get("solution") and c.cell_type == "code"]
    assert len(stubs) == 7 and all(c.source.rstrip().endswith("raise NotImplementedError()") for c in stubs)
    written = [c.metadata["nbgrader"]["grade_id"] for c in cells
               if c.cell_type == "markdown" and c.metadata["nbgrader"].get("solution")]
    assert written == ["q_smoothing_calibration", "q_mixed_labels", "q_cutmix_area"]
    text = build.release_path(course.lab(LAB)).read_text()
    assert "lam = torch.sigmoid(log_xy[0] - log_xy[1]).item()" not in text   # a reference line


def test_false_alarm_rate_is_stated_and_used():
    assert mixing.ALPHA == 1e-6
    assert "p < ``ALPHA`` = 1e-6" in mixing.__doc__
