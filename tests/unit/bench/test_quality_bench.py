"""bench/quality.py: a rerun rewrites its own tables and keeps the sections others maintain."""

from __future__ import annotations

from bench.quality import kept_sections


def test_a_rerun_keeps_the_calibration_section_and_drops_the_notes_about_the_previous_run():
    text = ("# Eval quality\n\n| a | b |\n\n## Notes (written by hand after the run above)\n\n- old\n\n"
            "## Calibration of the held-out estimate\n\nkept | as is\n")
    assert kept_sections(text) == "## Calibration of the held-out estimate\n\nkept | as is\n"
    assert kept_sections("# Eval quality\n\nonly tables\n") == ""
