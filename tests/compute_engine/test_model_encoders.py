"""Column encoders, hashed text and the relative time encoding, on real feature artifacts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from compute_engine.model.encoders import TIMESTAMP_NULL, NodeBatch, TableEncoder, TableSpec, calendar_parts
from compute_engine.model.temporal import RelativeTimeEncoder, age_features
from compute_engine.model.text import hash_text
from graph_engine.features.store import ArtifactFeatureStore
from graph_engine.synthetic import SyntheticConfig, generate
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> ArtifactFeatureStore:
    store = ObjectStore((tmp_path_factory.mktemp("enc") / "store").as_uri())
    generate(SyntheticConfig(customers=80, products=20, orders=300, reviews=60, seed=3)).write(ArtifactStore(store), "s")
    return ArtifactFeatureStore.open(store, "s/features")


def _nodes(features: ArtifactFeatureStore, table: str, rows: torch.Tensor, buckets: int = 64) -> NodeBatch:
    names = features.attr_names(table)
    got = dict(zip(names, features.multi_get_tensor([(table, n, rows) for n in names])))
    spec = TableSpec.from_info(features.table_info(table))
    text = hash_text(features.text(table), buckets).gather(rows) if spec.text else None
    return NodeBatch(n_id=rows, group=torch.zeros_like(rows), time=got.get("time"), numerical=got.get("numerical"),
                     categorical=got.get("categorical"), timestamp=got.get("timestamp"),
                     multicategorical=got.get("multicategorical"), text=text)


def test_calendar_parts_match_numpy_dates():
    seconds = np.array([0, 951_782_400, 1_709_251_199, -86_401, 4_102_444_800, 1_234_567_890], dtype=np.int64)
    parts = calendar_parts(torch.from_numpy(seconds)).numpy()
    dates = seconds.astype("datetime64[s]")
    years = dates.astype("datetime64[Y]").astype(int) + 1970
    months = dates.astype("datetime64[M]").astype(int) % 12
    days = (dates.astype("datetime64[D]") - dates.astype("datetime64[M]")).astype(int)
    weekday = (dates.astype("datetime64[D]").astype(int) + 3) % 7
    seconds_of_day = seconds - dates.astype("datetime64[D]").astype("datetime64[s]").astype(np.int64)
    assert parts[:, 0].tolist() == years.tolist()
    assert parts[:, 1].tolist() == months.tolist()
    assert parts[:, 2].tolist() == days.tolist()
    assert parts[:, 3].tolist() == weekday.tolist()
    assert (parts[:, 4] * 3600 + parts[:, 5] * 60 + parts[:, 6]).tolist() == seconds_of_day.tolist()
    # 2000-02-29 (a leap day), and 1969-12-30 23:59:59 (before the epoch).
    assert parts[1, :3].tolist() == [2000, 1, 28]
    assert parts[3].tolist() == [1969, 11, 29, 1, 23, 59, 59]


def test_every_semantic_type_is_encoded_and_nulls_stay_finite(features):
    torch.manual_seed(0)
    spec = TableSpec.from_info(features.table_info("customers"))
    assert spec.numerical == ["age"] and spec.multicategorical == ["interests"] and spec.timestamp == ["birthday"]
    encoder = TableEncoder(spec, 16)
    rows = torch.arange(80)
    nodes = _nodes(features, "customers", rows)
    assert torch.isnan(nodes.numerical).any() and (nodes.timestamp == TIMESTAMP_NULL).any()
    anchor = nodes.time + 86_400 * 30
    out = encoder(nodes, anchor)
    assert out.shape == (80, 16) and torch.isfinite(out).all()
    # Each column changes the output: a null age and a present one give different vectors.
    null_age = torch.isnan(nodes.numerical[:, 0])
    assert not torch.allclose(out[null_age][0], out[~null_age][0])
    out.sum().backward()
    assert encoder.numerical.null.grad.abs().sum() > 0
    assert encoder.multicategorical.embedding.embs[0].weight.grad.abs().sum() > 0
    assert encoder.timestamp.calendar.weight.grad.abs().sum() > 0


def test_timestamp_columns_see_the_distance_to_the_anchor(features):
    torch.manual_seed(0)
    encoder = TableEncoder(TableSpec.from_info(features.table_info("customers")), 8).eval()
    nodes = _nodes(features, "customers", torch.arange(10))
    early, late = encoder(nodes, nodes.time), encoder(nodes, nodes.time + 86_400 * 3650)
    assert not torch.allclose(early, late)


def test_text_is_hashed_once_per_table_and_deterministic(features):
    table = features.text("products")
    first, second = hash_text(table, 128), hash_text(table, 128)
    assert first.num_rows == 20 and first.num_columns == 1
    assert torch.equal(first.indices, second.indices) and torch.equal(first.weights, second.weights)
    rows = torch.tensor([3, 0, 3])
    indices, weights, offsets = first.gather(rows)
    assert offsets.tolist()[0] == 0 and offsets.numel() == 3
    assert torch.equal(indices[offsets[0]:offsets[1]], first.indices[first.indptr[3]:first.indptr[4]])
    # Rows are unit vectors; identical titles hash identically, different ones differ.
    titles = table.column("title").to_pylist()
    norms = torch.zeros(20).index_add_(0, torch.repeat_interleave(torch.arange(20), first.indptr.diff()),
                                       first.weights ** 2)
    assert torch.allclose(norms, torch.ones(20), atol=1e-5)
    a, b = next((i, j) for i in range(20) for j in range(20) if i != j and titles[i] != titles[j])
    assert not torch.equal(first.indices[first.indptr[a]:first.indptr[a + 1]],
                           first.indices[first.indptr[b]:first.indptr[b + 1]])
    nulls = hash_text(pa.table({"t": ["x y", None]}), 32)
    assert nulls.counts[1, 0] == 0


def test_products_text_and_tables_without_columns(features):
    torch.manual_seed(0)
    spec = TableSpec.from_info(features.table_info("products"))
    encoder = TableEncoder(spec, 8, text_buckets=64)
    out = encoder(_nodes(features, "products", torch.arange(5), 64), torch.zeros(5, dtype=torch.long))
    assert out.shape == (5, 8)
    empty = TableEncoder(TableSpec(table="tags"), 8)
    vectors = empty(NodeBatch(n_id=torch.arange(3), group=torch.zeros(3, dtype=torch.long)), torch.zeros(3))
    assert vectors.shape == (3, 8) and torch.equal(vectors[0], vectors[2])
    with pytest.raises(ValueError, match="numerical block is missing"):
        encoder(NodeBatch(n_id=torch.arange(2), group=torch.zeros(2, dtype=torch.long)), torch.zeros(2))


def test_spec_round_trips_through_json(features):
    spec = TableSpec.from_info(features.table_info("customers"))
    assert TableSpec.from_dict(spec.to_dict()) == spec
    assert spec.cardinality == [len(features.table_info("customers").vocabularies["country"])]


def test_categorical_codes_beyond_the_cap_share_one_embedding(features):
    spec = TableSpec.from_info(features.table_info("customers"))
    encoder = TableEncoder(spec, 8, max_categories=2)
    codes = torch.tensor([[2], [5], [-1]], dtype=torch.int32)
    out = encoder.categorical(codes)
    assert torch.equal(out[0], out[1]) and torch.equal(out[2], torch.zeros_like(out[2]))


def test_age_encoding_orders_recency_and_flags_static_nodes():
    features = age_features(torch.tensor([0, 3_600, 86_400 * 365, -5]))
    assert features[:, 0].tolist() == sorted(features[:, 0].tolist()[:3]) + [0.0]
    assert torch.equal(features[0], features[3])  # negative ages are clamped to 0
    encoder = RelativeTimeEncoder(4)
    anchor = torch.tensor([100_000, 100_000])
    static = encoder(anchor, None)
    timed = encoder(anchor, torch.tensor([100_000, 0]))
    assert static.shape == timed.shape == (2, 4) and not torch.allclose(timed[0], timed[1])


def _recoded(codes: torch.Tensor, old: list, new: list) -> torch.Tensor:
    """The same values' codes under the vocabulary ``new`` (-1 stays -1)."""
    where = {v: i for i, v in enumerate(new)}
    return torch.tensor([[where[old[c]] if c >= 0 else -1 for c in row] for row in codes.tolist()], dtype=codes.dtype)


