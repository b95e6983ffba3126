import numpy as np
import pyarrow as pa
import pytest

from data_engine.artifact_formats.errors import ArtifactFormatError
from data_engine.artifact_formats.features import (
    TIMESTAMP_NULL,
    FeatureArtifact,
    FeatureBlocks,
    encode_features,
    write_feature_artifact,
)
from platform_core.artifacts import ArtifactStore

pytestmark = pytest.mark.unit


def _blocks() -> FeatureBlocks:
    return encode_features(
        "users", 4,
        numerical={"age": [30, None, 50, 40.5]},
        categorical={"country": ["DE", "US", "DE", None], "tier": np.array([2, 1, 2, 2])},
        multicategorical={"tags": [["a", "b"], None, ["b", None, "c"], []]},
        timestamp={"born": np.array(["1990-01-01", "NaT", "1970-01-02", "2000-06-01"], dtype="datetime64[s]")},
        text={"bio": ["hi", None, "hello", ""]},
        time=np.array([5, 6, 7, 8]), time_column="joined")


def test_encoding_layout_vocabularies_and_nulls():
    blocks = _blocks()
    assert blocks.columns == {"numerical": ["age"], "categorical": ["country", "tier"],
                              "multicategorical": ["tags"], "timestamp": ["born"], "text": ["bio"]}
    assert blocks.numerical.dtype == np.float32 and np.isnan(blocks.numerical[1, 0])
    # Vocabularies by decreasing frequency: DE (2) before US (1); tier 2 (3x) before 1.
    assert blocks.vocabularies["country"] == ["DE", "US"] and blocks.vocabularies["tier"] == [2, 1]
    assert blocks.categorical.tolist() == [[0, 0], [1, 1], [0, 0], [-1, 0]]
    # tags: b (2x) first, then a, c; null lists and null elements are dropped.
    assert blocks.vocabularies["tags"] == ["b", "a", "c"]
    offsets, values = blocks.multicategorical_offsets, blocks.multicategorical_values
    rows = [values[offsets[r]:offsets[r + 1]].tolist() for r in range(4)]
    assert rows == [[1, 0], [], [0, 2], []]
    assert blocks.timestamp[:, 0].tolist() == [631152000, TIMESTAMP_NULL, 86400, 959817600]
    assert blocks.stats["age"]["null_count"] == 1 and blocks.stats["age"]["max"] == 50.0
    assert blocks.stats["age"]["quantiles"][2] == pytest.approx(40.5)
    assert blocks.stats["country"] == {"cardinality": 2, "null_count": 1, "counts": [2, 1]}
    assert blocks.stats["born"]["year_range"] == [1970, 2000]
    assert blocks.stats["bio"]["null_count"] == 1


def test_multicategorical_row_major_layout_with_two_columns():
    blocks = encode_features("t", 2, multicategorical={"x": [["p"], ["q", "p"]], "y": [None, ["z"]]})
    o, v = blocks.multicategorical_offsets, blocks.multicategorical_values
    cells = [[blocks.vocabularies[c][k] for k in v[o[r * 2 + j]:o[r * 2 + j + 1]]]
             for r in range(2) for j, c in enumerate(["x", "y"])]
    assert cells == [["p"], [], ["q", "p"], ["z"]]


def test_feature_artifact_round_trip(file_store):
    artifacts = ArtifactStore(file_store)
    art = write_feature_artifact(artifacts, "features/users", _blocks(), inputs={"v": 1})
    features = FeatureArtifact(art)
    assert features.table == "users" and features.num_rows == 4 and features.time_column == "joined"
    numerical = features.block("numerical")
    assert isinstance(numerical, np.memmap) and numerical.shape == (4, 1)
    assert features.block("categorical").tolist() == [[0, 0], [1, 1], [0, 0], [-1, 0]]
    assert features.vocabularies["country"] == ["DE", "US"]
    assert features.time().tolist() == [5, 6, 7, 8]
    assert features.text().column("bio").to_pylist() == ["hi", None, "hello", ""]
    offsets, values = features.multicategorical()
    assert offsets.tolist() == [0, 2, 2, 4, 4]
    assert art.manifest.metadata["stats"]["country"]["cardinality"] == 2


def test_blocks_without_some_groups_write_only_what_exists(file_store):
    blocks = encode_features("items", 3, numerical={"price": [1.0, 2.0, 3.0]})
    art = write_feature_artifact(ArtifactStore(file_store), "f", blocks)
    assert {f.name for f in art.manifest.files} == {"numerical.npy"}
    features = FeatureArtifact(art)
    assert features.block("categorical") is None and features.multicategorical() is None
    assert features.text() is None and features.time() is None and features.vocabularies == {}


@pytest.mark.parametrize("mutate, message", [
    (lambda b: setattr(b, "numerical", b.numerical.astype(np.float64)), "numerical must be float32"),
    (lambda b: setattr(b, "categorical", b.categorical + 5), "outside their vocabularies"),
    (lambda b: b.vocabularies.pop("tags"), "no vocabulary"),
    (lambda b: setattr(b, "multicategorical_offsets", b.multicategorical_offsets[:-1]), "multicategorical_offsets"),
    (lambda b: setattr(b, "text", pa.table({"other": ["a"] * 4})), "text must have"),
    (lambda b: setattr(b, "time", b.time[:2]), "time must be"),
    (lambda b: b.columns["timestamp"].append("age"), "two groups"),
])
def test_validation_names_the_broken_block(mutate, message):
    blocks = _blocks()
    mutate(blocks)
    with pytest.raises(ArtifactFormatError, match=message):
        blocks.validate()


def test_encoding_rejects_wrong_lengths():
    with pytest.raises(ArtifactFormatError, match="expected 3 values"):
        encode_features("t", 3, categorical={"c": ["a", "b"]})
