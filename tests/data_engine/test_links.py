"""Link inference and validation on a small customers / orders / products set, and on the demo data."""

from __future__ import annotations

import pytest

from data_engine.demo_data import LINKS, TABLES, generate
from data_engine.ingest import ColumnOverride, IngestOptions, ingest_table, open_table
from data_engine.links import LinkValidationError, infer_links, link_report, raise_for_issues, validate_links
from platform_core.errors import UserFacingError
from platform_core.object_store import ObjectStore
from platform_core.settings import load_settings
from pql.schema import Link

pytestmark = pytest.mark.integration

CUSTOMERS = "customer_id,name,city\n" + "".join(f"{i},name {i},city {i % 7}\n" for i in range(1, 41))
PRODUCTS = "id,title,price\n" + "".join(f"{i},product {i},{i * 1.5}\n" for i in range(1, 21))
# customerId (camel case) references customers; product_id references products.id; 3 of 60 orders
# reference customer 99, which does not exist; quantity holds small integers that are also customer ids.
ORDERS = "order_id,customerId,product_id,quantity,amount,created_at\n" + "".join(
    f"{i},{99 if i % 20 == 0 else 1 + i % 40},{1 + i % 20},{1 + i % 5},{i * 2.5},2024-01-{1 + i % 28:02d}\n"
    for i in range(1, 61))
# A table whose declared key repeats, and a log without a key.
SHOPS = "code,label\nA,one\nB,two\nA,three\n"
NOTES = "customer_id,text\n1,hello\n2,bye\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, spark):
    root = tmp_path_factory.mktemp("links")
    settings = load_settings(home=root / "home", spark_master="local[2]")
    store = ObjectStore.from_settings(settings)
    uris = {}
    for name, text, options in (("customers", CUSTOMERS, None), ("products", PRODUCTS, None),
                                ("orders", ORDERS, None), ("shops", SHOPS, IngestOptions(primary_key="code")),
                                ("notes", NOTES, IngestOptions(primary_key=""))):
        path = root / f"{name}.csv"
        path.write_text(text)
        uris[name] = ingest_table(str(path), name, settings=settings, store=store, spark=spark, options=options).uri
    return {"settings": settings, "store": store, "uris": uris, "spark": spark, "root": root}


def test_links_are_proposed_from_names_and_values(env):
    uris = {k: env["uris"][k] for k in ("customers", "products", "orders")}
    proposals = infer_links(uris, settings=env["settings"], spark=env["spark"])
    found = {(p.table, p.column, p.to, p.to_column): p for p in proposals}
    assert set(found) == {("orders", "customerId", "customers", "customer_id"),
                          ("orders", "product_id", "products", "id")}
    customer = found[("orders", "customerId", "customers", "customer_id")]
    assert customer.containment == pytest.approx(57 / 60)
    assert customer.score == pytest.approx((1.0 + 57 / 60) / 2)
    assert found[("orders", "product_id", "products", "id")].containment == 1.0
    # quantity's values are customer ids too, but nothing in its name says so.
    everything = infer_links(uris, settings=env["settings"], spark=env["spark"], include_rejected=True)
    assert all(p.column != "quantity" for p in everything)


def test_low_containment_is_not_proposed(env):
    proposals = infer_links(env["uris"], settings=env["settings"], spark=env["spark"], min_containment=0.99)
    assert ("orders", "customerId") not in {(p.table, p.column) for p in proposals}


