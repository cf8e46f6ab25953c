"""The local stack's moto speed-ups change no answer: the same writes, Queries and reads, with and without."""

from __future__ import annotations

import random
from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key

from infra.local import moto_speedups

WORDS = ["", "a", "A", "ab", "b", "é", "z", "Z9", "tr_0001", "tr_01", "ümlaut", "😀", "2025-04-02T00:00:01.000Z"]


def _tables(ddb):
    strings = ddb.create_table(
        TableName="strings", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "at")],
        GlobalSecondaryIndexes=[{"IndexName": "by_at", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                               {"AttributeName": "at", "KeyType": "RANGE"}]},
                                {"IndexName": "by_at_some", "Projection": {"ProjectionType": "INCLUDE",
                                                                           "NonKeyAttributes": ["nested", "maybe"]},
                                 "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                               {"AttributeName": "at", "KeyType": "RANGE"}]}])
    numbers = ddb.create_table(
        TableName="numbers", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "n", "AttributeType": "N"},
                              {"AttributeName": "b", "AttributeType": "B"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_b", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                 "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                               {"AttributeName": "b", "KeyType": "RANGE"}]}])
    plain = ddb.create_table(
        TableName="plain", BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    return strings, numbers, plain


def _seed(strings, numbers, plain, rng: random.Random) -> None:
    for i in range(150):
        word = rng.choice(WORDS) + str(rng.randint(0, 50))
        strings.put_item(Item={"pk": rng.choice(("p1", "p2")), "sk": f"{word}#{i}", "at": rng.choice(WORDS) + word,
                               "flag": rng.random() < 0.5, "tags": {rng.choice(WORDS) or "x", "y"},
                               "nested": {"k": [1, "two", {"three": Decimal("3.5")}], "none": None, "yes": rng.random() < 0.5},
                               "maybe": None if rng.random() < 0.5 else "set", "steps": [word, {"n": i}]})
        numbers.put_item(Item={"pk": rng.choice(("p1", "p2")), "n": Decimal(rng.randint(-10**6, 10**6)) / 100,
                               "b": bytes([rng.randint(0, 255) for _ in range(rng.randint(1, 4))]),
                               "score": Decimal(rng.randint(0, 9))})
        plain.put_item(Item={"pk": f"{rng.choice(WORDS)}{i}", "n": i})
    plain.put_item(Item={"pk": "a7", "n": -1})


def _queries(strings, numbers, plain) -> list:
    """Every answer (all pages) of a spread of Queries and Scans, and of reads by key, as plain data."""
    plans = [
        (strings, {"KeyConditionExpression": Key("pk").eq("p1")}),
        (strings, {"KeyConditionExpression": Key("pk").eq("p2"), "ScanIndexForward": False}),
        (strings, {"KeyConditionExpression": Key("pk").eq("p1") & Key("sk").between("a", "tr_1")}),
        (strings, {"KeyConditionExpression": Key("pk").eq("p1") & Key("sk").begins_with("é")}),
        (strings, {"IndexName": "by_at", "KeyConditionExpression": Key("pk").eq("p1"), "ScanIndexForward": False}),
        (strings, {"IndexName": "by_at", "KeyConditionExpression": Key("pk").eq("p2") & Key("at").gt("a")}),
        (strings, {"KeyConditionExpression": Key("pk").eq("p2"), "FilterExpression": Attr("flag").eq(True)}),
        (strings, {"IndexName": "by_at", "KeyConditionExpression": Key("pk").eq("p1"),
                   "FilterExpression": Attr("tags").contains("y"), "ProjectionExpression": "sk, #a",
                   "ExpressionAttributeNames": {"#a": "at"}}),
        (strings, {"IndexName": "by_at_some", "KeyConditionExpression": Key("pk").eq("p2")}),
        (strings, {"IndexName": "by_at_some", "KeyConditionExpression": Key("pk").eq("p1"),
                   "ProjectionExpression": "sk, nested.k[1], nested.#n, maybe",
                   "ExpressionAttributeNames": {"#n": "none"}}),
        (strings, {"IndexName": "by_at_some", "KeyConditionExpression": Key("pk").eq("p1"),
                   "ProjectionExpression": "maybe, sk, flag, nested, #a", "ExpressionAttributeNames": {"#a": "at"}}),
        (strings, {"IndexName": "by_at_some", "KeyConditionExpression": Key("pk").eq("p2") & Key("at").lt("b"),
                   "ProjectionExpression": "steps, pk", "ScanIndexForward": False}),
        (strings, {"KeyConditionExpression": Key("pk").eq("p1") & Key("sk").gt("b"),
                   "ProjectionExpression": "nested.k[2].three, flag, steps[1].n, absent"}),
        (numbers, {"KeyConditionExpression": Key("pk").eq("p1")}),
        (numbers, {"KeyConditionExpression": Key("pk").eq("p2"), "ProjectionExpression": "b, score"}),
        (numbers, {"KeyConditionExpression": Key("pk").eq("p2") & Key("n").lt(Decimal("12.5")),
                   "ScanIndexForward": False}),
        (numbers, {"IndexName": "by_b", "KeyConditionExpression": Key("pk").eq("p1")}),
        (numbers, {"IndexName": "by_b", "KeyConditionExpression": Key("pk").eq("p2"),
                   "ProjectionExpression": "score, b, n"}),
        (numbers, {"KeyConditionExpression": Key("pk").eq("p1"), "FilterExpression": Attr("score").gte(5)}),
        (numbers, {"KeyConditionExpression": Key("pk").eq("nobody")}),
        (plain, {"KeyConditionExpression": Key("pk").eq("a7")}),
        (plain, {"KeyConditionExpression": Key("pk").eq("missing")}),
    ]
    answers = []
    for table, params in plans:
        for limit in (None, 7):
            pages, start = [], None
            for _ in range(100):  # a broken sort can make paging go round forever
                call = dict(params, **({"Limit": limit} if limit else {}), **({"ExclusiveStartKey": start} if start else {}))
                page = table.query(**call)
                pages.append((page["Items"], page.get("LastEvaluatedKey"), page["Count"], page["ScannedCount"]))
                start = page.get("LastEvaluatedKey")
                if not start:
                    break
            answers.append(pages)
    for table in (strings, numbers, plain):
        pages, start = [], None
        for _ in range(100):
            page = table.scan(Limit=33, **({"ExclusiveStartKey": start} if start else {}))
            pages.append((page["Items"], page.get("LastEvaluatedKey")))
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        answers.append(pages)
    keys = [{"pk": item["pk"], "sk": item["sk"]} for item in strings.query(KeyConditionExpression=Key("pk").eq("p1"),
                                                                          Limit=40)["Items"]]
    client = strings.meta.client
    answers.append(client.batch_get_item(RequestItems={"strings": {"Keys": keys}})["Responses"]["strings"])
    answers.append(client.batch_get_item(RequestItems={"strings": {
        "Keys": keys, "ProjectionExpression": "sk, nested.k, #t", "ExpressionAttributeNames": {"#t": "tags"}}})["Responses"])
    answers.append([strings.get_item(Key=key).get("Item") for key in keys[:5]])
    return answers


def _run(seed: int) -> list:
    # The process's moto server, in a region of its own: entering mock_aws() would reset every
    # backend, the session stack's tables and functions included.
    ddb = boto3.resource("dynamodb", region_name="eu-west-3")
    tables = _tables(ddb)
    try:
        _seed(*tables, random.Random(seed))
        return _queries(*tables)
    finally:
        for table in tables:
            table.delete()


@pytest.mark.parametrize("seed", [1, 2])
def test_queries_answer_the_same_with_and_without_the_speedups(seed, stack):
    was_installed = moto_speedups.installed()
    try:
        moto_speedups.uninstall()
        plain = _run(seed)
        moto_speedups.install()
        fast = _run(seed)
    finally:
        (moto_speedups.install if was_installed else moto_speedups.uninstall)()
    assert sum(len(pages) for pages in plain) > 30  # the plans really page
    assert fast == plain


def test_dynamo_values_compare_as_moto_compares_them():
    from moto.dynamodb.models.dynamo_type import DynamoType

    values = [DynamoType({"S": "a"}), DynamoType({"S": "b"}), DynamoType({"N": "1"}), DynamoType({"N": "1.0"}),
              DynamoType({"B": "YQ=="}), DynamoType({"BOOL": True}), DynamoType({"NULL": True}),
              DynamoType({"SS": ["a", "b"]}), DynamoType({"L": [{"S": "a"}]})]
    ops = ("__eq__", "__ne__")
    was_installed = moto_speedups.installed()
    try:
        moto_speedups.uninstall()
        plain = [[getattr(a, op)(b) for op in ops] + [a.cast_value] for a in values for b in values]
        ordered_plain = [(a < b, a <= b, a > b, a >= b) for a in values[:2] for b in values[:2]]
        moto_speedups.install()
        fast = [[getattr(a, op)(b) for op in ops] + [a.cast_value] for a in values for b in values]
        ordered_fast = [(a < b, a <= b, a > b, a >= b) for a in values[:2] for b in values[:2]]
    finally:
        (moto_speedups.install if was_installed else moto_speedups.uninstall)()
    assert fast == plain and ordered_fast == ordered_plain


def test_dynamo_values_measure_as_moto_measures_them():
    from moto.dynamodb.models.dynamo_type import DynamoType

    values = [DynamoType(v) for v in (
        {"S": "é😀x"}, {"S": ""}, {"N": "-12.500"}, {"B": b"\x00\x01"}, {"B": "AAE="}, {"BOOL": False},
        {"NULL": True}, {"SS": ["a", "é"]}, {"NS": ["1", "22.5"]}, {"BS": [b"ab", "AAE="]},
        {"L": [{"S": "x"}, {"N": "3"}, {"M": {"k": {"L": [{"BOOL": True}]}}}]},
        {"M": {"name": {"S": "n"}, "stats": {"M": {"steps": {"N": "12"}, "tags": {"SS": ["t"]}}}, "e": {"M": {}}}},
    )]
    was_installed = moto_speedups.installed()
    try:
        moto_speedups.uninstall()
        plain = [v.size() for v in values]
        moto_speedups.install()
        fast = [v.size() for v in values]
    finally:
        (moto_speedups.install if was_installed else moto_speedups.uninstall)()
    assert fast == plain


def test_a_query_page_sorts_and_walks_only_what_follows_its_start_key(stack, monkeypatch):
    """Paging through a partition costs O(page) of Table.query's Python loop, not O(partition) per page:
    the candidates it gets start after the ExclusiveStartKey and stop at Limit + 1."""
    from moto.dynamodb.models.table import Table

    ddb = boto3.resource("dynamodb", region_name="eu-west-3")
    (strings, numbers, plain) = _tables(ddb)
    try:
        with strings.batch_writer() as batch:
            for i in range(300):
                batch.put_item(Item={"pk": "p", "sk": f"s{i:04d}", "at": f"a{i % 17:03d}"})
        seen: list[int] = []
        all_items, sorted_items = Table.all_items, Table.sorted_items
        monkeypatch.setattr(Table, "all_items", lambda self: _note(seen, all_items(self)))
        monkeypatch.setattr(Table, "sorted_items", lambda self, h, r, items: _note(seen, sorted_items(self, h, r, items)))
        for params in ({}, {"IndexName": "by_at"}, {"ScanIndexForward": False}, {"IndexName": "by_at", "ScanIndexForward": False}):
            first = strings.query(KeyConditionExpression=Key("pk").eq("p"), Limit=10, **params)
            seen.clear()
            second = strings.query(KeyConditionExpression=Key("pk").eq("p"), Limit=10,
                                   ExclusiveStartKey=first["LastEvaluatedKey"], **params)
            assert len(second["Items"]) == 10 and second["Items"][0] != first["Items"][-1]
            assert seen[-1] == 11, params  # the page's candidates: Limit + 1, not the partition's 300
    finally:
        for table in (strings, numbers, plain):
            table.delete()


def _note(seen: list[int], items: list) -> list:
    seen.append(len(items))
    return items


def test_a_gsi_order_kept_between_pages_follows_every_write(stack):
    """The GSI order kept from a Query's first page is dropped by any put, update or delete in the table."""
    ddb = boto3.resource("dynamodb", region_name="eu-west-3")
    (strings, numbers, plain) = _tables(ddb)

    def walk() -> list[str]:
        keys, start = [], None
        while True:
            page = strings.query(IndexName="by_at", KeyConditionExpression=Key("pk").eq("p"), Limit=7,
                                 **({"ExclusiveStartKey": start} if start else {}))
            keys += [item["sk"] for item in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                return keys

    try:
        at = {f"s{i:03d}": f"a{(i * 7) % 13:02d}" for i in range(40)}
        with strings.batch_writer() as batch:
            for sk, value in at.items():
                batch.put_item(Item={"pk": "p", "sk": sk, "at": value})
        expected = lambda: [sk for sk, _ in sorted(at.items(), key=lambda kv: (kv[1], kv[0]))]  # noqa: E731
        assert walk() == expected()
        strings.update_item(Key={"pk": "p", "sk": "s005"}, UpdateExpression="SET #a = :v",
                            ExpressionAttributeNames={"#a": "at"}, ExpressionAttributeValues={":v": "a99"})
        at["s005"] = "a99"
        assert walk() == expected()
        strings.delete_item(Key={"pk": "p", "sk": "s010"})
        del at["s010"]
        strings.put_item(Item={"pk": "p", "sk": "s100", "at": "a00"})
        at["s100"] = "a00"
        assert walk() == expected()
    finally:
        for table in (strings, numbers, plain):
            table.delete()


def _transactions(client) -> list:
    """Transactions that commit and that fail (a condition, a repeated key) and what the tables hold after."""
    put = lambda table, item, **kw: {"Put": {"TableName": table, "Item": item, **kw}}  # noqa: E731
    attempts = [
        [put("strings", {"pk": "t", "sk": "1", "n": 1}),
         put("plain", {"pk": "t1", "n": 1})],
        [{"Update": {"TableName": "strings", "Key": {"pk": "t", "sk": "1"},
                     "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": 1}}},
         put("strings", {"pk": "t", "sk": "2"}),
         put("plain", {"pk": "t1"}, ConditionExpression="attribute_not_exists(pk)")],  # fails: all undone
        [{"Delete": {"TableName": "plain", "Key": {"pk": "t1"}}},
         put("strings", {"pk": "t", "sk": "3"})],
        [put("plain", {"pk": "t2"}), put("plain", {"pk": "t2", "x": "y"})],  # same key twice
        [{"ConditionCheck": {"TableName": "strings", "Key": {"pk": "t", "sk": "1"},
                             "ConditionExpression": "n = :two", "ExpressionAttributeValues": {":two": 2}}},
         put("plain", {"pk": "t3"})],
    ]
    outcomes = []
    for items in attempts:
        try:
            client.transact_write_items(TransactItems=items)
            outcomes.append("ok")
        except client.exceptions.ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
    held = [client.scan(TableName=name)["Items"] for name in ("strings", "plain")]
    return [outcomes, sorted(map(str, held[0])), sorted(map(str, held[1]))]


def test_transactions_commit_and_roll_back_the_same_with_and_without_the_speedups(stack):
    def run() -> list:
        ddb = boto3.resource("dynamodb", region_name="eu-west-3")
        tables = _tables(ddb)
        try:
            return _transactions(ddb.meta.client)  # serializes plain values itself
        finally:
            for table in tables:
                table.delete()

    was_installed = moto_speedups.installed()
    try:
        moto_speedups.uninstall()
        plain = run()
        moto_speedups.install()
        fast = run()
    finally:
        (moto_speedups.install if was_installed else moto_speedups.uninstall)()
    assert plain[0] == ["ok", "TransactionCanceledException", "ok", "ValidationException",
                        "TransactionCanceledException"]
    assert fast == plain


def test_a_failed_transaction_undoes_only_its_own_items(stack):
    """Writes other requests make to a table while a transaction on it fails are kept (moto put back a
    copy of the whole table taken before the transaction, losing them)."""
    import threading

    ddb = boto3.resource("dynamodb", region_name="eu-west-3")
    tables = _tables(ddb)
    plain = tables[2]
    client = ddb.meta.client
    try:
        with plain.batch_writer() as batch:
            for i in range(300):  # a table worth copying: the window for a concurrent write is wide
                batch.put_item(Item={"pk": f"old{i}", "body": "x" * 200})
        plain.put_item(Item={"pk": "marker"})
        stop = threading.Event()

        def fail_transactions() -> None:
            while not stop.is_set():
                try:
                    client.transact_write_items(TransactItems=[{"Put": {
                        "TableName": plain.name, "Item": {"pk": "marker"},
                        "ConditionExpression": "attribute_not_exists(pk)"}}])
                except client.exceptions.TransactionCanceledException:
                    pass

        failing = threading.Thread(target=fail_transactions)
        failing.start()
        try:
            for i in range(150):
                plain.put_item(Item={"pk": f"new{i}"})
        finally:
            stop.set()
            failing.join()
        held = {item["pk"] for item in plain.scan(ProjectionExpression="pk")["Items"]}
        assert {f"new{i}" for i in range(150)} <= held
    finally:
        for table in tables:
            table.delete()


def _include_items(ddb):
    (strings, numbers, plain) = _tables(ddb)
    with strings.batch_writer() as batch:
        for i in range(40):
            batch.put_item(Item={"pk": "p", "sk": f"s{i:03d}", "at": f"a{i:03d}", "maybe": "m",
                                 "nested": {"deep": [{"k": str(j)} for j in range(20)]}})
    return strings, numbers, plain


def test_a_gsi_query_copies_only_the_attributes_its_projection_expression_keeps(stack, monkeypatch):
    """Listing ids from an INCLUDE index copies the keys it asks for, not every projected attribute first."""
    ddb = boto3.resource("dynamodb", region_name="eu-west-3")
    tables = _include_items(ddb)
    copied: list[int] = []
    copy_value = moto_speedups._copy_value
    monkeypatch.setattr(moto_speedups, "_copy_value", lambda value: (copied.append(1), copy_value(value))[1])
    answers = {}
    try:
        for enabled in (False, True):
            moto_speedups.use_execute_speedups(enabled)
            copied.clear()
            answers[enabled] = tables[0].query(IndexName="by_at_some", KeyConditionExpression=Key("pk").eq("p"),
                                               ProjectionExpression="pk, sk")["Items"]
            answers[(enabled, "copies")] = len(copied)
    finally:
        moto_speedups.use_execute_speedups(True)
        for table in tables:
            table.delete()
    assert answers[True] == answers[False] and len(answers[True]) == 40
    assert answers[(True, "copies")] == 40 * 2  # pk and sk of each item (nested has 41 values more each)
    assert answers[(False, "copies")] > 40 * 40


def test_a_query_measures_each_item_once(stack, monkeypatch):
    """Table.query asks an item's size for the 1 MB limit and again for its running total: measured once."""
    ddb = boto3.resource("dynamodb", region_name="eu-west-3")
    tables = _include_items(ddb)
    measured: list[int] = []
    item_size = moto_speedups._ORIGINAL["item_size"]
    monkeypatch.setitem(moto_speedups._ORIGINAL, "item_size", lambda item: (measured.append(1), item_size(item))[1])
    counts = {}
    try:
        for enabled in (False, True):
            moto_speedups.use_execute_speedups(enabled)
            measured.clear()
            tables[0].query(KeyConditionExpression=Key("pk").eq("p"))
            counts[enabled] = len(measured)
    finally:
        moto_speedups.use_execute_speedups(True)
        for table in tables:
            table.delete()
    assert counts == {False: 80, True: 40}


def test_an_invoke_payload_naming_a_qualifier_runs_the_function_it_was_sent_to(stack):
    """Lambda's Invoke takes its Qualifier from the request's query string: a payload with a ``qualifier`` key
    (moto looked there, after parsing the whole payload) still runs $LATEST."""
    import json

    from chalicelib.clients import aws_client

    lam = aws_client("lambda")
    name = next(f["FunctionName"] for f in lam.list_functions()["Functions"] if f["FunctionName"].endswith("-sandbox"))
    payload = json.dumps({"action": "probe", "qualifier": "no-such-version"})
    was_installed = moto_speedups.installed()
    try:
        moto_speedups.uninstall()
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.invoke(FunctionName=name, Payload=payload)
        moto_speedups.install()
        answer = lam.invoke(FunctionName=name, Payload=payload)
    finally:
        (moto_speedups.install if was_installed else moto_speedups.uninstall)()
    assert answer["StatusCode"] == 200
    assert "no-such-version" not in answer["Payload"].read().decode()  # the handler's own answer, not a lookup error


def test_the_server_finds_services_among_the_same_moto_packages_listed_once(stack, monkeypatch):
    """The dispatcher's list of moto's service packages, listed once, is the list moto makes per request; a
    request routed by it still reaches its service, and moto's folder is not listed again."""
    import os

    from moto import backends

    from chalicelib.clients import aws_client

    original = moto_speedups._ORIGINAL["list_of_moto_modules"]
    assert backends.list_of_moto_modules() == frozenset(original()) and "dynamodb" in backends.list_of_moto_modules()
    sts = aws_client("sts")
    sts.get_caller_identity()  # the service's app is made on its first request
    listed = []
    real_listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path=".": listed.append(path) or real_listdir(path))
    for _ in range(3):
        sts.get_caller_identity()
    assert not [p for p in listed if str(p).rstrip("/").endswith("moto")], listed
