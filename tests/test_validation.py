"""Unit tests of ragstate.models.validation: question normalisation and the query limits."""

from __future__ import annotations

import pytest

from ragstate.models import RagQuery
from ragstate.models.validation import MAX_FILTER_VALUES, InvalidQuery, normalise_question, validate
from ragstate.settings import Settings


@pytest.fixture
def cfg() -> Settings:
    return Settings(_env_file=None)


def test_valid_question_is_normalised(cfg):
    q, k = validate(RagQuery(question="  What\tis\n\nBM25? ＡＢＣ "), cfg)
    assert q == "What is BM25? ABC"
    assert k == cfg.default_top_k
    assert normalise_question("  What is   BM25?\n") == "What is BM25?"


@pytest.mark.parametrize("question", ["", "   ", "\n\t \r\n", "\u3000\u00a0", "\u200b\u200b", " \ufeff "])
def test_empty_question_rejected(cfg, question):
    with pytest.raises(InvalidQuery, match="empty"):
        validate(RagQuery(question=question), cfg)


def test_too_long_question_rejected(cfg):
    with pytest.raises(
        InvalidQuery, match=rf"{cfg.max_query_chars + 1} characters long; the limit is {cfg.max_query_chars}"
    ):
        validate(RagQuery(question="x" * (cfg.max_query_chars + 1)), cfg)
    # The limit applies after whitespace is collapsed.
    q, _ = validate(RagQuery(question="x" * (cfg.max_query_chars - 2) + " " * 500 + "y"), cfg)
    assert len(q) == cfg.max_query_chars
    # exactly at the limit passes
    assert validate(RagQuery(question="y" * cfg.max_query_chars), cfg)[0] == "y" * cfg.max_query_chars


@pytest.mark.parametrize("bad, code", [("\x07", "U+0007"), ("\x00", "U+0000"), ("\x1b", "U+001B"), ("\x7f", "U+007F")])
def test_control_characters_rejected(cfg, bad, code):
    with pytest.raises(InvalidQuery, match="control characters") as e:
        validate(RagQuery(question=f"What is{bad} BM25?"), cfg)
    assert code in str(e.value)


def test_tabs_and_newlines_allowed(cfg):
    assert validate(RagQuery(question="a\tb\nc\r\nd"), cfg)[0] == "a b c d"


def test_top_k_bounds(cfg):
    assert validate(RagQuery(question="q?", top_k=1), cfg)[1] == 1
    assert validate(RagQuery(question="q?", top_k=cfg.max_top_k), cfg)[1] == cfg.max_top_k
    for bad in (0, -1, cfg.max_top_k + 1):
        with pytest.raises(InvalidQuery, match=f"top_k must be between 1 and {cfg.max_top_k}, got {bad}"):
            validate(RagQuery(question="q?", top_k=bad), cfg)


@pytest.mark.parametrize("name", ["sources", "doc_ids"])
def test_filter_bounds(cfg, name):
    ok = validate(RagQuery(question="q?", **{name: ["a"] * MAX_FILTER_VALUES}), cfg)
    assert ok == ("q?", cfg.default_top_k)
    with pytest.raises(InvalidQuery, match=f"{name} filter needs 1 to {MAX_FILTER_VALUES} values, got 0"):
        validate(RagQuery(question="q?", **{name: []}), cfg)
    with pytest.raises(InvalidQuery, match=f"got {MAX_FILTER_VALUES + 1}"):
        validate(RagQuery(question="q?", **{name: ["a"] * (MAX_FILTER_VALUES + 1)}), cfg)
    with pytest.raises(InvalidQuery, match="non-empty strings"):
        validate(RagQuery(question="q?", **{name: ["a", "  "]}), cfg)


def test_settings_limits_are_used():
    small = Settings(_env_file=None, max_query_chars=10, max_top_k=3, default_top_k=2)
    assert validate(RagQuery(question="short"), small) == ("short", 2)
    with pytest.raises(InvalidQuery, match="limit is 10"):
        validate(RagQuery(question="eleven chars"), small)
    with pytest.raises(InvalidQuery, match="between 1 and 3"):
        validate(RagQuery(question="q", top_k=4), small)


def test_invalid_query_is_value_error():
    assert issubclass(InvalidQuery, ValueError)
