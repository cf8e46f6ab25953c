"""Live OpenTelemetry traffic: the OTLP/HTTP receiver stores spans as they arrive (receiver.py,
spans.py) and a scheduled task assembles each quiet trace into a unified trace (tasks.py) with
the same OTLP convention helpers as the file upload (chalicelib/sources/otlp)."""
