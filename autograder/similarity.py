"""Which submissions of a lab share code: pairs ranked for a TA to look at, never a verdict.

    report = similarity_report(lab, Path("submitted"), Path("out/similarity/06b-batchnorm-by-hand"))

Each notebook is put back into the release's shape (``submission.restore_given_cells``); its
solution cells and the code cells the student added make one document. The reference
(the solution cells of the lab's source notebook, built from ``solutions/``) and an
earlier term's submissions (``archive``) are documents too, compared with this class only.

A document becomes a list of tokens (Pygments' Python lexer, which never fails on broken
code or IPython magics). Comments, docstrings and whitespace are dropped, and every name
the student chose becomes one placeholder, so renaming changes nothing; attribute names
(``.mean``, ``torch.einsum``), keyword-argument names, builtins and keywords are kept,
since a student cannot rename them without changing what the code does. Every run of
``K`` tokens is hashed (blake2b, so a report is the same from run to run, unlike Python's
salted ``hash()``), copydetect's robust winnowing keeps one hash per window of ``WINDOW``
(any shared run of ``K + WINDOW - 1`` tokens is found), and every hash that also occurs in
the release's code cells (given code, self-checks, solution stubs) is dropped.

A pair's score is the share of the two documents' fingerprinted tokens that lie under
fingerprints both have: about 1 for a copy, whatever was renamed, reordered or commented.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
from copydetect.utils import find_fingerprint_overlap, get_copied_slices, highlight_overlap, winnow
from pygments.lexers import PythonLexer
from pygments.token import Comment, Name, Operator, Punctuation, String, Text
from tqdm import tqdm

from autograder.classroom import MAX_NOTEBOOK_BYTES, check_student_id, from_submitted
from autograder.submission import SubmissionError, read_notebook, restore_given_cells
from reglab.config import Lab

K = 12          # tokens per fingerprint: shorter runs are common to any two solutions
WINDOW = 6      # winnowing window: every shared run of K + WINDOW - 1 = 17 tokens is found
SHOWN = 50      # pairs shown side by side on the page
LISTED = 500    # pairs in the page's table; the CSV has every pair
MAX_CODE = 200_000   # characters of a submission's code compared; the rest is left out, and said so
REFERENCE = "(reference solution)"     # no student id can look like this (classroom.check_student_id)


@dataclass
class Document:
    name: str                     # student id; REFERENCE; "archive/<student>"
    kind: str                     # student | reference | archive
    text: str                     # the code compared, as shown on the page
    spans: list[tuple[int, int]]  # where each kept token lies in ``text``
    fingerprints: dict[int, list[int]] = field(default_factory=dict)   # hash -> token positions
    covered: int = 0              # tokens under at least one fingerprint (0: nothing of its own)


@dataclass
class Pair:
    a: Document
    b: Document
    score: float        # share of both documents' fingerprinted tokens that the other has too
    a_in_b: float       # share of a's fingerprinted tokens found in b
    b_in_a: float
    slices: tuple       # (a's, b's) shared token ranges: 2 x n arrays of starts and ends


@dataclass
class SimilarityReport:
    lab: Lab
    documents: list[Document]
    pairs: list[Pair]           # best first
    problems: list[str]         # what could not be compared, and why
    html: Path
    csv: Path
    seconds: float

    def summary(self) -> str:
        students = sum(d.kind == "student" for d in self.documents)
        archived = sum(d.kind == "archive" for d in self.documents)
        lines = [f"{self.lab.id}: {students} submissions compared with each other and the reference"
                 + (f" and {archived} earlier ones" if archived else "")
                 + f"; {len(self.pairs)} pairs share code ({self.seconds:.1f} s)"]
        for pair in self.pairs[:10]:
            lines.append(f"  {pair.score:5.2f}  {pair.a.name}  {pair.b.name}")
        lines += [f"  NOT COMPARED {why}" for why in self.problems]
        lines.append(f"report: {self.html}\npairs:  {self.csv}\n"
                     "A high score asks a person to look; it does not show that anyone copied.")
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- tokens and fingerprints

_DROPPED = (Text, Comment, String.Doc)
_KEPT_NAMES = (Name.Builtin, Name.Namespace, Name.Decorator, Name.Exception)


def tokens(code: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The normalised tokens of ``code`` and the span of each in ``code`` (see the module docstring)."""
    raw = [(start, kind, value) for start, kind, value in PythonLexer().get_tokens_unprocessed(code)
           if value.strip() and not any(kind in dropped for dropped in _DROPPED)]
    out, spans, depth = [], [], 0
    for i, (start, kind, value) in enumerate(raw):
        end = start + len(value)
        if kind in Punctuation and value in "([{":
            depth += 1
        elif kind in Punctuation and value in ")]}":
            depth = max(depth - 1, 0)
        if kind in String:
            if out and out[-1] == "S" and spans[-1][1] == start:      # one string, split by the lexer
                spans[-1] = (spans[-1][0], end)
                continue
            value = "S"
        elif kind in Name and not any(kind in kept for kept in _KEPT_NAMES):
            after_dot = i > 0 and raw[i - 1][2] == "."
            keyword_arg = depth > 0 and i + 1 < len(raw) and raw[i + 1][1] in Operator and raw[i + 1][2] == "="
            dunder = value.startswith("__") and value.endswith("__")
            if not (after_dot or keyword_arg or dunder):
                value = "V"
        out.append(value)
        spans.append((start, end))
    return out, spans


