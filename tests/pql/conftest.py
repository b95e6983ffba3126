"""Shared fixtures of the PQL compiler tests: the graph schemas under tests/pql/schemas/."""

from __future__ import annotations

from pathlib import Path

import pytest

from pql.schema import GraphSchema

SCHEMA_DIR = Path(__file__).parent / "schemas"


@pytest.fixture(scope="session")
def schemas() -> dict[str, GraphSchema]:
    """Every test schema by file stem (ecommerce, stackexchange, clinical, saas)."""
    return {p.stem: GraphSchema.from_json(p.read_text(encoding="utf-8")) for p in sorted(SCHEMA_DIR.glob("*.json"))}


@pytest.fixture(scope="session")
def ecommerce(schemas: dict[str, GraphSchema]) -> GraphSchema:
    """customers / regions / brands / products / orders / reviews."""
    return schemas["ecommerce"]
