"""Valid queries compile to the documented task types, on e-commerce, Q&A, clinical and SaaS schemas."""

from __future__ import annotations

import pytest

import pql
from pql import TaskType
from pql.expr import iter_aggregations

pytestmark = pytest.mark.unit

B, R, MC, ML, LP, F = (TaskType.BINARY_CLASSIFICATION, TaskType.REGRESSION, TaskType.MULTICLASS_CLASSIFICATION,
                       TaskType.MULTILABEL_CLASSIFICATION, TaskType.LINK_PREDICTION, TaskType.FORECASTING)

# The "examples that must compile" of PQL.md, with their documented task.
PQL_MD_EXAMPLES = [
    ("""PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id
        WHERE COUNT(orders.*, -90, 0, days) > 0""", B),
    ("PREDICT SUM(orders.price, 0, 30, days) FOR EACH customers.customer_id", R),
    ("""PREDICT LIST_DISTINCT(orders.product_id, 0, 7, days) RANK TOP 12
        FOR EACH customers.customer_id""", LP),
    ("PREDICT FIRST(orders.channel, 0, 7) FOR EACH customers.customer_id", MC),
    ("PREDICT customers.segment FOR EACH customers.customer_id", MC),
    ("""PREDICT COUNT(orders.* WHERE orders.returned = true, 0, 30) > 0
        FOR EACH customers.customer_id ASSUMING COUNT(orders.*, 0, 30) > 0""", B),
    ("PREDICT SUM(orders.price, 0, 7, days) FORECAST 4 TIMEFRAMES FOR EACH products.product_id", F),
    ("PREDICT AVG(orders.price, 0, 30) FOR customers.customer_id IN (1, 2, 3)", R),
    ("PREDICT COUNT(orders.* WHERE orders.status = 'done', 0, 30, days) FOR EACH customers.customer_id", R),
]

# The inline examples of PQL.md, on a schema that has their tables (users, region, sessions, status...).
PQL_MD_INLINE = [
    ("PREDICT users.tier FOR EACH users.user_id", MC),
    ("PREDICT COUNT(sessions.*, 0, 7) > 10 OR SUM(orders.value, 0, 7) > 100 FOR EACH users.user_id", B),
    ("PREDICT COUNT(orders.*, 0, 30) > 0 FOR EACH users.user_id WHERE users.country = 'US'", B),
    ("PREDICT COUNT(orders.*, 0, 30) > 0 FOR EACH users.user_id WHERE region.size < 10000", B),
    ("PREDICT SUM(orders.value, 0, 30) FOR EACH users.user_id WHERE COUNT(orders.*, -90, 0, days) > 0", R),
    ("PREDICT COUNT(sessions.*, 0, 7) FOR EACH users.user_id WHERE LAST(status.value, -INF, 0) = 'ACTIVE'", R),
    ("PREDICT SUM(orders.value, 0, 30) > 0 FOR EACH users.user_id ASSUMING COUNT(results.*, 0, 30, days) > 0", B),
    ("PREDICT users.seats FOR EACH users.user_id", R),
]

