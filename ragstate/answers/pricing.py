"""What an answer cost: LLM tokens times a per-model price table.

The table holds Anthropic's list prices in USD per million tokens, as published on
https://platform.claude.com/docs/en/about-claude/pricing ("Model pricing"; stored copies read
on :data:`PRICES_TAKEN`). ``RAGSTATE_LLM_PRICES`` overrides or extends it with JSON, e.g.
``{"claude-sonnet-5-5": {"input": 2.0, "output": 10.0}}`` (a negotiated rate, a proxy's model).
A model the table does not know is priced at nothing *and says so*: ``Cost.priced`` is False
with the reason, never a silent 0.

Example::

    cost = llm_cost("claude-sonnet-5-5", Usage(input_tokens=1200, output_tokens=300))
    cost.usd          # 0.0054
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

from ragstate.models import Cost, Usage

__all__ = ["DEFAULT_PRICES", "PRICES_TAKEN", "Price", "llm_cost", "no_llm_cost", "price_table"]

PRICES_TAKEN: Final = "2026-12-01"
#: A 5-minute prompt-cache write costs this many times the model's input price.
CACHE_WRITE_MULTIPLIER: Final = 1.25
#: The Message Batches API bills every token at this share of the list price.
BATCH_MULTIPLIER: Final = 0.5

Price = Mapping[str, float]  # {"input": USD per MTok, "output": USD per MTok, "cache_read": ...}

#: Model id (or a prefix of dated ids) -> list price, USD per million tokens.
DEFAULT_PRICES: Final[dict[str, dict[str, float]]] = {
    "claude-sonnet-5-5": {"input": 2.0, "output": 10.0, "cache_read": 0.10},
    "claude-sonnet-5": {"input": 2.0, "output": 10.0, "cache_read": 0.20},
    "claude-opus-5": {"input": 5.0, "output": 25.0, "cache_read": 0.50},
    "claude-opus-4-5": {"input": 5.0, "output": 25.0, "cache_read": 0.50},
    "claude-sonnet-4-5": {"input": 3.0, "output": 15.0, "cache_read": 0.30},
    "claude-sonnet-4": {"input": 3.0, "output": 15.0, "cache_read": 0.30},
    "claude-haiku-4-5": {"input": 1.0, "output": 5.0, "cache_read": 0.10},
}


def price_table(overrides: str | None = None) -> dict[str, dict[str, float]]:
    """The default table with ``overrides`` (JSON, as in ``RAGSTATE_LLM_PRICES``) applied."""
    table = {model: dict(price) for model, price in DEFAULT_PRICES.items()}
    if overrides:
        parsed = json.loads(overrides)
        if not isinstance(parsed, dict) or not all(isinstance(v, dict) for v in parsed.values()):
            raise ValueError('RAGSTATE_LLM_PRICES must be JSON like {"model": {"input": 3.0, "output": 15.0}}')
        for model, price in parsed.items():
            table[model] = {**table.get(model, {}), **{k: float(v) for k, v in price.items()}}
    return table


def _price_for(model: str, table: Mapping[str, Mapping[str, float]]) -> Mapping[str, float] | None:
    """Exact id first, then the longest known prefix (``claude-sonnet-4-5-20250929`` → ``claude-sonnet-4-5``)."""
    if model in table:
        return table[model]
    prefixes = [known for known in table if model.startswith(known + "-")]
    return table[max(prefixes, key=len)] if prefixes else None


def llm_cost(
    model: str, usage: Usage, table: Mapping[str, Mapping[str, float]] | None = None, *, batch: bool = False
) -> Cost:
    """The cost of one LLM call's tokens at ``model``'s list price; ``batch``: a request of a
    Message Batch, at :data:`BATCH_MULTIPLIER` of it."""
    price = _price_for(model, table if table is not None else DEFAULT_PRICES)
    if price is None:
        return Cost(
            usd=0.0,
            priced=False,
            model=model,
            reason=f"no price for model {model!r}: set RAGSTATE_LLM_PRICES to count its cost",
        )
    base = price.get("input", 0.0)
    # Prompt caching: reads at the cache-read price, writes (5-minute cache) at 1.25x the input
    # price, as the pricing page lists them; ``input_tokens`` counts only the uncached rest.
    cache_read = price.get("cache_read", base * 0.1)
    cache_write = price.get("cache_write", base * CACHE_WRITE_MULTIPLIER)
    input_usd = (
        usage.input_tokens * base
        + usage.cache_read_input_tokens * cache_read
        + usage.cache_creation_input_tokens * cache_write
    ) / 1e6
    output_usd = usage.output_tokens * price.get("output", 0.0) / 1e6
    if batch:
        input_usd, output_usd = input_usd * BATCH_MULTIPLIER, output_usd * BATCH_MULTIPLIER
    return Cost(
        usd=round(input_usd + output_usd, 8),
        input_usd=round(input_usd, 8),
        output_usd=round(output_usd, 8),
        model=model,
        priced=True,
        prices_taken=PRICES_TAKEN,
    )


def no_llm_cost(reason: str) -> Cost:
    """A run that made no LLM call: 0, with the reason (offline mode, retrieval only, fallback)."""
    return Cost(usd=0.0, priced=True, reason=reason)


def plus_call(usage: Usage, cost: Cost | None, other_usage: Usage, other_cost: Cost) -> tuple[Usage, Cost]:
    """Two LLM calls of one answer together (a follow-up's rewrite and its synthesis): tokens
    and USD added; priced only if both were."""
    total = Usage(
        input_tokens=usage.input_tokens + other_usage.input_tokens,
        output_tokens=usage.output_tokens + other_usage.output_tokens,
        cache_read_input_tokens=usage.cache_read_input_tokens + other_usage.cache_read_input_tokens,
        cache_creation_input_tokens=usage.cache_creation_input_tokens + other_usage.cache_creation_input_tokens,
    )
    if cost is None or cost.reason:  # the synthesis made no call: the rewrite is the whole cost
        return total, other_cost
    return total, cost.model_copy(
        update={
            "usd": round(cost.usd + other_cost.usd, 8),
            "input_usd": round(cost.input_usd + other_cost.input_usd, 8),
            "output_usd": round(cost.output_usd + other_cost.output_usd, 8),
            "priced": cost.priced and other_cost.priced,
        }
    )
