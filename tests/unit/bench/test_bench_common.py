"""The bench helpers: statistics, formatting, the markdown report, the API caller, the runner's script discovery."""

import datetime as dt
import json

import httpx
import pytest

from chalicelib.jobs.polling import JobStillRunning

from bench import run_all
from bench.common import ApiClient, ApiError, Report, fmt, fmt_range, markdown_table, median, repeat_timed, value_range


def test_median_and_range_of_unsorted_values():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4, 1, 3, 2]) == 2.5
    assert value_range([3.0, 1.0, 2.0]) == (1.0, 3.0)


def test_median_and_range_refuse_no_values():
    with pytest.raises(ValueError):
        median([])
    with pytest.raises(ValueError):
        value_range([])


@pytest.mark.parametrize("value, text", [
    (0, "0"), (0.000123456, "0.000123"), (0.5, "0.500"), (6.514, "6.51"), (154.2, "154"), (2048.7, "2,049"),
])
def test_fmt_keeps_three_significant_digits(value, text):
    assert fmt(value) == text


def test_fmt_range_shows_min_and_max():
    assert fmt_range([9.56, 13.6, 13.0]) == "9.56–13.6"


def test_repeat_timed_calls_once_per_repeat():
    calls = []
    times = repeat_timed(lambda: calls.append(1), 4)
    assert len(calls) == 4 and len(times) == 4 and all(t >= 0 for t in times)
    with pytest.raises(ValueError):
        repeat_timed(lambda: None, 0)


def test_markdown_table_escapes_pipes_and_rejects_ragged_rows():
    table = markdown_table(["a", "b"], [["x|y", 1]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |"]
    with pytest.raises(ValueError):
        markdown_table(["a", "b"], [["only one"]])


def test_report_renders_date_machine_tables_and_notes(tmp_path):
    report = Report("demo", "Demo bench", results_dir=tmp_path)
    report.table(["figure", "median"], [["traces/s", "154"]], caption="Caption line")
    report.note("measured on moto")
    text = report.render(when=dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.timezone.utc), machine={"cores": "2"})
    assert text.startswith("# Demo bench\n")
    assert "2026-01-02 03:04 UTC" in text and "`python -m bench.demo`" in text
    assert "Machine: cores: 2" in text
    assert "Caption line\n\n| figure | median |" in text
    assert "- measured on moto" in text


def test_report_write_prints_and_writes_results_file(tmp_path, capsys):
    report = Report("demo", "Demo bench", results_dir=tmp_path / "results")
    report.table(["x"], [[1]])
    path = report.write()
    assert path == tmp_path / "results" / "demo.md"
    written = path.read_text()
    assert "| x |" in written and "cores:" in written
    assert "| x |" in capsys.readouterr().out


def _fake_api(handler) -> ApiClient:
    return ApiClient("http://api.test/v1", "key-1", http=httpx.Client(transport=httpx.MockTransport(handler)))


def test_api_client_sends_the_key_and_checks_the_status():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "x"})

    api = _fake_api(handler)
    assert api.ok("POST", "/things", json={"a": 1}, status=201) == {"id": "x"}
    assert seen[0].headers["Authorization"] == "Bearer key-1"
    assert json.loads(seen[0].content) == {"a": 1}
    with pytest.raises(ApiError, match="201"):
        api.ok("POST", "/things", json={}, status=202)


def test_api_client_raises_on_error_status():
    api = _fake_api(lambda request: httpx.Response(404, json={"error": "nope"}))
    with pytest.raises(ApiError, match="404"):
        api.ok("GET", "/missing")


def test_list_all_follows_cursors_to_the_end():
    pages = {None: {"items": [{"id": 1}, {"id": 2}], "next_cursor": "c2"},
             "c2": {"items": [{"id": 3}], "next_cursor": None}}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["limit"] == "200"
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    assert [item["id"] for item in _fake_api(handler).list_all("/traces")] == [1, 2, 3]


def test_wait_job_polls_until_the_job_ends():
    statuses = iter(["queued", "running", "succeeded"])
    job = _fake_api(lambda request: httpx.Response(200, json={"status": next(statuses)})).wait_job("j", poll_s=0)
    assert job["status"] == "succeeded"


def test_wait_job_gives_up_after_the_timeout():
    api = _fake_api(lambda request: httpx.Response(200, json={"status": "running"}))
    with pytest.raises(JobStillRunning, match="still running"):
        api.wait_job("j", timeout_s=0, poll_s=0)


def test_runner_finds_scripts_with_main_in_benchmarks_order(tmp_path):
    for name, body in {"matrix": "def main():\n    pass\n", "import": "def main():\n    pass\n",
                       "zeta": "def main():\n    pass\n", "helper": "X = 1\n", "common": "def main():\n    pass\n",
                       "__init__": ""}.items():
        (tmp_path / f"{name}.py").write_text(body)
    assert run_all.find_scripts(tmp_path) == ["import", "matrix", "zeta"]


def test_runner_finds_this_repository_import_bench():
    assert "import" in run_all.find_scripts()


def test_runner_refuses_unknown_script_names(capsys):
    assert run_all.main(["no_such_bench"]) == 2
    assert "unknown bench script" in capsys.readouterr().err