# RelBench-style tasks and the other constructs of the language, per schema.
RELBENCH = [
    # e-commerce: churn with an activity filter, lifetime value, recommendation, item sales, ...
    ("ecommerce", """PREDICT COUNT(orders.*, 0, 90, days) = 0
                     FOR EACH customers.customer_id
                     WHERE COUNT(orders.*, -180, 0, days) > 0 AND customers.country IN ('US', 'CA')""", B),
    ("ecommerce", """PREDICT SUM(orders.price, 0, 365, days) FOR EACH customers.customer_id
                     WHERE COUNT(orders.*, -INF, 0) > 0""", R),
    ("ecommerce", """PREDICT LIST_DISTINCT(orders.product_id, 0, 7, days) RANK TOP 10
                     FOR EACH customers.customer_id WHERE COUNT(orders.*, -28, 0) >= 1""", LP),
    ("ecommerce", "PREDICT LIST_DISTINCT(orders.product_id, 0, 30) CLASSIFY FOR EACH customers.customer_id", ML),
    ("ecommerce", "PREDICT SUM(orders.quantity, 0, 30) FOR EACH products.product_id", R),
    ("ecommerce", "PREDICT AVG(reviews.rating, 0, 30) FOR EACH products.product_id", R),
    ("ecommerce", "PREDICT AVG(reviews.rating, 0, 30) < 3 FOR EACH products.product_id", B),
    ("ecommerce", "PREDICT COUNT(orders.*, 0, 30) FOR EACH brands.brand_id", R),
    ("ecommerce", "PREDICT customers.interests RANK TOP 3 FOR EACH customers.customer_id", LP),
    ("ecommerce", "PREDICT customers.interests CLASSIFY FOR EACH customers.customer_id", ML),
    ("ecommerce", "PREDICT customers.age > 40 FOR EACH customers.customer_id", B),
    ("ecommerce", "PREDICT customers.age FOR EACH customers.customer_id WHERE regions.size < 10000", R),
    ("ecommerce", "PREDICT regions.size FOR EACH customers.customer_id", R),
    ("ecommerce", "PREDICT customers.segment IS NULL FOR EACH customers.customer_id", B),
    ("ecommerce", "PREDICT COUNT(orders.*, 0, 30) FOR customers.customer_id = 42", R),
    ("ecommerce", "PREDICT COUNT(orders.*, 0, 30) FOR customers.customer_id IN ('c-1', 'c-2',)", R),
    ("ecommerce", "PREDICT COUNT(orders.*, 0, 30) FOR EACH customers.customer_id "
                  "WHERE customers.signup_at > '2020-01-01' AND customers.signup_at <= '2024-06-30T12:00:00Z'", R),
    ("ecommerce", "PREDICT COUNT(orders.*, 0, 1, months) FOR EACH customers.customer_id "
                  "WHERE customers.name STARTS WITH 'A' OR customers.name NOT LIKE '%test%'", R),
    ("ecommerce", "PREDICT COUNT(reviews.* WHERE reviews.body CONTAINS 'broken' AND reviews.rating <= 2, "
                  "0, 2, weeks) > 0 "
                  "FOR EACH products.product_id", B),
    ("ecommerce", "PREDICT COUNT_DISTINCT(orders.product_id, 0, 48, hours) FOR EACH customers.customer_id", R),
    ("ecommerce", "PREDICT MAX(orders.price, 0, 30) FOR EACH customers.customer_id", R),
    ("ecommerce", "PREDICT MIN(orders.created_at, 0, 30) IS NOT NULL FOR EACH customers.customer_id", B),
    ("ecommerce", "PREDICT LAST(orders.status, 0, 30) FOR EACH customers.customer_id", MC),
    ("ecommerce", "PREDICT FIRST(orders.price, 0, 30) FOR EACH customers.customer_id", R),
    ("ecommerce", "PREDICT LAST(orders.channel, 0, 30) NOT IN ('web', 'app') FOR EACH customers.customer_id", B),
    ("ecommerce", "PREDICT NOT (COUNT(orders.*, 0, 30) > 0 AND SUM(orders.price, 0, 30) < 10.5) "
                  "FOR EACH customers.customer_id", B),
    ("ecommerce", "PREDICT LIST_DISTINCT(orders.product_id, 0, 30) CONTAINS 7 FOR EACH customers.customer_id", B),
    ("ecommerce", "PREDICT COUNT(orders.*, -INF, 30) > 0 FOR EACH customers.customer_id", B),
    ("ecommerce", "PREDICT SUM(orders.price, 0, 30) > SUM(orders.price, 30, 60) FOR EACH customers.customer_id", B),
    ("ecommerce", "PREDICT LIST_DISTINCT(reviews.customer_id, 0, 30) RANK TOP 5 FOR EACH products.product_id", LP),
    # Q&A site: user engagement, votes through posts (two hops), badges, answers through a self link
    ("stackexchange", """PREDICT COUNT(posts.*, 0, 90) > 0 OR COUNT(comments.*, 0, 90) > 0
                         FOR EACH users.user_id WHERE COUNT(posts.*, -INF, 0) > 0""", B),
    ("stackexchange", "PREDICT COUNT(votes.* WHERE votes.vote_type = 'upvote', 0, 30) FOR EACH users.user_id", R),
    ("stackexchange", "PREDICT COUNT(votes.*, 0, 91) FOR EACH posts.post_id", R),
    ("stackexchange", "PREDICT COUNT(badges.*, 0, 90) > 0 FOR EACH users.user_id", B),
    ("stackexchange", "PREDICT COUNT(posts.*, 0, 7) > 0 FOR EACH posts.post_id WHERE posts.post_type = 'question'", B),
    ("stackexchange", "PREDICT posts.tags CLASSIFY FOR EACH posts.post_id", ML),
    ("stackexchange", "PREDICT LIST_DISTINCT(comments.post_id, 0, 30) RANK TOP 20 FOR EACH users.user_id", LP),
    ("stackexchange", "PREDICT AVG(comments.score, 0, 30) FORECAST 3 TIMEFRAMES FOR EACH users.user_id", F),
    # clinical trials: did-not-finish with ASSUMING (in disjunctive normal form), outcomes two hops away,
    # facilities through a table without a primary key
    ("clinical", """PREDICT (COUNT(drop_withdrawals.*, 0, 365) > 0 AND SUM(drop_withdrawals.count, 0, 365) > 10)
                    OR (COUNT(status.* WHERE status.value = 'WITHDRAWN', 0, 365) > 0)
                    FOR EACH studies.nct_id
                    WHERE studies.phase IN ('Phase 2', 'Phase 3')
                    ASSUMING COUNT(outcomes.*, 0, 365) > 0""", B),
    ("clinical", "PREDICT COUNT(outcome_analyses.* WHERE outcome_analyses.p_value <= 0.05, 0, 1, months) > 0 "
                 "FOR EACH studies.nct_id", B),
    ("clinical", "PREDICT COUNT(studies_facilities.*, 0, 365) FOR EACH facilities.facility_id", R),
    ("clinical", "PREDICT SUM(drop_withdrawals.count, 0, 365) FOR EACH studies.nct_id", R),
    ("clinical", "PREDICT LAST(status.value, 0, 180) FOR EACH studies.nct_id "
                 "WHERE LAST(status.value, -INF, 0) = 'RECRUITING'", MC),
    ("clinical", "PREDICT LIST_DISTINCT(studies_facilities.facility_id, 0, 365) RANK TOP 10 FOR EACH studies.nct_id",
     LP),
    ("clinical", "PREDICT studies.phase FOR EACH studies.nct_id", MC),
    ("clinical", "PREDICT studies.enrollment FOR EACH studies.nct_id WHERE studies.conditions CONTAINS 'cancer'", R),
]


