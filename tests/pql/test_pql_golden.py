"""Golden files: the plan JSON and the explain() text of representative queries.

Run with PQL_UPDATE_GOLDEN=1 to rewrite the files under tests/pql/golden/ after an intended change,
then review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import pql

pytestmark = pytest.mark.unit

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE = os.environ.get("PQL_UPDATE_GOLDEN") == "1"

CASES = {
    "churn": ("ecommerce", """PREDICT COUNT(orders.*, 0, 30, days) = 0
FOR EACH customers.customer_id
WHERE COUNT(orders.*, -90, 0, days) > 0"""),
    "lifetime_value": ("ecommerce", """PREDICT SUM(orders.price, 0, 365, days)
FOR EACH customers.customer_id
WHERE customers.country = 'US' AND COUNT(orders.*, -INF, 0) > 0"""),
    "recommendation": ("ecommerce", """PREDICT LIST_DISTINCT(orders.product_id, 0, 7, days) RANK TOP 12
FOR EACH customers.customer_id"""),
    "multiclass_first": ("ecommerce", "PREDICT FIRST(orders.channel, 0, 7) FOR EACH customers.customer_id"),
    "static_multiclass": ("ecommerce", "PREDICT customers.segment FOR EACH customers.customer_id"),
    "returns_assuming": ("ecommerce", """PREDICT COUNT(orders.* WHERE orders.returned = true, 0, 30) > 0
FOR EACH customers.customer_id ASSUMING COUNT(orders.*, 0, 30) > 0"""),
    "forecast": ("ecommerce",
                 "PREDICT SUM(orders.price, 0, 7, days) FORECAST 4 TIMEFRAMES FOR EACH products.product_id"),
    "avg_for_ids": ("ecommerce", "PREDICT AVG(orders.price, 0, 30) FOR customers.customer_id IN (1, 2, 3)"),
    "multilabel": ("ecommerce",
                   "PREDICT LIST_DISTINCT(orders.product_id, 0, 30) CLASSIFY FOR EACH customers.customer_id"),
    "brand_sales_two_hops": ("ecommerce", "PREDICT COUNT(orders.*, 0, 30) FOR EACH brands.brand_id "
                                          "WHERE brands.country IN ('DE', 'FR')"),
    "upvotes_two_hops": ("stackexchange", "PREDICT COUNT(votes.* WHERE votes.vote_type = 'upvote', 0, 30) > 5 "
                                          "FOR EACH users.user_id"),
    "user_engagement": ("stackexchange", """PREDICT COUNT(posts.*, 0, 90) > 0 OR COUNT(comments.*, 0, 90) > 0
FOR EACH users.user_id WHERE COUNT(posts.*, -INF, 0) > 0"""),
    "study_dnf": ("clinical", """PREDICT (COUNT(drop_withdrawals.*, 0, 365) > 0
         AND SUM(drop_withdrawals.count, 0, 365) > 10)
     OR COUNT(status.* WHERE status.value = 'WITHDRAWN', 0, 365) > 0
FOR EACH studies.nct_id
WHERE studies.phase IN ('Phase 2', 'Phase 3') AND LAST(status.value, -INF, 0) = 'RECRUITING'
ASSUMING COUNT(outcomes.*, 0, 365) > 0"""),
    "site_success": ("clinical", "PREDICT COUNT(studies_facilities.*, 0, 1, months) FOR EACH facilities.facility_id"),
    "static_random_split": ("saas", "PREDICT users.tier FOR EACH users.user_id WHERE region.size < 10000"),
    "static_binary_text": ("ecommerce", "PREDICT customers.age >= 40 FOR EACH customers.customer_id "
                                        "WHERE customers.name NOT LIKE '%test%'"),
}


def _result(schema, text: str) -> tuple[dict, str]:
    compiled = pql.compile(text, schema)
    payload = {"task_type": compiled.task_type.value, "entity": compiled.entity, "metrics": list(compiled.metrics),
               "plan": compiled.plan.to_dict()}
    return payload, compiled.plan.explain()


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(schemas, name):
    schema_name, text = CASES[name]
    payload, explain = _result(schemas[schema_name], text)
    json_path, text_path = GOLDEN_DIR / f"{name}.json", GOLDEN_DIR / f"{name}.txt"
    if UPDATE:
        GOLDEN_DIR.mkdir(exist_ok=True)
        json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        text_path.write_text(explain, encoding="utf-8")
    assert json.loads(json_path.read_text(encoding="utf-8")) == payload, f"plan of {name} changed"
    assert text_path.read_text(encoding="utf-8") == explain, f"explain() of {name} changed"


def test_every_golden_file_has_a_case():
    names = {p.stem for p in GOLDEN_DIR.glob("*.json")} | {p.stem for p in GOLDEN_DIR.glob("*.txt")}
    assert names <= set(CASES)
