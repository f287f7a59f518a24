"""The offline CondenseQuestion: a follow-up's context taken from the earlier turns, with no LLM.

A follow-up ("What about in children?", "How are they measured?") leaves out what the earlier
turns said. Offline we cannot rewrite it into prose, so the question stays as asked and the
earlier turns of the *same topic* (the last two) become context: their content terms, which the
keyword branch adds at a lower weight (``followup_keyword_weight``), and their text, which the
vector branch embeds before the question as one text (``followup_embed_context``).

Joining every turn into one query would recover most of a follow-up's loss but drag the old
topic into a question that starts a new one, so each turn is first classified: a question that
carries content of its own (at least two terms; ten when it has a referring word such as "they"
or "this", or opens like a fragment: "for", "especially", "in", which a question of its own
also does), of which at most three quarters occurs in the topic so far, and that does not open
like an ellipsis ("what about", "and", "is it") starts a new topic, and the context restarts
from it. The thresholds were chosen leave-one-collection-out on hand-written conversations over
cisi, med and npl (bench/conversations/, bench/loco_conversations.py, docs/conversations.md).

Example::

    >>> c = condense_offline("What about in children?", ["How is asthma treated?"])
    >>> c.context_terms, c.topic_switch
    (['asthma', 'treat'], False)
    >>> condense_offline("How are library catalogs indexed by subject?", ["How is asthma treated?"]).topic_switch
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragstate.models import Condensed, CondenseMode, PriorTurn
from ragstate.retrieval.analyzer import analyze

# A question opening like this continues the one before whatever it says ("What about ...",
# "And in children?", "How about ...").
_ELLIPSIS_OPENINGS = re.compile(
    r"^\s*(what about|how about|what of|and|also|same|then|so|but|or|now|what else|any other|"
    r"in that case|does that|do they|is it|are they|can they|can it)\b",
    re.IGNORECASE,
)
# A fragment opening on a preposition or a qualifier ("For given phase characteristics.",
# "Especially for stores", "Only in children") narrows the one before, unless it goes on to say
# much of its own ("In catalogs which are arranged alphabetically ..." is a question of its own):
# counted like a referring word.
_FRAGMENT_OPENINGS = re.compile(
    r"^\s*(for|especially|only|just|mainly|mostly|particularly|specifically|in particular|even|with|without|"
    r"in|at|on|from|during|under)\b",
    re.IGNORECASE,
)
# Words that refer back to something said before. "that" and "such" are left out: "methods
# that ...", "such as" are everywhere in standalone questions.
_REFERRING = frozenset(
    {"they", "them", "their", "theirs", "it", "its", "itself", "this", "these", "those", "ones"}
    | {"he", "she", "him", "his", "her", "former", "latter", "same"}
)
# "that" and "there" refer back only in some places: "would that be", "for that?", "the
# systems there" (not "methods that are", "is there", "there are").
_REFERRING_THAT = re.compile(
    r"\b(would|will|can|could|does|did|do|is|was|about|for|like|of)\s+that\b(?!\s+(is|are|was|were)\b)|"
    r"\bthat\s*[?.!]|\b(?<!is )(?<!are )(?<!was )(?<!were )(?<!be )there\b(?!\s+(is|are|was|were|be|been|has|have)\b)",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class CondenseParams:
    """How a follow-up is told from a new topic, and how much of the past it takes."""

    #: A question with fewer content terms of its own than this never starts a new topic.
    switch_min_terms: int = 2
    #: ... and with a referring word (they, this, its) it needs this many.
    switch_min_terms_referring: int = 10
    #: It starts one only when at most this share of its terms occur in the topic so far.
    switch_max_overlap: float = 0.75
    #: The earlier turns of the topic taken as context, most recent last.
    max_context_turns: int = 2


DEFAULT_PARAMS = CondenseParams()


def _referring(text: str) -> bool:
    """A word that points back, or an opening that narrows what was said before."""
    return (
        any(w in _REFERRING for w in _WORD.findall(text.lower()))
        or bool(_REFERRING_THAT.search(text))
        or bool(_FRAGMENT_OPENINGS.match(text))
    )


def is_topic_switch(question: str, topic: list[str], params: CondenseParams = DEFAULT_PARAMS) -> bool:
    """Whether ``question`` starts a new topic after the turns ``topic`` (oldest first)."""
    if not topic or _ELLIPSIS_OPENINGS.match(question):
        return False
    own = set(analyze(question))
    needed = params.switch_min_terms_referring if _referring(question) else params.switch_min_terms
    if len(own) < needed:
        return False
    before = {t for text in topic for t in analyze(text)}
    return len(own & before) / len(own) <= params.switch_max_overlap


def _turn_text(turn: PriorTurn | str) -> tuple[str, bool]:
    """A turn's text and whether it is standalone already (an LLM rewrote it)."""
    if isinstance(turn, str):
        return turn, False
    rewritten = bool(turn.standalone.strip()) and turn.standalone.strip() != turn.question.strip()
    return (turn.standalone if rewritten else turn.question), rewritten


def current_topic(history: list[PriorTurn] | list[str], params: CondenseParams = DEFAULT_PARAMS) -> list[str]:
    """The earlier turns' texts since the last topic switch, oldest first."""
    topic: list[str] = []
    for turn in history:
        text, rewritten = _turn_text(turn)
        if rewritten or is_topic_switch(text, topic, params):
            topic = [text]  # a rewritten turn holds its own context
        else:
            topic.append(text)
    return topic


def condense_offline(
    question: str, history: list[PriorTurn] | list[str], params: CondenseParams = DEFAULT_PARAMS
) -> Condensed:
    """The follow-up ``question`` with the context of ``history`` (oldest first; turns or their
    questions): deterministic, no model. No history, or a new topic: no context."""
    topic = current_topic(history, params)
    switch = is_topic_switch(question, topic, params)
    if switch or not topic:
        return Condensed(standalone=question, topic_switch=switch, mode=CondenseMode.offline)
    used = topic[-params.max_context_turns :]
    return Condensed(
        standalone=question,
        context_terms=[t for text in used for t in analyze(text)],
        context_text=" ".join(used),
        turns_used=len(used),
        mode=CondenseMode.offline,
    )
