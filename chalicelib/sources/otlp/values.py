"""Decoding the OTLP/JSON encoding: AnyValue, attribute lists, ids and nanosecond times.

Lenient where the encoding has well-known variants (ints as strings, base64 ids from
protobuf-JSON encoders, enum names for status codes); a shape that cannot be read raises
``OtlpFormatError``, which the upload job records as a per-trace failure.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import datetime, timezone
from typing import Any

_HEX = re.compile(r"^[0-9a-fA-F]+$")
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
_STATUS_NAMES = {"STATUS_CODE_UNSET": STATUS_UNSET, "STATUS_CODE_OK": STATUS_OK, "STATUS_CODE_ERROR": STATUS_ERROR,
                 "UNSET": STATUS_UNSET, "OK": STATUS_OK, "ERROR": STATUS_ERROR}


class OtlpFormatError(ValueError):
    """A line, span or field does not follow the OTLP/JSON encoding."""


def decode_any_value(value: Any) -> Any:
    """The Python value of one OTLP ``AnyValue`` ({"stringValue": ...}, {"arrayValue": {"values": [...]}}, ...)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise OtlpFormatError(f"an attribute value must be an AnyValue object, got {type(value).__name__}")
    if not value:
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        flag = value["boolValue"]
        return flag if isinstance(flag, bool) else str(flag).lower() == "true"
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError) as exc:
            raise OtlpFormatError(f"intValue {value['intValue']!r} is not an integer") from exc
    if "doubleValue" in value:
        number = _double(value["doubleValue"])
        return None if number is None or math.isnan(number) or math.isinf(number) else number
    if "arrayValue" in value:
        inner = _object(value["arrayValue"], "arrayValue")
        return [decode_any_value(item) for item in _list(inner.get("values"), "arrayValue.values")]
    if "kvlistValue" in value:
        inner = _object(value["kvlistValue"], "kvlistValue")
        return decode_attributes(inner.get("values"))
    if "bytesValue" in value:
        return value["bytesValue"]
    raise OtlpFormatError(f"unknown AnyValue kind {sorted(value)}")


def decode_attributes(value: Any) -> dict[str, Any]:
    """A ``[{key, value: AnyValue}]`` list as a flat dict (the last of repeated keys wins)."""
    attributes: dict[str, Any] = {}
    for item in _list(value, "attributes"):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise OtlpFormatError("an attribute must be an object with a string 'key'")
        attributes[item["key"]] = decode_any_value(item.get("value"))
    return attributes


def decode_id(value: Any, *, size: int, field: str) -> str | None:
    """A trace id (16 bytes) or span id (8 bytes) as lower-case hex; None when absent or empty."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise OtlpFormatError(f"{field} must be a string, got {type(value).__name__}")
    if len(value) == size * 2 and _HEX.match(value):
        text = value.lower()
    else:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise OtlpFormatError(f"{field} {value!r} is neither {size * 2} hex digits nor base64") from exc
        if len(raw) != size:
            raise OtlpFormatError(f"{field} {value!r} is not {size * 2} hex digits")
        text = raw.hex()
    if set(text) == {"0"}:
        raise OtlpFormatError(f"{field} is all zeros")
    return text


def decode_time(value: Any, *, field: str) -> datetime | None:
    """A ``*TimeUnixNano`` (int or decimal string) as an aware UTC datetime; None when absent or 0."""
    if value is None or value == "" or value == 0 or value == "0":
        return None
    if isinstance(value, bool):
        raise OtlpFormatError(f"{field} must be nanoseconds since the epoch")
    try:
        nanos = int(value)
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: JSON's Infinity
        raise OtlpFormatError(f"{field} {value!r} is not nanoseconds since the epoch") from exc
    if nanos < 0:
        raise OtlpFormatError(f"{field} is negative")
    try:
        return datetime.fromtimestamp(nanos // 1_000_000_000, tz=timezone.utc).replace(microsecond=(nanos % 1_000_000_000) // 1000)
    except (OverflowError, OSError, ValueError) as exc:
        raise OtlpFormatError(f"{field} {value!r} is out of range") from exc


def decode_status_code(value: Any) -> int:
    """A span status code (0 unset, 1 ok, 2 error) from its number or enum name."""
    if value is None or value == "":
        return STATUS_UNSET
    if isinstance(value, str) and value.upper() in _STATUS_NAMES:
        return _STATUS_NAMES[value.upper()]
    try:
        code = int(value)
    except (TypeError, ValueError) as exc:
        raise OtlpFormatError(f"status.code {value!r} is not 0, 1 or 2") from exc
    if code not in (STATUS_UNSET, STATUS_OK, STATUS_ERROR):
        raise OtlpFormatError(f"status.code {value!r} is not 0, 1 or 2")
    return code


def decode_events(value: Any) -> list[dict[str, Any]]:
    """Span events as ``{name, time_unix_nano, attributes}`` dicts."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpFormatError("events must be a list")
    events = []
    for event in value:
        if not isinstance(event, dict):
            raise OtlpFormatError("an event must be an object")
        events.append({"name": str(event.get("name") or ""), "time_unix_nano": event.get("timeUnixNano"),
                       "attributes": decode_attributes(event.get("attributes"))})
    return events


def _double(value: Any) -> float | None:
    if isinstance(value, bool):
        raise OtlpFormatError("doubleValue must be a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError as exc:
            raise OtlpFormatError(f"doubleValue {value!r} is not a number") from exc
    if value is None:
        return None
    raise OtlpFormatError("doubleValue must be a number")


def _object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise OtlpFormatError(f"{field} must be an object")
    return value


def _list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpFormatError(f"{field} must be a list")
    return value
