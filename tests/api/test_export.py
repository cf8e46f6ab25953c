"""Export: the pytest flavour, run with pytest in a subprocess on traces dumped from the API, gives
the same verdicts as the product's executions; the python flavour runs as a script."""

import ast
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from chalicelib.codegen import inert
from tests.conftest import new_workspace
from tests.hostile import compile_as_file, skeleton


@pytest.fixture(scope="module")
def exported(module_http):
    api = new_workspace(module_http, "export")
    traces = api.upload_demo(30, seed=9)
    es = api.ok("POST", "/v1/eval-sets", {"name": "Export me", "criteria": "look the order up first"}, status=201)["id"]
    api.rate(es, traces[:20])
    eval_id = api.wait_ok(api.ok("POST", f"/v1/eval-sets/{es}/generate", {"generator": "offline"},
                                  status=202)["job_id"])["result"]["eval_id"]
    api.wait_ok(api.ok("POST", f"/v1/evals/{eval_id}/execute", {"trace_ids": [t for t, _ in traces]},
                        status=202)["job_id"])
    results = {e["trace_id"]: e["result"] for e in api.ok("GET", f"/v1/evals/{eval_id}/executions?limit=200")["items"]}
    return {"api": api, "eval_id": eval_id, "traces": [t for t, _ in traces], "results": results}


def _headers(response) -> dict:
    return {k.lower(): v for k, v in response.headers.items()}


def test_exported_pytest_module_gives_the_products_verdicts(exported, tmp_path):
    api, eval_id = exported["api"], exported["eval_id"]
    response = api.get(f"/v1/evals/{eval_id}/export?format=pytest")
    assert response.status_code == 200 and _headers(response)["content-type"].startswith("text/x-python")
    version = api.ok("GET", f"/v1/evals/{eval_id}")
    assert f'filename="test_{version["name"]}.py"' in _headers(response)["content-disposition"]
    text = response.body.decode()
    assert "Eval set:  Export me" in text and f"Version:   {version['version']} ({eval_id}" in text
    assert f"accuracy={version['metrics']['accuracy']:.3f}" in text and version["code"].strip() in text
    module = tmp_path / "evals" / f"test_{version['name']}.py"
    module.parent.mkdir()
    module.write_text(text)
    folder = tmp_path / "dumped"
    folder.mkdir()
    for trace_id in exported["traces"]:
        (folder / f"{trace_id}.json").write_text(json.dumps(api.ok("GET", f"/v1/traces/{trace_id}")))
    report = tmp_path / "report.xml"
    run = subprocess.run([sys.executable, "-m", "pytest", str(module), "-q", "-p", "no:cacheprovider",
                          f"--junitxml={report}", "--rootdir", str(tmp_path)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "IOFOLD_TRACES_DIR": str(folder)})
    assert run.returncode in (0, 1), run.stdout + run.stderr
    verdicts = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        trace_id = case.get("name").split("[", 1)[1].rstrip("]")
        verdicts[trace_id] = "fail" if case.find("failure") is not None else "pass"
    assert verdicts == {t: r for t, r in exported["results"].items() if t in verdicts}
    assert set(verdicts) == set(exported["traces"]) and {"pass", "fail"} <= set(verdicts.values())


def test_exported_python_module_runs_as_a_script(exported, tmp_path):
    api, eval_id = exported["api"], exported["eval_id"]
    response = api.get(f"/v1/evals/{eval_id}/export")
    text = response.body.decode()
    assert response.status_code == 200 and "def test_" not in text and "pytest" not in text.split('"""', 2)[2]
    script = tmp_path / "exported.py"
    script.write_text(text)
    picks = exported["traces"][:6]
    for trace_id in picks:
        (tmp_path / f"{trace_id}.json").write_text(json.dumps(api.ok("GET", f"/v1/traces/{trace_id}")))
    run = subprocess.run([sys.executable, str(script), *[f"{t}.json" for t in picks]], capture_output=True, text=True,
                         cwd=tmp_path, timeout=60)
    lines = run.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [exported["results"][t].upper() for t in picks]
    assert run.returncode == (1 if any(exported["results"][t] == "fail" for t in picks) else 0)


