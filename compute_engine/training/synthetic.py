"""Small shops with planted relational signals, for the trainer's tests and benchmarks.

Three tables: ``customers`` (time: sign-up; columns ``age`` and ``country`` drawn independently of
everything else), ``products`` (static; ``price``, ``category``, a visible ``recalled`` flag and a ``title``)
and ``orders`` (time: when placed; ``amount``), with the links orders -> customers and orders -> products.

Planted signals, visible only through the graph:

- **churn** (binary): a customer churns at an anchor time iff they ordered a recalled product within
  ``window_days`` before it (plus ``noise`` label flips). The customer's own columns carry no signal; the
  GNN has to read customer <- orders <- products.
- **next purchases** (ranking): every customer has a hidden taste group and buys from it with probability
  ``taste``, otherwise by global popularity; the label is the set of products bought in the ``horizon_days``
  after the anchor. Past orders reveal the taste, so a model beats recommending the most popular products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compute_engine.training.data import RaggedLabels, Stores, Task, TrainingExamples
from data_engine.artifact_formats.features import encode_features, write_feature_artifact
from data_engine.artifact_formats.graph import Link, NodeTable, write_graph_artifact
from graph_engine.features.store import ArtifactFeatureStore
from graph_engine.graph_store import ArtifactGraphStore
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore
from pql.task import TaskType

__all__ = ["PlantedShop", "PlantedConfig", "make_shop", "write_shop", "churn_examples", "ranking_examples",
           "DAY", "START"]

DAY = 86_400
START = int(np.datetime64("2023-01-01T00:00:00", "s").astype(np.int64))
_COUNTRIES = np.array(["US", "DE", "FR", "GB", "JP"], dtype=object)
_CATEGORIES = np.array(["books", "games", "garden", "kitchen", "music", "toys"], dtype=object)
_WORDS = np.array(["red", "small", "classic", "modern", "wooden", "smart", "eco", "mini"], dtype=object)


@dataclass(frozen=True)
class PlantedConfig:
    """Sizes and rates of a planted shop.

    Attributes:
        customers, products: table sizes.
        days: the span of the order history.
        orders_per_day: each customer's order rate.
        recalled: share of products flagged as recalled.
        groups: taste groups (products are split evenly between them).
        taste: probability that an order follows the customer's taste.
        seed: random seed.
    """

    customers: int = 400
    products: int = 60
    days: int = 540
    orders_per_day: float = 1 / 25
    recalled: float = 0.15
    groups: int = 6
    taste: float = 0.85
    seed: int = 0


@dataclass
class PlantedShop:
    """A generated shop: its tables as arrays (for labels) and the raw columns (for artifacts)."""

    config: PlantedConfig
    signup: np.ndarray
    customer_group: np.ndarray
    product_group: np.ndarray
    recalled: np.ndarray
    order_customer: np.ndarray
    order_product: np.ndarray
    order_time: np.ndarray
    order_amount: np.ndarray
    columns: dict[str, dict[str, dict[str, object]]]

    @property
    def end(self) -> int:
        return START + self.config.days * DAY


def make_shop(config: PlantedConfig | None = None) -> PlantedShop:
    """Generate a planted shop (same config, same shop)."""
    cfg = config or PlantedConfig()
    rng = np.random.default_rng(cfg.seed)
    n_c, n_p = cfg.customers, cfg.products
    signup = np.sort(START + rng.integers(0, 60 * DAY, n_c)).astype(np.int64)
    customer_group = rng.integers(0, cfg.groups, n_c)
    product_group = np.arange(n_p) % cfg.groups
    recalled = (rng.random(n_p) < cfg.recalled).astype(np.float64)
    popularity = rng.pareto(1.2, n_p) + 1.0
    price = np.exp(rng.normal(3.0, 0.8, n_p)).round(2)

    end = START + cfg.days * DAY
    counts = rng.poisson(cfg.orders_per_day * (end - signup) / DAY)
    customer = np.repeat(np.arange(n_c), counts)
    times = signup[customer] + (rng.random(customer.size) * (end - signup[customer])).astype(np.int64)
    follows = rng.random(customer.size) < cfg.taste
    product = np.empty(customer.size, dtype=np.int64)
    for g in range(cfg.groups):
        members = np.flatnonzero(product_group == g)
        weights = popularity[members] / popularity[members].sum()
        pick = follows & (customer_group[customer] == g)
        product[pick] = rng.choice(members, pick.sum(), p=weights)
    rest = ~follows
    product[rest] = rng.choice(n_p, rest.sum(), p=popularity / popularity.sum())
    order = np.argsort(times, kind="stable")
    customer, product, times = customer[order], product[order], times[order].astype(np.int64)
    amount = (price[product] * rng.integers(1, 4, customer.size)).round(2)

    age = rng.normal(40, 12, n_c).round()
    title = [f"{a} {b}" for a, b in zip(_WORDS[rng.integers(0, len(_WORDS), n_p)], _CATEGORIES[product_group
                                                                                                 % len(_CATEGORIES)])]
    columns = {
        "customers": {"numerical": {"age": age}, "categorical": {"country": _COUNTRIES[rng.integers(0, 5, n_c)]}},
        "products": {"numerical": {"price": price, "recalled": recalled},
                     "categorical": {"category": _CATEGORIES[product_group % len(_CATEGORIES)]},
                     "text": {"title": title}},
        "orders": {"numerical": {"amount": amount}},
    }
    return PlantedShop(cfg, signup, customer_group, product_group, recalled, customer, product, times, amount,
                       columns)


def write_shop(shop: PlantedShop, store: ObjectStore, root: str) -> Stores:
    """Write the shop's graph and feature artifacts under ``root`` and open stores over them."""
    artifacts = ArtifactStore(store)
    root = root.rstrip("/")
    n_c, n_p, n_o = shop.signup.size, shop.recalled.size, shop.order_time.size
    nodes = [NodeTable("customers", n_c, shop.signup), NodeTable("products", n_p, None),
             NodeTable("orders", n_o, shop.order_time)]
    rows = np.arange(n_o, dtype=np.int64)
    links = [Link("orders", "customer_id", "customers", rows, shop.order_customer),
             Link("orders", "product_id", "products", rows, shop.order_product)]
    inputs = {"planted": repr(shop.config)}
    graph = write_graph_artifact(artifacts, f"{root}/graph", nodes, links, producer="compute_engine.synthetic",
                                 inputs=inputs)
    times = {"customers": (shop.signup, "signed_up_at"), "orders": (shop.order_time, "ordered_at")}
    sizes = {"customers": n_c, "products": n_p, "orders": n_o}
    for table, cols in shop.columns.items():
        time, time_column = times.get(table, (None, None))
        blocks = encode_features(table, sizes[table], time=time, time_column=time_column, **cols)
        write_feature_artifact(artifacts, f"{root}/features/{table}", blocks, producer="compute_engine.synthetic",
                               inputs=inputs)
    return Stores(ArtifactGraphStore.open(artifacts, graph.uri),
                  ArtifactFeatureStore.open(artifacts, f"{root}/features"))


