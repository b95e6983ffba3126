import pickle

import numpy as np
import pytest
import torch
from torch_geometric.data import TensorAttr

from data_engine.artifact_formats.features import FeatureArtifact
from graph_engine.features.store import ArtifactFeatureStore, FeatureLookupError
from graph_engine.graph_store import ReadOnlyStoreError

pytestmark = pytest.mark.unit


def _truth(store: ArtifactFeatureStore, table: str, block: str) -> np.ndarray:
    return np.asarray(store.tables[table].block(block))


def test_attributes_and_sizes(feature_store):
    attrs = {(a.group_name, a.attr_name) for a in feature_store.get_all_tensor_attrs()}
    assert ("customers", "multicategorical") in attrs and ("orders", "time") in attrs
    assert ("products", "time") not in attrs and ("products", "text") not in attrs
    assert feature_store.get_tensor_size("orders", "numerical") == (3000, 2)
    assert feature_store.get_tensor_size("orders", "time") == (3000,)
    info = feature_store.table_info("customers")
    assert info.columns["categorical"] == ["country"] and "US" in info.vocabularies["country"]
    assert info.stats["age"]["count"] > 0


@pytest.mark.parametrize("sorted_reads", [True, False])
def test_gathers_match_numpy(feature_store, sorted_reads):
    store = ArtifactFeatureStore(feature_store.tables.values(), sorted_reads=sorted_reads)
    index = torch.tensor([2999, 5, 5, 0, 1234, 17])
    for block in ("numerical", "categorical"):
        got = store["orders", block, index]
        assert np.array_equal(got.numpy(), _truth(store, "orders", block)[index.numpy()], equal_nan=True)
    time = store["orders", "time", index]
    assert np.array_equal(time.numpy(), np.asarray(store.tables["orders"].time())[index.numpy()])


def test_multi_get_serves_a_whole_batch(feature_store):
    index = {"customers": torch.tensor([3, 1, 299]), "orders": torch.arange(10, 0, -1)}
    attrs = [TensorAttr(t, name, index[t]) for t in index for name in feature_store.attr_names(t)]
    tensors = feature_store.multi_get_tensor(attrs)
    assert len(tensors) == len(attrs)
    for attr, tensor in zip(attrs, tensors):
        if attr.attr_name == "multicategorical":
            offsets, values = feature_store.tables[attr.group_name].multicategorical()
            rows = [values[offsets[r]:offsets[r + 1]].tolist() for r in attr.index.tolist()]
            assert [tensor[i, 0].tolist() for i in range(3)] == rows
        elif attr.attr_name == "time":
            assert torch.equal(tensor, torch.from_numpy(np.asarray(feature_store.tables[attr.group_name].time())
                                                        [attr.index.numpy()]))
        else:
            truth = _truth(feature_store, attr.group_name, attr.attr_name)[attr.index.numpy()]
            assert np.array_equal(tensor.numpy(), truth, equal_nan=True)


def test_whole_blocks_and_slices_are_zero_copy(feature_store):
    whole = feature_store["orders", "numerical", None]
    block = _truth(feature_store, "orders", "numerical")
    assert whole.shape == block.shape
    part = feature_store["orders", "numerical", slice(10, 20)]
    assert np.array_equal(part.numpy(), block[10:20], equal_nan=True)
    assert part.data_ptr() == whole.data_ptr() + 10 * block.strides[0]


def test_text_and_errors(feature_store):
    titles = feature_store.text("products", torch.tensor([2, 0]))
    assert titles.column_names == ["title"] and titles.num_rows == 2
    assert feature_store.text("orders").num_rows == 0
    with pytest.raises(FeatureLookupError, match="no features for table"):
        feature_store["nobody", "numerical", None]
    with pytest.raises(FeatureLookupError, match="no attribute"):
        feature_store["products", "time", torch.tensor([0])]
    with pytest.raises(FeatureLookupError, match="out of range"):
        feature_store["orders", "numerical", torch.tensor([3000])]
    with pytest.raises(ReadOnlyStoreError):
        feature_store.put_tensor(torch.zeros(1, 2), "orders", "numerical", torch.tensor([0]))


def test_pickling_reopens_the_artifacts(feature_store):
    clone = pickle.loads(pickle.dumps(feature_store))
    index = torch.tensor([1, 2])
    assert torch.equal(clone["orders", "categorical", index], feature_store["orders", "categorical", index])


def test_open_by_mapping(shop_store, shop_uris):
    store = ArtifactFeatureStore.open(shop_store, {"orders": shop_uris.features["orders"]})
    assert list(store.tables) == ["orders"]
    assert isinstance(store.tables["orders"], FeatureArtifact)
