"""Column encoders: one table's feature blocks of the sampled nodes -> one d-dimensional vector per node.

Each semantic type has its encoder, built from the column statistics of the feature artifact (kept in a
:class:`TableSpec`, so a saved model carries them and does not depend on the store it is applied to):

- numerical: standardised with the column's mean and std, clipped, null -> 0 plus a learned null vector,
  then pytorch-frame's ``LinearEncoder``;
- categorical: pytorch-frame's ``EmbeddingEncoder`` (null -> a zero vector); codes beyond
  ``max_categories`` (the rarest values: vocabularies are sorted by frequency) share one embedding;
- multicategorical: pytorch-frame's ``MultiCategoricalEmbeddingEncoder`` (mean of the codes' embeddings);
- timestamp: pytorch-frame's ``TimestampEncoder`` over the calendar parts, plus the value's signed
  log-scaled distance to the seed's anchor time, plus a learned null vector (nulls take the median);
- text: an ``EmbeddingBag`` over the hashed n-gram bags of :mod:`compute_engine.model.text`.

The per-column vectors are layer-normalised, concatenated and projected to ``channels``; a learned vector per
table is added, so a table without feature columns still gets an embedding.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch_frame import stype
from torch_frame.data import MultiNestedTensor
from torch_frame.data.stats import StatType
from torch_frame.nn.encoder.stype_encoder import (
    EmbeddingEncoder,
    LinearEncoder,
    MultiCategoricalEmbeddingEncoder,
    TimestampEncoder,
)

__all__ = ["TableSpec", "NodeBatch", "TableEncoder", "calendar_parts", "TIMESTAMP_NULL"]

TIMESTAMP_NULL = -(2**63)
#: Vocabulary entries a model keeps per column (codes past ``max_categories`` share one slot anyway).
KEPT_VOCABULARY = 65_536


def _vocab_key(value: Any) -> Any:
    # JSON round trips turn tuples into lists; compare values by a hashable form.
    return tuple(value) if isinstance(value, list) else value


class CodeRemap(nn.Module):
    """Translates the codes of each column through a lookup table (a value unknown to the model -> -1)."""

    def __init__(self, tables: list[list[int]]) -> None:
        super().__init__()
        lengths = [len(t) for t in tables]
        offsets = [0]
        for n in lengths[:-1]:
            offsets.append(offsets[-1] + n)
        flat = [code for table in tables for code in table] or [-1]
        self.register_buffer("flat", torch.tensor(flat, dtype=torch.long), persistent=False)
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.long), persistent=False)
        self.register_buffer("lengths", torch.tensor(lengths, dtype=torch.long), persistent=False)

    def forward(self, codes: Tensor, columns: Tensor) -> Tensor:
        """``codes`` of the given ``columns`` (same shape, or broadcastable) in the model's codes."""
        codes = codes.to(torch.long)
        lengths = self.lengths[columns]
        valid = (codes >= 0) & (codes < lengths)
        index = torch.where(valid, codes + self.offsets[columns], torch.zeros_like(codes))
        return torch.where(valid, self.flat[index], torch.where(codes < 0, codes, torch.full_like(codes, -1)))
_DAY = 86_400.0
NUMERIC_CLIP = 8.0


