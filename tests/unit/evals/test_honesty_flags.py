from chalicelib.evals.generation import honesty_flags
from chalicelib.generation.base import LabeledTrace

CODE = '''def eval_refunds(trace):
    """Checks refunds; written from examples."""
    # the examples showed refunds after lookups
    if {check}:
        return False, "names a trace"
    return True, "ok"
'''


def _examples(*ids: str) -> list[LabeledTrace]:
    return [LabeledTrace(trace={"id": i, "source": {"external_id": f"ext-{i}"}, "output": f"body of {i}"},
                         rating="positive" if n % 2 else "negative") for n, i in enumerate(ids)]


def test_an_id_in_a_string_constant_is_flagged():
    code = CODE.format(check='trace["id"] == "tr-7f3a9c"')
    assert honesty_flags(code, _examples("tr-7f3a9c", "tr-000001")) == ["names_trace_ids"]


def test_an_id_that_is_only_a_word_of_the_code_is_not_flagged():
    # "refunds" and "examples" stand in the function name, the docstring and a comment, never in a constant
    code = CODE.format(check='trace.get("output") is None')
    assert honesty_flags(code, _examples("refunds", "examples", "eval_refunds")) == []


def test_a_long_literal_copied_from_one_trace_is_flagged():
    literal = "x" * 45
    examples = _examples("tr-1", "tr-2")
    examples[0].trace["output"] = literal
    code = CODE.format(check=f'trace.get("output") == "{literal}"')
    assert honesty_flags(code, examples) == ["copies_literals"]
