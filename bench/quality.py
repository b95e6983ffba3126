"""Model quality: the GNN beside the baseline on the demo data and on the real datasets in ../shared/datasets.

Each case runs the platform's own jobs in-process: ingestion, materialization and training tables in Spark,
then one GNN trial (``train`` job) and the baseline (LightGBM on the entity's own columns, or most-popular
for ranking) on the same training table. Holdout metrics are compared; the training throughput (seeds/s,
sampling and feature fetches included) is reported per case on the device used.

Goals (issue 6): demo churn AUROC >= 0.80 and clearly above the baseline; on the shared datasets the GNN beats
the baseline on at least one classification and one regression query, and ranking beats most-popular at
MAP@10.

    python bench/quality.py [--quick] [--datasets PATH] [--only NAME ...]

Last line: one JSON object with ``gnn_auroc``, ``baseline_auroc`` (demo churn) and one entry per case.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# bench/data_engine.py would shadow the data_engine package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = REPO.parent / "shared" / "datasets"


@dataclass
class Dataset:
    """Tables to ingest (path, ingest options as a dict), their graph schema, and queries (name -> PQL, metric)."""

    name: str
    tables: dict[str, tuple[Path, dict[str, Any]]]
    schema: dict[str, Any]
    queries: dict[str, tuple[str, str]] = field(default_factory=dict)
    boundaries: dict[str, Any] | None = None


def _demo(work: Path, scale: float, _: Path) -> Dataset:
    from data_engine.demo_data import generate

    raw = work / "demo"
    generate(raw.as_uri(), scale=scale, seed=0, fmt="parquet")
    schema = json.loads((raw / "schema.json").read_text())
    tables = {name: (raw / f"{name}.parquet", {"primary_key": t["primary_key"] or "",
                                                "time_column": t["time_column"] or ""})
              for name, t in schema["tables"].items()}
    queries = {
        "churn": ("PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id", "auroc"),
        "spend": ("PREDICT SUM(orders.price, 0, 30, days) FOR EACH customers.customer_id "
                  "WHERE COUNT(orders.*, -90, 0, days) > 0", "mae"),
        "next_products": ("PREDICT LIST_DISTINCT(orders.product_id, 0, 30, days) RANK TOP 10 "
                          "FOR EACH customers.customer_id", "map@10"),
    }
    return Dataset("demo", tables, schema, queries)


def _movielens(work: Path, _: float, datasets: Path) -> Dataset:
    src = datasets / "movielens_latest_small"
    # MovieLens has no users table: the entity table is the distinct users of ratings.csv.
    users = work / "movielens_users.csv"
    with open(src / "ratings.csv", newline="") as f:
        ids = sorted({int(row["userId"]) for row in csv.DictReader(f)})
    users.write_text("userId\n" + "".join(f"{i}\n" for i in ids))
    seconds = {"timestamp": {"stype": "timestamp", "unix_unit": "s"}}
    tables = {
        "users": (users, {"primary_key": "userId", "time_column": ""}),
        "movies": (src / "movies.csv", {"primary_key": "movieId", "time_column": "",
                                        "columns": {"genres": {"stype": "multicategorical", "separator": "|"},
                                                    "title": {"stype": "text"}}}),
        "ratings": (src / "ratings.csv", {"primary_key": "", "time_column": "timestamp",
                                          "columns": {**seconds, "rating": {"stype": "numerical"}}}),
        "tags": (src / "tags.csv", {"primary_key": "", "time_column": "timestamp", "columns": seconds}),
    }
    schema = {"tables": {
        "users": {"primary_key": "userId", "time_column": None, "columns": {"userId": "ID"}},
        "movies": {"primary_key": "movieId", "time_column": None,
                   "columns": {"movieId": "ID", "title": "text", "genres": "multicategorical"}},
        "ratings": {"primary_key": None, "time_column": "timestamp",
                    "columns": {"userId": "ID", "movieId": "ID", "rating": "numerical", "timestamp": "timestamp"}},
        "tags": {"primary_key": None, "time_column": "timestamp",
                 "columns": {"userId": "ID", "movieId": "ID", "tag": "categorical", "timestamp": "timestamp"}},
    }, "links": [{"table": "ratings", "column": "userId", "to": "users"},
                 {"table": "ratings", "column": "movieId", "to": "movies"},
                 {"table": "tags", "column": "userId", "to": "users"},
                 {"table": "tags", "column": "movieId", "to": "movies"}]}
    queries = {
        "user_active": ("PREDICT COUNT(ratings.*, 0, 90, days) > 0 FOR EACH users.userId "
                        "WHERE COUNT(ratings.*, -365, 0, days) > 0", "auroc"),
        "user_ratings": ("PREDICT COUNT(ratings.*, 0, 90, days) FOR EACH users.userId "
                         "WHERE COUNT(ratings.*, -365, 0, days) > 0", "mae"),
        "next_movies": ("PREDICT LIST_DISTINCT(ratings.movieId, 0, 90, days) RANK TOP 10 FOR EACH users.userId "
                        "WHERE COUNT(ratings.*, -365, 0, days) > 0", "map@10"),
    }
    # Users are few and sparse in time: three anchors each for validation and holdout, not one.
    return Dataset("movielens", tables, schema, queries, boundaries={"eval_windows": 3})


def _sakila(work: Path, _: float, datasets: Path) -> Dataset:
    src = datasets / "sakila"
    stamp = {"date_format": "yyyy-MM-dd HH:mm:ss.SSS"}
    tables = {
        # Every customer's create_date is the 2006 import date: as a time column it would hide them all.
        "customer": (src / "customer.csv", {"primary_key": "customer_id", "time_column": "",
                                            "columns": {"create_date": {**stamp, "stype": "timestamp"}}}),
        "rental": (src / "rental.csv", {"primary_key": "rental_id", "time_column": "rental_date",
                                        "columns": {"rental_date": stamp, "return_date": stamp}}),
        "payment": (src / "payment.csv", {"primary_key": "payment_id", "time_column": "payment_date",
                                          "columns": {"payment_date": stamp, "amount": {"stype": "numerical"}}}),
        "inventory": (src / "inventory.csv", {"primary_key": "inventory_id", "time_column": ""}),
        "film": (src / "film.csv", {"primary_key": "film_id", "time_column": ""}),
    }
    schema = {"tables": {
        "customer": {"primary_key": "customer_id", "time_column": None,
                     "columns": {"customer_id": "ID", "store_id": "categorical", "active": "categorical"}},
        "rental": {"primary_key": "rental_id", "time_column": "rental_date",
                   "columns": {"rental_id": "ID", "rental_date": "timestamp", "inventory_id": "ID",
                               "customer_id": "ID", "staff_id": "categorical"}},
        "payment": {"primary_key": "payment_id", "time_column": "payment_date",
                    "columns": {"payment_id": "ID", "customer_id": "ID", "rental_id": "ID", "amount": "numerical",
                                "payment_date": "timestamp"}},
        "inventory": {"primary_key": "inventory_id", "time_column": None,
                      "columns": {"inventory_id": "ID", "film_id": "ID", "store_id": "categorical"}},
        "film": {"primary_key": "film_id", "time_column": None,
                 "columns": {"film_id": "ID", "rating": "categorical", "rental_rate": "numerical",
                             "length": "numerical"}},
    }, "links": [{"table": "rental", "column": "customer_id", "to": "customer"},
                 {"table": "rental", "column": "inventory_id", "to": "inventory"},
                 {"table": "payment", "column": "customer_id", "to": "customer"},
                 {"table": "payment", "column": "rental_id", "to": "rental"},
                 {"table": "inventory", "column": "film_id", "to": "film"}]}
    queries = {
        "customer_spend": ("PREDICT SUM(payment.amount, 0, 14, days) FOR EACH customer.customer_id", "mae"),
        "customer_idle": ("PREDICT COUNT(rental.*, 0, 14, days) = 0 FOR EACH customer.customer_id", "auroc"),
    }
    return Dataset("sakila", tables, schema, queries)


DATASETS: dict[str, Callable[[Path, float, Path], Dataset]] = {"demo": _demo, "movielens": _movielens,
                                                                "sakila": _sakila}


def _run_dataset(dataset: Dataset, work: Path, plan: dict[str, Any], log: Callable[[str], None]) -> dict[str, Any]:
    import pql
    from compute_engine.baseline import run_baseline
    from compute_engine.job_spec import GraphInputs, JobSpec
    from compute_engine.training.job import run_train_job
    from data_engine.ingest import IngestOptions, ingest_table
    from data_engine.materialize import materialize_graph
    from data_engine.training_table import build_training_table
    from platform_core.object_store import ObjectStore
    from platform_core.settings import Settings

    settings = Settings(home=work / f"home-{dataset.name}")
    store = ObjectStore.from_settings(settings)
    start = time.perf_counter()
    uris = {name: ingest_table(str(path), name, settings=settings, store=store, profile=False,
                               options=IngestOptions.from_dict(options)).uri
            for name, (path, options) in dataset.tables.items()}
    graph = materialize_graph(dataset.schema, uris, "graph", settings=settings, store=store)
    inputs = GraphInputs(graph_uri=graph.graph_uri, features_uri=graph.output_uri + "/features",
                         index_uri=graph.output_uri + "/index")
    log(f"{dataset.name}: ingested and materialized in {time.perf_counter() - start:.0f} s")
    results: dict[str, Any] = {}
    for name, (query, metric) in dataset.queries.items():
        try:
            compiled = pql.compile(query, pql.GraphSchema.from_dict(dataset.schema))
            table = build_training_table(compiled.plan, uris, store.uri("training", name), store=store,
                                         settings=settings, boundaries=dataset.boundaries)
            mark = time.perf_counter()
            gnn = run_train_job(JobSpec(kind="train", job_id=f"{name}-gnn", task_type=compiled.task_type,
                                        training_table_uri=table.uri, output_uri=store.uri("jobs", name, "gnn"),
                                        graph=inputs, model_plan=dict(plan), seed=0), store=store)
            seconds = time.perf_counter() - mark
            baseline = run_baseline(JobSpec(kind="baseline", job_id=f"{name}-baseline", task_type=compiled.task_type,
                                            training_table_uri=table.uri, table_uris=uris,
                                            output_uri=store.uri("jobs", name, "baseline")), store=store)
        except Exception as exc:  # noqa: BLE001 - one failing case is reported, the others still run
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"{dataset.name}/{name}: failed: {exc}")
            continue
        summary = json.loads((Path(store.local_path(gnn.uri)) / "metrics.json").read_text())
        g, b = gnn.metrics.get(metric), baseline.metrics.get(metric)
        lower = metric in ("mae", "rmse")
        results[name] = {"metric": metric, "gnn": g, "baseline": b,
                         "gnn_wins": None if g is None or b is None else (g < b if lower else g > b),
                         "baseline_model": baseline.model, "rows": gnn.rows, "train_seconds": round(seconds, 1),
                         "seeds_per_s": round(summary.get("seeds_per_s") or 0.0, 1), "device": summary.get("device"),
                         "gnn_metrics": gnn.metrics, "baseline_metrics": baseline.metrics}
        log(f"{dataset.name}/{name}: {metric} GNN {g} vs {baseline.model} {b} "
            f"({gnn.rows}, {summary.get('seeds_per_s', 0):.0f} seeds/s)")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="demo scale 0.1 and short training")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="the shared datasets folder")
    parser.add_argument("--only", nargs="*", choices=sorted(DATASETS), help="run only these datasets")
    parser.add_argument("--work", type=Path, default=None, help="keep artifacts in this folder")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    scale = 0.1 if args.quick else 0.5
    plan = {"epochs": 4, "patience": 2} if args.quick else {"epochs": 12, "patience": 3}
    names = args.only or list(DATASETS)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pq-quality-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in names:
            if name != "demo" and not args.datasets.exists():
                results[name] = {"error": f"no datasets folder at {args.datasets}"}
                continue
            dataset = DATASETS[name](work, scale, args.datasets)
            results[name] = _run_dataset(dataset, work, plan, log)
    churn = results.get("demo", {}).get("churn", {})
    shared = [r for n, cases in results.items() if n != "demo" for r in cases.values() if "metric" in r]
    out = {"bench": "quality", "quick": args.quick, "demo_scale": scale, "plan": plan,
           "gnn_auroc": churn.get("gnn"), "baseline_auroc": churn.get("baseline"),
           "goals": {"demo_churn_auroc_0_80": (churn.get("gnn") or 0) >= 0.80 and bool(churn.get("gnn_wins")),
                     "shared_classification_win": any(r["gnn_wins"] for r in shared if r["metric"] == "auroc"),
                     "shared_regression_win": any(r["gnn_wins"] for r in shared if r["metric"] == "mae"),
                     "shared_ranking_beats_most_popular": any(r["gnn_wins"] for r in shared
                                                              if r["metric"].startswith("map@"))},
           "cases": {f"{n}/{q}": r for n, cases in results.items() for q, r in cases.items()}}
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
