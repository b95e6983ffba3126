"""Ingestion: CSV and Parquet sources in, typed and profiled Parquet table artifacts out.

Public interface::

    from data_engine.ingest import ingest_table, IngestOptions, ColumnOverride
    result = ingest_table("s3://raw/orders/", "orders", options=IngestOptions(
        delimiter=";", columns={"created": ColumnOverride(date_format="dd.MM.yyyy")}))
    result.uri, result.rows, result.rejected_rows, result.dtypes, result.primary_key, result.time_column

See :mod:`data_engine.ingest.job` for the steps and :mod:`data_engine.ingest.tables` for the artifact layout.
"""

from data_engine.ingest.job import IngestError, IngestResult, ingest_table
from data_engine.ingest.options import ColumnOverride, IngestOptions, IngestOptionsError
from data_engine.ingest.profile import profile_table
from data_engine.ingest.sniff import CsvDialect, CsvSniffError, sniff_csv
from data_engine.ingest.tables import IngestedTable, TableNotFoundError, open_table

__all__ = ["ingest_table", "IngestResult", "IngestError", "IngestOptions", "ColumnOverride", "IngestOptionsError",
           "profile_table", "CsvDialect", "CsvSniffError", "sniff_csv", "IngestedTable", "TableNotFoundError",
           "open_table"]
