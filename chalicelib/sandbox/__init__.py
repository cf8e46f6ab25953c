"""Eval execution sandbox: static validation, then locked-down child processes (SECURITY.md)."""

from chalicelib.sandbox.runner import (EncodedTrace, SandboxUnavailable, TraceResult, check_layers,
                                       parse_required_layers, run_batch, run_batch_dicts, sandbox_capabilities)
from chalicelib.sandbox.validate import validate_code

__all__ = ["EncodedTrace", "SandboxUnavailable", "TraceResult", "check_layers", "parse_required_layers", "run_batch",
           "run_batch_dicts", "sandbox_capabilities", "validate_code"]