@pytest.mark.parametrize(("text", "task"), PQL_MD_EXAMPLES)
def test_pql_md_examples(ecommerce, text, task):
    compiled = pql.compile(text, ecommerce)
    assert compiled.task_type is task
    assert compiled.entity.endswith(("customers.customer_id", "products.product_id"))


@pytest.mark.parametrize(("text", "task"), PQL_MD_INLINE)
def test_pql_md_inline_examples(schemas, text, task):
    assert pql.compile(text, schemas["saas"]).task_type is task


@pytest.mark.parametrize(("schema", "text", "task"), RELBENCH)
def test_relbench_style_queries(schemas, schema, text, task):
    compiled = pql.compile(text, schemas[schema])
    assert compiled.task_type is task
    assert isinstance(compiled.task_type, str)
    assert compiled.plan.task_type is task
    assert pql.Plan.from_dict(compiled.plan.to_dict()) == compiled.plan


@pytest.mark.parametrize(("task", "k", "metrics"), [
    (B, None, ("auroc", "average_precision", "accuracy", "f1")),
    (R, None, ("mae", "rmse", "r2")),
    (MC, None, ("accuracy", "macro_f1")),
    (ML, None, ("macro_auprc",)),
    (F, None, ("mae_per_horizon",)),
    (LP, 12, ("map@12", "precision@12", "recall@12")),
])
def test_default_metrics(task, k, metrics):
    assert pql.task.default_metrics(task, k) == metrics


def test_compiled_query_fields(ecommerce):
    c = pql.compile("PREDICT LIST_DISTINCT(orders.product_id, 0, 7) RANK TOP 12 FOR EACH customers.customer_id",
                    ecommerce)
    assert c.metrics == ("map@12", "precision@12", "recall@12")
    assert c.entity == "customers.customer_id"
    assert isinstance(c.ast, pql.ast.Query)
    assert c.target.ranked_table == "products"
    assert c.plan.step("predict").params["top_k"] == 12


def test_keywords_case_insensitive_identifiers_not(ecommerce):
    lower = pql.compile("predict sum(orders.price, 0, 30, DAYS) for each customers.customer_id", ecommerce)
    mixed = pql.compile("Predict Sum(orders.price, 0, 30, Days) For Each customers.customer_id", ecommerce)
    assert lower.task_type is mixed.task_type is R
    with pytest.raises(pql.PQLError, match="unknown table Orders"):
        pql.compile("PREDICT SUM(Orders.price, 0, 30) FOR EACH customers.customer_id", ecommerce)


