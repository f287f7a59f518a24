"""Models of feedback on answers: a rating of a finished query run, the record kept of it, and
the records of a collection (:mod:`ragstate.workflows.feedback`).

They travel through workflow history: ids and short texts, never the documents.

Example::

    rating = Feedback(query_id="rag-query-what-is-bm25-3f2a9c1d", good=False, sources=["/docs/bm25.md"])
    record = await rag.feedback(rating.query_id, rating.good, rating.sources)
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from ragstate.models.base import _Model
from ragstate.models.query import AnswerMode

#: Bounds that keep a record small in history and in the feedback file.
MAX_NOTE_CHARS = 2000
MAX_FEEDBACK_SOURCES = 50

#: A document id as the store holds it (a file's absolute path, a BEIR record's ``_id``): one
#: line of a qrels TSV in the export, so no tab or line break.
DocId = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[^\t\r\n]+$")]


class Feedback(_Model):
    """A rating of one answer: good or bad, optionally the document ids it should have cited."""

    query_id: str = Field(min_length=1, max_length=1000, description="the workflow id of the query run rated")
    good: bool
    sources: list[DocId] = Field(
        default_factory=list,
        max_length=MAX_FEEDBACK_SOURCES,
        description="document ids the answer should have cited (relevant in the export)",
    )
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)


class FeedbackRecord(_Model):
    """What is kept of a rating: the rating, the question, what the answer cited and where it
    came from. One per query run: a later rating of the same run replaces it."""

    query_id: str
    good: bool
    sources: list[str] = Field(default_factory=list, description="document ids given as right")
    note: str = ""
    question: str
    collection: str = Field(description="the collection name the question asked")
    version: str = Field(
        default="",
        description="the physical collection serving that name when the rating was stored (the answer does not "
        "record which version answered it; a re-index between answer and rating would show the new one)",
    )
    cited: list[str] = Field(default_factory=list, description="document ids the answer cited, in citation order")
    mode: AnswerMode
    created_at: datetime
    feedback_id: str = Field(default="", description="the workflow id of the RagFeedback run that stored it")


class FeedbackList(_Model):
    """The feedback records of one collection, oldest rating first."""

    collection: str
    records: list[FeedbackRecord] = Field(default_factory=list)
