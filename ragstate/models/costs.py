"""What an LLM call used and cost: tokens (:class:`Usage`) and USD (:class:`Cost`, from
:mod:`ragstate.answers.pricing`). Their own module because an answer and a follow-up's LLM rewrite
(:mod:`ragstate.models.condense`) both carry them."""

from __future__ import annotations

from pydantic import Field

from ragstate.models.base import _Model


class Usage(_Model):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = Field(default=0, description="input tokens read from the prompt cache")
    cache_creation_input_tokens: int = Field(default=0, description="input tokens written to the prompt cache")


class Cost(_Model):
    """What an answer cost in USD (:mod:`ragstate.answers.pricing`); 0 with a ``reason`` when no LLM
    call was made, ``priced=False`` when the model's price is unknown."""

    usd: float = 0.0
    input_usd: float = 0.0
    output_usd: float = 0.0
    model: str | None = None
    priced: bool = True
    reason: str | None = None
    prices_taken: str | None = Field(default=None, description="the date the list prices were read")
