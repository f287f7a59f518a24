"""Blue/green re-index: build a new version of a collection beside the live one (the ingest
workflow, as a child, from the live version's sources and with new indexing parameters),
optionally gate it on nDCG@10 and wait for a person's approval (an Update: approve or reject,
a timeout keeps the live version), switch the collection's name to it atomically, and drop the
old version after a grace period.

Queries keep using the live version throughout: they name the collection, and its pointer
(a Qdrant alias, or the embedded store's pointer file) moves only at the switch. The gate runs
every judged query through the query workflow's retrieval path (children, retrieval only) on
both versions and scores the fused ranking with :mod:`ragstate.evaluation.beir`'s functions.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from ragstate.contracts import Activity, Query, Update, Workflow
    from ragstate.evaluation.ranking_metrics import document_ranking, ndcg_at
    from ragstate.models import (
        GateSet,
        IngestRequest,
        IngestResult,
        RagAnswer,
        RagQuery,
        ReindexDecision,
        ReindexPlan,
        ReindexPlanInput,
        ReindexRequest,
        ReindexResult,
        SwitchInput,
    )
# Not passed through, as in workflows/summarize.py: built on the sandbox's copy of ragstate.models.
from ragstate.models.summaries import SummaryCopied, SummaryCopyInput
from ragstate.workflows.summarize import embed_summaries

STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=5
)
#: Runs from before summaries were carried over replay without the step.
PATCH_KEEP_SUMMARIES = "reindex-keeps-summaries"
#: nDCG@10 reads the first 10 documents: each gate query returns no more, so the history of a
#: 100-question gate (200 children) stays small (with whole rankings, 600 hits each: about 15 MB).
#: Not patched: the child's input and result change, not the commands (runs from before replay).
GATE_DEPTH = 10
#: Where a run with ``approve=True`` stops, and the phases after which a decision is moot.
AWAITING = "awaiting-approval"
DECIDED = ("switched", "done", "refused", "rejected")


@workflow.defn(name=Workflow.REINDEX)
class ReindexWorkflow:
    def __init__(self) -> None:
        self._state = ReindexResult()
        self._approved: bool | None = None
        self._dropping = False

    @workflow.query(name=Query.REINDEX_STATE)
    def state(self) -> ReindexResult:
        return self._state

    @workflow.update(name=Update.APPROVE_REINDEX)
    async def approve(self, decision: ReindexDecision) -> ReindexResult:
        """Switch to the new version; returns the state once the switch is done."""
        return await self._decide(True, decision)

    @workflow.update(name=Update.REJECT_REINDEX)
    async def reject(self, decision: ReindexDecision) -> ReindexResult:
        """Keep the live version and drop the new one; returns the state once it is dropped."""
        return await self._decide(False, decision)

    @approve.validator
    def _approve_only_while_waiting(self, decision: ReindexDecision) -> None:
        self._check_waiting()

    @reject.validator
    def _reject_only_while_waiting(self, decision: ReindexDecision) -> None:
        self._check_waiting()

    def _check_waiting(self) -> None:
        # A validator's refusal is not written to the history: a late or second decision, or one
        # sent to a run that never asked for any, leaves no trace and changes nothing.
        if self._state.phase != AWAITING or self._approved is not None:
            raise ValueError(f"this re-index is not waiting for a decision (phase: {self._state.phase})")

    async def _decide(self, approved: bool, decision: ReindexDecision) -> ReindexResult:
        self._approved, self._state.note = approved, decision.note
        await workflow.wait_condition(lambda: self._state.phase in DECIDED and not self._dropping)
        return self._state

    def _decision_details(self, timeout_s: float) -> str:
        """What the UI's Current Details show while the run waits: what was built, the gate's
        scores, and how to decide."""
        s, run_id = self._state, workflow.info().workflow_id
        lines = [
            f"**Waiting for a decision** on {s.new}, built beside the live {s.live} of {s.collection}",
            "",
            "| | live | new |",
            "|---|---|---|",
            f"| nDCG@10 | {s.live_ndcg if s.live_ndcg is not None else '-'} | "
            f"{s.new_ndcg if s.new_ndcg is not None else '-'} |",
            "",
            f"{s.documents} documents, {s.chunks} chunks, {s.failed} failed; parameters {s.params}.",
            f"`ragstate reindex approve {run_id}` switches; `ragstate reindex reject {run_id}` keeps the "
            f"live version, as does no decision within {timeout_s:g} s.",
        ]
        return "\n".join(lines)

    async def _approval(self, timeout_s: float) -> bool:
        """Wait for ``approve`` or ``reject``; nobody deciding within ``timeout_s`` keeps the
        live version, as a rejection does."""
        s = self._state
        s.phase = AWAITING
        s.reason = f"waiting for `ragstate reindex approve|reject {workflow.info().workflow_id}`"
        workflow.set_current_details(self._decision_details(timeout_s))
        try:
            await workflow.wait_condition(lambda: self._approved is not None, timeout=timedelta(seconds=timeout_s))
        except TimeoutError:
            s.phase, s.reason = "rejected", f"no decision within {timeout_s:g} s: kept the live version"
            return False
        if not self._approved:
            s.phase, s.reason = "rejected", "rejected: kept the live version"
        return bool(self._approved)

    async def _step(self, activity: str, arg, result_type, summary: str, minutes: int = 5):
        return await workflow.execute_activity(
            activity,
            arg,
            result_type=result_type,
            start_to_close_timeout=timedelta(minutes=minutes),
            retry_policy=STEP_RETRY,
            summary=summary,
        )

    async def _ndcg(self, gate: GateSet, collection: str, side: str, concurrency: int) -> float:
        """Mean nDCG@10 of the fused ranking over the judged queries (a failed query scores 0)."""
        slots = asyncio.Semaphore(concurrency)
        base = workflow.info().workflow_id

        async def one(i: int, qid: str) -> float:
            async with slots:
                try:
                    answer: RagAnswer = await workflow.execute_child_workflow(
                        Workflow.QUERY,
                        RagQuery(
                            question=gate.queries[qid],
                            collection=collection,
                            synthesize=False,
                            ranked_documents=GATE_DEPTH,
                        ),
                        id=f"{base}-gate-{side}-{i}",
                        result_type=RagAnswer,
                        execution_timeout=timedelta(minutes=5),
                        static_summary=f"gate query {qid} on {collection}",
                    )
                except ChildWorkflowError:
                    return 0.0
            return ndcg_at(document_ranking(answer.ranking), gate.qrels.get(qid, {}), k=GATE_DEPTH)

        scores = await asyncio.gather(*(one(i, qid) for i, qid in enumerate(sorted(gate.queries))))
        return round(sum(scores) / len(scores), 4) if scores else 0.0

    async def _keep_summaries(self, live: str, new: str) -> int:
        """The live version's document summaries, written into the new version and embedded
        (the documents are the same, only re-chunked: nothing is summarized again)."""
        copied: SummaryCopied = await self._step(
            Activity.COPY_SUMMARIES,
            SummaryCopyInput(source=live, target=new),
            SummaryCopied,
            f"carry the summaries of {live} over to {new}",
        )
        if not copied.written:
            return 0
        try:
            await embed_summaries(new, copied.written, copied.embeddings_task_queue, STEP_RETRY)
        except ActivityError as e:  # still found by keyword search, as after an ingest
            workflow.logger.warning("summaries carried over but not embedded: %s", e)
        return len(copied.written)

    @workflow.run
    async def run(self, request: ReindexRequest) -> ReindexResult:
        s = self._state
        s.collection = request.collection
        plan: ReindexPlan = await self._step(
            Activity.PLAN_REINDEX,
            ReindexPlanInput(request=request, tag=workflow.uuid4().hex[:8]),
            ReindexPlan,
            f"plan a new version of {request.collection}",
        )
        s.live, s.new, s.params, s.phase = plan.live, plan.new, plan.params, "building"
        built: IngestResult = await workflow.execute_child_workflow(
            Workflow.INGEST,
            # groups_from: a document restricted by its ingest's access_groups stays restricted.
            IngestRequest(paths=plan.sources, collection=plan.new, groups_from=plan.live),
            id=f"{workflow.info().workflow_id}-build",
            result_type=IngestResult,
            static_summary=f"build {plan.new} beside {plan.live}",
        )
        s.documents, s.chunks, s.failed = built.documents, built.chunks, built.failed
        if workflow.patched(PATCH_KEEP_SUMMARIES):
            s.summaries = await self._keep_summaries(plan.live, plan.new)
        if request.gate:
            s.phase = "gating"
            gate: GateSet = await self._step(Activity.LOAD_GATE, request.gate, GateSet, f"read the gate {request.gate}")
            s.live_ndcg = await self._ndcg(gate, plan.live, "live", request.gate_concurrency)
            s.new_ndcg = await self._ndcg(gate, plan.new, "new", request.gate_concurrency)
            if s.new_ndcg < s.live_ndcg - request.tolerance:
                s.phase = "refused"
                s.reason = (
                    f"nDCG@10 {s.new_ndcg:.4f} of the new version is below the live {s.live_ndcg:.4f} "
                    f"minus the tolerance {request.tolerance}: kept the live version"
                )
                await self._step(Activity.DROP_COLLECTION_VERSION, plan.new, bool, f"drop {plan.new}")
                return s
        if request.approve and not await self._approval(request.approval_timeout_s):
            self._dropping = True
            await self._step(Activity.DROP_COLLECTION_VERSION, plan.new, bool, f"drop the rejected {plan.new}")
            self._dropping = False
            return s
        previous: str = await self._step(
            Activity.SWITCH_COLLECTION,
            SwitchInput(collection=plan.collection, target=plan.new),
            str,
            f"switch {plan.collection} to {plan.new}",
        )
        s.switched, s.phase = True, "switched"
        s.reason = f"{plan.collection} now serves {plan.new}"
        # Queries that resolved the old version just before the switch finish on it meanwhile.
        await workflow.sleep(timedelta(seconds=request.grace_s))
        if previous != plan.new:
            s.old_dropped = await self._step(
                Activity.DROP_COLLECTION_VERSION, previous, bool, f"drop the old version {previous}"
            )
        s.phase = "done"
        return s
