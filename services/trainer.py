"""The trainer process: runs one job spec and exits.

Run it with ``python -m services.trainer --spec URI``; it reads only the spec and the settings (``PQ_*``).
Launchers (a local process or a Kubernetes Job) start it; its stdout and stderr are the job's log.

Exit status: 0 when the job's output artifact is written; 2 with a one-line ``error:`` message when the
spec or its inputs are wrong; 1 on an unexpected failure (with its
traceback in the log).
"""

from __future__ import annotations

import os

# torch's and numba's OpenMP threads spin against each other on a busy machine unless they wait
# passively; the variable only works when set before either library loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence

from platform_core.errors import UserFacingError

log = logging.getLogger("services.trainer")


def run(spec_uri: str) -> None:
    """Read the spec at ``spec_uri`` and run it.

    Raises:
        JobSpecError: no valid spec at ``spec_uri``.
        UserFacingError: the job's inputs are wrong (missing tables, empty splits...).
    """
    from compute_engine.job_spec import read_job_spec
    from platform_core.object_store import ObjectStore
    from platform_core.settings import load_settings

    settings = load_settings()
    store = ObjectStore.from_settings(settings)
    spec = read_job_spec(store, spec_uri)
    log.info("job %s: %s %s, output %s", spec.job_id, spec.kind, spec.task_type.value, spec.output_uri)
    if spec.kind == "baseline":
        from compute_engine.baseline import run_baseline

        result = run_baseline(spec, store=store)
        state = "found (already computed)" if result.reused else "written"
        log.info("baseline %s at %s: %s", state, result.uri, result.metrics)
        return
    from compute_engine.training.job import run_predict_job, run_train_job

    run_job = run_train_job if spec.kind == "train" else run_predict_job
    result = run_job(spec, store=store)
    state = "found (already computed)" if result.reused else "written"
    log.info("%s output %s at %s: %s", spec.kind, state, result.uri, result.metrics or result.rows)


def main(argv: Sequence[str] | None = None) -> int:
    """The process entrypoint; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m services.trainer", description="Run one job spec.")
    parser.add_argument("--spec", required=True, help="URI of the job spec artifact")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run(args.spec)
    except UserFacingError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
