"""Semantic passes: pure functions from (syntax tree, schema) to checked facts, run in this order.

1. :func:`~pql.passes.resolve.resolve_names` - every table and column exists; scoping rules.
2. :func:`~pql.passes.typecheck.check_types` - aggregation and comparison type rules.
3. :func:`~pql.passes.target.analyze_target` - static vs temporal, RANK / CLASSIFY / FORECAST rules.
4. :func:`~pql.passes.windows.check_windows` - target future, WHERE past, ASSUMING future.
5. :func:`~pql.passes.joins.resolve_joins` - the foreign-key path from each table used to the entity.

Each raises :class:`~pql.errors.PQLError` at the offending node and returns what later stages need.
"""

from pql.passes.joins import JoinPaths, resolve_joins
from pql.passes.resolve import resolve_names
from pql.passes.target import TargetInfo, analyze_target
from pql.passes.typecheck import VType, check_types
from pql.passes.windows import check_windows

__all__ = ["resolve_names", "check_types", "VType", "analyze_target", "TargetInfo", "check_windows",
           "resolve_joins", "JoinPaths"]