def test_declared_links_are_validated_with_clear_messages(env):
    links = [
        Link("orders", "customerId", "customers"),       # fine but 3 dangling keys: warning
        Link("orders", "product_id", "products"),        # fine
        Link("orders", "customer_idd", "customers"),     # unknown column
        Link("order", "customerId", "customers"),        # unknown table
        Link("orders", "amount", "customers"),           # float64 against an int64 key
        Link("customers", "customer_id", "notes"),       # no primary key on the target
        Link("products", "title", "shops"),              # the target key repeats
        {"table": "orders", "column": "product_id", "to": "products"},  # linked twice
    ]
    issues = validate_links(env["uris"], links, settings=env["settings"], spark=env["spark"], min_coverage=0.99)
    messages = [(i.severity, i.message) for i in issues]
    assert ("warning", "link orders.customerId -> customers: only 95.0% of orders.customerId values are found in "
                       "customers.customer_id (1 dangling keys, e.g. 99)") in messages
    assert ("error", "link orders.customer_idd -> customers: table orders has no column 'customer_idd' "
                     "(did you mean 'customerId'?)") in messages
    assert ("error", "link order.customerId -> customers: unknown table 'order' (did you mean 'orders'?)") in messages
    assert ("error", "link orders.amount -> customers: orders.amount is float64 but the key customers.customer_id "
                     "is int64") in messages
    assert ("error", "link customers.customer_id -> notes: table notes has no primary key (declare one with its "
                     "primary_key option)") in messages
    assert ("error", "link products.title -> shops: the key shops.code is not unique (1 repeated or null values); "
                     "a link must point to a primary key") in messages
    assert ("error", "link products.title -> shops: no value of products.title is found in shops.code "
                     "(e.g. 'product 1', 'product 10', 'product 11')") in messages
    assert ("error", "link orders.product_id -> products: column orders.product_id is linked twice") in messages
    assert len(issues) == 8
    with pytest.raises(LinkValidationError) as raised:
        raise_for_issues(issues)
    assert isinstance(raised.value, UserFacingError)
    assert len([i for i in raised.value.issues if i.severity == "error"]) == 7
    assert str(raised.value).startswith("7 invalid links: link orders.customer_idd -> customers: ")
    raise_for_issues([i for i in issues if i.severity == "warning"])  # warnings alone pass


def test_declared_key_with_duplicates_is_an_issue_of_the_profile(env):
    stats = open_table(env["store"], env["uris"]["shops"]).stats()
    assert stats["primary_key"] == {"column": "code", "reasons": ["declared"], "candidates": [], "origin": "override"}
    assert stats["issues"] == [{"severity": "error", "column": "code",
                                "message": "primary key shops.code has 1 duplicate values"}]


def test_link_report_is_an_artifact_with_statistics(env):
    uris = {k: env["uris"][k] for k in ("customers", "products", "orders")}
    report = link_report(uris, settings=env["settings"], spark=env["spark"])
    assert {(l["table"], l["column"], l["to"]) for l in report["links"]} == {
        ("orders", "customerId", "customers"), ("orders", "product_id", "products")}
    by_column = {l["column"]: l for l in report["links"]}
    assert by_column["customerId"]["statistics"]["dangling_rows"] == 3
    assert by_column["product_id"]["statistics"]["degree"]["mean"] == 3.0
    assert report["proposed"] and report["uri"].startswith(env["store"].uri("links"))
    again = link_report(uris, settings=env["settings"], spark=env["spark"])
    assert again["uri"] == report["uri"] and again["links"] == report["links"]


def test_demo_data_schema_is_recovered(env):
    """Ingesting the demo generator's CSV finds its keys, time columns, semantic types and links."""
    raw = env["root"] / "demo"
    generate(raw.as_uri(), scale=0.02, seed=3, fmt="csv")
    uris = {name: ingest_table(str(raw / f"{name}.csv"), name, settings=env["settings"], spark=env["spark"]).uri
            for name in TABLES}
    for name, spec in TABLES.items():
        table = open_table(env["store"], uris[name])
        assert (table.primary_key, table.time_column) == (spec.primary_key, spec.time_column), name
        stypes = table.stypes
        # Review titles are a dozen short stock phrases: statistically categorical, written as text.
        expected = {c: s for c, s in spec.stypes.items() if (name, c) != ("reviews", "title")}
        assert {c: stypes[c] for c in expected} == expected, name
    proposals = infer_links(uris, settings=env["settings"], spark=env["spark"])
    assert sorted((p.table, p.column, p.to) for p in proposals) == sorted(LINKS)
