"""The product catalogue: categories, brands, prices, free text and each product's hidden quality.

Products are held in memory in an internal order (grouped by category) because every customer chunk samples
from them; the catalogue grows linearly with the scale (about 1,500 products at scale 1), so it stays small
next to the activity tables, which are streamed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from data_engine.demo_data import text
from data_engine.demo_data.schema import PRODUCTS
from data_engine.demo_data.vocabulary import (ADJECTIVES, BRANDS_BY_GROUP, CATEGORIES, COLORS, FEATURES, TAG_RATES,
                                              TAGS, USAGES)

PRODUCTS_PER_SCALE = 1500
MIN_PRODUCTS_PER_CATEGORY = 3
GOOD_QUALITY = 0.5  # customers keep buying favourites only among products at least this good

BRANDS: tuple[str, ...] = tuple(b for group in BRANDS_BY_GROUP.values() for b in group)
BRAND_GROUP: np.ndarray = np.repeat(np.arange(len(BRANDS_BY_GROUP)), [len(g) for g in BRANDS_BY_GROUP.values()])
_GROUPS = tuple(BRANDS_BY_GROUP)
NOUNS: tuple[str, ...] = tuple(noun for c in CATEGORIES for noun in c.nouns)
_NOUN_OFFSET = np.cumsum([0] + [len(c.nouns) for c in CATEGORIES])


def _segment_bounds(keys: np.ndarray, n_keys: int) -> np.ndarray:
    return np.searchsorted(keys, np.arange(n_keys + 1), side="left")


def _cumulative(weights: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(weights)])


def _sample_segments(u: np.ndarray, segment: np.ndarray, bounds: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """Positions drawn in proportion to weight inside each row's segment ``bounds[s]:bounds[s+1]``."""
    lo, hi = bounds[segment], bounds[segment + 1]
    target = cum[lo] + u * (cum[hi] - cum[lo])
    pos = np.searchsorted(cum, target, side="right") - 1
    return np.clip(pos, lo, hi - 1)


@dataclass(frozen=True)
class Catalogue:
    """Products in internal order (by category, then price) with the structures used to sample them.

    Attributes:
        product_id: the public id of each internal product (1..n, shuffled).
        category: index into :data:`CATEGORIES`.
        brand: index into :data:`BRANDS`.
        price: list price.
        quality: hidden quality in [0, 1]; low quality drives bad experiences (returns, bad reviews, churn).
        popularity: relative demand inside the category and brand.
        noun: index into :data:`NOUNS` of the noun in the product's title.
        table: the ``products`` table, sorted by ``product_id``.
    """

    product_id: np.ndarray
    category: np.ndarray
    brand: np.ndarray
    price: np.ndarray
    quality: np.ndarray
    popularity: np.ndarray
    noun: np.ndarray
    table: pa.Table
    _cat_bounds: np.ndarray
    _cum_popular: np.ndarray
    _cum_good: np.ndarray
    _brand_order: np.ndarray
    _brand_bounds: np.ndarray
    _cum_brand: np.ndarray

    def __len__(self) -> int:
        return len(self.product_id)

    def sample_in_category(self, u: np.ndarray, category: np.ndarray, *, good_only: bool = False) -> np.ndarray:
        """Internal product indices drawn by popularity inside each row's category.

        Args:
            u: numbers in [0, 1), one per row (any shape); larger numbers pick dearer products.
            category: the category index of each row (same shape as ``u``).
            good_only: draw only among products of at least :data:`GOOD_QUALITY` (all products of a category
                that has none).
        """
        cum = self._cum_good if good_only else self._cum_popular
        pos = _sample_segments(u, category, self._cat_bounds, cum)
        if good_only:
            lo, hi = self._cat_bounds[category], self._cat_bounds[category + 1]
            empty = cum[hi] <= cum[lo]
            if empty.any():
                pos[empty] = _sample_segments(u[empty], category[empty], self._cat_bounds, self._cum_popular)
        return pos

    def sample_in_brand(self, u: np.ndarray, brand: np.ndarray) -> np.ndarray:
        """Internal product indices drawn by popularity among each row's brand (which must have products)."""
        return self._brand_order[_sample_segments(u, brand, self._brand_bounds, self._cum_brand)]


def n_products(scale: float) -> int:
    """How many products a catalogue at ``scale`` holds."""
    return int(sum(max(MIN_PRODUCTS_PER_CATEGORY, round(scale * PRODUCTS_PER_SCALE * c.share)) for c in CATEGORIES))


