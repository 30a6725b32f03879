"""``reglab``: build, release, check and grade the Lecture 6 labs.

    reglab build                  notebooks/ + solutions/ -> source/
    reglab release                source/ -> release/ (nbgrader generate_assignment)
    reglab check                  fail if source/ or release/ is stale
    reglab grade FILE --lab 06b   grade one submission (JSON + readable report)
    reglab grade-class --lab 06b  grade a class from submitted/ or an LMS zip (resumable, -j N, --dask)
    reglab export                 grades.csv for an LMS, from nbgrader's gradebook
    reglab similarity --lab 06b   rank pairs of submissions by shared code (HTML + CSV)
    reglab demo                   all of the above on the bundled example submissions
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

from reglab import config


def _labs(course: config.CourseConfig, name: str | None) -> list[config.Lab]:
    return [course.lab(name)] if name else list(course.labs)


def cmd_build(args, course) -> int:
    from reglab.build import build
    for lab in _labs(course, args.lab):
        print(f"built {build(lab).relative_to(config.ROOT)}")
    return 0


def cmd_release(args, course) -> int:
    from reglab.build import build
    from reglab.release import release
    for lab in _labs(course, args.lab):
        build(lab)
        print(f"released {release(lab).relative_to(config.ROOT)}  (nbgrader generate_assignment {lab.id})")
    return 0


def cmd_check(args, course) -> int:
    from reglab.release import stale_files
    stale = [path for lab in _labs(course, args.lab) for path in stale_files(lab)]
    if stale:
        print("stale generated files (run `reglab release` and commit them):")
        print("\n".join(f"  {path}" for path in stale))
        return 1
    print("source/ and release/ match notebooks/ and solutions/")
    return 0


def cmd_grade(args, course) -> int:
    from autograder import report
    from autograder.grade import grade_submission
    lab = course.lab(args.lab)
    result = grade_submission(Path(args.submission), lab, course, device=args.device, seed=args.seed,
                              run_demos=not args.no_outputs)
    name = Path(result.submission).stem if args.name is None else args.name
    json_path, text_path = report.write(result, Path(args.out), name)
    print(report.readable(result), end="")
    print(f"\nresult: {json_path}\nreport: {text_path}")
    return 0


def cmd_grade_class(args, course) -> int:
    """Grade every submission of a lab: results, feedback pages, gradebook, a summary table."""
    from autograder import report
    from autograder.classroom import from_submitted, grade_class, import_zip, publish, stored_result
    lab = course.lab(args.lab)
    submitted = Path(args.submitted)
    refused = []
    if args.zip:
        imported, refused = import_zip(Path(args.zip), lab, submitted)
        print(f"imported {len(imported)} notebooks from {args.zip} into {submitted}/<student>/{lab.id}/")
    submissions, refused_folders = from_submitted(submitted, lab)
    refused += refused_folders
    out = Path(args.out) if args.out else config.ROOT / "grades" / lab.id
    print(f"{lab.id}: {len(submissions)} submissions in {submitted}/")
    run = grade_class(lab, course, submissions, out, workers=args.workers, device=args.device,
                      dask_address=args.dask, run_demos=not args.no_outputs)
    published = publish(lab, course, submissions, out, config.ROOT, gradebook=not args.no_gradebook)
    rows = []
    for submission in submissions:
        result = None if submission.student in run.failed else stored_result(out, submission.student)
        if result is None:
            continue
        note = "graded now" if submission.student in run.graded else "unchanged since its last grading"
        rows.append((submission.student, result, note + (f"; {result.problems[0]}" if result.problems else "")))
    print(report.table(rows), end="")
    print(f"\ngraded {len(run.graded)}, unchanged {len(run.skipped)}, grader failures {len(run.failed)}; "
          f"results in {out}/, feedback in feedback/<student>/{lab.id}/"
          + ("" if args.no_gradebook else f", {published} in gradebook.db (nbgrader formgrader shows them)"))
    unconfined = sorted({result.sandbox for _, result, _ in rows if result.sandbox.startswith("NOT SANDBOXED")})
    for note in unconfined:
        print(f"\nWARNING: {note}. Install bubblewrap, or set grading.sandbox: required to refuse this.")
    for student, why in run.failed.items():
        print(f"  FAILED {student}: {why} (run again to retry)")
    for why in refused:
        print(f"  REFUSED {why}")
    return 1 if run.failed else 0


def cmd_export(args, course) -> int:
    from reglab.release import nbgrader
    to = Path(args.to).resolve()
    nbgrader("export", "--exporter=autograder.export.LabColumnsExport", f"--to={to}", cwd=config.ROOT)
    print(f"wrote {to}: one row per student, one column per lab (from gradebook.db)")
    return 0


def cmd_similarity(args, course) -> int:
    """Rank pairs of a lab's submissions by the code they share: an HTML page and a CSV for TAs to read."""
    from autograder.similarity import similarity_report
    lab = course.lab(args.lab)
    out = Path(args.out) if args.out else config.ROOT / "out" / "similarity" / lab.id
    report = similarity_report(lab, Path(args.submitted), out, archive=Path(args.archive) if args.archive else None)
    print(report.summary(), end="")
    return 0


