"""Does `reglab similarity` rank planted copies above independent work, and how long does a class take?

    .venv/bin/python benchmarks/similarity_class.py [--labs 06a 06b ...] [--seeds 5] [--count 200]

For each lab, a class is made from its examples (the reference, the bug zoo, the
alternatives, the hostile submissions) with copies planted among them: each
alternative and the reference, disguised (local names renamed, top-level functions
shuffled, comments, blank lines and a few stray statements added; a new disguise
per seed). A pair is
"planted" (a copy and what it copies; the reference copy is paired with the
reference solution), "related" (same origin otherwise: the bug zoo is the
reference with one line changed, and a hostile example may be the reference plus
an attack) or "independent". Prints, per lab, the lowest
planted score, the independent scores' spread, and whether every planted pair
ranks above every independent pair. Then times a class of --count submissions,
each a disguised example, once per seed.
"""

from __future__ import annotations

import argparse
import ast
import io
import random
import statistics
import tempfile
import time
import tokenize
from pathlib import Path

import nbformat

from autograder.similarity import REFERENCE, similarity_report
from reglab import config
from reglab.examples import examples, fill

COMMENTS = ["# compute this step", "# TODO tidy up", "# see the lecture notes", "# shape check", "# the main part"]
STRAYS = ['print("here")', "pass", "assert True", 'print("checking shapes")']


def rename(code: str, rng: random.Random) -> str:
    """``code`` with its local names (assigned names, parameters without a default) renamed;
    top-level function and class names, attributes and keyword arguments stay."""
    tree = ast.parse(code)
    top = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        positional = func.args.posonlyargs + func.args.args
        names |= {a.arg for a in positional[:len(positional) - len(func.args.defaults)]}
    names -= top | {"self", "cls"}
    new = {name: f"{rng.choice(['val', 'tmp', 'my', 'z', 'q'])}_{i}" for i, name in enumerate(sorted(names))}
    lines = code.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    toks = list(tokenize.generate_tokens(io.StringIO(code).readline))
    edits, depth = [], 0
    for i, tok in enumerate(toks):
        depth += tok.string in "([{" and tok.type == tokenize.OP
        depth -= tok.string in ")]}" and tok.type == tokenize.OP
        after_dot = i > 0 and toks[i - 1].string == "."
        keyword_arg = depth > 0 and i + 1 < len(toks) and toks[i + 1].string == "="
        if tok.type == tokenize.NAME and tok.string in new and not after_dot and not keyword_arg:
            edits.append((starts[tok.start[0] - 1] + tok.start[1], len(tok.string), new[tok.string]))
    for offset, length, name in reversed(edits):
        code = code[:offset] + name + code[offset + length:]
    return code


def reorder(code: str, rng: random.Random) -> str:
    """``code`` with its top-level functions and classes shuffled, after everything else."""
    tree = ast.parse(code)
    lines = code.splitlines()
    segments = []
    for node in tree.body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        is_def = isinstance(node, (ast.FunctionDef, ast.ClassDef))
        segments.append((is_def, "\n".join(lines[first - 1:node.end_lineno])))
    rest = [text for is_def, text in segments if not is_def]
    defs = [text for is_def, text in segments if is_def]
    rng.shuffle(defs)
    return "\n\n\n".join(rest + defs) + "\n"


def pad(code: str, rng: random.Random) -> str:
    """``code`` with a comment before about every third statement, a stray ``print`` before about
    every tenth statement inside a function, and blank lines here and there."""
    tree = ast.parse(code)
    inside = {node.lineno for func in ast.walk(tree) if isinstance(func, ast.FunctionDef)
              for node in ast.walk(func) if isinstance(node, ast.stmt) and node is not func}
    starts = {node.lineno for node in ast.walk(tree) if isinstance(node, ast.stmt)}
    out = []
    for number, line in enumerate(code.splitlines(), 1):
        indent = line[:len(line) - len(line.lstrip())]
        if number in starts and rng.random() < 0.35:
            out.append(indent + rng.choice(COMMENTS))
        if number in inside and rng.random() < 0.1:
            out.append(indent + rng.choice(STRAYS))
        out.append(line)
        if rng.random() < 0.1:
            out.append("")
    return "\n".join(out) + "\n"


def disguise(code: str, seed: int) -> str:
    """A copy of ``code`` as a student who copied it might hand it in."""
    rng = random.Random(seed)
    return pad(reorder(rename(code, rng), rng), rng)


