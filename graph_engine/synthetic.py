"""A synthetic relational database as a heterogeneous temporal graph, for tests and benchmarks.

Four tables in a small shop: ``customers`` (time: sign-up), ``products`` (no time), and two fact tables
``orders`` and ``reviews`` (time: when they happened), each with foreign keys ``customer_id`` and
``product_id``. Customers and products are chosen with power-law popularity, so degrees are skewed as in
real data; every order or review happens after its customer signed up. Fact rows are in time order,
as tables that grow by appending are.

The generator writes exactly the artifacts the data engine writes (:mod:`data_engine.artifact_formats`):
one graph artifact and one feature artifact per table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from data_engine.artifact_formats.features import FeatureBlocks, encode_features, write_feature_artifact
from data_engine.artifact_formats.graph import Link, NodeTable, write_graph_artifact
from platform_core.artifacts import ArtifactStore

START = int(np.datetime64("2022-01-01T00:00:00", "s").astype(np.int64))
END = int(np.datetime64("2025-01-01T00:00:00", "s").astype(np.int64))
_COUNTRIES = ["US", "DE", "FR", "GB", "JP", "BR", "IN", "CA", "ES", "IT"]
_CATEGORIES = ["books", "games", "garden", "kitchen", "music", "sports", "toys", "tools"]
_STATUS = ["done", "returned", "cancelled"]
_WORDS = ["red", "small", "classic", "modern", "wooden", "smart", "eco", "deluxe", "mini", "pro"]


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes of the synthetic shop; edges in the graph = 4 x (orders + reviews)."""

    customers: int = 2_000
    products: int = 300
    orders: int = 20_000
    reviews: int = 5_000
    seed: int = 0
    skew: float = 1.1

    @classmethod
    def for_edges(cls, num_edges: int, seed: int = 0, facts_per_customer: int = 12) -> "SyntheticConfig":
        """A configuration with at least ``num_edges`` edges in total (both directions).

        Args:
            num_edges: the least number of edges.
            seed: the random seed.
            facts_per_customer: orders and reviews per customer on average (activity density).
        """
        facts = -(-num_edges // 4)
        orders = -(-facts * 4 // 5)
        return cls(customers=max(10, facts // facts_per_customer), products=max(5, facts // 120), orders=orders,
                   reviews=facts - orders if facts > orders else 1, seed=seed)

    @property
    def num_edges(self) -> int:
        return 4 * (self.orders + self.reviews)


@dataclass
class SyntheticGraph:
    """The generated tables as graph pieces and encoded feature blocks."""

    config: SyntheticConfig
    nodes: list[NodeTable]
    links: list[Link]
    features: dict[str, FeatureBlocks] = field(default_factory=dict)

    def node_table(self, name: str) -> NodeTable:
        return next(t for t in self.nodes if t.name == name)

    def write(self, artifacts: ArtifactStore, root: str, *, features: bool = True) -> "SyntheticUris":
        """Write the graph artifact at ``<root>/graph`` and feature artifacts at ``<root>/features/<table>``.

        Returns:
            The URIs written.
        """
        root = root.rstrip("/")
        inputs = {"synthetic": vars(self.config)}
        graph = write_graph_artifact(artifacts, f"{root}/graph", self.nodes, self.links,
                                     producer="graph_engine.synthetic", inputs=inputs)
        written = {}
        if features:
            for table, blocks in self.features.items():
                art = write_feature_artifact(artifacts, f"{root}/features/{table}", blocks,
                                             producer="graph_engine.synthetic", inputs=inputs)
                written[table] = art.uri
        return SyntheticUris(graph=graph.uri, features=written)


@dataclass(frozen=True)
class SyntheticUris:
    graph: str
    features: dict[str, str]


def _popularity(rng: np.random.Generator, n: int, skew: float) -> np.ndarray:
    weights = (np.arange(1, n + 1, dtype=np.float64)) ** -skew
    rng.shuffle(weights)
    return np.cumsum(weights / weights.sum())


def _pick(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(size)), cdf.size - 1).astype(np.int64)


def _events(rng: np.random.Generator, cfg: SyntheticConfig, count: int, cust_cdf: np.ndarray,
            prod_cdf: np.ndarray, signup: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    customer = _pick(rng, cust_cdf, count)
    product = _pick(rng, prod_cdf, count)
    start = signup[customer]
    time = start + (rng.random(count) * (END - start)).astype(np.int64)
    order = np.argsort(time, kind="stable")
    return customer[order], product[order], time[order]


def generate(config: SyntheticConfig | None = None, *, features: bool = True) -> SyntheticGraph:
    """Generate the synthetic shop.

    Args:
        config: sizes and seed (same config, same graph).
        features: also encode feature blocks for every table.

    Returns:
        The :class:`SyntheticGraph`.
    """
    cfg = config or SyntheticConfig()
    rng = np.random.default_rng(cfg.seed)
    signup = np.sort(rng.integers(START, END - 86_400, cfg.customers)).astype(np.int64)
    cust_cdf = _popularity(rng, cfg.customers, cfg.skew)
    prod_cdf = _popularity(rng, cfg.products, cfg.skew)
    o_cust, o_prod, o_time = _events(rng, cfg, cfg.orders, cust_cdf, prod_cdf, signup)
    r_cust, r_prod, r_time = _events(rng, cfg, cfg.reviews, cust_cdf, prod_cdf, signup)

    nodes = [
        NodeTable("customers", cfg.customers, signup),
        NodeTable("products", cfg.products, None),
        NodeTable("orders", cfg.orders, o_time),
        NodeTable("reviews", cfg.reviews, r_time),
    ]
    o_rows, r_rows = np.arange(cfg.orders, dtype=np.int64), np.arange(cfg.reviews, dtype=np.int64)
    links = [
        Link("orders", "customer_id", "customers", o_rows, o_cust),
        Link("orders", "product_id", "products", o_rows, o_prod),
        Link("reviews", "customer_id", "customers", r_rows, r_cust),
        Link("reviews", "product_id", "products", r_rows, r_prod),
    ]
    graph = SyntheticGraph(cfg, nodes, links)
    if features:
        graph.features = _features(rng, cfg, signup, o_time, o_prod, r_time)
    return graph


def _features(rng: np.random.Generator, cfg: SyntheticConfig, signup: np.ndarray, o_time: np.ndarray,
              o_prod: np.ndarray, r_time: np.ndarray) -> dict[str, FeatureBlocks]:
    n_c, n_p, n_o, n_r = cfg.customers, cfg.products, cfg.orders, cfg.reviews
    age = rng.normal(40, 12, n_c).round()
    age[rng.random(n_c) < 0.05] = np.nan
    country = np.array(_COUNTRIES, dtype=object)[rng.integers(0, len(_COUNTRIES), n_c)]
    country[rng.random(n_c) < 0.02] = None
    birthday = np.where(np.isnan(age), np.iinfo(np.int64).min,
                        signup - (np.nan_to_num(age) * 365.25 * 86_400).astype(np.int64))
    interests = [list(np.array(_CATEGORIES)[rng.random(len(_CATEGORIES)) < 0.25]) for _ in range(n_c)]
    customers = encode_features(
        "customers", n_c, numerical={"age": age}, categorical={"country": country},
        multicategorical={"interests": interests}, timestamp={"birthday": birthday},
        time=signup, time_column="signed_up_at")

    price = np.exp(rng.normal(3, 1, n_p)).round(2)
    category = np.array(_CATEGORIES, dtype=object)[rng.integers(0, len(_CATEGORIES), n_p)]
    words = np.array(_WORDS)[rng.integers(0, len(_WORDS), (n_p, 2))]
    title = [f"{a} {b} {c}" for (a, b), c in zip(words, category)]
    products = encode_features("products", n_p, numerical={"price": price}, categorical={"category": category},
                               text={"title": title})

    quantity = rng.integers(1, 5, n_o).astype(np.float64)
    amount = quantity * price[o_prod] * rng.uniform(0.8, 1.0, n_o)
    status = np.array(_STATUS, dtype=object)[np.minimum(rng.geometric(0.8, n_o) - 1, 2)]
    orders = encode_features("orders", n_o, numerical={"quantity": quantity, "amount": amount},
                             categorical={"status": status}, time=o_time, time_column="ordered_at")

    rating = rng.integers(1, 6, n_r)
    reviews = encode_features("reviews", n_r, numerical={"rating": rating.astype(np.float64)},
                              categorical={"stars": rating}, time=r_time, time_column="reviewed_at")
    return {"customers": customers, "products": products, "orders": orders, "reviews": reviews}