def test_features_recoded_by_a_later_materialization_read_as_the_trained_values(features):
    torch.manual_seed(0)
    info = features.table_info("customers")
    spec = TableSpec.from_info(info)
    encoder = TableEncoder(spec, 8)
    old = list(info.vocabularies["country"])
    assert spec.vocabularies["country"] == old
    assert spec.code_remap(dict(info.vocabularies)) == {}  # same vocabularies: codes read as they are
    # New rows made a new value the most frequent one and reordered the rest.
    new = ["atlantis", *reversed(old)]
    codes = torch.tensor([[c] for c in range(len(old))] + [[-1]], dtype=torch.int32)
    before = encoder.categorical(codes)
    assert set(encoder.read_codes_of({**info.vocabularies, "country": new})) == {"country"}
    after = encoder.categorical(_recoded(codes, old, new))
    assert torch.equal(before, after)
    # A value the model never saw reads as missing.
    unseen = encoder.categorical(torch.tensor([[0]], dtype=torch.int32))
    assert torch.equal(unseen, before[-1:])
    encoder.read_codes_of(dict(info.vocabularies))
    assert encoder.categorical.remap is None


def test_multicategorical_bags_are_recoded_too(features):
    torch.manual_seed(0)
    info = features.table_info("customers")
    spec = TableSpec.from_info(info)
    encoder = TableEncoder(spec, 8)
    rows = torch.arange(40)
    nodes = _nodes(features, "customers", rows)
    before = encoder.multicategorical(nodes.multicategorical)
    old = list(info.vocabularies["interests"])
    new = list(reversed(old))
    encoder.read_codes_of({**info.vocabularies, "interests": new})
    bags = nodes.multicategorical
    values = torch.tensor([new.index(old[v]) for v in bags.values.tolist()], dtype=bags.values.dtype)
    from torch_frame.data import MultiNestedTensor

    recoded = MultiNestedTensor(num_rows=bags.num_rows, num_cols=bags.num_cols, values=values, offset=bags.offset)
    assert torch.allclose(encoder.multicategorical(recoded), before)
    assert TableSpec.from_dict(spec.to_dict()).code_remap({"interests": new}) != {}
