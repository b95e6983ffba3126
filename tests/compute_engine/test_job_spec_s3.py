"""Job specs stored on a real S3 server (SeaweedFS), as a Kubernetes trainer reads them."""

from __future__ import annotations

import pytest

from compute_engine.job_spec import JobSpec, JobSpecError, Resources, read_job_spec, write_job_spec

pytestmark = pytest.mark.integration


def test_spec_round_trips_through_s3(s3_store) -> None:
    spec = JobSpec(kind="baseline", job_id="b-1", task_type="regression", output_uri=s3_store.uri("out"),
                   training_table_uri=s3_store.uri("tt"), resources=Resources(cpu=0.5, memory="512Mi"))
    uri = write_job_spec(s3_store, "jobs/b-1/spec", spec)
    assert uri.startswith("s3://")
    assert read_job_spec(s3_store, uri) == spec
    with pytest.raises(JobSpecError, match="no job spec"):
        read_job_spec(s3_store, s3_store.uri("jobs/missing/spec"))
