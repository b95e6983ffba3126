"""Foreign-key -> primary-key links: proposed from names and values, validated when declared.

Proposals (:func:`infer_links`) come in two steps:

1. names (pure Python, :func:`name_candidates`): ``orders.customer_id`` matches ``customers.customer_id``
   (same name, and the name says the table), ``customers.id`` (``<table>_id`` against a generic ``id``),
   ``customerId`` as well (names are compared as words, letter case and ``_`` ignored, plurals folded);
   a role prefix (``manager_staff_id`` -> ``staff.staff_id``) scores lower; the keys must have the same
   kind of dtype (integer or string);
2. values (Spark): the containment of each candidate, the fraction of the column's non-null values found
   among the key's values (one semi-join per candidate).

The score is the mean of the name score and the containment; each column links to at most one table,
the best one whose containment reaches ``min_containment``.

Validation (:func:`validate_links`) checks declared links: known tables and columns (with the closest
name suggested), a primary key on the target, matching key types, a unique target key, and how many
values are found (coverage), each problem as a :class:`LinkIssue` naming the table and column.
:func:`link_report` writes links, their statistics (degree distribution, dangling keys) and issues as a
JSON artifact for the API and the console.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from data_engine.ingest.tables import IngestedTable, open_table
from data_engine.semantics import ID_WORDS, name_tokens, same_words
from platform_core.errors import UserFacingError
from pql.schema import Link

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from platform_core.object_store import ObjectStore
    from platform_core.settings import Settings

LINKS_PRODUCER = "data_engine.links"
LINKS_FILE = "links.json"
LINKS_VERSION = 1
MIN_CONTAINMENT = 0.8
MIN_COVERAGE = 0.9


@dataclass(frozen=True)
class TableView:
    """What link inference needs to know about a table without reading its rows."""

    name: str
    dtypes: Mapping[str, str]
    primary_key: str | None
    stats: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, table: IngestedTable) -> "TableView":
        profile = table.stats() or {}
        return cls(table.name, table.dtypes, table.primary_key, profile.get("columns", {}))


@dataclass(frozen=True)
class ProposedLink:
    """A proposed foreign key ``table.column`` -> ``to.to_column`` with its evidence.

    Attributes:
        score: 0..1, the mean of ``name_score`` and ``containment``.
        name_score: how strongly the names say it (1.0 same name and the table's name).
        containment: the fraction of non-null values of the column found in the key (None: not measured).
        reasons: the evidence in words.
    """

    table: str
    column: str
    to: str
    to_column: str
    score: float
    name_score: float
    containment: float | None
    reasons: tuple[str, ...]

    @property
    def link(self) -> Link:
        return Link(self.table, self.column, self.to)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": list(self.reasons)}


@dataclass(frozen=True)
class LinkIssue:
    """One problem of a declared link.

    Attributes:
        severity: ``error`` (the link cannot be used) or ``warning`` (it can, but look at the data).
        table, column, to: the link.
        message: one line naming the table and column.
    """

    severity: str
    table: str
    column: str
    to: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class LinkValidationError(UserFacingError, ValueError):
    """Declared links with errors; ``issues`` lists every one, the message shows them all."""

    def __init__(self, issues: list[LinkIssue]) -> None:
        self.issues = issues
        errors = [i for i in issues if i.severity == "error"]
        lines = "; ".join(i.message for i in errors)
        super().__init__(f"{len(errors)} invalid link{'s' if len(errors) != 1 else ''}: {lines}")


def raise_for_issues(issues: Iterable[LinkIssue]) -> None:
    """Raise :class:`LinkValidationError` when any issue is an error (warnings pass)."""
    issues = list(issues)
    if any(i.severity == "error" for i in issues):
        raise LinkValidationError(issues)


# ---- names ---------------------------------------------------------------------------------------
def _family(dtype: str | None) -> str | None:
    if dtype is None:
        return None
    if dtype.startswith("int"):
        return "int"
    if dtype == "string":
        return "string"
    return None


def _words(name: str) -> list[str]:
    return name_tokens(name)


def _stem(tokens: list[str]) -> list[str]:
    return tokens[:-1] if len(tokens) > 1 and tokens[-1] in ID_WORDS else tokens


def _ends_with(tokens: list[str], tail: list[str]) -> bool:
    return len(tokens) > len(tail) and same_words(tokens[-len(tail):], tail)


def name_score(table: str, column: str, target: str, key: str) -> tuple[float, str]:
    """How strongly the names say that ``table.column`` references ``target.key`` (0 when not at all).

    Names are compared word by word (``customerId`` = ``customer_id``), plurals folded
    (``customer_id`` names table ``customers``).

    Returns:
        (score in 0..1, the reason in words).
    """
    col_words, key_words, table_words = _words(column), _words(key), _words(target)
    col_stem = _stem(col_words)
    generic_key = len(key_words) == 1 and key_words[0] in ID_WORDS
    says_table = same_words(col_stem, table_words)
    if col_words == key_words and not generic_key:
        if says_table or same_words(_stem(key_words), table_words):
            return 1.0, f"same name as {target}.{key}, which is named after the table"
        return 0.8, f"same name as {target}.{key}"
    if generic_key and says_table and col_stem != col_words:
        return 0.95, f"named <table>_{key} for {target}.{key}"
    if not generic_key and _ends_with(col_words, key_words):
        return 0.6, f"ends with {key} (a role prefix)"
    if generic_key and col_stem != col_words and _ends_with(col_stem, table_words):
        return 0.55, f"named <role>_{target}_{key}"
    if says_table and col_stem == col_words:
        return 0.7, f"named after table {target}"
    return 0.0, ""


def name_candidates(tables: Mapping[str, TableView]) -> list[tuple[str, str, str, str, float, str]]:
    """Every (table, column, target, key, name score, reason) whose names match, best first.

    Targets are tables with a primary key; keys and columns must both be integers or both strings.
    A table's own primary key may reference another table only when its name says that table (1:1).
    """
    out = []
    for target in tables.values():
        key = target.primary_key
        if key is None:
            continue
        key_family = _family(target.dtypes.get(key))
        if key_family is None:
            continue
        for source in tables.values():
            for column, dtype in source.dtypes.items():
                if source.name == target.name and column == key:
                    continue
                if _family(dtype) != key_family:
                    continue
                score, reason = name_score(source.name, column, target.name, key)
                if score <= 0:
                    continue
                if column == source.primary_key and not same_words(_stem(_words(column)), _words(target.name)):
                    continue
                out.append((source.name, column, target.name, key, score, reason))
    return sorted(out, key=lambda c: (-c[4], c[0], c[1], c[2]))


# ---- Spark access --------------------------------------------------------------------------------
class _Tables:
    """Opened table artifacts and their DataFrames, for one call."""

    def __init__(self, tables: Mapping[str, str | IngestedTable], store: "ObjectStore", spark_factory,
                 staging) -> None:
        self.opened: dict[str, IngestedTable] = {
            name: t if isinstance(t, IngestedTable) else open_table(store, t) for name, t in tables.items()}
        self._spark_factory = spark_factory
        self._staging = staging
        self._frames: dict[str, "DataFrame"] = {}

    def views(self) -> dict[str, TableView]:
        return {name: TableView(name, t.dtypes, t.primary_key, (t.stats() or {}).get("columns", {}))
                for name, t in self.opened.items()}

    def frame(self, name: str) -> "DataFrame":
        if name not in self._frames:
            self._frames[name] = self.opened[name].dataframe(self._spark_factory(), self._staging)
        return self._frames[name]


def _context(settings, store, spark):
    from platform_core.object_store import ObjectStore
    from platform_core.settings import load_settings

    from data_engine.spark_session import get_spark
    from data_engine.staging import Staging

    settings = settings or load_settings()
    store = store or ObjectStore.from_settings(settings)
    spark_factory = (lambda: spark) if spark is not None else (lambda: get_spark(settings))
    return settings, store, spark_factory, Staging(store, settings.home / "scratch")


def infer_links(tables: Mapping[str, str | IngestedTable], *, min_containment: float = MIN_CONTAINMENT,
                include_rejected: bool = False, settings: "Settings | None" = None,
                store: "ObjectStore | None" = None, spark: "SparkSession | None" = None) -> list[ProposedLink]:
    """Propose foreign-key links between ingested tables.

    Args:
        tables: table name -> table artifact URI (or an opened :class:`IngestedTable`); the names are the
            graph's table names.
        min_containment: the fraction of a column's values that must be found in the key.
        include_rejected: also return the name matches that lost (lower score, low containment).
        settings, store, spark: defaults from the environment's settings.

    Returns:
        The proposals, best first; at most one per column unless ``include_rejected``.
    """
    from data_engine.statistics import containment

    settings, store, spark_factory, staging = _context(settings, store, spark)
    with staging:
        opened = _Tables(tables, store, spark_factory, staging)
        views = opened.views()
        scored: list[ProposedLink] = []
        for source, column, target, key, score, reason in name_candidates(views):
            if _out_of_range(views[source].stats.get(column, {}), views[target].stats.get(key, {})):
                found, reasons = 0.0, (reason, "values outside the key's range")
            else:
                found, _ = containment(opened.frame(source), column, opened.frame(target), key)
                reasons = (reason, f"{found:.1%} of values found in {target}.{key}")
            scored.append(ProposedLink(source, column, target, key, round((score + found) / 2, 4), score,
                                       round(found, 4), reasons))
    scored.sort(key=lambda p: (-p.score, p.table, p.column, p.to))
    chosen: dict[tuple[str, str], ProposedLink] = {}
    rejected = []
    for proposal in scored:
        slot = (proposal.table, proposal.column)
        if proposal.containment is not None and proposal.containment >= min_containment and slot not in chosen:
            chosen[slot] = proposal
        else:
            rejected.append(proposal)
    result = list(chosen.values())
    return result + rejected if include_rejected else result


def _out_of_range(column_stats: Mapping[str, Any], key_stats: Mapping[str, Any]) -> bool:
    """True when no integer value of the column can be a key value (a cheap test before a join)."""
    lo, hi = column_stats.get("min"), column_stats.get("max")
    klo, khi = key_stats.get("min"), key_stats.get("max")
    if not all(isinstance(v, int) for v in (lo, hi, klo, khi)):
        return False
    return hi < klo or lo > khi


# ---- validation ----------------------------------------------------------------------------------
def _as_link(link: Link | Mapping[str, str] | ProposedLink) -> Link:
    if isinstance(link, Link):
        return link
    if isinstance(link, ProposedLink):
        return link.link
    return Link(link["table"], link["column"], link["to"])


def _suggest(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _structural_issues(link: Link, views: Mapping[str, TableView], seen: set) -> list[LinkIssue]:
    where = f"link {link.table}.{link.column} -> {link.to}"

    def issue(message: str) -> LinkIssue:
        return LinkIssue("error", link.table, link.column, link.to, f"{where}: {message}")

    out = []
    if link.table not in views:
        out.append(issue(f"unknown table {link.table!r}{_suggest(link.table, views)}"))
    elif link.column not in views[link.table].dtypes:
        out.append(issue(f"table {link.table} has no column {link.column!r}"
                         f"{_suggest(link.column, views[link.table].dtypes)}"))
    if link.to not in views:
        out.append(issue(f"unknown table {link.to!r}{_suggest(link.to, views)}"))
    elif views[link.to].primary_key is None:
        out.append(issue(f"table {link.to} has no primary key (declare one with its primary_key option)"))
    if (link.table, link.column) in seen:
        out.append(issue(f"column {link.table}.{link.column} is linked twice"))
    seen.add((link.table, link.column))
    if out:
        return out
    target = views[link.to]
    key = target.primary_key
    fk_type, pk_type = views[link.table].dtypes[link.column], target.dtypes[key]
    if _family(fk_type) is None or _family(fk_type) != _family(pk_type):
        out.append(issue(f"{link.table}.{link.column} is {fk_type} but the key {link.to}.{key} is {pk_type}"))
    return out


def check_links(tables: Mapping[str, str | IngestedTable], links: Iterable[Link | Mapping[str, str]], *,
                min_coverage: float = MIN_COVERAGE, settings: "Settings | None" = None,
                store: "ObjectStore | None" = None, spark: "SparkSession | None" = None
                ) -> list[tuple[Link, list[LinkIssue], dict[str, Any] | None]]:
    """Validate declared links and measure the valid ones.

    Returns:
        For each link: the link, its issues, and its statistics (None when it could not be measured:
        unknown names, no primary key or mismatched types).
    """
    from data_engine.statistics import exact_distinct, link_statistics

    settings, store, spark_factory, staging = _context(settings, store, spark)
    out = []
    with staging:
        opened = _Tables(tables, store, spark_factory, staging)
        views = opened.views()
        seen: set = set()
        unique_checked: dict[str, int] = {}
        for raw in links:
            link = _as_link(raw)
            issues = _structural_issues(link, views, seen)
            if issues:
                out.append((link, issues, None))
                continue
            key = views[link.to].primary_key
            target = opened.opened[link.to]
            key_stats = views[link.to].stats.get(key, {})
            if key_stats.get("distinct_exact") and key_stats.get("nulls") == 0:
                distinct = key_stats["distinct"]
            else:
                if link.to not in unique_checked:
                    unique_checked[link.to] = exact_distinct(opened.frame(link.to), [key])[key]
                distinct = unique_checked[link.to]
            where = f"link {link.table}.{link.column} -> {link.to}"
            if distinct < target.rows:
                issues.append(LinkIssue("error", link.table, link.column, link.to,
                                        f"{where}: the key {link.to}.{key} is not unique ({target.rows - distinct} "
                                        "repeated or null values); a link must point to a primary key"))
            stats = link_statistics(opened.frame(link.table), link.column, opened.frame(link.to), key)
            coverage, nonnull = stats["coverage"], stats["fk_rows"] - stats["fk_nulls"]
            sample = ", ".join(repr(v) for v in stats["dangling_sample"][:3])
            if nonnull and stats["dangling_rows"] == nonnull:
                issues.append(LinkIssue("error", link.table, link.column, link.to,
                                        f"{where}: no value of {link.table}.{link.column} is found in "
                                        f"{link.to}.{key} (e.g. {sample})"))
            elif coverage < min_coverage:
                issues.append(LinkIssue("warning", link.table, link.column, link.to,
                                        f"{where}: only {coverage:.1%} of {link.table}.{link.column} values are "
                                        f"found in {link.to}.{key} ({stats['dangling_keys']} dangling keys, "
                                        f"e.g. {sample})"))
            out.append((link, issues, {**stats, "to_column": key}))
    return out


def validate_links(tables: Mapping[str, str | IngestedTable], links: Iterable[Link | Mapping[str, str]], *,
                   min_coverage: float = MIN_COVERAGE, settings: "Settings | None" = None,
                   store: "ObjectStore | None" = None, spark: "SparkSession | None" = None) -> list[LinkIssue]:
    """The issues of declared links (empty when all are fine); see :func:`check_links`.

    Args:
        tables: table name -> table artifact URI (or an opened table).
        links: :class:`pql.schema.Link` objects or ``{"table", "column", "to"}`` dicts; the target
            column is the target table's primary key.
        min_coverage: below this fraction of values found, a link gets a warning.

    Returns:
        Errors and warnings, each naming the table and column; pass them to :func:`raise_for_issues`
        to stop on errors.
    """
    checks = check_links(tables, links, min_coverage=min_coverage, settings=settings, store=store, spark=spark)
    return [issue for _, issues, _ in checks for issue in issues]


def link_report(tables: Mapping[str, str], links: Iterable[Link | Mapping[str, str]] | None = None, *,
                output: str | None = None, min_containment: float = MIN_CONTAINMENT,
                min_coverage: float = MIN_COVERAGE, settings: "Settings | None" = None,
                store: "ObjectStore | None" = None, spark: "SparkSession | None" = None) -> dict[str, Any]:
    """Validate (or, without ``links``, propose) links and store them with their statistics.

    The artifact (default ``<store>/links/v<hash of the tables' content and the links>``) holds
    ``links.json``: ``{"tables", "proposed", "links": [{table, column, to, to_column, statistics,
    issues}], "issues"}``. The same tables and links find the existing artifact.

    Returns:
        The document, with ``uri`` added.
    """
    from platform_core.artifacts import ArtifactStore

    settings, store, spark_factory, staging = _context(settings, store, spark)
    opened = {name: open_table(store, uri) for name, uri in tables.items()}
    declared = [_as_link(link).to_dict() for link in links] if links is not None else None
    inputs = {"tables": {n: [t.uri, t.artifact.manifest.content_hash] for n, t in sorted(opened.items())},
              "links": declared, "min_containment": min_containment, "min_coverage": min_coverage,
              "version": LINKS_VERSION}
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]
    output = output or store.uri("links", f"v{key}")
    artifacts = ArtifactStore(store)
    found = artifacts.find(output, inputs)
    if found is not None:
        return {**found.read_json(LINKS_FILE), "uri": found.uri}
    proposed = None
    if declared is None:
        proposals = infer_links(opened, min_containment=min_containment, settings=settings, store=store,
                                spark=spark_factory())
        proposed = [p.to_dict() for p in proposals]
        declared = [p.link.to_dict() for p in proposals]
    checks = check_links(opened, declared, min_coverage=min_coverage, settings=settings, store=store,
                         spark=spark_factory())
    document = {
        "tables": {n: t.uri for n, t in opened.items()},
        "proposed": proposed,
        "links": [{**link.to_dict(), "to_column": (stats or {}).get("to_column"),
                   "statistics": stats, "issues": [i.to_dict() for i in issues]}
                  for link, issues, stats in checks],
        "issues": [i.to_dict() for _, issues, _ in checks for i in issues],
    }
    with artifacts.writer(output, producer=LINKS_PRODUCER, inputs=inputs) as writer:
        writer.write_json(LINKS_FILE, document)
        writer.metadata.update({"links": [link.to_dict() for link, _, _ in checks],
                                "errors": sum(i["severity"] == "error" for i in document["issues"])})
    return {**document, "uri": writer.uri}