@dataclass
class TableSpec:
    """What the encoders of one table need to know, JSON-serialisable (part of a model checkpoint).

    Attributes:
        table: the table (node type).
        numerical, categorical, multicategorical, timestamp, text: column names per block, in block order.
        mean, std: per numerical column (0 and 1 for all-null columns).
        cardinality: vocabulary size per categorical column.
        multi_cardinality: vocabulary size per multicategorical column.
        year_min: smallest year per timestamp column; median: median value per timestamp column (seconds).
        hidden: columns the model reads as always missing (a static query's label columns), whatever the
            data holds.
        vocabularies: per categorical and multicategorical column, the values its codes stood for when the
            model was trained (the first :data:`KEPT_VOCABULARY` at most: beyond, codes share one slot), so
            the model reads features materialized later, with other codes, the same way
            (:meth:`code_remap`).
    """

    table: str
    numerical: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    multicategorical: list[str] = field(default_factory=list)
    timestamp: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    cardinality: list[int] = field(default_factory=list)
    multi_cardinality: list[int] = field(default_factory=list)
    year_min: list[int] = field(default_factory=list)
    median: list[int] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    vocabularies: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def from_info(cls, info: Any) -> "TableSpec":
        """Build from a feature store's ``TableInfo`` (columns, stats, vocabularies)."""
        cols = info.columns
        stats = info.stats

        def stat(column: str) -> dict[str, Any]:
            return stats.get(column) or {}

        spec = cls(table=info.table, numerical=list(cols.get("numerical", [])),
                   categorical=list(cols.get("categorical", [])),
                   multicategorical=list(cols.get("multicategorical", [])),
                   timestamp=list(cols.get("timestamp", [])), text=list(cols.get("text", [])))
        for c in spec.numerical:
            mean, std = stat(c).get("mean"), stat(c).get("std")
            spec.mean.append(float(mean) if mean is not None and math.isfinite(mean) else 0.0)
            spec.std.append(float(std) if std is not None and math.isfinite(std) and std > 0 else 1.0)
        spec.cardinality = [len(info.vocabularies.get(c, [])) for c in spec.categorical]
        spec.multi_cardinality = [len(info.vocabularies.get(c, [])) for c in spec.multicategorical]
        spec.vocabularies = {c: list(info.vocabularies.get(c, []))[:KEPT_VOCABULARY]
                             for c in (*spec.categorical, *spec.multicategorical)}
        for c in spec.timestamp:
            years = stat(c).get("year_range")
            spec.year_min.append(int(years[0]) if years else 1970)
            median = stat(c).get("median")
            spec.median.append(int(median) if median is not None else 0)
        return spec

    @property
    def num_columns(self) -> int:
        return (len(self.numerical) + len(self.categorical) + len(self.multicategorical)
                + 2 * len(self.timestamp) + len(self.text))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def code_remap(self, current: dict[str, list[Any]]) -> dict[str, list[int]]:
        """How the codes of features materialized with ``current`` vocabularies map to the model's codes.

        Args:
            current: column -> the vocabulary of the features the model is applied to.

        Returns:
            column -> for each current code, the model's code of the same value, or -1 for a value the model
            never saw; only the columns whose codes differ (empty: the features read as they are). A model
            saved without vocabularies gets no remapping.
        """
        remaps = {}
        for column in (*self.categorical, *self.multicategorical):
            trained = self.vocabularies.get(column)
            if trained is None:
                continue
            now = list(current.get(column, []))
            if [_vocab_key(v) for v in now[:KEPT_VOCABULARY]] == [_vocab_key(v) for v in trained] and (
                    len(now) == len(trained) or len(trained) >= KEPT_VOCABULARY):
                continue
            position = {_vocab_key(v): i for i, v in enumerate(trained)}
            remaps[column] = [position.get(_vocab_key(v), -1) for v in now]
        return remaps

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TableSpec":
        return cls(**raw)


@dataclass
class NodeBatch:
    """The sampled nodes of one node type and their features.

    Attributes:
        n_id: int64 [n] node index in the table.
        group: int64 [n] the seed (disjoint subgraph) each node belongs to.
        time: int64 [n] node times (unix seconds), or None for a static table.
        numerical, categorical, timestamp: the dense feature blocks (or None).
        multicategorical: the ragged block (or None).
        text: ``(indices, weights, offsets)`` of the hashed text bags (or None).
    """

    n_id: Tensor
    group: Tensor
    time: Tensor | None = None
    numerical: Tensor | None = None
    categorical: Tensor | None = None
    timestamp: Tensor | None = None
    multicategorical: MultiNestedTensor | None = None
    text: tuple[Tensor, Tensor, Tensor] | None = None

    @property
    def num_nodes(self) -> int:
        return int(self.n_id.numel())

    def to(self, device: torch.device | str) -> "NodeBatch":
        def move(t):
            return None if t is None else t.to(device, non_blocking=True)

        return NodeBatch(n_id=move(self.n_id), group=move(self.group), time=move(self.time),
                         numerical=move(self.numerical), categorical=move(self.categorical),
                         timestamp=move(self.timestamp),
                         multicategorical=None if self.multicategorical is None else self.multicategorical.to(device),
                         text=None if self.text is None else tuple(t.to(device) for t in self.text))