def kgram_hashes(words: list[str]) -> np.ndarray:
    """A 48-bit blake2b hash of every run of K tokens (48 bits: exact in the float buffer of
    copydetect's pure-Python winnowing)."""
    joined = ["\x1f".join(words[i:i + K]) for i in range(len(words) - K + 1)]
    return np.array([int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=6).digest(), "big")
                     for gram in joined], dtype=np.int64)


def boilerplate(release: nbformat.NotebookNode) -> set[int]:
    """Every K-token hash of the release's code cells: the given code, self-checks and stubs."""
    found: set[int] = set()
    for cell in release.cells:
        if cell.cell_type == "code":
            found.update(kgram_hashes(tokens(cell.source)[0]).tolist())
    return found


def document(name: str, kind: str, cells: list[str], given: set[int]) -> Document:
    """A document of ``cells``, shown one after the other; no fingerprint spans two cells, so
    the ends of two given stubs do not make a fingerprint of their own."""
    doc = Document(name, kind, "\n\n".join(cells), [])
    hashes, starts, offset = [], [], 0
    for cell in cells:
        words, spans = tokens(cell)
        hashes.append(kgram_hashes(words))
        starts.append(len(doc.spans) + np.arange(len(hashes[-1])))
        doc.spans += [(offset + start, offset + end) for start, end in spans]
        offset += len(cell) + 2
    hashes, starts = np.concatenate(hashes or [[]]).astype(np.int64), np.concatenate(starts or [[]]).astype(np.int64)
    if len(hashes) == 0:
        return doc
    selected, index = winnow(hashes, WINDOW, remove_duplicates=False)
    covered = np.zeros(len(doc.spans), dtype=bool)
    for value, position in zip(selected.tolist(), starts[index].tolist()):
        if value not in given:
            doc.fingerprints.setdefault(value, []).append(position)
            covered[position:position + K] = True
    doc.covered = int(covered.sum())
    return doc


def compare(a: Document, b: Document) -> Pair | None:
    """The pair's shares of shared code, or None when they share no fingerprint."""
    if not a.fingerprints.keys() & b.fingerprints.keys():
        return None
    index_a, index_b = find_fingerprint_overlap(set(a.fingerprints), set(b.fingerprints),
                                                a.fingerprints, b.fingerprints)
    slices_a, slices_b = get_copied_slices(index_a, K), get_copied_slices(index_b, K)
    shared_a, shared_b = int(np.sum(slices_a[1] - slices_a[0])), int(np.sum(slices_b[1] - slices_b[0]))
    return Pair(a, b, (shared_a + shared_b) / (a.covered + b.covered), shared_a / a.covered, shared_b / b.covered,
                (slices_a, slices_b))


# ---------------------------------------------------------------- notebooks

def student_code(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """The code a student wrote, a text per cell: solution cells and added code cells, in the release's order."""
    given = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell.source
             for cell in release.cells if not cell.metadata.get("nbgrader", {}).get("solution")}
    parts = []
    for cell in restore_given_cells(nb, release).nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or (grade_id in given and given[grade_id] == cell.source):
            continue
        solution = isinstance(grade_id, str) and grade_id.startswith("solution")
        label = grade_id if solution else "a cell the student added"
        parts.append(f"# ---- {label}\n{cell.source}")
    return parts


