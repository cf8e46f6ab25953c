"""chalicelib/clients.py: botocore event handlers registered once reach every client built after."""

from chalicelib import clients


def test_registered_event_handlers_see_the_calls_of_clients_built_after(stack):
    seen: list[str] = []
    clients.register_aws_event_handler("before-call", lambda model, **_: seen.append(model.name))
    try:
        clients.aws_client("dynamodb").list_tables()
        clients.dynamodb_table("jobs").meta.client.describe_table(TableName=clients.dynamodb_table("jobs").name)
    finally:
        clients.unregister_aws_event_handlers()
    assert seen == ["ListTables", "DescribeTable"]
    clients.aws_client("dynamodb").list_tables()  # unregistered: no longer seen
    assert seen == ["ListTables", "DescribeTable"]