def _anchors(shop: PlantedShop, per_customer: int, rng: np.random.Generator, margin_days: int
             ) -> tuple[np.ndarray, np.ndarray]:
    n_c = shop.signup.size
    lo, hi = START + 120 * DAY, shop.end - margin_days * DAY
    node = np.repeat(np.arange(n_c, dtype=np.int64), per_customer)
    anchor = lo + (rng.random(node.size) * (hi - lo)).astype(np.int64)
    return node, anchor - anchor % DAY


def _split(n: int, rng: np.random.Generator) -> np.ndarray:
    draw = rng.random(n)
    return np.where(draw < 0.7, "train", np.where(draw < 0.85, "val", "holdout"))


def churn_examples(shop: PlantedShop, *, per_customer: int = 3, window_days: int = 45, noise: float = 0.03,
                   seed: int = 1) -> tuple[Task, TrainingExamples]:
    """Binary examples: 1 iff the customer ordered a recalled product in the window before the anchor."""
    rng = np.random.default_rng(seed)
    node, anchor = _anchors(shop, per_customer, rng, 0)
    bad = shop.recalled[shop.order_product] > 0
    label = np.zeros(node.size, dtype=np.int64)
    for i, (c, a) in enumerate(zip(node, anchor)):
        mine = (shop.order_customer == c) & bad
        t = shop.order_time[mine]
        label[i] = int(np.any((t <= a) & (t > a - window_days * DAY)))
    flip = rng.random(node.size) < noise
    label = np.where(flip, 1 - label, label)
    return (Task(TaskType.BINARY_CLASSIFICATION, "customers"),
            TrainingExamples(node, anchor, label, _split(node.size, rng)))


def ranking_examples(shop: PlantedShop, *, per_customer: int = 2, horizon_days: int = 60, k: int = 5,
                     seed: int = 2) -> tuple[Task, TrainingExamples]:
    """Ranking examples: the distinct products each customer orders in the horizon after the anchor."""
    rng = np.random.default_rng(seed)
    node, anchor = _anchors(shop, per_customer, rng, horizon_days)
    lists = []
    for c, a in zip(node, anchor):
        mine = (shop.order_customer == c) & (shop.order_time > a) & (shop.order_time <= a + horizon_days * DAY)
        lists.append(np.unique(shop.order_product[mine]))
    return (Task(TaskType.LINK_PREDICTION, "customers", target_type="products", k=k),
            TrainingExamples(node, anchor, RaggedLabels.from_lists(lists), _split(node.size, rng)))
