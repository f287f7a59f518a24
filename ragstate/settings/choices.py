"""The settings' choices: string enums whose error for an unknown value names the setting and
lists the choices (``RAGSTATE_FUSION_METHOD=foo`` -> "unknown fusion method 'foo': choose one of ...").
"""

from __future__ import annotations

import enum
import re
from typing import Self

#: Roles a Lambda worker may take: no embedding model in a Lambda package.
LAMBDA_ROLES = ("workflows", "llm")


class Choice(str, enum.Enum):
    """A string enum whose error for an unknown value names the setting and lists the choices."""

    @classmethod
    def _noun(cls) -> str:  # FusionUnit -> "fusion unit"
        return re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__).lower()

    @classmethod
    def _missing_(cls, value: object) -> Self:
        raise ValueError(f"unknown {cls._noun()} {value!r}: choose one of {[m.value for m in cls]}")


class FusionUnit(Choice):
    """What reciprocal rank fusion ranks: ``document`` collapses each branch's chunk hits to
    their documents first (a long document counts once per branch); ``chunk`` fuses chunks."""

    document = "document"
    chunk = "chunk"


class FusionMethod(Choice):
    """How the branches' rankings combine: ``rrf`` by rank alone (weight / (k + rank));
    ``max``, ``minmax`` and ``zscore`` add each branch's scores normalised within its own
    candidates (as a share of its best score, by its range or by its standard deviation), so
    how far a hit stands above the rest counts too."""

    rrf = "rrf"
    max = "max"
    minmax = "minmax"
    zscore = "zscore"


class QueryEncoding(Choice):
    """How the vector branch embeds a question: ``sentences`` embeds each sentence and searches
    with their normalised mean (a one-sentence question is unchanged); ``whole`` embeds the
    question as one text; ``auto`` embeds it whole unless it has at least
    ``query_sentences_min`` sentences (an information need of several separate requests)."""

    auto = "auto"
    sentences = "sentences"
    whole = "whole"


class LogFormat(Choice):
    """``text`` for people, ``json`` (one object per line) for log collectors."""

    text = "text"
    json = "json"


class StoreBackend(Choice):
    """Where chunks live: ``edge`` is the embedded Qdrant engine, ``qdrant`` a Qdrant server."""

    edge = "edge"
    qdrant = "qdrant"


class StoreQuantization(Choice):
    """How a new collection quantizes its dense vectors for search (kept in RAM; the originals
    rescore the candidates): ``int8`` (scalar, a quarter of float32), ``binary`` (one bit per
    dimension) or ``none`` (float32 only, the layout before)."""

    int8 = "int8"
    binary = "binary"
    none = "none"


class StoreOriginals(Choice):
    """Where a new on-disk collection keeps the originals its quantized search rescores with:
    ``warm16`` (the default: float16, half the memory, mapped and read ahead with the payloads
    when the collection opens, so a search never waits on a disk read), ``warm`` (the same as
    float32) or ``disk`` (float32, read on first use: the least memory, but a disk read per
    candidate when the OS has dropped the pages)."""

    disk = "disk"
    warm = "warm"
    warm16 = "warm16"


class LlmFallback(Choice):
    """What a query does when its LLM step fails for good (or no LLM worker takes it):
    ``extractive`` answers with the offline extractive answer, flagged degraded with the
    reason; ``fail`` fails the query (the gateway's 502)."""

    extractive = "extractive"
    fail = "fail"


class WorkflowVersioning(Choice):
    """Default versioning behavior of the workflows a versioned worker starts: ``auto-upgrade``
    moves running workflows to the new current version, ``pinned`` keeps each on its build."""

    auto_upgrade = "auto-upgrade"
    pinned = "pinned"

    @classmethod
    def _noun(cls) -> str:
        return "versioning behavior"

    @classmethod
    def _missing_(cls, value: object) -> Self:
        if isinstance(value, str):  # AUTO_UPGRADE, Pinned, ...
            normalized = value.strip().lower().replace("_", "-")
            for member in cls:
                if member.value == normalized:
                    return member
        return super()._missing_(value)
