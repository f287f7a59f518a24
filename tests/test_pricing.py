"""ragstate.answers.pricing: token costs from the price table, and never a silent 0."""

from __future__ import annotations

import pytest

from ragstate.answers.pricing import DEFAULT_PRICES, llm_cost, no_llm_cost, price_table
from ragstate.models import Usage


def test_cost_is_tokens_times_list_price():
    cost = llm_cost("claude-sonnet-5-5", Usage(input_tokens=1_200, output_tokens=300))
    assert cost.priced and cost.model == "claude-sonnet-5-5"
    assert cost.input_usd == pytest.approx(1_200 * 2.0 / 1e6) and cost.output_usd == pytest.approx(300 * 10.0 / 1e6)
    assert cost.usd == pytest.approx(0.0054)


def test_a_dated_model_id_takes_its_family_price():
    assert llm_cost("claude-sonnet-4-5-20250929", Usage(input_tokens=10**6)).usd == pytest.approx(3.0)


def test_an_unknown_model_is_not_priced_and_says_so():
    cost = llm_cost("my-proxy-model", Usage(input_tokens=5, output_tokens=5))
    assert cost.usd == 0 and not cost.priced and "RAGSTATE_LLM_PRICES" in (cost.reason or "")


def test_overrides_extend_and_replace_the_table():
    table = price_table('{"my-proxy-model": {"input": 1, "output": 2}, "claude-sonnet-5-5": {"output": 8}}')
    assert llm_cost("my-proxy-model", Usage(input_tokens=10**6, output_tokens=10**6), table).usd == pytest.approx(3.0)
    assert table["claude-sonnet-5-5"] == {**DEFAULT_PRICES["claude-sonnet-5-5"], "output": 8.0}
    with pytest.raises(ValueError, match="RAGSTATE_LLM_PRICES"):
        price_table('["not", "a", "table"]')


def test_no_llm_call_costs_zero_with_its_reason():
    cost = no_llm_cost("offline extractive mode: no LLM call")
    assert cost.usd == 0 and cost.priced and cost.reason == "offline extractive mode: no LLM call"


def test_cached_input_tokens_are_priced_at_the_cache_prices():
    usage = Usage(input_tokens=1_000, cache_read_input_tokens=10_000, cache_creation_input_tokens=2_000)
    # claude-sonnet-4-5: $3 input, $0.30 cache read, 1.25 x $3 cache write, per million tokens.
    cost = llm_cost("claude-sonnet-4-5", usage)
    assert cost.input_usd == pytest.approx((1_000 * 3 + 10_000 * 0.30 + 2_000 * 3.75) / 1e6)
