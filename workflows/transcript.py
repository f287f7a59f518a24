"""``SessionTranscript``: a session's transcript read (or erased) by a worker, which shares the
data dir where the transcripts live; the session itself may be running, ended or gone.

Example::

    transcript = await client.execute_workflow(
        SessionTranscriptWorkflow.run, TranscriptRequest(session_id="chat-1"),
        id="rag-transcript-1a2b", task_queue="ragstate")
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ragstate.contracts import Activity, Workflow
    from ragstate.models.session import Transcript, TranscriptRequest

from ragstate.workflows.lifecycle import _step


@workflow.defn(name=Workflow.SESSION_TRANSCRIPT)
class SessionTranscriptWorkflow:
    @workflow.run
    async def run(self, req: TranscriptRequest) -> Transcript:
        transcript: Transcript = await _step(
            Activity.READ_TRANSCRIPT, req.session_id, Transcript, f"read the transcript of {req.session_id}"
        )
        if req.erase:
            await _step(Activity.ERASE_TRANSCRIPT, req.session_id, bool, f"erase the transcript of {req.session_id}")
            transcript = Transcript(session_id=req.session_id, erased=True)
        return transcript