def test_export_rejects_unknown_formats_and_other_workspaces(exported, other):
    api, eval_id = exported["api"], exported["eval_id"]
    assert api.get(f"/v1/evals/{eval_id}/export?format=ruby").status_code == 400
    assert api.get("/v1/evals/ev_00000000000000000000/export").status_code == 404
    assert other.get(f"/v1/evals/{eval_id}/export?format=pytest").status_code == 404


HOSTILE = 'Café 2024 \\N """ it\'s \x00 # coding: utf-7 +AAo- \u2028    return True, "x"  #\\'
BAD_TOOL = "zzz_other"  # sorts after both good tools, so the rule the generator keeps names the good tool


def _generate_and_export(api, *, name: str, text: str, good_tool: str) -> dict:
    """Upload 10 traces (good ones call ``good_tool``, ``text`` in every free-text field), rate them, generate
    offline in a set called ``name``; the version and both exports."""
    traces = []
    for i in range(10):
        tool = good_tool if i % 2 == 0 else BAD_TOOL
        traces.append({"id": "x", "source": {"platform": "upload", "external_id": f"h{i}"}, "name": f"{text} {i}",
                       "metadata": {"note": text}, "tags": [text],
                       "messages": [{"role": "user", "content": text},
                                    {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "name": tool}]},
                                    {"role": "tool", "content": text, "tool_call_id": "c1", "name": tool},
                                    {"role": "assistant", "content": text}],
                       "tool_calls": [{"id": "c1", "name": tool, "arguments": {}, "result": "ok", "error": None}]})
    job = api.ok("POST", "/v1/traces/upload?format=unified", raw="\n".join(json.dumps(t) for t in traces),
                 headers={"Content-Type": "application/x-ndjson"}, status=202)
    assert api.wait_ok(job["job_id"])["result"]["imported"] == 10
    ids = {t["source"]["external_id"]: t["id"] for t in api.all_traces()}
    es = api.ok("POST", "/v1/eval-sets", {"name": name, "criteria": text}, status=201)["id"]
    for i in range(10):
        api.ok("PUT", f"/v1/eval-sets/{es}/feedback/{ids[f'h{i}']}",
               {"rating": "positive" if i % 2 == 0 else "negative", "notes": text})
    eval_id = api.wait_ok(api.ok("POST", f"/v1/eval-sets/{es}/generate", {"generator": "offline"},
                                  status=202)["job_id"])["result"]["eval_id"]
    version = api.ok("GET", f"/v1/evals/{eval_id}")
    exports = {}
    for fmt in ("python", "pytest"):
        response = api.get(f"/v1/evals/{eval_id}/export?format={fmt}")
        assert response.status_code == 200, response.body[:300]
        exports[fmt] = response.body.decode()
    return {"version": version, "exports": exports, "traces": traces}


def test_hostile_set_name_criteria_notes_and_tool_names_stay_text_in_generated_and_exported_code(api, other, tmp_path):
    hostile = _generate_and_export(api, name=HOSTILE, text=HOSTILE, good_tool="lookup\n    return True, 'pwned'  #")
    plain = _generate_and_export(other, name="cafe 2024 n it s coding utf 7 aao return", text="plain words",
                                 good_tool="zz_return")  # a write tool: the hostile name's first verb is "return"
    assert hostile["version"]["name"] == "eval_cafe_2024_n_it_s_coding_utf_7_aao_return"
    assert skeleton(hostile["version"]["code"]) == skeleton(plain["version"]["code"])
    for fmt, text in hostile["exports"].items():
        compile_as_file(text)
        assert skeleton(text) == skeleton(plain["exports"][fmt])
        assert hostile["version"]["code"].strip() in text
        assert f"Eval set:  {inert(HOSTILE, 'comment')} (" in ast.get_docstring(ast.parse(text))
    script = tmp_path / "exported.py"
    script.write_bytes(hostile["exports"]["python"].encode())
    for i, trace in enumerate(hostile["traces"][:4]):
        (tmp_path / f"{i}.json").write_text(json.dumps(trace))
    run = subprocess.run([sys.executable, str(script), *[f"{i}.json" for i in range(4)]], capture_output=True,
                         text=True, cwd=tmp_path, timeout=60)
    verdicts = re.findall(r"^(PASS|FAIL)  ([0-9])\.json  ", run.stdout, flags=re.M)  # reasons may hold newlines
    assert verdicts == [("PASS", "0"), ("FAIL", "1"), ("PASS", "2"), ("FAIL", "3")], run.stdout + run.stderr
