"""No leakage: whatever happens after an anchor time cannot change a prediction at that anchor."""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest
import torch

from compute_engine.model import GraphModel, ModelPlan
from compute_engine.training import Task, predict
from compute_engine.training.data import build_spec
from compute_engine.training.synthetic import DAY, START, PlantedConfig, PlantedShop, make_shop, write_shop
from platform_core.object_store import ObjectStore
from pql.task import TaskType

pytestmark = pytest.mark.unit

ANCHOR = START + 300 * DAY


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads, numba_threads = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    numba.set_num_threads(numba_threads)


def _rewrite_future(shop: PlantedShop, rng: np.random.Generator) -> PlantedShop:
    """The same shop up to ANCHOR; after it, other amounts and products, more orders and new customers."""
    future = shop.order_time > ANCHOR
    n_c, n_p = shop.signup.size, shop.recalled.size
    amount = np.where(future, shop.order_amount * 10 + 1, shop.order_amount)
    product = np.where(future, rng.integers(0, n_p, shop.order_product.size), shop.order_product)
    new_customers = 5
    signup = np.concatenate([shop.signup, ANCHOR + DAY * np.arange(1, new_customers + 1)])
    extra = 300
    extra_customer = rng.integers(0, n_c + new_customers, extra)
    extra_time = np.sort(shop.order_time.max() + 1 + rng.integers(0, 30 * DAY, extra))
    columns = {t: {g: dict(cols) for g, cols in groups.items()} for t, groups in shop.columns.items()}
    columns["orders"]["numerical"]["amount"] = np.concatenate([amount, rng.uniform(1, 500, extra)])
    columns["customers"]["numerical"]["age"] = np.concatenate([shop.columns["customers"]["numerical"]["age"],
                                                               np.full(new_customers, 33.0)])
    # Null countries: new values would re-rank the frequency-sorted vocabulary and so re-code every row.
    columns["customers"]["categorical"]["country"] = np.concatenate(
        [shop.columns["customers"]["categorical"]["country"], np.array([None] * new_customers, dtype=object)])
    return dataclasses.replace(
        shop, signup=signup, customer_group=np.concatenate([shop.customer_group, np.zeros(new_customers, int)]),
        order_customer=np.concatenate([shop.order_customer, extra_customer]),
        order_product=np.concatenate([product, rng.integers(0, n_p, extra)]),
        order_time=np.concatenate([shop.order_time, extra_time]),
        order_amount=columns["orders"]["numerical"]["amount"], columns=columns)


@pytest.mark.parametrize("strategy", ["uniform", "last"])
def test_predictions_ignore_everything_newer_than_the_anchor(tmp_path, strategy):
    shop = make_shop(PlantedConfig(customers=120, products=30))
    before = write_shop(shop, ObjectStore((tmp_path / "a").as_uri()), "shop")
    after = write_shop(_rewrite_future(shop, np.random.default_rng(4)), ObjectStore((tmp_path / "b").as_uri()), "shop")
    task = Task(TaskType.BINARY_CLASSIFICATION, "customers")
    torch.manual_seed(0)
    plan = ModelPlan(channels=16, num_layers=2, fanouts=[6, 3], strategy=strategy, text_buckets=64, dropout=0.0)
    # The model's column statistics come from the first store: a model never re-reads them.
    model = GraphModel(plan, build_spec(task, before))
    seeds = np.arange(100)
    anchors = np.full(seeds.size, ANCHOR)
    p_before = predict(model, before, seeds, anchors)
    p_after = predict(model, after, seeds, anchors)
    assert np.array_equal(p_before.scores, p_after.scores)
    assert np.array_equal(p_before.embeddings, p_after.embeddings)
    # The changes are visible to predictions at a later anchor, so the comparison above can fail.
    late = np.full(seeds.size, int(shop.order_time.max()) + 40 * DAY)
    changed = np.abs(predict(model, before, seeds, late).scores - predict(model, after, seeds, late).scores)
    assert (changed > 1e-6).mean() > 0.5
