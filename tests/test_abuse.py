"""The second round of abuse (issue 24), each row of `benchmarks/abuse.py`'s table a test: the same inputs and
command line, the same check (exit code, what it says, inputs left as they were, nothing run)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")  # the payload checkpoints are written with torch.save
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import abuse


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    return abuse.make_round2(tmp_path_factory.mktemp("abuse"))


@pytest.mark.parametrize("case", abuse.ROUND2, ids=[case.label for case in abuse.ROUND2])
def test_round2(case: abuse.Case, inputs: dict[str, Path]) -> None:
    if case not in abuse.round2_cases(inputs):
        pytest.skip("a video row: needs PyAV")
    ok, got, _ = case.run(inputs, inputs["photo.png"].parent)
    assert ok, f"expected {case.expected} ({case.says!r}), got {got}"


def test_the_verdict_reads_exit_codes_and_statuses() -> None:
    assert abuse.as_expected("refused, exit 1", "exit 1: x.png: refused")
    assert not abuse.as_expected("matted, exit 0", "exit 1: done 0")
    assert abuse.as_expected("413, 413", "413: too large; 413: too large")
    assert not abuse.as_expected("200", "500: Internal Server Error")
    assert abuse.as_expected("-", "-") is None
