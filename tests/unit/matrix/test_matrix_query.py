"""The matrix's query parsing and default columns."""

import pytest

from chalicelib.errors import NotFound, ValidationError
from chalicelib.evals.models import EvalVersion
from chalicelib.matrix.service import choose_columns, csv_cell, parse_matrix_query


def _v(n: int, status: str = "draft") -> EvalVersion:
    return EvalVersion(id=f"ev_{n}", eval_set_id="es", version=n, status=status, name="eval_x", code="",
                       generator="human", created_by="k", created_at="2025")


def test_default_columns_are_active_then_the_two_newest_non_archived():
    versions = [_v(1), _v(2, "active"), _v(3), _v(4, "archived"), _v(5)]
    assert [v.version for v in choose_columns(versions, None)] == [2, 5, 3]
    assert [v.version for v in choose_columns([_v(1)], None)] == [1]
    assert choose_columns([], None) == []


def test_asked_columns_keep_their_order_and_unknown_ones_are_404():
    versions = [_v(1), _v(2)]
    assert [v.version for v in choose_columns(versions, ["ev_1", "ev_2"])] == [1, 2]
    with pytest.raises(NotFound):
        choose_columns(versions, ["ev_9"])


def test_query_parsing():
    q = parse_matrix_query({"eval_ids": "ev_1, ev_2,,ev_1", "filter": "errors", "rating": "neutral",
                            "from": "2025-03-01", "to": "2025-03-02T10:00:00Z", "source": "langfuse", "limit": "7"})
    assert (q.eval_ids, q.filter, q.rating, q.from_, q.to, q.source, q.limit) == (
        ["ev_1", "ev_2"], "errors", "neutral", "2025-03-01", "2025-03-02T10:00:00Z", "langfuse", 7)
    assert parse_matrix_query({}).filter == "all"


@pytest.mark.parametrize("query", [{"filter": "some"}, {"rating": "good"}, {"from": "soon"}, {"limit": "500"},
                                   {"eval_ids": ",".join(f"ev_{i}" for i in range(11))}])
def test_bad_queries_are_400(query):
    with pytest.raises(ValidationError):
        parse_matrix_query(query)


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(1)", "\t=1", "\r=1"])
def test_csv_cells_starting_a_formula_get_a_quote(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["plain", "1+1", "a=b", "'quoted", "", " =1", 0, 1200, None])
def test_other_csv_cells_and_numbers_are_unchanged(value):
    assert csv_cell(value) == value
