"""reglab similarity: planted copies rank above independent work; bad input is reported, not fatal;
the page escapes what students wrote; the same class gives the same report."""

import re
from pathlib import Path

import nbformat
import pytest

from autograder import similarity
from autograder.similarity import REFERENCE, kgram_hashes, similarity_report, tokens
from benchmarks.similarity_class import disguise, kind_of, write, zoo_class
from reglab.cli import main
from reglab.examples import fill


@pytest.fixture(scope="module")
def release(lab06b):
    return nbformat.read(lab06b.release_path, as_version=4)


def _submit(submitted: Path, student: str, lab, release, code: str) -> None:
    write(fill(release, code, {}), submitted, student, lab)


CODE = '''import torch


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    if not training:
        return (x - running_mean) / torch.sqrt(running_var + eps) * gamma + beta, None
    n = x.shape[0]
    mean = x.mean(dim=0)
    var = ((x - mean) ** 2).mean(dim=0)
    running_mean.mul_(1 - momentum).add_(momentum * mean)
    running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))
    x_hat = (x - mean) / torch.sqrt(var + eps)
    return gamma * x_hat + beta, (x_hat, gamma, var, eps)
'''


def test_names_comments_and_whitespace_do_not_change_the_tokens_but_api_calls_do():
    renamed = re.sub(r"(?<![.\w])(mean|x_hat|n)\b", r"my_\1", CODE.replace("    n =", "    # rows\n\n    n ="))
    assert renamed.count("my_mean") == 4 and renamed.count("my_n") == 3 and "# rows" in renamed
    assert tokens(renamed)[0] == tokens(CODE)[0]
    assert "mean" in tokens(CODE)[0] and "sqrt" in tokens(CODE)[0]          # attributes are kept
    assert tokens(CODE.replace("x.mean(dim=0)", "x.sum(dim=0) / n"))[0] != tokens(CODE)[0]


@pytest.mark.parametrize("short", ["06b", "06c"])
def test_planted_copies_rank_above_every_independent_pair(tmp_path, course, short):
    lab = course.lab(short)
    origin, planted = zoo_class(lab, tmp_path / "submitted", seed=1)
    report = similarity_report(lab, tmp_path / "submitted", tmp_path / "out", progress=False)
    kinds = [(kind_of(pair, origin, planted), pair.score) for pair in report.pairs]
    planted_scores = [score for kind, score in kinds if kind == "planted"]
    independent = [score for kind, score in kinds if kind == "independent"]
    assert len(planted_scores) == len(planted) and independent
    assert min(planted_scores) > max(independent), (min(planted_scores), max(independent))
    assert any(REFERENCE in (p.a.name, p.b.name) and "copy-of-reference" in (p.a.name, p.b.name)
               and p.score > 0.9 for p in report.pairs)


def test_bad_input_is_listed_and_the_rest_is_compared(tmp_path, lab06b, release, monkeypatch):
    submitted = tmp_path / "submitted"
    _submit(submitted, "alice", lab06b, release, CODE)
    _submit(submitted, "bob", lab06b, release, disguise(CODE, seed=3))
    write(nbformat.from_dict(release), submitted, "blank", lab06b)
    broken = submitted / "carol" / lab06b.id / f"{lab06b.id}.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"cells": [')
    big = submitted / "dave" / lab06b.id / f"{lab06b.id}.ipynb"
    big.parent.mkdir(parents=True)
    big.write_bytes(b" " * 200_001)
    (submitted / "erin" / "06a-regularization-stack").mkdir(parents=True)    # no 06b
    (submitted / "frank" / lab06b.id).mkdir(parents=True)                     # a folder, no notebook
    monkeypatch.setattr(similarity, "MAX_NOTEBOOK_BYTES", 200_000)

    report = similarity_report(lab06b, submitted, tmp_path / "out", progress=False)
    problems = "\n".join(report.problems)
    assert [d.name for d in report.documents if d.kind == "student"] == ["alice", "bob"]
    for student, why in [("blank", "no code of its own"), ("carol", "not a valid Jupyter notebook"),
                         ("dave", "larger than the 200,000"), ("erin", "nothing submitted"), ("frank", "notebook")]:
        assert any(line.startswith(f"{student}: ") and why in line for line in report.problems), (student, problems)
    assert report.pairs[0].score > 0.9 and {report.pairs[0].a.name, report.pairs[0].b.name} == {"alice", "bob"}
    assert "carol" in report.html.read_text() and report.csv.read_text().startswith("rank,a,")


def test_an_empty_class_still_gets_a_report(tmp_path, lab06b):
    (tmp_path / "submitted").mkdir()
    report = similarity_report(lab06b, tmp_path / "submitted", tmp_path / "out", progress=False)
    assert report.pairs == [] and "no submission of" in "\n".join(report.problems)
    assert "accuses no one" in report.html.read_text()


def test_the_page_escapes_student_code_and_the_archive_is_compared(tmp_path, lab06b, release):
    hostile = CODE + '\n\nNOTE = "</pre><script>alert(1)</script>"  # <img src=x onerror=alert(2)>\n'
    _submit(tmp_path / "submitted", "mallory", lab06b, release, hostile)
    _submit(tmp_path / "submitted", "trent", lab06b, release, disguise(hostile, seed=5))
    _submit(tmp_path / "archive", "oscar", lab06b, release, disguise(CODE, seed=7))
    report = similarity_report(lab06b, tmp_path / "submitted", tmp_path / "out", archive=tmp_path / "archive",
                               progress=False)
    page = report.html.read_text()
    assert "<script>" not in page and "<img" not in page and "&lt;script&gt;alert(1)" in page
    assert any({p.a.name, p.b.name} == {"mallory", "archive/oscar"} and p.score > 0.5 for p in report.pairs)
    assert not any(p.a.kind != "student" and p.b.kind != "student" for p in report.pairs)


def test_the_command_writes_the_same_report_each_time(tmp_path, lab06b, release, capsys):
    for student, seed in [("ann", 1), ("ben", 2), ("cat", 3)]:
        _submit(tmp_path / "submitted", student, lab06b, release, disguise(CODE, seed=seed))
    for out in ("one", "two"):
        assert main(["similarity", "--lab", "06b", "--submitted", str(tmp_path / "submitted"),
                     "--out", str(tmp_path / out)]) == 0
    assert "does not show that anyone copied" in capsys.readouterr().out
    one, two = ((tmp_path / out / "similarity.csv").read_text() for out in ("one", "two"))
    assert one == two and len(one.splitlines()) >= 1 + 3


def test_fingerprints_do_not_depend_on_the_process():
    """blake2b, not Python's hash(), which is salted per process (PYTHONHASHSEED): this value
    was the same in processes with different seeds."""
    assert kgram_hashes([str(i) for i in range(similarity.K)]).tolist() == [161608643063552]
