"""The graph schema model: JSON round trip, lookups, and validation with clear SchemaErrors."""

from __future__ import annotations

import copy
import json

import pytest

from pql.errors import SchemaError
from pql.schema import ColumnSchema, GraphSchema, Link, SemanticType, TableSchema

pytestmark = pytest.mark.unit

BASE = {
    "tables": {
        "customers": {"primary_key": "customer_id", "time_column": None,
                      "columns": {"customer_id": "ID", "segment": "categorical"}},
        "orders": {"primary_key": "order_id", "time_column": "created_at",
                   "columns": {"order_id": "ID", "customer_id": "ID",
                               "price": {"stype": "numerical", "dtype": "float64"}, "created_at": "timestamp"}},
        "events": {"primary_key": None, "time_column": "at", "columns": {"kind": "categorical", "at": "timestamp"}},
    },
    "links": [{"table": "orders", "column": "customer_id", "to": "customers"}],
}


def variant(mutate) -> dict:
    data = copy.deepcopy(BASE)
    mutate(data)
    return data


def test_round_trip():
    schema = GraphSchema.from_dict(BASE)
    assert schema.to_dict() == BASE
    assert GraphSchema.from_json(schema.to_json()) == schema
    assert GraphSchema.from_dict(schema.to_dict()) == schema


def test_lookups():
    schema = GraphSchema.from_dict(BASE)
    orders = schema.table("orders")
    assert isinstance(orders, TableSchema) and orders.time_column == "created_at"
    assert orders.column("price") == ColumnSchema("price", SemanticType.NUMERICAL, "float64")
    assert schema.table("nope") is None and orders.column("nope") is None
    assert schema.links_from("orders") == (Link("orders", "customer_id", "customers"),)
    assert schema.links_from("customers") == ()
    assert schema.foreign_key("orders", "customer_id").to == "customers"
    assert schema.foreign_key("orders", "price") is None


def test_semantic_type_values():
    assert [t.value for t in SemanticType] == ["ID", "numerical", "categorical", "multicategorical", "text",
                                              "timestamp"]


def test_semantic_types_are_read_in_any_case():
    schema = GraphSchema.from_dict(variant(lambda d: d["tables"]["customers"]["columns"].update(segment="Categorical")))
    assert schema.tables["customers"].columns["segment"].stype is SemanticType.CATEGORICAL


def test_built_in_code():
    customers = TableSchema("c", {"id": ColumnSchema("id", SemanticType.ID)}, primary_key="id")
    orders = TableSchema("o", {"c_id": ColumnSchema("c_id", SemanticType.ID),
                               "t": ColumnSchema("t", SemanticType.TIMESTAMP)}, time_column="t")
    schema = GraphSchema({"c": customers, "o": orders}, (Link("o", "c_id", "c"),))
    assert schema.to_dict()["links"] == [{"table": "o", "column": "c_id", "to": "c"}]


@pytest.mark.parametrize(("data", "message"), [
    (variant(lambda d: d["tables"]["customers"]["columns"].update(segment="categoric")),
     "unknown semantic type 'categoric' for column customers.segment"),
    (variant(lambda d: d["tables"]["customers"].update(primary_key="id")),
     "primary key 'id' is not one of its columns"),
    (variant(lambda d: d["tables"]["orders"].update(time_column="ts")), "time column 'ts' is not one of its columns"),
    (variant(lambda d: d["tables"]["orders"].update(time_column="price")), "must have semantic type timestamp"),
    (variant(lambda d: d["links"].append({"table": "orders", "column": "cust", "to": "customers"})),
     "table orders has no column 'cust'"),
    (variant(lambda d: d["links"].append({"table": "ordres", "column": "x", "to": "customers"})),
     "unknown table 'ordres'"),
    (variant(lambda d: d["links"].append({"table": "orders", "column": "order_id", "to": "clients"})),
     "unknown table 'clients'"),
    (variant(lambda d: d["links"].append({"table": "orders", "column": "order_id", "to": "events"})),
     "table events has no primary key"),
    (variant(lambda d: d["links"].append({"table": "orders", "column": "customer_id", "to": "customers"})),
     "linked twice"),
    (variant(lambda d: d["tables"]["orders"].update(primary_keys="x")), "unknown key 'primary_keys'"),
    (variant(lambda d: d.update(extra=1)), "unknown key 'extra'"),
    (variant(lambda d: d["tables"]["orders"].update(columns={})), "needs a non-empty 'columns'"),
    (variant(lambda d: d["tables"]["orders"]["columns"].update(price={"dtype": "x"})), "must be a semantic type"),
    (variant(lambda d: d["links"].append({"table": "orders"})), "link #2 must be an object"),
    (variant(lambda d: d.update(links={})), "'links' must be a list"),
    ({"tables": {}}, "non-empty 'tables'"),
    ([], "must be a JSON object"),
])
def test_invalid_schemas(data, message):
    with pytest.raises(SchemaError) as info:
        GraphSchema.from_dict(data)
    assert message in str(info.value)


def test_did_you_mean_in_schema_errors():
    with pytest.raises(SchemaError) as info:
        GraphSchema.from_dict(variant(lambda d: d["tables"]["customers"]["columns"].update(segment="numerica")))
    assert info.value.hint == "did you mean numerical?"
    with pytest.raises(SchemaError) as info:
        GraphSchema.from_dict(variant(lambda d: d["links"].append({"table": "orders", "column": "custome_id",
                                                                   "to": "customers"})))
    assert info.value.hint == "did you mean orders.customer_id?"


def test_invalid_json_text():
    with pytest.raises(SchemaError, match="not valid JSON"):
        GraphSchema.from_json("{tables:")
    assert SchemaError("x").to_dict() == {"line": None, "column": None, "message": "x", "hint": None}


def test_test_schemas_are_valid(schemas):
    assert set(schemas) >= {"ecommerce", "stackexchange", "clinical", "saas"}
    for schema in schemas.values():
        assert GraphSchema.from_dict(json.loads(schema.to_json())) == schema
