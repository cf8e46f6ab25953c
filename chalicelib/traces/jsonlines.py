"""Reading an uploaded JSON Lines file page by page, by byte offset, and parsing one line safely.

A page starts at a byte offset (the cursor) and reads forward through ranged reads, a window
at a time, until it holds ``max_lines`` non-blank lines or has consumed ``max_bytes``; the
cursor of the next page is the offset where it stopped. So a whole upload costs about one
read of its bytes however many pages it takes, and a run of blank lines costs only the bytes
it occupies (blank lines are skipped, never counted as traces).

A line longer than ``max_line_bytes`` is reported as failed and skipped without being held
in memory. ``parse_line`` turns one line into JSON with limits, so a hostile line fails
alone with a clear reason: bytes that are not UTF-8, nesting deeper than ``MAX_DEPTH``,
numbers longer than ``MAX_NUMBER_CHARS`` (Python's int parsing is quadratic in digits),
NaN/Infinity.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

MAX_DEPTH = 64
MAX_NUMBER_CHARS = 100
MAX_LINE_BYTES = 8 * 1024 * 1024
PAGE_LINES = 200
PAGE_BYTES = 2 * 1024 * 1024
WINDOW_BYTES = 256 * 1024

_BLANK_LINES = re.compile(rb"(?:[ \t\r]*\n)+")


class LineError(ValueError):
    """One line cannot be read as a JSON document; the message is the reason."""


class _NumberTooLong(Exception):
    pass


class _NotFinite(Exception):
    pass


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLong(text[:20])
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLong(text[:20])
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text[:20])
    return value


def _parse_constant(text: str) -> float:
    raise _NotFinite(text)


def parse_line(raw: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """One line as JSON; LineError with a clear reason when it is not acceptable JSON."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineError(f"not UTF-8 text (invalid byte at position {exc.start + 1} of the line)") from None
    try:
        doc = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except json.JSONDecodeError as exc:
        raise LineError(f"malformed JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise LineError(f"nested deeper than {max_depth} levels") from None
    except _NumberTooLong as exc:
        raise LineError(f"a number longer than {MAX_NUMBER_CHARS} characters ({exc}…)") from None
    except _NotFinite as exc:
        raise LineError(f"{exc} is not a JSON number") from None
    if _depth_exceeds(doc, max_depth):
        raise LineError(f"nested deeper than {max_depth} levels")
    return doc


def _depth_exceeds(doc: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(doc, 1)] if isinstance(doc, (dict, list)) else []
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children: Iterable[Any] = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: a byte offset, the number of the line there, and whether that
    offset is inside an over-long line being skipped."""

    offset: int = 0
    line: int = 1
    skipping: bool = False

    def encode(self) -> str:
        return f"{self.offset}:{self.line}" + (":skip" if self.skipping else "")

    @classmethod
    def decode(cls, text: str | None) -> "Cursor":
        if not text:
            return cls()
        parts = text.split(":")
        return cls(int(parts[0]), int(parts[1]), len(parts) > 2 and parts[2] == "skip")


@dataclass
class Line:
    number: int
    data: bytes | None = None
    error: str | None = None


@dataclass
class LinePage:
    lines: list[Line] = field(default_factory=list)
    next: Cursor | None = None
    bytes_read: int = 0
    end_offset: int = 0


def read_lines(read_range: Callable[[int, int], bytes], size: int, cursor: Cursor | None = None, *,
               max_lines: int = PAGE_LINES, max_bytes: int = PAGE_BYTES, window: int = WINDOW_BYTES,
               max_line_bytes: int = MAX_LINE_BYTES) -> LinePage:
    """The non-blank lines of one page of a ``size``-byte file; ``read_range(start, end)`` returns
    bytes [start, end). ``next`` is None once the file is exhausted."""
    cursor = cursor or Cursor()
    page = LinePage()
    buf = b""
    base = cursor.offset            # file offset of buf[0]
    start = 0                       # position in buf of the first unconsumed byte
    fetched = cursor.offset         # file offset up to which bytes have been read
    number = cursor.line
    skipping = cursor.skipping

    def done(pos: int) -> LinePage:
        page.bytes_read = fetched - cursor.offset
        page.end_offset = pos
        page.next = Cursor(pos, number, skipping) if pos < size else None
        return page

    while True:
        while True:
            if not skipping:
                blank = _BLANK_LINES.match(buf, start)
                if blank:
                    number += buf.count(b"\n", start, blank.end())
                    start = blank.end()
            newline = buf.find(b"\n", start)
            if newline < 0:
                break
            raw, start = buf[start:newline], newline + 1
            if skipping:
                skipping = False
            elif raw.strip(b" \t\r"):
                page.lines.append(_line(number, raw, max_line_bytes))
            number += 1
            if len(page.lines) >= max_lines or base + start - cursor.offset >= max_bytes:
                return done(base + start)
        pending = len(buf) - start
        if skipping or pending > max_line_bytes:
            if not skipping:
                page.lines.append(Line(number, error=_too_long(max_line_bytes)))
                skipping = True
            base, buf, start = base + len(buf), b"", 0
        if fetched >= size:
            if not skipping and buf[start:].strip(b" \t\r"):
                page.lines.append(_line(number, buf[start:], max_line_bytes))
                number += 1
            return done(size)
        if (skipping or pending == 0) and base + start - cursor.offset >= max_bytes:
            return done(base + start)
        chunk = read_range(fetched, min(size, fetched + window))
        if not chunk:
            raise IOError(f"read of bytes {fetched}-{min(size, fetched + window)} returned nothing")
        fetched += len(chunk)
        base, buf, start = base + start, buf[start:] + chunk, 0


def iter_lines(chunks: Iterable[bytes], *, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Line]:
    """Every non-blank line of a stream of byte chunks (read once, front to back)."""
    buf = b""
    number = 1
    skipping = False
    for chunk in chunks:
        buf += chunk
        start = 0
        while True:
            newline = buf.find(b"\n", start)
            if newline < 0:
                break
            raw, start = buf[start:newline], newline + 1
            if skipping:
                skipping = False
            elif raw.strip(b" \t\r"):
                yield _line(number, raw, max_line_bytes)
            number += 1
        buf = buf[start:]
        if skipping:
            buf = b""
        elif len(buf) > max_line_bytes:
            yield Line(number, error=_too_long(max_line_bytes))
            skipping, buf = True, b""
    if not skipping and buf.strip(b" \t\r"):
        yield _line(number, buf, max_line_bytes)


def _line(number: int, raw: bytes, max_line_bytes: int) -> Line:
    return Line(number, raw) if len(raw) <= max_line_bytes else Line(number, error=_too_long(max_line_bytes))


def _too_long(max_line_bytes: int) -> str:
    return f"longer than {max_line_bytes} bytes"