def first_solution(nb: nbformat.NotebookNode) -> str:
    """The code of an example (examples put all of it in the first solution cell)."""
    return next(c.source for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"))


def write(nb: nbformat.NotebookNode, submitted: Path, student: str, lab) -> None:
    folder = submitted / student / lab.id
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{lab.id}.ipynb")


def zoo_class(lab, submitted: Path, seed: int) -> tuple[dict[str, str], set[frozenset]]:
    """Write the lab's examples and their planted copies into ``submitted``; return each
    student's origin ("reference" for the reference, the bug zoo and any example that holds
    the reference's code, as a hostile one may) and the planted pairs."""
    release = nbformat.read(lab.release_path, as_version=4)
    origin, planted = {}, set()
    pool = [e for e in examples(lab) if e.kind != "blank"]
    reference = next(first_solution(e.notebook) for e in pool if e.kind == "reference")
    for example in pool:
        write(example.notebook, submitted, example.name, lab)
        derived = example.kind in ("reference", "bug") or reference in first_solution(example.notebook)
        origin[example.name] = "reference" if derived else example.name
        if example.kind in ("reference", "alternative"):
            copy = f"copy-of-{example.name}"
            write(fill(release, disguise(first_solution(example.notebook), seed), {}), submitted, copy, lab)
            origin[copy] = origin[example.name]
            planted.add(frozenset([copy, example.name]))
            if example.kind == "reference":
                planted.add(frozenset([copy, REFERENCE]))
    return origin, planted


def kind_of(pair, origin: dict[str, str], planted: set[frozenset]) -> str:
    if frozenset([pair.a.name, pair.b.name]) in planted:
        return "planted"
    source = [origin.get(name, "reference") for name in (pair.a.name, pair.b.name)]
    return "related" if source[0] == source[1] else "independent"


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def check_lab(lab, seeds: int) -> bool:
    print(f"\n{lab.id}: planted copies against independent work, {seeds} disguises")
    print("  seed  planted(min/median/max)  independent(min/median/max)  related(min/median/max)  pairs  ok")
    every_ok, independent_all = True, []
    for seed in range(seeds):
        with tempfile.TemporaryDirectory(prefix="reglab-similar-") as tmp:
            origin, planted = zoo_class(lab, Path(tmp) / "submitted", seed)
            report = similarity_report(lab, Path(tmp) / "submitted", Path(tmp) / "out", progress=False)
        scores = {"planted": [], "related": [], "independent": []}
        kinds = {frozenset([p.a.name, p.b.name]): kind_of(p, origin, planted) for p in report.pairs}
        for pair in report.pairs:
            scores[kinds[frozenset([pair.a.name, pair.b.name])]].append(pair.score)
        missing = len(planted) - len(scores["planted"])          # a planted pair that shares nothing
        ok = missing == 0 and min(scores["planted"]) > max(scores["independent"], default=0.0)
        every_ok &= ok
        independent_all += scores["independent"]
        print(f"  {seed:4d}  {spread(scores['planted']):>23}  {spread(scores['independent']):>27}  "
              f"{spread(scores['related']):>23}  {len(report.pairs):5d}  {'yes' if ok else 'NO'}")
    cuts = statistics.quantiles(independent_all, n=10) if len(independent_all) > 1 else [0.0] * 9
    print(f"  independent pairs over all seeds: n={len(independent_all)}, mean {statistics.fmean(independent_all):.3f} "
          f"+- {statistics.stdev(independent_all):.3f}, median {cuts[4]:.2f}, 90th percentile {cuts[8]:.2f}, "
          f"max {max(independent_all):.2f}" if len(independent_all) > 1 else "  fewer than 2 independent pairs")
    return every_ok


def time_class(lab, count: int, seeds: int) -> None:
    pool = [e for e in examples(lab) if e.kind != "blank"]
    release = nbformat.read(lab.release_path, as_version=4)
    took, cpu = [], []
    for seed in range(seeds):
        with tempfile.TemporaryDirectory(prefix="reglab-similar-") as tmp:
            submitted = Path(tmp) / "submitted"
            for index in range(count):
                code = disguise(first_solution(pool[index % len(pool)].notebook), seed * count + index)
                write(fill(release, code, {}), submitted, f"student{index:03d}", lab)
            start, start_cpu = time.perf_counter(), time.process_time()
            report = similarity_report(lab, submitted, Path(tmp) / "out", progress=False)
            took.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        print(f"  seed {seed}: {count} submissions, {len(report.pairs)} pairs sharing code, "
              f"{took[-1]:.1f} s ({cpu[-1]:.1f} CPU-seconds)")
    for name, values in (("wall", took), ("CPU", cpu)):
        print(f"{lab.id}: a class of {count}: {statistics.fmean(values):.1f} s {name}"
              + (f" +- {statistics.stdev(values):.1f} s (sd over {seeds} classes)" if seeds > 1 else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labs", nargs="+", help="labs to check (default: every lab)")
    parser.add_argument("--seeds", type=int, default=5, help="disguises per lab (default: 5)")
    parser.add_argument("--count", type=int, default=200, help="students in the timed class (default: 200)")
    parser.add_argument("--time-lab", default="06b", help="the lab of the timed class (default: 06b)")
    args = parser.parse_args()
    course = config.load()
    labs = [course.lab(name) for name in args.labs] if args.labs else list(course.labs)
    ok = True
    for lab in labs:
        try:
            ok &= check_lab(lab, args.seeds)
        except ValueError as exc:       # a lab whose examples do not build (mid-edit): say so, go on
            print(f"  SKIPPED {lab.id}: its examples do not build: {exc}")
            ok = False
    print(f"\nevery planted pair above every independent pair: {'yes' if ok else 'NO'}\n")
    time_class(course.lab(args.time_lab), args.count, min(args.seeds, 3))


if __name__ == "__main__":
    main()
