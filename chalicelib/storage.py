"""Small DynamoDB helpers shared by the repositories: cursors, typed items, chunked writes."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any, Iterable, Iterator, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.errors import NotFound, ValidationError
from chalicelib.jsonlimits import loads_bounded

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_EXAMINED = 1000
"""Items one filtered page reads at most (a short page with a cursor follows)."""

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def encode_cursor(last_key: dict | None) -> str | None:
    """An opaque cursor from a DynamoDB LastEvaluatedKey."""
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(to_plain(last_key)).encode()).decode()


def decode_cursor(cursor: str | None) -> dict | None:
    """The ExclusiveStartKey for a cursor; 400 when it is not one of ours."""
    if not cursor:
        return None
    try:
        data = loads_bounded(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise ValidationError("invalid cursor") from exc
    if not isinstance(data, dict) or not all(isinstance(v, (str, int)) for v in data.values()):
        raise ValidationError("invalid cursor")
    return data


def parse_limit(value: str | int | None) -> int:
    """``?limit=``: default 50, 1..200."""
    if value in (None, ""):
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError("limit must be an integer from 1 to 200") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError("limit must be an integer from 1 to 200")
    return limit


_KEY_NAMES: dict[tuple[str, str | None], tuple[str, ...]] = {}


def key_names(table: Any, index: str | None = None) -> tuple[str, ...]:
    """The attributes a LastEvaluatedKey of this table/index has (read once per process)."""
    cache_key = (table.name, index)
    if cache_key not in _KEY_NAMES:
        names = [k["AttributeName"] for k in table.key_schema]
        if index:
            gsi = next(i for i in table.global_secondary_indexes or [] if i["IndexName"] == index)
            names += [k["AttributeName"] for k in gsi["KeySchema"] if k["AttributeName"] not in names]
        _KEY_NAMES[cache_key] = tuple(names)
    return _KEY_NAMES[cache_key]


def query_page(table: Any, *, limit: int, cursor: str | None, owner: tuple[str, str] | None = None,
               filter_fn=None, max_examined: int = MAX_EXAMINED, **kwargs: Any) -> tuple[list[dict], str | None]:
    """Query until ``limit`` items pass ``filter_fn``, the key range ends or ``max_examined`` items were
    read (then the page is short and the cursor resumes after them: a request never reads a whole
    partition that grows with the data); a foreign cursor is 400.

    ``owner`` = (attribute, value) the cursor must belong to (its hash key). The cursor points
    after the last item returned, so a page that stops inside a DynamoDB page resumes there.
    """
    start = decode_cursor(cursor)
    if start is not None and owner is not None and start.get(owner[0]) != owner[1]:
        raise ValidationError("invalid cursor")
    items: list[dict] = []
    examined = 0
    while True:
        params = dict(kwargs, Limit=max(limit - len(items), 1) if filter_fn is None else max(limit, 25))
        if start:
            params["ExclusiveStartKey"] = start
        try:
            page = table.query(**params)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ValidationException":
                raise ValidationError("invalid cursor or query") from exc
            raise
        page_items = page["Items"]
        for position, item in enumerate(page_items):
            if filter_fn is None or filter_fn(item):
                items.append(item)
                if len(items) == limit:
                    more = position < len(page_items) - 1 or bool(page.get("LastEvaluatedKey"))
                    if not more:
                        return items, None
                    names = key_names(table, kwargs.get("IndexName"))
                    return items, encode_cursor({k: item[k] for k in names})
        start = page.get("LastEvaluatedKey")
        if not start:
            return items, None
        examined += len(page_items)
        if examined >= max_examined:
            return items, encode_cursor(start)


def batch_get(table: Any, keys: Iterable[dict], *, projection: str | None = None,
              names: dict[str, str] | None = None) -> Iterator[dict]:
    """Items for the given keys (BatchGetItem in 100s, unprocessed keys retried); missing keys are skipped.
    ``names`` are the ExpressionAttributeNames the projection uses (#placeholders for reserved words)."""
    client = table.meta.client
    unique = list({json.dumps(k, sort_keys=True): k for k in keys}.values())
    for start in range(0, len(unique), 100):
        spec: dict[str, Any] = {"Keys": unique[start:start + 100]}
        if projection:
            spec["ProjectionExpression"] = projection
        if names:
            spec["ExpressionAttributeNames"] = names
        request: dict[str, Any] | None = {table.name: spec}
        while request:
            response = client.batch_get_item(RequestItems=request)
            yield from response["Responses"].get(table.name, [])
            request = response.get("UnprocessedKeys") or None


def delete_existing(table: Any, key: dict, *, missing: str) -> dict:
    """Delete an item that must exist (NotFound with ``missing`` otherwise); the deleted item."""
    attribute = next(iter(key))
    try:
        response = table.delete_item(Key=key, ConditionExpression="attribute_exists(#k)",
                                     ExpressionAttributeNames={"#k": attribute}, ReturnValues="ALL_OLD")
    except ClientError as exc:
        if is_conditional_failure(exc):
            raise NotFound(missing) from exc
        raise
    return response.get("Attributes", {})


def delete_partition(table: Any, hash_key: str, value: str, range_key: str, *, limit: int | None = None) -> int:
    """Delete every item whose ``hash_key`` is ``value``, or at most ``limit`` of them (a projected Query,
    batched deletes); how many went."""
    from boto3.dynamodb.conditions import Key

    deleted = 0
    kwargs: dict[str, Any] = {"KeyConditionExpression": Key(hash_key).eq(value),
                              "ProjectionExpression": "#h, #r", "ExpressionAttributeNames": {"#h": hash_key,
                                                                                               "#r": range_key}}
    with table.batch_writer() as batch:
        while limit is None or deleted < limit:
            if limit is not None:
                kwargs["Limit"] = limit - deleted
            page = table.query(**kwargs)
            for item in page["Items"]:
                batch.delete_item(Key={hash_key: item[hash_key], range_key: item[range_key]})
                deleted += 1
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return deleted


def to_plain(value: Any) -> Any:
    """DynamoDB resource values (Decimal, sets) → JSON-able Python values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(to_plain(v) for v in value)
    return value


def to_dynamo(value: Any) -> Any:
    """Python values → what the DynamoDB resource accepts (floats as Decimal, no empty strings in keys)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [to_dynamo(v) for v in value]
    return value


def serialize(item: dict) -> dict:
    """A plain item → low-level DynamoDB JSON (for transactions)."""
    return {k: _serializer.serialize(v) for k, v in to_dynamo(item).items()}


def deserialize(item: dict) -> dict:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def attribute_size(value: dict) -> int:
    """Bytes DynamoDB counts for one AttributeValue in wire format (``{"S": "x"}`` ...)."""
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(base64.b64decode(inner)) if isinstance(inner, str) else len(getattr(inner, "value", inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: x}) for x in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(x) for x in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(x) for k, x in inner.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: dict) -> int:
    """Bytes DynamoDB counts for an item in wire format (names + values): a write costs one unit per KB."""
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def is_conditional_failure(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] in ("ConditionalCheckFailedException", "TransactionCanceledException")


def is_missing_object(exc: ClientError) -> bool:
    """An S3 GET/HEAD of a key that does not exist (HEAD answers a bare 404)."""
    return exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound")
