"""The fault suite's verdicts (tests/chaos/report.py): which results miss a target, and that the
table says so. The suite itself (`make chaos`) takes minutes; these checks take none."""

from __future__ import annotations

import json

from chaos.report import Result, as_json, table


def test_a_clean_result_meets_every_target():
    r = Result("worker SIGKILL mid-answer")
    r.attempt(True)
    r.answered(paid=1)
    r.recovered(10.4)
    assert r.misses() == []
    assert "Every target met." in table([r])
    assert json.loads(as_json([r]))["passed"] is True


def test_each_target_is_checked():
    cases = {
        "not survived": dict(tried=2, survived=1),
        "lost": dict(tried=1, survived=1, lost=3),
        "duplicated": dict(tried=1, survived=1, duplicated=1),
        "hangs": dict(tried=1, survived=1, hangs=1),
        "truncated": dict(tried=1, survived=1, truncated_accepted=1),
        "3 answers degraded": dict(tried=1, survived=1, degraded=3),
        "paid 2 times": dict(tried=1, survived=1, answers=1, paid=2, max_paid=2),
        "recovery 15.1 s": dict(tried=1, survived=1, recover_s=15.1),
        "nothing tried": dict(),
    }
    for expected, fields in cases.items():
        r = Result("s", **fields)
        assert any(expected in m for m in r.misses()), (expected, r.misses())
        assert "| NO" in table([r]) and "Targets missed:" in table([r])
        assert json.loads(as_json([r]))["passed"] is False


def test_a_failed_try_keeps_its_reason():
    r = Result("LLM 401")
    r.attempt(False, "2 requests: a rejected request was retried")
    assert r.notes == ["FAILED: 2 requests: a rejected request was retried"]
    assert "FAILED: 2 requests" in table([r])
