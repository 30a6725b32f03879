"""The probe plan and its records: what a check can ask of student code, and what comes back as data."""

import torch

from autograder import probes
from autograder.probes import Call, Gen, Ref


class Counter(torch.nn.Module):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def forward(self, x):
        return x + self.step if self.training else x


def _run(calls, namespace, tmp_path):
    return probes.run_in_process(calls, namespace, tmp_path)


def test_generators_arrive_seeded_so_a_sampler_can_be_replayed(tmp_path):
    calls = [Call("a", "draw", (Gen(7),)), Call("b", "draw", (Gen(7),)), Call("c", "draw", (Gen(8),))]
    out = _run(calls, {"draw": lambda g: torch.rand(4, generator=g)}, tmp_path)
    assert torch.equal(out["a"].value, torch.rand(4, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(out["a"].value, out["b"].value) and not torch.equal(out["a"].value, out["c"].value)


HELPERS = """
import torch

def make(S, step):
    return S['Counter'](step)

def in_mode(S, layer, x, training):
    return layer.train(training)(x)
"""


def test_lab_helpers_build_objects_in_the_kernel_and_take_earlier_results(tmp_path):
    x = torch.zeros(3)
    calls = [Call("make", "Counter", (2.0,), helper="make", case={"kept": "here"}),
             Call("train", "Counter", (Ref("make"), x, True), helper="in_mode"),
             Call("eval", "Counter", (Ref("make"), x, False), helper="in_mode")]
    out = probes.run_in_process(calls, {"Counter": Counter}, tmp_path, helpers=HELPERS)
    assert out["make"].ok and out["make"].value.type_name == "Counter"
    assert torch.equal(out["train"].value, x + 2) and torch.equal(out["eval"].value, x)
    assert out["make"].call.case == {"kept": "here"}
    assert "kept" not in str(torch.load(tmp_path / "plan.pt", weights_only=True))    # the case stays with the grader


def test_a_failed_call_is_data_and_so_are_the_calls_that_needed_it(tmp_path):
    def broken(x):
        raise ValueError("no")
    calls = [Call("first", "broken", (torch.ones(2),)), Call("second", "double", (Ref("first"),)),
             Call("third", "missing", ())]
    out = _run(calls, {"broken": broken, "double": lambda x: 2 * x}, tmp_path)
    assert out["first"].ran and not out["first"].ok and out["first"].error.startswith("ValueError: no")
    assert out["second"].ran and not out["second"].ok and out["second"].error.startswith("KeyError")
    assert out["third"].error.startswith("NameError: missing is not defined")


def test_a_record_for_another_call_is_not_believed(tmp_path):
    calls = [Call("x", "f", ())]
    out = _run(calls, {"f": lambda: 1}, tmp_path)
    torch.save({"id": "someone-else", "ok": True, "value": {"py": 99}}, tmp_path / "records" / "0000.pt")
    out = probes.read_outcomes(calls, tmp_path / "records")
    assert not out["x"].ran and "could not be read" in out["x"].error


def _forged(tmp_path, write):
    """read_outcomes on a records folder where the kernel put ``write(path)`` at call 0's record."""
    records = tmp_path / "records"
    records.mkdir(parents=True, exist_ok=True)
    write(records / probes.record_name(0))
    return probes.read_outcomes([Call("x", "f", ())], records, max_bytes=2**20)["x"]


def _record(value):
    return {"id": "x", "ok": True, "error": None, "value": value, "args_after": [], "ops": [], "seconds": 0.0}


def test_a_record_that_is_not_a_plain_file_is_never_opened_through(tmp_path):
    import os
    secret = tmp_path / "secret.pt"
    torch.save(_record({"py": 1}), secret)
    assert not _forged(tmp_path / "a", lambda p: os.symlink(secret, p)).ran      # a link to a valid record
    assert not _forged(tmp_path / "b", os.mkfifo).ran                            # a pipe: no blocking read


def test_a_record_that_would_inflate_on_load_is_refused(tmp_path):
    import io
    import zipfile

    def deflated(path):
        buffer = io.BytesIO()
        torch.save(_record({"py": 1}), buffer)
        with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as plain, \
                zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as packed:
            for entry in plain.infolist():
                packed.writestr(entry.filename, plain.read(entry.filename))

    shared = {"py": 0}
    for _ in range(6):
        shared = {"seq": [shared] * 64}                  # 64**6 values once walked, a few bytes on disk
    cases = {"compressed": deflated,
             "expanded": lambda p: torch.save(_record({"tensor": torch.zeros(1).expand(2**30), "device": "cpu"}), p),
             "shared": lambda p: torch.save(_record(shared), p),
             "too big": lambda p: torch.save(_record({"tensor": torch.zeros(2**19), "device": "cpu"}), p)}
    for name, write in cases.items():
        outcome = _forged(tmp_path / name.replace(" ", "_"), write)
        assert not outcome.ran and "could not be read" in outcome.error, name


def test_text_from_the_kernel_is_shown_with_its_escapes_visible(tmp_path):
    record = {**_record(None), "ok": False, "error": "\x1b[2K\rok 3/3\x1b]52;c;eA==\x07",
              "error_type": "Value\x1bError"}
    outcome = _forged(tmp_path, lambda p: torch.save(record, p))
    assert "\x1b" not in outcome.error and "\\x1b[2K\\x0dok" in outcome.error and "\x1b" not in outcome.error_type
