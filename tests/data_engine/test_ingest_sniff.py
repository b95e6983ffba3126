"""CSV dialect detection from raw bytes, and ingestion options (pure Python, no Spark)."""

from __future__ import annotations

import pytest

from data_engine.ingest.options import ColumnOverride, IngestOptions, IngestOptionsError
from data_engine.ingest.sniff import (
    CsvSniffError,
    column_names,
    decompress_sample,
    detect_encoding,
    field_count,
    sniff_csv,
)

pytestmark = pytest.mark.unit

OPTS = IngestOptions().validated()


def sniff(data: bytes, options: IngestOptions = OPTS, complete: bool = True):
    return sniff_csv(data, options, complete=complete, name="t.csv")


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_the_one_that_splits_every_line_alike(delimiter):
    rows = [["id", "name", "price"], ["1", "Ann, Jr.", "3.5"], ["2", "Bob", "4"]]
    quoted = [[f'"{v}"' if any(d in v for d in ",;\t|") else v for v in row] for row in rows]
    data = "\n".join(delimiter.join(r) for r in quoted).encode()
    dialect = sniff(data)
    assert dialect.delimiter == delimiter
    assert dialect.columns == ("id", "name", "price")
    assert dialect.header is True


def test_semicolon_with_decimal_commas_is_not_read_as_comma_separated():
    dialect = sniff(b"a;b;c\n1;2,5;3\n4;5,5;6\n")
    assert dialect.delimiter == ";"


def test_no_header_when_the_first_line_holds_numbers_and_dates():
    dialect = sniff(b"1,2024-01-05,Ann\n2,2024-01-06,Bob\n")
    assert dialect.header is False
    assert dialect.columns == ("column_1", "column_2", "column_3")


def test_header_of_text_columns_is_found_by_its_shape():
    dialect = sniff(b"code,label\nAB,apple\nCD,banana\n")
    assert dialect.header is True


def test_header_override_wins():
    dialect = sniff(b"a,b\n1,2\n", IngestOptions(header=False).validated())
    assert dialect.header is False and "header" not in dialect.detected


def test_encoding_utf8_latin1_and_cp1252():
    assert detect_encoding("café".encode("utf-8"), True) == "UTF-8"
    assert detect_encoding("café".encode("latin-1"), True) == "ISO-8859-1"
    assert detect_encoding("“quoted” café".encode("cp1252"), True) == "windows-1252"
    # A multi-byte character cut by the end of the sample is not a decoding error.
    assert detect_encoding("caf€".encode("utf-8")[:-1], False) == "UTF-8"


def test_latin1_sample_names_columns_correctly():
    dialect = sniff("prénom;âge\nZoë;3\n".encode("latin-1"))
    assert dialect.encoding == "ISO-8859-1"
    assert dialect.columns == ("prénom", "âge")


def test_crlf_bom_and_rfc4180_quotes():
    data = b'\xef\xbb\xbf"id","note"\r\n"1","He said ""hi"""\r\n"2","x"\r\n'
    dialect = sniff(data)
    assert dialect.line_terminator == "\r\n"
    assert dialect.bom is True
    assert dialect.columns == ("id", "note")
    assert dialect.escape == '"'


def test_backslash_escaped_quotes_are_detected():
    dialect = sniff(b'id,note\n1,"He said \\"hi\\" twice"\n2,"plain"\n')
    assert dialect.escape == "\\"


def test_quoted_line_breaks_make_the_source_multiline():
    assert sniff(b'id,note\n1,"two\nlines"\n2,x\n').multiline is True
    assert sniff(b"id,note\n1,one\n2,x\n").multiline is False


def test_incomplete_sample_uses_whole_lines_only():
    data = b"id,name\n" + b"".join(f"{i},name{i}\n".encode() for i in range(100)) + b"100,na"
    dialect = sniff(data, complete=False)
    assert dialect.columns == ("id", "name")


def test_column_names_are_cleaned_and_unique_ignoring_case():
    assert column_names([" id ", "", "ID", "id", "\ufeffx"], 6) == ("id", "column_2", "ID_2", "id_3", "x", "column_6")


def test_field_count_explains_malformed_records():
    dialect = sniff(b"a,b,c\n1,2,3\n")
    assert field_count('4,"x,y",5,6', dialect) == 4


def test_empty_file_and_undecodable_bytes_are_errors():
    with pytest.raises(CsvSniffError, match="empty"):
        sniff(b"\n\n")
    with pytest.raises(CsvSniffError, match="not valid UTF-8"):
        sniff("é,b\n".encode("latin-1"), IngestOptions(encoding="utf-8").validated())


def test_gzip_sample_is_decompressed():
    import gzip

    data = gzip.compress(b"a,b\n1,2\n")
    assert decompress_sample(data, "x.csv.gz") == b"a,b\n1,2\n"


def test_options_validation_names_the_problem():
    with pytest.raises(IngestOptionsError, match="column 'x': unknown dtype 'integr'"):
        IngestOptions(columns={"x": ColumnOverride(dtype="integr")}).validated()
    with pytest.raises(IngestOptionsError, match="delimiter must be one character"):
        IngestOptions(delimiter=";;").validated()
    with pytest.raises(IngestOptionsError, match="unix unit"):
        IngestOptions(columns={"t": ColumnOverride(unix_unit="days")}).validated()
    with pytest.raises(IngestOptionsError, match="unknown encoding"):
        IngestOptions(encoding="klingon").validated()
    options = IngestOptions(encoding="latin1", columns={"t": ColumnOverride(date_format="dd.MM.yyyy"),
                                                        "n": ColumnOverride(dtype="int")}).validated()
    assert options.encoding == "ISO-8859-1"
    assert options.columns["t"].dtype == "timestamp" and options.columns["n"].dtype == "int64"
    assert IngestOptions.from_dict(options.to_dict()) == options
