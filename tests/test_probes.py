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
    return probes.run_in_process(calls, namespace, tmp_path, timeout=5)


def test_generators_arrive_seeded_so_a_sampler_can_be_replayed(tmp_path):
    calls = [Call("a", "draw", (Gen(7),)), Call("b", "draw", (Gen(7),)), Call("c", "draw", (Gen(8),))]
    out = _run(calls, {"draw": lambda g: torch.rand(4, generator=g)}, tmp_path)
    assert torch.equal(out["a"].value, torch.rand(4, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(out["a"].value, out["b"].value) and not torch.equal(out["a"].value, out["c"].value)


def test_expressions_build_objects_and_call_their_methods(tmp_path):
    x = torch.zeros(3)
    calls = [Call("make", "Counter", (2.0,), expr="S['Counter'](*A)"),
             Call("train", "Counter", (x,), expr="R['make'].train()(A[0])"),
             Call("eval", "Counter", (x,), expr="R['make'].eval()(A[0])"),
             Call("groups", "Counter", expr="{'names': [n for n, _ in R['make'].named_parameters()], 'k': 1}")]
    out = _run(calls, {"Counter": Counter}, tmp_path)
    assert out["make"].ok and out["make"].value.type_name == "Counter"
    assert torch.equal(out["train"].value, x + 2) and torch.equal(out["eval"].value, x)
    assert out["groups"].value == {"names": (), "k": 1}


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