def _aggs(compiled, clause="label"):
    params = compiled.plan.step("training_table").params
    expr = params["label"]["expression"] if clause == "label" else params[clause]
    if clause == "where":
        expr = params["where"]["temporal"]
    return list(iter_aggregations(expr))


def test_join_path_two_hops_through_posts(schemas):
    c = pql.compile("PREDICT COUNT(votes.*, 0, 30) FOR EACH users.user_id", schemas["stackexchange"])
    (agg,) = _aggs(c)
    assert agg["path"] == [{"table": "votes", "column": "post_id", "to": "posts"},
                           {"table": "posts", "column": "owner_user_id", "to": "users"}]
    assert c.plan.step("train").params["table_hops"] == {"posts": 1, "users": 0, "votes": 2}


def test_join_path_direct_link_wins_over_longer_paths(schemas):
    c = pql.compile("PREDICT COUNT(comments.*, 0, 30) FOR EACH users.user_id", schemas["stackexchange"])
    assert _aggs(c)[0]["path"] == [{"table": "comments", "column": "user_id", "to": "users"}]


def test_join_path_self_link(schemas):
    c = pql.compile("PREDICT COUNT(posts.*, 0, 7) FOR EACH posts.post_id", schemas["stackexchange"])
    assert _aggs(c)[0]["path"] == [{"table": "posts", "column": "parent_id", "to": "posts"}]


def test_sampler_hops_reach_every_table_used(schemas):
    c = pql.compile("PREDICT COUNT(outcome_analyses.*, 0, 30) > 0 FOR EACH studies.nct_id", schemas["clinical"])
    train = c.plan.step("train").params
    assert train["min_hops"] == 2 and train["num_hops"] >= 2
    c = pql.compile("PREDICT COUNT(orders.*, 0, 30) FOR EACH brands.brand_id", schemas["ecommerce"])
    assert _aggs(c)[0]["path"][-1] == {"table": "products", "column": "brand_id", "to": "brands"}
    assert c.plan.step("train").params["num_hops"] == 2


def test_windows_in_seconds_and_original_unit(ecommerce):
    c = pql.compile("PREDICT COUNT(orders.*, 0, 2, weeks) = 0 FOR EACH customers.customer_id "
                    "WHERE COUNT(orders.*, -INF, 0) > 0 AND COUNT(orders.*, -36, -12, hours) > 0", ecommerce)
    (target,) = _aggs(c)
    assert (target["start"], target["end"], target["window"]) == (0, 1209600, {"start": 0, "end": 2, "unit": "weeks"})
    where = _aggs(c, "where")
    assert [(a["start"], a["end"]) for a in where] == [(None, 0), (-129600, -43200)]
    anchors = c.plan.step("training_table").params["anchors"]
    assert anchors["step_seconds"] == 1209600 and anchors["lookback_seconds"] is None


def test_months_count_as_thirty_days(ecommerce):
    c = pql.compile("PREDICT SUM(orders.price, 0, 1, months) FOR EACH customers.customer_id", ecommerce)
    agg = _aggs(c)[0]
    assert agg["end"] == 30 * 86400 and agg["window"]["unit"] == "months"


@pytest.mark.parametrize(("agg", "rule"), [
    ("COUNT(orders.*, 0, 30)", "zero"), ("COUNT_DISTINCT(orders.product_id, 0, 30)", "zero"),
    ("SUM(orders.price, 0, 30)", "zero"), ("AVG(orders.price, 0, 30)", "drop"), ("MIN(orders.price, 0, 30)", "drop"),
    ("MAX(orders.price, 0, 30)", "drop"), ("FIRST(orders.price, 0, 30)", "drop"), ("LAST(orders.price, 0, 30)", "drop"),
])
def test_empty_window_rule(ecommerce, agg, rule):
    c = pql.compile(f"PREDICT {agg} FOR EACH customers.customer_id "
                    f"WHERE {agg.replace('0, 30', '-30, 0')} > 0", ecommerce)
    assert _aggs(c)[0]["empty_window"] == rule
    assert _aggs(c, "where")[0]["empty_window"] == ("zero" if rule == "zero" else "null")
    assert c.plan.step("training_table").params["label"]["drop_empty"] is (rule == "drop")