def calendar_parts(seconds: Tensor) -> Tensor:
    """Calendar parts of unix seconds in pytorch-frame's timestamp layout.

    Args:
        seconds: int64 tensor of any shape.

    Returns:
        int64 ``[..., 7]``: year, month - 1, day - 1, day of week (Monday 0), hour, minute, second.
    """
    seconds = seconds.to(torch.long)
    days = torch.div(seconds, 86_400, rounding_mode="floor")
    rest = seconds - days * 86_400
    # Proleptic Gregorian date from a day count, with years starting on March 1st so that the leap day
    # is the last day of a year: 400-year eras of 146097 days, then years of the era, then day of year.
    shifted = days + 719_468
    era = torch.div(shifted, 146_097, rounding_mode="floor")
    day_of_era = shifted - era * 146_097
    year_of_era = torch.div(day_of_era - torch.div(day_of_era, 1_460, rounding_mode="floor")
                            + torch.div(day_of_era, 36_524, rounding_mode="floor")
                            - torch.div(day_of_era, 146_096, rounding_mode="floor"), 365, rounding_mode="floor")
    day_of_year = day_of_era - (365 * year_of_era + torch.div(year_of_era, 4, rounding_mode="floor")
                                - torch.div(year_of_era, 100, rounding_mode="floor"))
    month_from_march = torch.div(5 * day_of_year + 2, 153, rounding_mode="floor")
    day = day_of_year - torch.div(153 * month_from_march + 2, 5, rounding_mode="floor")
    month = torch.where(month_from_march < 10, month_from_march + 3, month_from_march - 9)
    year = year_of_era + era * 400 + (month <= 2).long()
    weekday = torch.remainder(days + 3, 7)  # 1970-01-01 was a Thursday
    hour = torch.div(rest, 3_600, rounding_mode="floor")
    minute = torch.div(rest - hour * 3_600, 60, rounding_mode="floor")
    second = rest - hour * 3_600 - minute * 60
    return torch.stack([year, month - 1, day, weekday, hour, minute, second], dim=-1)


def signed_log_days(delta_seconds: Tensor) -> Tensor:
    """``sign(d) * log1p(|d| / 1 day)``: a distance in time on a scale a linear layer can use."""
    days = delta_seconds.to(torch.float64) / _DAY
    return (torch.sign(days) * torch.log1p(days.abs())).to(torch.float32)


class NumericalColumns(nn.Module):
    """Standardise, clip, null -> 0 plus a null vector, then pytorch-frame's ``LinearEncoder``."""

    def __init__(self, mean: list[float], std: list[float], channels: int) -> None:
        super().__init__()
        n = len(mean)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        # The values arrive standardised, so the inner encoder's own normalisation is the identity.
        unit = [{StatType.MEAN: 0.0, StatType.STD: 1.0 - 1e-6} for _ in range(n)]
        self.linear = LinearEncoder(channels, unit, stype.numerical)
        self.null = nn.Parameter(torch.zeros(n, channels))

    def forward(self, x: Tensor) -> Tensor:
        x = x.to(torch.float32)
        missing = torch.isnan(x)
        z = ((x - self.mean) / self.std).clamp(-NUMERIC_CLIP, NUMERIC_CLIP)
        z = torch.where(missing, torch.zeros_like(z), z)
        return self.linear(z) + missing.unsqueeze(-1).to(z.dtype) * self.null


class CategoricalColumns(nn.Module):
    """pytorch-frame's ``EmbeddingEncoder``; the rarest codes beyond ``max_categories`` share a slot."""

    def __init__(self, cardinality: list[int], channels: int, max_categories: int) -> None:
        super().__init__()
        sizes = [max(1, min(c, max_categories + 1)) for c in cardinality]
        self.register_buffer("last", torch.tensor([s - 1 for s in sizes], dtype=torch.long))
        stats = [{StatType.COUNT: (list(range(s)), [1] * s)} for s in sizes]
        self.embedding = EmbeddingEncoder(channels, stats, stype.categorical)
        self.remap: CodeRemap | None = None

    def forward(self, codes: Tensor) -> Tensor:
        codes = codes.to(torch.long)
        if self.remap is not None:
            codes = self.remap(codes, torch.arange(codes.shape[1], device=codes.device).expand_as(codes))
        capped = torch.minimum(codes, self.last)
        return self.embedding(torch.where(codes < 0, codes, capped))


class MultiCategoricalColumns(nn.Module):
    """pytorch-frame's ``MultiCategoricalEmbeddingEncoder`` with the same cap as categorical columns."""

    def __init__(self, cardinality: list[int], channels: int, max_categories: int) -> None:
        super().__init__()
        self.cap = int(max_categories)
        sizes = [max(1, min(c, max_categories + 1)) for c in cardinality]
        stats = [{StatType.MULTI_COUNT: (list(range(s)), [1] * s)} for s in sizes]
        self.embedding = MultiCategoricalEmbeddingEncoder(channels, stats, stype.multicategorical, mode="mean")
        self.register_buffer("last", torch.tensor([s - 1 for s in sizes], dtype=torch.long), persistent=False)
        self.remap: CodeRemap | None = None

    def forward(self, x: MultiNestedTensor) -> Tensor:
        values = x.values.to(torch.long)
        columns = _value_columns(x.offset[1:] - x.offset[:-1], int(x.num_cols))
        if self.remap is not None:
            values = self.remap(values, columns)
        # A value the model never saw (or past its vocabulary) counts as the column's last slot.
        last = self.last[columns]
        values = torch.where((values < 0) | (values > last), last, values).clamp(max=self.cap)
        return self.embedding(MultiNestedTensor(num_rows=x.num_rows, num_cols=x.num_cols, values=values,
                                                offset=x.offset))


