"""An unexpected failure is logged in bounded size, never as a megabyte stack trace."""

import json
import logging

from chalicelib import web


def _recurse(n: int) -> int:
    return _recurse(n + 1) + 1


def test_a_recursion_error_is_logged_in_a_few_kilobytes():
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    handler.setFormatter(web.logger.registered_formatter)
    web.logger.addHandler(handler)
    try:
        try:
            _recurse(0)
        except RecursionError as exc:
            web.log_failure("unhandled error", exc)
    finally:
        web.logger.removeHandler(handler)
    [line] = records
    assert len(line) < web.MAX_LOGGED_TRACEBACK + 2000
    logged = json.loads(line)
    assert logged["error_type"] == "RecursionError" and "_recurse" in logged["traceback"]
    assert logged["message"] == "unhandled error"
