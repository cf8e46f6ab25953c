"""Paging JSON Lines by byte offset, and parsing one hostile line without harm to the rest."""

from __future__ import annotations

import random

import pytest

from chalicelib.traces.jsonlines import Cursor, LineError, iter_lines, parse_line, read_lines


def _walk(data: bytes, **kw) -> tuple[list[tuple], int, int]:
    """Every line a reader returns over all pages; the pages run and the bytes read."""
    read = 0

    def read_range(start: int, end: int) -> bytes:
        nonlocal read
        read += end - start
        return data[start:end]

    lines, cursor, pages = [], None, 0
    while True:
        page = read_lines(read_range, len(data), Cursor.decode(cursor), **kw)
        pages += 1
        lines += [(line.number, line.data, line.error) for line in page.lines]
        cursor = page.next.encode() if page.next else None
        if cursor is None:
            return lines, pages, read


def _expected(data: bytes, max_line_bytes: int) -> list[tuple]:
    out = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if len(line) > max_line_bytes:
            out.append((number, None, f"longer than {max_line_bytes} bytes"))
        elif line.strip(b" \t\r"):
            out.append((number, line, None))
    return out


def test_pages_return_every_non_blank_line_once_with_its_number_and_read_each_byte_about_once():
    rng = random.Random(7)
    for _ in range(200):
        parts = [rng.choice([b"", b"  \r", b"x" * rng.randint(20, 60), b'{"a": %d}' % rng.randint(0, 10 ** 6)])
                 for _ in range(rng.randint(0, 60))]
        data = b"\n".join(parts) + (b"\n" if rng.random() < 0.5 else b"")
        kw = dict(max_lines=rng.randint(1, 5), max_bytes=rng.randint(1, 100), window=rng.randint(1, 40),
                  max_line_bytes=40)
        lines, pages, read = _walk(data, **kw)
        assert lines == _expected(data, 40), (data, kw)
        assert len(data) <= read <= len(data) + pages * kw["window"]
        chunks = [data[i:i + 7] for i in range(0, len(data), 7)]
        assert [(x.number, x.data, x.error) for x in iter_lines(chunks, max_line_bytes=40)] == _expected(data, 40)


def test_blank_lines_cost_their_bytes_not_pages():
    data = b"\n" * 200_000 + b'{"a": 1}\n' + b" \r\n" * 1000 + b'{"b": 2}'
    lines, pages, read = _walk(data)
    assert [(n, d) for n, d, _ in lines] == [(200_001, b'{"a": 1}'), (201_002, b'{"b": 2}')]
    assert pages == 1 and read == len(data)


def test_a_page_of_only_blank_lines_still_ends_at_its_byte_budget():
    data = b"\n" * 100_000 + b"{}"
    lines, pages, read = _walk(data, max_bytes=10_000, window=4096)
    assert lines == [(100_001, b"{}", None)]
    assert 8 <= pages <= 10 and read <= len(data) + pages * 4096


def test_a_line_past_the_limit_fails_alone_and_is_never_held_whole():
    data = b'{"ok": 1}\n' + b"y" * 100_000 + b'\n{"ok": 2}\n'
    held = []

    def read_range(start: int, end: int) -> bytes:
        held.append(end - start)
        return data[start:end]

    page = read_lines(read_range, len(data), max_line_bytes=1000, window=512)
    assert [(x.number, x.error) for x in page.lines] == [(1, None), (2, "longer than 1000 bytes"), (3, None)]
    assert max(held) == 512


@pytest.mark.parametrize("line, reason", [
    (b'{"n": ' + b"1" * 5000 + b"}", "a number longer than 100 characters"),
    (b'{"n": 1.' + b"5" * 200 + b"}", "a number longer than 100 characters"),
    (b"[" * 100_000, "nested deeper than 64 levels"),
    (b'{"a":' * 70 + b"1" + b"}" * 70, "nested deeper than 64 levels"),
    (b'{"name": "caf\xe9"}', "not UTF-8 text (invalid byte at position 14 of the line)"),
    (b'{"x": NaN}', "NaN is not a JSON number"),
    (b'{"x": 1e999}', "1e999 is not a JSON number"),
    (b'{"x": ', "malformed JSON: Expecting value (column 7)"),
])
def test_hostile_lines_fail_with_a_clear_reason(line, reason):
    with pytest.raises(LineError) as exc:
        parse_line(line)
    assert str(exc.value).startswith(reason)


def test_acceptable_lines_parse_exactly():
    assert parse_line(b'{"a": [1, 2.5, "\xc3\xa9", {"b": null}], "n": ' + b"9" * 100 + b"}") == {
        "a": [1, 2.5, "é", {"b": None}], "n": int("9" * 100)}
    assert parse_line(b"[" * 64 + b"]" * 64) is not None
