"""The environment-variable contract: every function reads its resources only through the
variables infra/resources.py declares for it (the template sets exactly those; the local stack
lets a handler see only those while it runs, so every state-machine and API test checks it)."""

import pytest

from chalicelib import wiring
from chalicelib.config import ConfigError, only_variables, settings_from_env
from infra import resources


def test_every_function_of_the_app_is_declared():
    from app import app

    deployed = {f.name for f in app.pure_lambda_functions} | {resources.API_FUNCTION}
    assert deployed == {f.name for f in resources.FUNCTIONS}


def test_a_missing_variable_is_a_config_error_naming_it():
    settings = settings_from_env({"AWS_DEFAULT_REGION": "us-east-1"})
    with pytest.raises(ConfigError, match="IOFOLD_TABLE_TRACES"):
        settings.table("traces")
    with pytest.raises(ConfigError, match="IOFOLD_SM_EXECUTE_EVAL"):
        settings.state_machine_arn("execute_eval")
    assert settings_from_env({"IOFOLD_BUCKET": "b"}).bucket == "b"


def test_a_function_sees_only_its_own_variables_even_with_repositories_cached(stack):
    wiring.eval_repo(), wiring.sandbox(), wiring.job_repo()  # built unscoped, as by another function
    with only_variables(resources.function("job_fail").env_vars()):
        wiring.job_repo()
        with pytest.raises(ConfigError, match="IOFOLD_SANDBOX_FUNCTION"):
            wiring.sandbox()
        with pytest.raises(ConfigError, match="IOFOLD_TABLE_EVALS"):
            wiring.eval_repo()
    with only_variables(resources.function(resources.API_FUNCTION).env_vars()):
        with pytest.raises(ConfigError, match="IOFOLD_SANDBOX_FUNCTION"):
            wiring.sandbox()
    with only_variables(tuple(v for v in resources.function("generate_candidates").env_vars()
                              if v != "IOFOLD_LLM_SECRET_ARN")):
        # the LLM secret is optional: without it generation says why it ran offline
        assert "IOFOLD_LLM_SECRET_ARN" in wiring.generator("auto", "ws_none")[1]


def test_local_handlers_run_with_only_their_declared_variables(stack):
    from infra.local.stack import scoped_handlers

    def reaches_the_sandbox(event, context):
        return wiring.sandbox()._function

    handlers = scoped_handlers({"execute_chunk": reaches_the_sandbox, "job_finish": reaches_the_sandbox})
    assert handlers["execute_chunk"]({}, None) == stack.provisioned.env["IOFOLD_SANDBOX_FUNCTION"]
    with pytest.raises(ConfigError, match="IOFOLD_SANDBOX_FUNCTION"):
        handlers["job_finish"]({}, None)
    with pytest.raises(KeyError):
        scoped_handlers({"not_declared": reaches_the_sandbox})


def test_the_local_stack_sets_every_declared_variable(stack):
    declared = {v for f in resources.FUNCTIONS for v in f.env_vars()}
    assert declared <= set(stack.provisioned.env)
    assert all(stack.provisioned.env[v] for v in declared)


@pytest.fixture
def llm_secret_with_a_key(stack, monkeypatch):
    """A filled LLM secret named by IOFOLD_LLM_SECRET_ARN (the stack's own stays empty)."""
    from chalicelib.clients import aws_client
    from chalicelib.config import LLM_SECRET_ARN_VAR

    arn = aws_client("secretsmanager").create_secret(Name=f"llm-key-{id(monkeypatch)}",
                                                     SecretString="sk-ant-test-not-a-real-key\n")["ARN"]
    monkeypatch.setenv(LLM_SECRET_ARN_VAR, arn)
    wiring.reset()
    yield arn
    monkeypatch.undo()
    wiring.reset()


def test_generation_reads_the_llm_key_from_the_secret_only_where_declared(llm_secret_with_a_key):
    from chalicelib.clients import llm_api_key

    with only_variables(resources.function("generate_candidates").env_vars()):
        assert llm_api_key() == ("sk-ant-test-not-a-real-key", "the LLM secret")
        generator, reason = wiring.generator("auto", "ws_none")
        assert generator.name == "anthropic" and reason == "LLM key from the LLM secret"
    with only_variables(resources.function(resources.API_FUNCTION).env_vars()):
        assert llm_api_key()[0] is None


def test_an_empty_llm_secret_means_offline_and_says_so(stack):
    from chalicelib.generation.base import LlmKeyMissing

    with only_variables(resources.function("generate_candidates").env_vars()):
        generator, reason = wiring.generator("auto", "ws_none")
        assert generator.name == "offline" and reason == "no LLM key configured (secret empty)"
        with pytest.raises(LlmKeyMissing, match="secret empty"):
            wiring.generator("anthropic", "ws_none")
