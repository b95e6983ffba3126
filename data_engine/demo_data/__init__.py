"""Demo data: a synthetic e-commerce data set with planted relational signals (``pq demo-data``).

See :mod:`data_engine.demo_data.generator` for the tables, their realism and the planted signals.
"""

from data_engine.demo_data.generator import CHUNK_SIZE, DemoDataError, DemoDataReport, generate
from data_engine.demo_data.schema import LINKS, TABLES, graph_schema
from data_engine.demo_data.sinks import FORMATS

__all__ = ["CHUNK_SIZE", "FORMATS", "LINKS", "TABLES", "DemoDataError", "DemoDataReport", "generate",
           "graph_schema"]