def read_capped(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path``, refused (SubmissionError) when larger than the cap or not a notebook."""
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise SubmissionError(f"{path}: {size:,} bytes, larger than the {MAX_NOTEBOOK_BYTES:,} "
                              "a notebook may have; not read")
    return read_notebook(path)[0]


def _documents(folder: Path, lab: Lab, kind: str, release, given, problems: list[str],
               progress: bool) -> list[Document]:
    prefix = "archive/" if kind == "archive" else ""
    try:
        submissions, refused = from_submitted(folder, lab)
    except OSError as exc:
        problems.append(str(exc))
        return []
    problems.extend(refused)
    if kind == "student":
        problems.extend(f"{student.name}: no {lab.id}/ folder (nothing submitted for this lab)"
                        for student in sorted(folder.iterdir())
                        if student.is_dir() and not student.is_symlink() and not (student / lab.id).is_dir()
                        and check_student_id(student.name) is None)
    found = []
    for submission in tqdm(submissions, desc=f"reading {kind} notebooks", unit="notebook", delay=2,
                           disable=not progress):
        name = prefix + submission.student
        if submission.problem:
            problems.append(f"{name}: {submission.problem}")
            continue
        try:
            cells = student_code(read_capped(submission.path), release)
        except Exception as exc:  # noqa: BLE001 - one unreadable notebook must not stop the report
            problems.append(f"{name}: {str(exc)[:300] or type(exc).__name__}")
            continue
        if sum(map(len, cells)) > MAX_CODE:
            problems.append(f"{name}: only the first {MAX_CODE:,} of its {sum(map(len, cells)):,} characters "
                            "of code compared")
            cells = _first_characters(cells, MAX_CODE)
        doc = document(name, kind, cells, given)
        if doc.covered == 0:
            problems.append(f"{name}: no code of its own beyond the release's (blank, or too short to compare)")
            continue
        found.append(doc)
    return found


def _first_characters(cells: list[str], limit: int) -> list[str]:
    kept = []
    for cell in cells:
        kept.append(cell[:limit - sum(map(len, kept))])
    return [cell for cell in kept if cell]


def reference_document(lab: Lab, given: set[int]) -> Document:
    """The lab's reference: the solution cells of the source notebook, which the build fills from solutions/."""
    source = nbformat.read(lab.source_path, as_version=4)
    cells = [c.source for c in source.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    return document(REFERENCE, "reference", cells, given)


def similarity_report(lab: Lab, submitted: Path, out_dir: Path, *, archive: Path | None = None,
                      progress: bool = True) -> SimilarityReport:
    """Compare every submission of ``lab`` in ``submitted`` with each other, the reference and
    ``archive``; write ``similarity.html`` and ``similarity.csv`` into ``out_dir``."""
    start = time.perf_counter()
    if not lab.release_path.is_file():
        raise FileNotFoundError(f"{lab.release_path}: no release of {lab.id}; run `reglab release --lab {lab.short}`")
    release = nbformat.read(lab.release_path, as_version=4)
    given = boilerplate(release)
    problems: list[str] = []
    students = _documents(submitted, lab, "student", release, given, problems, progress)
    if not students:
        problems.append(f"{submitted}: no submission of {lab.id} to compare")
    others = [reference_document(lab, given)]
    if archive is not None:
        others += _documents(archive, lab, "archive", release, given, problems, progress)
    candidates = [(a, b) for i, a in enumerate(students) for b in students[i + 1:] + others]
    pairs = [pair for a, b in tqdm(candidates, desc="comparing pairs", unit="pair", delay=2, disable=not progress)
             if (pair := compare(a, b)) is not None]
    pairs.sort(key=lambda p: (-p.score, p.a.name, p.b.name))
    out_dir.mkdir(parents=True, exist_ok=True)
    report = SimilarityReport(lab, students + others, pairs, problems, out_dir / "similarity.html",
                              out_dir / "similarity.csv", 0.0)
    _write_csv(report)
    report.seconds = time.perf_counter() - start
    report.html.write_text(page(report), encoding="utf-8")
    return report


# ---------------------------------------------------------------- what TAs read

def _write_csv(report: SimilarityReport) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["rank", "a", "a_kind", "b", "b_kind", "score", "a_in_b", "b_in_a"])
    for rank, pair in enumerate(report.pairs, 1):
        writer.writerow([rank, pair.a.name, pair.a.kind, pair.b.name, pair.b.kind,
                         f"{pair.score:.3f}", f"{pair.a_in_b:.3f}", f"{pair.b_in_a:.3f}"])
    report.csv.write_text(buffer.getvalue(), encoding="utf-8")


def _highlighted(doc: Document, slices) -> str:
    """The document's text, HTML-escaped, with the shared tokens marked (not the comments
    and docstrings between them, which were not compared)."""
    chars: list[list[int]] = []
    for first, end in zip(slices[0].tolist(), slices[1].tolist()):
        for start, stop in doc.spans[first:end]:
            if chars and not doc.text[chars[-1][1]:start].strip():
                chars[-1][1] = stop
            else:
                chars.append([start, stop])
    if not chars:
        return html.escape(doc.text)
    marked, _ = highlight_overlap(doc.text, np.array(chars).T, "<mark>", "</mark>", escape_html=True)
    return marked


def _distribution(pairs: list[Pair]) -> str:
    scores = sorted(p.score for p in pairs if p.a.kind == p.b.kind == "student")
    if len(scores) < 2:
        return "<p>Too few pairs of students for a distribution.</p>"
    cuts = statistics.quantiles(scores, n=100, method="inclusive")
    return (f"<p>Scores of the {len(scores)} pairs of students that share any code: median {cuts[49]:.2f}, "
            f"90th percentile {cuts[89]:.2f}, 99th percentile {cuts[98]:.2f}, highest {scores[-1]:.2f}. "
            "A pair far above the rest of its class is worth a look; one at the median is not.</p>")


_STYLE = """
body { font-family: sans-serif; margin: 1.5em; max-width: 110em; }
.notice { background: #fff8e1; border: 1px solid #e0c060; padding: 0.6em 1em; }
table.rank td, table.rank th { padding: 0.15em 0.8em; text-align: left; }
.side { display: flex; gap: 1em; }
.side > div { flex: 1; min-width: 0; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; font-size: 0.85em; }
mark { background: #ffd0a0; }
"""


def page(report: SimilarityReport) -> str:
    """The HTML report. Every text that comes from a notebook is escaped."""
    esc = html.escape
    students = [d for d in report.documents if d.kind == "student"]
    rows = "\n".join(
        f"<tr><td>{rank}</td><td>{esc(p.a.name)}</td><td>{esc(p.b.name)}</td><td>{p.score:.2f}</td>"
        f"<td>{p.a_in_b:.2f}</td><td>{p.b_in_a:.2f}</td>"
        + (f'<td><a href="#pair{rank}">side by side</a></td>' if rank <= SHOWN else "<td></td>") + "</tr>"
        for rank, p in enumerate(report.pairs[:LISTED], 1))
    details = "\n".join(
        f'<h3 id="pair{rank}">{rank}. {esc(p.a.name)} and {esc(p.b.name)}: score {p.score:.2f}</h3>\n'
        f'<div class="side"><div><b>{esc(p.a.name)}</b> ({p.a_in_b:.0%} of it found in the other)'
        f"<pre>{_highlighted(p.a, p.slices[0])}</pre></div>"
        f'<div><b>{esc(p.b.name)}</b> ({p.b_in_a:.0%} of it found in the other)'
        f"<pre>{_highlighted(p.b, p.slices[1])}</pre></div></div>"
        for rank, p in enumerate(report.pairs[:SHOWN], 1))
    problems = "".join(f"<li>{esc(why)}</li>" for why in report.problems) or "<li>none</li>"
    earlier = sum(d.kind == "archive" for d in report.documents)
    archived = f" and {earlier} earlier submissions" if earlier else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{esc(report.lab.id)}: code similarity</title><style>{_STYLE}</style></head><body>
<h1>{esc(report.lab.id)}: which submissions share code</h1>
<div class="notice"><p><b>This page ranks pairs for a person to look at. It accuses no one.</b>
A score is the share of two submissions' code that the other has too, once comments, whitespace,
the names students chose and the code the release gives everyone are set aside
(1: the same code; 0: nothing in common). A high score is a reason to read both submissions, not
evidence of copying: short functions written independently look alike, students may have studied
the same lecture code together, and the reference is what a correct answer looks like. Decide only
after reading the code and talking with the students.</p></div>
<p>{len(students)} submissions compared with each other and with the reference solution{archived};
{len(report.pairs)} pairs share any code.
Fingerprints of {K} tokens, winnowing window {WINDOW}. Made in {report.seconds:.1f} s.</p>
{_distribution(report.pairs)}
<h2>Not compared</h2><ul>{problems}</ul>
<h2>Pairs, highest score first</h2>
<p>At most {LISTED} here; similarity.csv beside this page lists every pair.</p>
<table class="rank"><tr><th>#</th><th>a</th><th>b</th><th>score</th><th>a found in b</th><th>b found in a</th>
<th></th></tr>
{rows}
</table>
<h2>The top {min(SHOWN, len(report.pairs))} pairs side by side</h2>
<p>Marked: code both have (after names are set aside, so marked lines may use other names).</p>
{details}
</body></html>
"""