def test_list_distinct_empty_window_drops(ecommerce):
    c = pql.compile("PREDICT LIST_DISTINCT(orders.product_id, 0, 7) RANK TOP 3 FOR EACH customers.customer_id",
                    ecommerce)
    assert _aggs(c)[0]["empty_window"] == "drop"


def test_anchor_step_default_and_given(ecommerce):
    q = "PREDICT COUNT(orders.*, 0, 30) > 0 FOR EACH customers.customer_id"
    a = pql.compile(q, ecommerce).plan.step("training_table").params["anchors"]
    assert (a["policy"], a["step_seconds"], a["step_source"], a["horizon_seconds"]) == (
        "temporal", 2592000, "target_window", 2592000)
    a = pql.compile(q, ecommerce, anchor_step_seconds=86400).plan.step("training_table").params["anchors"]
    assert (a["step_seconds"], a["step_source"]) == (86400, "given")
    with pytest.raises(ValueError):
        pql.compile(q, ecommerce, anchor_step_seconds=0)


def test_assuming_windows_extend_the_anchor_horizon(ecommerce):
    c = pql.compile("PREDICT COUNT(orders.*, 0, 7) > 0 FOR EACH customers.customer_id "
                    "ASSUMING COUNT(orders.*, 0, 30) > 0", ecommerce)
    params = c.plan.step("training_table").params
    assert params["label"]["horizon_seconds"] == 7 * 86400
    assert params["anchors"]["horizon_seconds"] == 30 * 86400
    assert params["anchors"]["step_seconds"] == 7 * 86400
    assert params["assuming"]["left"]["empty_window"] == "zero"


def test_static_split_policies(schemas):
    by_time = pql.compile("PREDICT customers.segment FOR EACH customers.customer_id", schemas["ecommerce"])
    a = by_time.plan.step("training_table").params["anchors"]
    assert a == {"policy": "static_time", "time_column": "signup_at",
                 "fractions": {"train": 0.8, "validation": 0.1, "holdout": 0.1}}
    rnd = pql.compile("PREDICT users.tier FOR EACH users.user_id", schemas["saas"], seed=7)
    a = rnd.plan.step("training_table").params["anchors"]
    assert a["policy"] == "static_random" and a["seed"] == 7
    assert rnd.plan.step("train").params["label_columns"] == ["users.tier"]
    assert rnd.target.temporal is False


def test_forecast_windows(ecommerce):
    c = pql.compile("PREDICT SUM(orders.price, 0, 7, days) FORECAST 3 TIMEFRAMES FOR EACH products.product_id",
                    ecommerce)
    label = c.plan.step("training_table").params["label"]
    day = 86400
    assert label["forecast"]["windows"] == [{"start": 0, "end": 7 * day}, {"start": 7 * day, "end": 14 * day},
                                            {"start": 14 * day, "end": 21 * day}]
    assert label["horizon_seconds"] == 21 * day
    assert c.plan.step("predict").params["forecast_timeframes"] == 3


def test_where_split_into_static_and_temporal(ecommerce):
    c = pql.compile("PREDICT SUM(orders.price, 0, 30) FOR EACH customers.customer_id "
                    "WHERE customers.country = 'US' AND COUNT(orders.*, -90, 0) > 0 AND regions.size < 100", ecommerce)
    where = c.plan.step("training_table").params["where"]
    assert where["static"]["op"] == "and" and len(where["static"]["args"]) == 2
    region_hop = {"table": "customers", "column": "region_id", "to": "regions"}
    assert where["static"]["args"][1]["left"]["path"] == [region_hop]
    assert where["temporal"]["op"] == ">" and where["temporal_at"] == "anchor"
    assert c.plan.step("prediction_table").params["where"] == where


def test_entity_ids_for_single_and_list(ecommerce):
    one = pql.compile("PREDICT COUNT(orders.*, 0, 30) FOR customers.customer_id = 'c-9'", ecommerce)
    assert one.plan.step("prediction_table").params["ids"] == ["c-9"]
    many = pql.compile("PREDICT COUNT(orders.*, 0, 30) FOR customers.customer_id IN (1, 2)", ecommerce)
    assert many.plan.step("prediction_table").params["ids"] == [1, 2]
    each = pql.compile("PREDICT COUNT(orders.*, 0, 30) FOR EACH customers.customer_id", ecommerce)
    assert each.plan.step("prediction_table").params["ids"] is None


def test_compile_rejects_non_schema():
    with pytest.raises(TypeError):
        pql.compile("PREDICT a.b FOR EACH a.c", {"tables": {}})
