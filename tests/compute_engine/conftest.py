"""Fixtures of the compute engine's tests: small table artifacts in the layouts the data engine writes.

The entity tables and training tables here are real artifacts (Parquet parts and manifests with the metadata
keys that ``data_engine.ingest`` and ``data_engine.training_table`` write), built with pyarrow so that the
tests need no Spark.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from compute_engine.job_spec import JobSpec, write_job_spec
from data_engine.ingest.tables import TABLE_PRODUCER
from data_engine.training_table.job import TRAINING_PRODUCER
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore

UTC = dt.timezone.utc
ANCHOR = dt.datetime(2023, 6, 1, tzinfo=UTC)
CUSTOMER_STYPES = {"customer_id": "ID", "segment": "categorical", "spend": "numerical", "region_id": "ID",
                   "signup_at": "timestamp", "bio": "text", "tags": "multicategorical"}


def write_entity_table(store: ObjectStore, uri: str, table: pa.Table, *, name: str, primary_key: str,
                       time_column: str | None = None, stypes: dict[str, str] | None = None,
                       separators: dict[str, str] | None = None, parts: int = 2) -> str:
    """Write ``table`` as an ingested table artifact split into ``parts`` Parquet parts."""
    with ArtifactStore(store).writer(uri, producer=TABLE_PRODUCER, inputs={"test": name}) as writer:
        bounds = np.linspace(0, table.num_rows, parts + 1).astype(int)
        for i in range(parts):
            writer.write_table(f"data/part-{i:05d}.parquet", table.slice(bounds[i], bounds[i + 1] - bounds[i]))
        writer.metadata.update({
            "table": name, "rows": table.num_rows, "columns": table.column_names,
            "dtypes": {f.name: str(f.type) for f in table.schema}, "primary_key": primary_key,
            "time_column": time_column, "stypes": stypes or {}, "separators": separators or {},
        })
    return writer.uri


def make_customers(n: int, seed: int = 0) -> pa.Table:
    """A customers table with a column of each semantic type (keys 1000, 1001, ...)."""
    rng = np.random.default_rng(seed)
    signup = [dt.datetime(2020, 1, 1, tzinfo=UTC) + dt.timedelta(days=int(d)) for d in rng.integers(0, 1000, n)]
    words = np.array(["good", "value", "fast", "shipping", "quality", "price"])
    return pa.table({
        "customer_id": pa.array(np.arange(n) + 1000, pa.int64()),
        "segment": pa.array(rng.choice(["gold", "silver", "bronze"], n)),
        "spend": pa.array(np.round(rng.gamma(2.0, 50.0, n), 2)),
        "region_id": pa.array(rng.integers(1, 20, n), pa.int64()),
        "signup_at": pa.array(signup, pa.timestamp("us", tz="UTC")),
        "bio": pa.array([" ".join(rng.choice(words, rng.integers(1, 9))) for _ in range(n)]),
        "tags": pa.array(["|".join(rng.choice(["a", "b", "c", "d"], rng.integers(1, 4), replace=False))
                          for _ in range(n)]),
    })


def seeded_splits(n: int, seed: int = 1) -> list[str]:
    """A seeded 70/15/15 train/val/holdout split."""
    draw = np.random.default_rng(seed).random(n)
    return ["train" if d < 0.7 else "val" if d < 0.85 else "holdout" for d in draw]


@dataclass
class Shop:
    """A store holding a customers table, and builders of training tables and job specs over it."""

    store: ObjectStore
    customers: pa.Table
    customers_uri: str

    @property
    def keys(self) -> np.ndarray:
        return self.customers.column("customer_id").to_numpy()

    def column(self, name: str) -> np.ndarray:
        return np.asarray(self.customers.column(name).to_pylist())

    def training_table(self, name: str, labels: list[Any], label_type: pa.DataType, task_type: str, *,
                       rank_k: int | None = None, split: list[str] | None = None, keys: Any = None,
                       anchors: list[dt.datetime] | None = None) -> str:
        """Write a training table (customer_id, anchor_time, label, split) and return its URI."""
        keys = self.keys if keys is None else np.asarray(keys)
        split = split if split is not None else seeded_splits(len(keys))
        table = pa.table({
            "customer_id": pa.array(keys, pa.int64()),
            "anchor_time": pa.array(anchors or [ANCHOR] * len(keys), pa.timestamp("us", tz="UTC")),
            "label": pa.array(labels, label_type),
            "split": pa.array(split),
        })
        uri = self.store.uri("training", name)
        with ArtifactStore(self.store).writer(uri, producer=TRAINING_PRODUCER, inputs={"test": name}) as writer:
            writer.write_table("data/part-00000.parquet", table)
            writer.metadata.update({
                "task_type": task_type, "entity_column": "customer_id", "columns": table.column_names,
                "entity": {"table": "customers", "primary_key": "customer_id", "time_column": "signup_at"},
                "rank_k": rank_k, "rows": table.num_rows,
                "rows_per_split": {s: split.count(s) for s in ("train", "val", "holdout")},
            })
        return writer.uri

    def customers_with(self, columns: list[str], stypes: dict[str, str]) -> str:
        """Another customers table artifact with only ``columns``; returns its URI."""
        return write_entity_table(self.store, self.store.uri("tables", "customers-" + "-".join(columns)),
                                  self.customers.select(columns), name="customers", primary_key="customer_id",
                                  stypes=stypes)

    def spec(self, task_type: str, training_table_uri: str, *, job_id: str = "job-1", output: str = "out",
             **fields: Any) -> JobSpec:
        """A baseline job spec over the customers table."""
        return JobSpec(kind="baseline", job_id=job_id, task_type=task_type, training_table_uri=training_table_uri,
                       output_uri=self.store.uri("jobs", job_id, output),
                       table_uris={"customers": self.customers_uri}, **fields)

    def write_spec(self, spec: JobSpec) -> str:
        return write_job_spec(self.store, self.store.uri("jobs", spec.job_id, "spec"), spec)


@pytest.fixture
def store(tmp_path) -> ObjectStore:
    return ObjectStore((tmp_path / "store").as_uri())


@pytest.fixture
def shop(store: ObjectStore) -> Shop:
    customers = make_customers(2000)
    uri = write_entity_table(store, store.uri("tables", "customers"), customers, name="customers",
                             primary_key="customer_id", time_column="signup_at", stypes=CUSTOMER_STYPES,
                             separators={"tags": "|"})
    return Shop(store, customers, uri)