def build_catalogue(rng: np.random.Generator, scale: float) -> Catalogue:
    """Draw the whole catalogue for ``scale`` from ``rng``."""
    counts = np.array([max(MIN_PRODUCTS_PER_CATEGORY, round(scale * PRODUCTS_PER_SCALE * c.share))
                       for c in CATEGORIES])
    n = int(counts.sum())
    category = np.repeat(np.arange(len(CATEGORIES)), counts)
    group = np.array([_GROUPS.index(c.group) for c in CATEGORIES])[category]

    brand_size = rng.pareto(1.5, size=len(BRANDS)) + 1.0
    brand_quality = rng.beta(5.0, 2.0, size=len(BRANDS))
    brand_premium = rng.lognormal(0.0, 0.25, size=len(BRANDS))
    # A product's brand comes from its category's group, weighted by brand size.
    group_brands = np.stack([np.flatnonzero(BRAND_GROUP == g) for g in range(len(_GROUPS))])
    weights = brand_size[group_brands]
    brand = group_brands[group, text.row_choice(rng, np.cumsum(weights / weights.sum(1, keepdims=True), 1)[group])]

    median = np.array([c.median_price for c in CATEGORIES])[category]
    raw_price = rng.lognormal(np.log(median), 0.45) * brand_premium[brand]
    price = np.maximum(np.round(raw_price) - 0.01, 0.99)
    lemon = rng.random(n) < 0.03 + 0.2 * (1.0 - brand_quality[brand])
    quality = np.where(lemon, rng.beta(1.5, 7.0, size=n),
                       np.clip(brand_quality[brand] + rng.normal(0.0, 0.12, size=n), 0.4, 1.0))
    popularity = rng.lognormal(0.0, 1.0, size=n)
    product_id = rng.permutation(n).astype(np.int64) + 1
    # Inside a category, products run from cheap to dear, so that a draw skewed towards the end of the
    # category's popularity mass picks dearer products (customers' price preference).
    order = np.lexsort((price, category))
    category, brand, price, quality, popularity, product_id = (
        a[order] for a in (category, brand, price, quality, popularity, product_id))

    noun_count = np.diff(_NOUN_OFFSET)[category]
    noun = _NOUN_OFFSET[category] + (rng.random(n) * noun_count).astype(np.int64)
    table = _products_table(rng, product_id, category, brand, price, noun)
    brand_order = np.argsort(brand, kind="stable")
    return Catalogue(
        product_id=product_id, category=category, brand=brand, price=price, quality=quality,
        popularity=popularity, noun=noun, table=table,
        _cat_bounds=_segment_bounds(category, len(CATEGORIES)),
        _cum_popular=_cumulative(popularity),
        _cum_good=_cumulative(popularity * (quality >= GOOD_QUALITY)),
        _brand_order=brand_order,
        _brand_bounds=_segment_bounds(brand[brand_order], len(BRANDS)),
        _cum_brand=_cumulative(popularity[brand_order]),
    )


def _products_table(rng: np.random.Generator, product_id: np.ndarray, category: np.ndarray, brand: np.ndarray,
                    price: np.ndarray, noun: np.ndarray) -> pa.Table:
    n = len(product_id)
    nouns = text.pick(NOUNS, noun)
    brand_names = text.pick(BRANDS, brand)
    adjectives = text.pick(ADJECTIVES, rng.integers(0, len(ADJECTIVES), size=n))
    model = text.join([text.pick("ABCDEFGHKMPRSTXZ", rng.integers(0, 16, size=n)),
                       pa.array(rng.integers(100, 1000, size=n).astype(str))], "")
    title = text.join([brand_names, adjectives, nouns, model])
    description = text.join([
        text.join([text.pick([a.capitalize() for a in ADJECTIVES], rng.integers(0, len(ADJECTIVES), size=n)),
                   nouns, "by"]),
        text.join([brand_names, "."], ""),
        text.pick(FEATURES, rng.integers(0, len(FEATURES), size=n)),
        text.pick(USAGES, rng.integers(0, len(USAGES), size=n)),
    ])

    has_color = np.array([c.has_color for c in CATEGORIES])[category]
    color = text.with_nulls(text.pick(COLORS, rng.integers(0, len(COLORS), size=n)),
                            ~has_color | (rng.random(n) < 0.2))
    weight = np.round(rng.lognormal(np.log(0.2 + price / 120.0), 0.6), 2)
    tag_matrix = rng.random((n, len(TAGS))) < np.array(TAG_RATES)
    tags = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(tag_matrix.sum(1))]).astype(np.int32)),
        text.pick(TAGS, np.nonzero(tag_matrix)[1]))

    table = pa.table({
        "product_id": pa.array(product_id),
        "title": title,
        "description": text.with_nulls(description, rng.random(n) < 0.1),
        "category": text.pick([c.name for c in CATEGORIES], category),
        "brand": text.with_nulls(brand_names, rng.random(n) < 0.03),
        "price": pa.array(price),
        "color": color,
        "weight_kg": text.with_nulls(weight, rng.random(n) < 0.3, pa.float64()),
        "tags": tags,
    }, schema=PRODUCTS.schema)
    return table.take(pa.array(np.argsort(product_id)))
