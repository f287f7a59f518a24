"""Activities of session transcripts (workflows/session.py): append a turn, read a transcript,
erase one. They run on the workflow worker, which shares the data dir with the store.

Example::

    acts = TranscriptActivities(settings)
    Worker(client, task_queue=..., activities=acts.all())
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ragstate.contracts import Activity, ErrorType
from ragstate.models.session import Transcript, TranscriptAppend
from ragstate.settings import Settings
from ragstate.store import transcripts


def _bad_id(e: ValueError) -> ApplicationError:
    return ApplicationError(str(e), type=ErrorType.INVALID_REQUEST, non_retryable=True)


class TranscriptActivities:
    def __init__(self, settings: Settings):
        self.settings = settings

    def all(self) -> list[Callable]:
        """Every activity of this class: what the workflow worker registers."""
        return [self.append_turn, self.read_transcript, self.erase_transcript]

    @activity.defn(name=Activity.APPEND_TURN)
    def append_turn(self, inp: TranscriptAppend) -> bool:
        """Write the turn to the transcript (once, however often it is retried)."""
        try:
            return transcripts.append(self.settings, inp.session_id, inp.record)
        except ValueError as e:
            raise _bad_id(e) from None

    @activity.defn(name=Activity.READ_TRANSCRIPT)
    def read_transcript(self, session_id: str) -> Transcript:
        try:
            return Transcript(session_id=session_id, turns=transcripts.read(self.settings, session_id))
        except ValueError as e:
            raise _bad_id(e) from None

    @activity.defn(name=Activity.ERASE_TRANSCRIPT)
    def erase_transcript(self, session_id: str) -> bool:
        try:
            return transcripts.erase(self.settings, session_id)
        except ValueError as e:
            raise _bad_id(e) from None