def cmd_demo(args, course) -> int:
    """Build and release every lab, then grade its example submissions the way a TA grades a class
    (results, feedback pages, gradebook), and print the table with what each had to lose."""
    from autograder import report
    from autograder.classroom import from_submitted, grade_class, publish, stored_result
    from autograder.cluster import local_cluster
    from reglab.examples import mismatch, write_submissions
    out, submitted = Path(args.out), config.ROOT / "submitted"
    failures = 0
    with contextlib.ExitStack() as stack:
        address = stack.enter_context(local_cluster(args.workers)) if args.workers > 1 else None
        for lab in course.labs:
            cmd_release(argparse.Namespace(lab=lab.id), course)
            written = {example.name: example for example, _ in write_submissions(lab, submitted)}
            found = [s for s in from_submitted(submitted, lab)[0] if s.student in written]
            print(f"\n{lab.id}: grading {len(found)} example submissions from submitted/*/{lab.id}/")
            start = time.perf_counter()
            run = grade_class(lab, course, found, out / lab.id, device=args.device, dask_address=address)
            publish(lab, course, found, out / lab.id, config.ROOT)
            rows = []
            for submission in found:
                example = written[submission.student]
                if submission.student in run.failed:
                    failures += 1
                    print(f"  FAILED {submission.student}: {run.failed[submission.student]}")
                    continue
                result = stored_result(out / lab.id, example.name)
                lost = {item.id for item in result.items if item.points < item.max_points}
                problem = mismatch(example, lost, {item.id for item in result.items})
                failures += problem is not None
                expected = "all" if example.loses is None else ", ".join(sorted(example.loses)) or "none"
                rows.append((example.name, result, f"{example.kind}; must lose: {expected}; "
                             + ("as expected" if problem is None else f"UNEXPECTED: {problem}")))
            print(report.table(rows), end="")
            print(f"\n{len(rows)} submissions in {time.perf_counter() - start:.0f} s "
                  f"({len(run.skipped)} unchanged since the last run); results in {out / lab.id}/, "
                  f"feedback pages in feedback/<student>/{lab.id}/, scores in gradebook.db")
    print("\nall example submissions graded as expected" if failures == 0
          else f"\n{failures} example submission(s) did NOT grade as expected")
    return 0 if failures == 0 else 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="reglab", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="command", required=True)
    for name, func, help_text in [("build", cmd_build, "notebooks/ + solutions/ -> source/"),
                                  ("release", cmd_release, "build, then nbgrader generate_assignment -> release/"),
                                  ("check", cmd_check, "exit 1 if source/ or release/ is stale")]:
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--lab", help="a lab id or its short form (06b); default: every lab")
        command.set_defaults(func=func)
    grade = sub.add_parser("grade", help="grade one submission")
    grade.add_argument("submission", help="a notebook, or a folder holding one")
    grade.add_argument("--lab", required=True, help="a lab id or its short form (06b)")
    grade.add_argument("--device", choices=["cpu", "cuda", "auto"],
                       help="where hidden inputs are made (default: course.yml)")
    grade.add_argument("--seed", type=int, help="hidden-input seed (default: derived from course.yml and the file)")
    grade.add_argument("--no-outputs", action="store_true",
                       help="decide the points only: skip the self-check and demo cells (a fast regrade)")
    grade.add_argument("--out", default="out/grades",
                       help="folder for <name>.json and <name>.txt (default: out/grades)")
    grade.add_argument("--name", help="file name for the result (default: the notebook's name)")
    grade.set_defaults(func=cmd_grade)
    klass = sub.add_parser("grade-class", help="grade every submission of a lab (resumable)")
    klass.add_argument("--lab", required=True, help="a lab id or its short form (06b)")
    klass.add_argument("--submitted", default=str(config.ROOT / "submitted"),
                       help="nbgrader's submitted/ folder: <student>/<lab id>/<notebook> (default: ./submitted)")
    klass.add_argument("--zip", help="an LMS export (zip of notebooks) to import into --submitted first")
    klass.add_argument("-j", "--workers", type=int, default=1, help="local worker processes (default: 1)")
    klass.add_argument("--dask", metavar="ADDRESS", help="grade on this dask.distributed scheduler instead")
    klass.add_argument("--device", choices=["cpu", "cuda", "auto"], help="where hidden inputs are made")
    klass.add_argument("--out", help="folder for <student>.json/.txt (default: grades/<lab id>)")
    klass.add_argument("--no-gradebook", action="store_true", help="do not write into gradebook.db")
    klass.add_argument("--no-outputs", action="store_true",
                       help="decide the points only: skip the self-check and demo cells (a fast regrade)")
    klass.set_defaults(func=cmd_grade_class)
    export = sub.add_parser("export", help="CSV for an LMS: one row per student, one column per lab")
    export.add_argument("--to", default="grades.csv", help="the CSV file to write (default: grades.csv)")
    export.set_defaults(func=cmd_export)
    similar = sub.add_parser("similarity", help="rank pairs of submissions by shared code (HTML + CSV for TAs)")
    similar.add_argument("--lab", required=True, help="a lab id or its short form (06b)")
    similar.add_argument("--submitted", default=str(config.ROOT / "submitted"),
                         help="nbgrader's submitted/ folder: <student>/<lab id>/<notebook> (default: ./submitted)")
    similar.add_argument("--archive", help="earlier terms' submissions, compared too (same layout as --submitted)")
    similar.add_argument("--out",
                         help="folder for similarity.html and similarity.csv (default: out/similarity/<lab id>)")
    similar.set_defaults(func=cmd_similarity)
    demo = sub.add_parser("demo", help="release every lab and grade the bundled example submissions")
    demo.add_argument("--device", choices=["cpu", "cuda", "auto"])
    demo.add_argument("-j", "--workers", type=int, default=os.cpu_count() or 1,
                      help="local grading workers (default: one per core)")
    demo.add_argument("--out", default=str(config.ROOT / "grades"),
                      help="folder for the results, a subfolder per lab (default: grades/, as grade-class)")
    demo.set_defaults(func=cmd_demo)
    from reglab.calendar import add_commands  # publish, status: the weekly calendar
    add_commands(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        course = config.load()
        return args.func(args, course)
    except (config.ConfigError, ValueError, RuntimeError, OSError) as exc:
        print(f"reglab {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
