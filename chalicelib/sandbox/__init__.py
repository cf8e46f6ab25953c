"""Eval execution sandbox: static validation, then locked-down child processes (SECURITY.md)."""

from chalicelib.sandbox.runner import SandboxUnavailable, TraceResult, run_batch, sandbox_capabilities
from chalicelib.sandbox.validate import validate_code

__all__ = ["SandboxUnavailable", "TraceResult", "run_batch", "sandbox_capabilities", "validate_code"]
