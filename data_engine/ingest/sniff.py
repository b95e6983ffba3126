"""Detect how a CSV file is written from a sample of its first bytes.

Detected: the text encoding (UTF-8, else Windows-1252 or Latin-1), the line terminator, the delimiter
(``,`` ``;`` tab ``|``), the quote and escape characters, whether the first line is a header, whether
quoted fields span lines, and the column names. Anything the user set in :class:`IngestOptions` wins.
Pure Python on a few hundred lines: Spark then reads the whole source with these options.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import io
import re
import zlib
from collections import Counter
from dataclasses import asdict, dataclass

from data_engine.ingest.options import IngestOptions, IngestOptionsError, java_charset

SAMPLE_BYTES = 1 << 20
SAMPLE_LINES = 500
DELIMITERS = (",", ";", "\t", "|")

_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_DATE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T].*)?$")
_BOOL = {"true", "false", "yes", "no", "t", "f"}
_NAME = re.compile(r"^[A-Za-z_][\w .()/#%-]*$")


class CsvSniffError(IngestOptionsError):
    """The sample cannot be read as CSV with the given options."""


@dataclass(frozen=True)
class CsvDialect:
    """How one CSV source is written, as detected and overridden.

    Attributes:
        delimiter, quote, escape: the field separator, quote and quote-escape characters.
        header: whether the first line of each file names the columns.
        encoding: the Java charset name Spark reads with.
        line_terminator: ``"\\r\\n"``, ``"\\n"`` or ``"\\r"`` (the most frequent in the sample).
        multiline: whether quoted fields contain line breaks.
        columns: the column names (from the header, or ``column_1``... without one).
        bom: whether the files start with a UTF-8 byte-order mark.
        detected: the names of the fields that were detected rather than given.
    """

    delimiter: str
    quote: str
    escape: str
    header: bool
    encoding: str
    line_terminator: str
    multiline: bool
    columns: tuple[str, ...]
    bom: bool
    detected: tuple[str, ...]

    def to_dict(self) -> dict:
        return {**asdict(self), "columns": list(self.columns), "detected": list(self.detected)}


def decompress_sample(data: bytes, name: str) -> bytes:
    """The leading plain bytes of a possibly compressed sample (``.gz``, ``.bz2``), by file name."""
    lower = name.lower()
    try:
        if lower.endswith((".gz", ".gzip")):
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, SAMPLE_BYTES)
        if lower.endswith(".bz2"):
            return bz2.BZ2Decompressor().decompress(data, SAMPLE_BYTES)
    except (zlib.error, OSError, EOFError) as exc:
        raise CsvSniffError(f"{name}: cannot decompress ({exc})") from None
    return data


def detect_encoding(sample: bytes, complete: bool) -> str:
    """``UTF-8`` when the sample decodes as UTF-8, else ``windows-1252`` or ``ISO-8859-1`` (Java names).

    Args:
        sample: the first bytes of the file.
        complete: whether the sample is the whole file (otherwise a cut multi-byte character is fine).
    """
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
        return "UTF-8"
    except UnicodeDecodeError:
        pass
    # Bytes 0x80-0x9F are control characters in Latin-1 but letters and quotes in Windows-1252;
    # five of them are undefined in Windows-1252, which then cannot be the encoding.
    high = {b for b in sample if 0x80 <= b <= 0x9F}
    if high and not high & {0x81, 0x8D, 0x8F, 0x90, 0x9D}:
        return "windows-1252"
    return "ISO-8859-1"


def _python_codec(java_name: str) -> str:
    return {"UTF-8": "utf-8", "ISO-8859-1": "latin-1", "windows-1252": "cp1252", "UTF-16": "utf-16",
            "UTF-16LE": "utf-16-le", "UTF-16BE": "utf-16-be", "US-ASCII": "ascii",
            "ISO-8859-15": "iso8859-15"}.get(java_name, java_name)


def _line_terminator(text: str) -> str:
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    cr = text.count("\r") - crlf
    return max((crlf, "\r\n"), (lf, "\n"), (cr, "\r"))[1] if (crlf or lf or cr) else "\n"


def _records(text: str, delimiter: str, quote: str, escape: str, limit: int) -> list[list[str]]:
    kwargs = {"delimiter": delimiter, "quotechar": quote, "doublequote": escape == quote, "strict": False}
    if escape != quote:
        kwargs["escapechar"] = escape
    reader = csv.reader(io.StringIO(text, newline=""), **kwargs)
    rows = []
    try:
        for row in reader:
            rows.append(row)
            if len(rows) >= limit:
                break
    except csv.Error:
        pass
    return rows


def _consistency(rows: list[list[str]]) -> tuple[float, int]:
    counts = Counter(len(r) for r in rows if r)
    if not counts:
        return 0.0, 0
    width, hits = counts.most_common(1)[0]
    return hits / sum(counts.values()), width


def _kind(value: str) -> str:
    value = value.strip()
    if not value:
        return "empty"
    if _NUMBER.match(value):
        return "number"
    if _DATE.match(value):
        return "date"
    if value.lower() in _BOOL:
        return "bool"
    return "text"


def _has_header(rows: list[list[str]]) -> bool:
    """Whether the first record names columns, judged column by column against the records below it."""
    first, rest = rows[0], rows[1:]
    if any(_kind(v) in ("number", "date") for v in first):
        return False
    if not rest:
        return all(_NAME.match(v.strip()) for v in first)
    votes = 0
    for j, name in enumerate(first):
        below = [r[j] for r in rest if j < len(r)]
        kinds = {_kind(v) for v in below} - {"empty"}
        if kinds and kinds <= {"number", "date", "bool"}:
            votes += 1
        elif name in below:
            votes -= 1
        else:
            lengths = {len(v) for v in below if v}
            if len(lengths) == 1 and len(name) not in lengths:
                votes += 1
    if votes != 0:
        return votes > 0
    return len(set(first)) == len(first) and all(_NAME.match(v.strip()) for v in first)


def column_names(header: list[str] | None, width: int) -> tuple[str, ...]:
    """Clean, unique column names: trimmed, empty ones as ``column_<i>``, repeats suffixed ``_2``...

    Uniqueness ignores letter case because Spark resolves column names case-insensitively.
    """
    names: list[str] = []
    seen: set[str] = set()
    for i in range(width):
        raw = header[i].strip().lstrip("\ufeff").strip() if header and i < len(header) else ""
        name = raw or f"column_{i + 1}"
        candidate, n = name, 1
        while candidate.lower() in seen:
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate.lower())
        names.append(candidate)
    return tuple(names)


def sniff_csv(sample: bytes, options: IngestOptions, *, complete: bool, name: str = "source") -> CsvDialect:
    """Detect the dialect of a CSV file from its first bytes.

    Args:
        sample: the (decompressed) first bytes of the first file of the source.
        options: what the user already set; those fields are taken as given.
        complete: whether ``sample`` is the whole file.
        name: the file, for messages.

    Returns:
        The dialect Spark reads the source with.

    Raises:
        CsvSniffError: the sample is empty or cannot be decoded with the given encoding.
    """
    detected: list[str] = []
    bom = sample.startswith(codecs.BOM_UTF8)
    if options.encoding:
        encoding = java_charset(options.encoding)
    else:
        encoding = detect_encoding(sample, complete)
        detected.append("encoding")
    codec = _python_codec(encoding)
    try:
        text = codecs.getincrementaldecoder(codec)(errors="strict").decode(sample, final=complete)
    except (UnicodeDecodeError, LookupError) as exc:
        raise CsvSniffError(f"{name}: the first bytes are not valid {encoding} ({exc})") from None
    text = text.lstrip("\ufeff")
    if not complete:
        # Only whole lines: the last one was probably cut by the sample's end.
        cut = max(text.rfind("\n"), text.rfind("\r"))
        text = text[: cut + 1] if cut > 0 else text
    if not text.strip():
        raise CsvSniffError(f"{name}: the file is empty")
    terminator = _line_terminator(text[:SAMPLE_BYTES])
    quote = options.quote or '"'
    if options.quote is None:
        detected.append("quote")
        quote = _detect_quote(text)

    def escape_for(q: str) -> str:
        if options.escape:
            return options.escape
        # RFC 4180 doubles quotes; some dumps (MySQL) escape them with a backslash instead.
        inner = r"[^,;\t|\r\n]"
        backslashed = re.search(r"\\" + re.escape(q) + inner, text)
        doubled = re.search(inner + re.escape(q + q) + inner, text)
        return "\\" if backslashed and not doubled else q

    if options.delimiter:
        delimiter = options.delimiter
    else:
        detected.append("delimiter")
        scored = []
        for rank, candidate in enumerate(DELIMITERS):
            rows = _records(text, candidate, quote, escape_for(quote), SAMPLE_LINES)
            consistency, width = _consistency(rows)
            scored.append((width > 1, round(consistency, 2), width, -rank, candidate))
        delimiter = max(scored)[-1]
    escape = escape_for(quote)
    if options.escape is None:
        detected.append("escape")
    rows = [r for r in _records(text, delimiter, quote, escape, SAMPLE_LINES) if r]
    if not rows:
        raise CsvSniffError(f"{name}: no records found")
    if options.multiline is not None:
        multiline = options.multiline
    else:
        detected.append("multiline")
        # Spark splits lines on raw bytes unless it reads whole files, which UTF-16 needs.
        multiline = encoding.startswith("UTF-16") or any("\n" in v or "\r" in v for r in rows for v in r)
    if options.header is not None:
        header = options.header
    else:
        detected.append("header")
        header = _has_header(rows)
    _, width = _consistency(rows[1:] if header and len(rows) > 1 else rows)
    width = max(width, len(rows[0]) if header else 0)
    columns = column_names(rows[0] if header else None, width)
    return CsvDialect(delimiter=delimiter, quote=quote, escape=escape, header=header, encoding=encoding,
                      line_terminator=terminator, multiline=multiline, columns=columns, bom=bom,
                      detected=tuple(detected))


def _detect_quote(text: str) -> str:
    """``'`` only when single quotes wrap fields and double quotes never do."""
    double = len(re.findall(r'(?:^|[,;\t|])"', text[:SAMPLE_BYTES], re.M))
    single = len(re.findall(r"(?:^|[,;\t|])'[^'\r\n]*'(?=[,;\t|]|\r?$)", text[:SAMPLE_BYTES], re.M))
    return "'" if single > 0 and double == 0 and single >= text.count("\n") // 2 else '"'


def field_count(record: str, dialect: CsvDialect) -> int:
    """How many fields a raw (malformed) record has under ``dialect``, for error messages."""
    rows = _records(record, dialect.delimiter, dialect.quote, dialect.escape, 1)
    return len(rows[0]) if rows else 0
