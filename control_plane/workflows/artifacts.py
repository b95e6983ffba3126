"""Shared artifacts: one child workflow per artifact, whose id is the artifact's content key.

Several pqueries on one graph need the same table and graph artifacts. Each job asks for an artifact by
starting :class:`BuildArtifactWorkflow` with the id ``pq-artifact-<key>``, where the key hashes what the
artifact is made from. Temporal allows one running workflow per id, so when two jobs ask at once the
second start is refused: that job waits for the running build (:data:`AWAIT_WORKFLOW`) and takes its
result instead of building a second copy. A build that already finished is not repeated either: the next
run of the id finds the committed artifact (its manifest) and returns it as reused.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ActivityCancellationType, ParentClosePolicy

from control_plane.workflows.messages import (
    ArtifactRequest,
    ArtifactResult,
    IngestOutcome,
    MaterializeOutcome,
)
from control_plane.workflows.policies import (
    AWAIT_WORKFLOW,
    DATA_STEP_TIMEOUT,
    ENGINE_RETRY,
    HEARTBEAT_TIMEOUT,
    INGEST_TABLE,
    MATERIALIZE_GRAPH,
    QUICK_RETRY,
)
from control_plane.workflows.task_queues import CONTROL, DATA

ARTIFACT_WORKFLOW_PREFIX = "pq-artifact-"
#: How many times a job tries to get an artifact whose builds (its own or another job's) keep ending
#: without a result (cancelled with the job that started them).
MAX_BUILD_ROUNDS = 3


def artifact_workflow_id(key: str) -> str:
    """The workflow id of the build of the artifact with content key ``key``."""
    return f"{ARTIFACT_WORKFLOW_PREFIX}{key}"


@workflow.defn(name="BuildArtifactWorkflow")
class BuildArtifactWorkflow:
    """Build one shared artifact: a table's ingestion (data queue) or a graph's materialization (graph queue)."""

    @workflow.run
    async def run(self, request: ArtifactRequest) -> ArtifactResult:
        """Run the one activity that builds the requested artifact.

        Args:
            request: the key and exactly one of ``ingest`` / ``materialize``.

        Returns:
            The outcome (``reused`` when the artifact was already committed).
        """
        options = dict(start_to_close_timeout=DATA_STEP_TIMEOUT, heartbeat_timeout=HEARTBEAT_TIMEOUT,
                       retry_policy=ENGINE_RETRY,
                       cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
        if request.ingest is not None:
            outcome = await workflow.execute_activity(INGEST_TABLE, request.ingest, task_queue=DATA,
                                                      result_type=IngestOutcome, **options)
            return ArtifactResult(ingest=outcome)
        if request.materialize is not None:
            # Materialization runs in Spark, so on the data engine's workers; the graph queue serves the stores.
            outcome = await workflow.execute_activity(MATERIALIZE_GRAPH, request.materialize, task_queue=DATA,
                                                      result_type=MaterializeOutcome, **options)
            return ArtifactResult(materialize=outcome)
        raise ApplicationError("an artifact request names nothing to build", type="InvalidRequest",
                               non_retryable=True)


async def build_shared(request: ArtifactRequest) -> tuple[ArtifactResult, bool]:
    """Get a shared artifact from inside a job workflow, building it at most once at a time.

    Args:
        request: the artifact's key and build request.

    Returns:
        ``(result, built_elsewhere)``: the outcome, and whether another job's build produced it.

    Raises:
        ChildWorkflowError: the build failed (its cause says why).
        ApplicationError: every try ended without a result.
    """
    workflow_id = artifact_workflow_id(request.key)
    for _ in range(MAX_BUILD_ROUNDS):
        try:
            handle = await workflow.start_child_workflow(
                BuildArtifactWorkflow.run, request, id=workflow_id, task_queue=CONTROL,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL)
        except WorkflowAlreadyStartedError:
            found = await workflow.execute_activity(
                AWAIT_WORKFLOW, workflow_id, task_queue=CONTROL, result_type=ArtifactResult,
                start_to_close_timeout=DATA_STEP_TIMEOUT, heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=QUICK_RETRY, cancellation_type=ActivityCancellationType.TRY_CANCEL)
            if found is not None and (found.ingest is not None or found.materialize is not None):
                return found, True
            await workflow.sleep(timedelta(seconds=1))
            continue
        return await handle, False
    raise ApplicationError(f"artifact {request.key}: every build ended without a result", type="ArtifactUnavailable")