class TimestampColumns(nn.Module):
    """Calendar parts through pytorch-frame's ``TimestampEncoder``, plus the distance to the anchor."""

    def __init__(self, year_min: list[int], median: list[int], channels: int) -> None:
        super().__init__()
        n = len(year_min)
        self.register_buffer("year_min", torch.tensor(year_min, dtype=torch.long))
        self.register_buffer("median", torch.tensor(median, dtype=torch.long))
        self.calendar = TimestampEncoder(channels, [{StatType.YEAR_RANGE: [y, y]} for y in year_min],
                                         stype.timestamp, na_strategy=None)
        self.relative = nn.Parameter(torch.randn(n, 2, channels) * 0.1)
        self.relative_bias = nn.Parameter(torch.zeros(n, channels))
        self.null = nn.Parameter(torch.zeros(n, channels))

    def forward(self, seconds: Tensor, anchor: Tensor) -> Tensor:
        missing = seconds == TIMESTAMP_NULL
        seconds = torch.where(missing, self.median.expand_as(seconds), seconds)
        parts = calendar_parts(seconds)
        # The positional encoding of years needs non-negative offsets from the smallest year.
        parts[..., 0] = torch.maximum(parts[..., 0], self.year_min)
        calendar = self.calendar(parts) + missing.unsqueeze(-1).to(torch.float32) * self.null
        distance = signed_log_days(anchor.unsqueeze(1) - seconds)
        distance = torch.where(missing, torch.zeros_like(distance), distance)
        features = torch.stack([distance / 10.0, (distance / 10.0) ** 2], dim=-1)
        relative = torch.einsum("nck,ckd->ncd", features, self.relative) + self.relative_bias
        return torch.cat([calendar, relative], dim=1)


class TextColumns(nn.Module):
    """A learned linear map of the hashed n-gram bags, one bag per text column."""

    def __init__(self, num_columns: int, buckets: int, channels: int) -> None:
        super().__init__()
        self.num_columns = num_columns
        self.bag = nn.EmbeddingBag(num_columns * buckets, channels, mode="sum")
        nn.init.normal_(self.bag.weight, std=0.1)

    def forward(self, text: tuple[Tensor, Tensor, Tensor], num_rows: int) -> Tensor:
        indices, weights, offsets = text
        out = self.bag(indices, offsets, per_sample_weights=weights)
        return out.view(num_rows, self.num_columns, out.shape[-1])


