"""moto stores EventBridge schedules but never fires them: this thread does, by invoking the
same ``scheduled_import`` function that the schedule targets on AWS, and the fixed-rate
functions of ``infra.resources.PERIODIC_FUNCTIONS`` (OTLP assembly) on every tick."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone

logger = logging.getLogger(__name__)


def invoke_function(function_arn: str, event: dict) -> None:
    """Invoke one function through Lambda with ``event``, as its schedule or rule would."""
    from chalicelib.clients import aws_client

    response = aws_client("lambda").invoke(FunctionName=function_arn, Payload=json.dumps(event))
    if response.get("FunctionError"):
        logger.warning("%s failed: %s", function_arn, response["Payload"].read()[:500])


def invoke_scheduled_import(event: dict) -> None:
    """Invoke the scheduled-import function, as EventBridge Scheduler would."""
    from chalicelib.config import SCHEDULE_TARGET_ARN_VAR, get_settings

    invoke_function(get_settings().resource(SCHEDULE_TARGET_ARN_VAR), event)


class LocalScheduler:
    """Checks every ``every_s`` seconds which schedules are due and fires them; invokes the
    periodic functions (``periodic``: their ARNs) each time."""

    def __init__(self, every_s: float = 15.0, periodic: tuple[str, ...] = ()):
        self.every_s = every_s
        self.periodic = periodic
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="scheduler")

    def start(self) -> "LocalScheduler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def tick(self, now: datetime | None = None) -> int:
        from chalicelib import wiring
        from chalicelib.schedules.service import fire_due

        for function_arn in self.periodic:
            invoke_function(function_arn, {"source": "schedule"})
        return fire_due(now or datetime.now(timezone.utc), repo=wiring.integration_repo(),
                        invoke=invoke_scheduled_import)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - keep the scheduler alive; the failure is logged
                logger.exception("scheduler tick failed")
