"""The execution plan: a JSON round-tripping DAG of steps, with readable text and canonical expressions."""

from __future__ import annotations

import json

import pytest

import pql
from pql.expr import render
from pql.plan import ENGINES, Plan, Step

pytestmark = pytest.mark.unit

QUERIES = [
    ("ecommerce", "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id "
                  "WHERE COUNT(orders.*, -90, 0, days) > 0"),
    ("ecommerce", "PREDICT LIST_DISTINCT(orders.product_id, 0, 7, days) RANK TOP 12 FOR EACH customers.customer_id"),
    ("ecommerce", "PREDICT customers.segment FOR EACH customers.customer_id WHERE regions.size < 10"),
    ("ecommerce", "PREDICT NOT (COUNT(orders.* WHERE orders.status IN ('a', 'b') OR orders.price > 2.5, 0, 30) > 0 "
                  "AND SUM(orders.price, 0, 30) < 10) OR LAST(orders.channel, 0, 30) NOT LIKE 'we%' "
                  "FOR EACH customers.customer_id"),
    ("stackexchange", "PREDICT COUNT(votes.*, 0, 30) FOR EACH users.user_id WHERE users.location CONTAINS 'it''s'"),
    ("clinical", "PREDICT SUM(drop_withdrawals.count, 0, 7) FORECAST 3 TIMEFRAMES FOR EACH studies.nct_id "
                 "ASSUMING COUNT(outcomes.*, 0, 1, months) > 0"),
]


@pytest.fixture(params=range(len(QUERIES)), ids=[q[1][:40] for q in QUERIES])
def compiled(request, schemas):
    schema, text = QUERIES[request.param]
    return pql.compile(text, schemas[schema])


def test_round_trip(compiled):
    plan = compiled.plan
    assert Plan.from_dict(plan.to_dict()) == plan
    assert Plan.from_json(plan.to_json()) == plan
    assert Plan.from_json(plan.to_json(indent=2)).to_dict() == plan.to_dict()
    assert json.loads(plan.to_json()) == plan.to_dict()


def test_dag_shape(compiled):
    plan = compiled.plan
    ids = [s.id for s in plan.steps]
    assert len(ids) == len(set(ids))
    seen = set()
    for step in plan.steps:
        assert step.engine in ENGINES
        assert set(step.depends_on) <= seen, f"{step.id} depends on a later step"
        seen.add(step.id)
    kinds = {s.kind for s in plan.steps}
    assert kinds == {"ingest", "materialize_links", "training_table", "prediction_table", "train", "predict"}
    assert {s.engine for s in plan.steps if s.kind == "ingest"} == {"data"}
    assert plan.step("materialize_links").engine == "graph"
    assert plan.step("train").engine == plan.step("predict").engine == "compute"
    assert plan.step("train").depends_on == ("materialize_links", "training_table")


def test_explain_is_readable_text(compiled):
    text = compiled.plan.explain()
    assert text.startswith("query:") and text.endswith("\n")
    assert f"task:     {compiled.task_type.value}" in text
    for step in compiled.plan.steps:
        assert step.id in text
    assert not any(line != line.rstrip() for line in text.splitlines())
    assert Plan.from_json(compiled.plan.to_json()).explain() == text


def test_rendered_label_reparses_to_the_same_expression(compiled, schemas):
    """render() writes canonical PQL: compiling it again gives the same label expression."""
    plan = compiled.plan
    params = plan.step("training_table").params
    label = params["label"]["expression"]
    modifier = ""
    if params["label"]["rank"]:
        modifier = f" RANK TOP {params['label']['rank']['k']}"
    if params["label"]["forecast"]:
        modifier += f" FORECAST {params['label']['forecast']['timeframes']} TIMEFRAMES"
    schema = next(s for s in schemas.values() if plan.entity.split(".")[0] in s.tables
                  and all(t in s.tables for t in [st.params.get("table") for st in plan.steps if st.kind == "ingest"]))
    again = pql.compile(f"PREDICT {render(label)}{modifier} FOR EACH {plan.entity}", schema)
    assert again.plan.step("training_table").params["label"]["expression"] == label


def test_from_dict_rejects_malformed():
    with pytest.raises(ValueError):
        Plan.from_dict({"version": 99})
    with pytest.raises(ValueError):
        Plan.from_dict({"version": 1})
    with pytest.raises(ValueError):
        Plan(query="q", task_type="regression", metrics=("mae",), entity="t.id",
             steps=(Step("b", "train", "compute", {}, ("a",)), Step("a", "ingest", "data")))
    with pytest.raises(ValueError):
        Step("x", "train", "gpu")


def test_params_are_plain_json(compiled):
    def check(value):
        if isinstance(value, dict):
            assert all(isinstance(k, str) for k in value)
            for v in value.values():
                check(v)
        elif isinstance(value, list):
            for v in value:
                check(v)
        else:
            assert value is None or isinstance(value, (str, int, float, bool))

    check(compiled.plan.to_dict())