class TableEncoder(nn.Module):
    """Encodes the sampled nodes of one table into ``channels``-dimensional vectors.

    Args:
        spec: the table's columns and statistics.
        channels: output width.
        max_categories: categorical codes kept apart (the rest share one embedding).
        text_buckets: hash buckets per text column (must match the hashed text served to the model).
    """

    def __init__(self, spec: TableSpec, channels: int, *, max_categories: int = 10_000,
                 text_buckets: int = 1 << 13) -> None:
        super().__init__()
        self.spec = spec
        self.channels = channels
        self.numerical = NumericalColumns(spec.mean, spec.std, channels) if spec.numerical else None
        self.categorical = (CategoricalColumns(spec.cardinality, channels, max_categories)
                            if spec.categorical else None)
        self.multicategorical = (MultiCategoricalColumns(spec.multi_cardinality, channels, max_categories)
                                 if spec.multicategorical else None)
        self.timestamp = TimestampColumns(spec.year_min, spec.median, channels) if spec.timestamp else None
        self.text = TextColumns(len(spec.text), text_buckets, channels) if spec.text else None
        width = spec.num_columns
        self.column_norm = nn.LayerNorm(channels) if width else None
        self.project = nn.Linear(width * channels, channels) if width else None
        self.table_embedding = nn.Parameter(torch.randn(channels) * 0.1)

    def read_codes_of(self, vocabularies: dict[str, list[Any]]) -> list[str]:
        """Read categorical codes made with ``vocabularies`` (features materialized after training) as the
        codes of the same values when the model was trained.

        Returns:
            The columns whose codes are translated.
        """
        remaps = self.spec.code_remap(vocabularies)
        for module, columns in ((self.categorical, self.spec.categorical),
                                (self.multicategorical, self.spec.multicategorical)):
            if module is None:
                continue
            if any(c in remaps for c in columns):
                identity = {c: list(range(len(vocabularies.get(c, [])))) for c in columns}
                module.remap = CodeRemap([remaps.get(c, identity[c]) for c in columns]).to(module.last.device)
            else:
                module.remap = None
        return sorted(remaps)

    def forward(self, nodes: NodeBatch, anchor: Tensor) -> Tensor:
        """Encode ``nodes``.

        Args:
            nodes: the nodes and their feature blocks.
            anchor: int64 [n] the anchor time of each node's seed.

        Returns:
            float [n, channels].

        Raises:
            ValueError: a block the table has is missing from ``nodes``.
        """
        n = nodes.num_nodes
        if self.spec.hidden:
            nodes = hide_columns(nodes, self.spec)
        columns = []
        for name, module in (("numerical", self.numerical), ("categorical", self.categorical),
                             ("multicategorical", self.multicategorical)):
            if module is None:
                continue
            block = getattr(nodes, name)
            if block is None:
                raise ValueError(f"table {self.spec.table!r}: the {name} block is missing from the batch")
            columns.append(module(block))
        if self.timestamp is not None:
            if nodes.timestamp is None:
                raise ValueError(f"table {self.spec.table!r}: the timestamp block is missing from the batch")
            columns.append(self.timestamp(nodes.timestamp, anchor))
        if self.text is not None:
            if nodes.text is None:
                raise ValueError(f"table {self.spec.table!r}: the hashed text is missing from the batch")
            columns.append(self.text(nodes.text, n))
        out = self.table_embedding.expand(n, -1)
        if columns:
            stacked = self.column_norm(torch.cat(columns, dim=1))
            out = out + self.project(stacked.reshape(n, stacked.shape[1] * self.channels))
        return out


def _value_columns(bag_lengths: Tensor, num_columns: int) -> Tensor:
    """The column of every value of row-major (row, column) bags with the given lengths."""
    bags = torch.arange(bag_lengths.numel(), device=bag_lengths.device)
    return torch.repeat_interleave(bags % max(num_columns, 1), bag_lengths)


def hide_columns(nodes: NodeBatch, spec: TableSpec) -> NodeBatch:
    """``nodes`` with the spec's hidden columns made missing: numerical NaN, categorical -1, timestamp null,
    multicategorical and text bags emptied.
    """
    hidden = set(spec.hidden)

    def positions(names: list[str]) -> list[int]:
        return [i for i, c in enumerate(names) if c in hidden]

    numerical, categorical, timestamp = nodes.numerical, nodes.categorical, nodes.timestamp
    if numerical is not None and (cols := positions(spec.numerical)):
        numerical = numerical.clone()
        numerical[:, cols] = float("nan")
    if categorical is not None and (cols := positions(spec.categorical)):
        categorical = categorical.clone()
        categorical[:, cols] = -1
    if timestamp is not None and (cols := positions(spec.timestamp)):
        timestamp = timestamp.clone()
        timestamp[:, cols] = TIMESTAMP_NULL
    multi = nodes.multicategorical
    if multi is not None and (cols := positions(spec.multicategorical)):
        lengths = multi.offset[1:] - multi.offset[:-1]
        drop = torch.isin(_value_columns(lengths, multi.num_cols), torch.tensor(cols, device=lengths.device))
        emptied = torch.isin(torch.arange(lengths.numel(), device=lengths.device) % multi.num_cols,
                             torch.tensor(cols, device=lengths.device))
        lengths = torch.where(emptied, torch.zeros_like(lengths), lengths)
        offset = torch.cat([lengths.new_zeros(1), torch.cumsum(lengths, 0)])
        multi = MultiNestedTensor(num_rows=multi.num_rows, num_cols=multi.num_cols, values=multi.values[~drop],
                                  offset=offset)
    text = nodes.text
    if text is not None and (cols := positions(spec.text)):
        indices, weights, offsets = text
        lengths = torch.diff(offsets, append=offsets.new_tensor([indices.numel()]))
        drop = torch.isin(_value_columns(lengths, len(spec.text)), torch.tensor(cols, device=offsets.device))
        text = (indices, torch.where(drop, torch.zeros_like(weights), weights), offsets)
    return NodeBatch(n_id=nodes.n_id, group=nodes.group, time=nodes.time, numerical=numerical,
                     categorical=categorical, timestamp=timestamp, multicategorical=multi, text=text)
