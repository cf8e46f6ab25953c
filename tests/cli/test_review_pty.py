"""``iofold review`` in a pseudo-terminal: single keys rate, note, undo and skip; the trace's
conversation is on screen; the ratings land in the API."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

from tests.cli.conftest import write_demo_file

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """A child process on a pty; ``expect`` reads its screen output until a pattern shows."""

    def __init__(self, args: list[str], env: dict, cwd):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                     start_new_session=True)
        os.close(slave)
        self.seen = ""
        self.mark = 0

    def expect(self, pattern: str, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            found = re.compile(pattern).search(self.seen, self.mark)
            if found:
                self.mark = found.end()
                return found
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} in:\n{self.seen[self.mark:][-3000:]}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.master, 65536).decode(errors="replace")
                except OSError:  # the child closed the pty
                    chunk = ""
                self.seen += ANSI.sub("", chunk).replace("\r", "")

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def wait(self, timeout: float = 60) -> int:
        try:
            while self.proc.poll() is None:
                ready, _, _ = select.select([self.master], [], [], 0.2)
                if ready:
                    try:
                        self.seen += ANSI.sub("", os.read(self.master, 65536).decode(errors="replace"))
                    except OSError:
                        break
            return self.proc.wait(timeout=timeout)
        finally:
            os.close(self.master)


def test_review_rates_with_single_keys_in_a_terminal(cli):
    write_demo_file(cli.home / "t.jsonl.gz", 4, seed=5)
    assert cli("upload", "t.jsonl.gz").returncode == 0
    client = cli.client
    ids = {t.id for t in client.traces()}
    eval_set = client.create_eval_set("Terminal review", criteria="look the order up before refunding").id
    env = cli.env(TERM="xterm", COLUMNS="250", LINES="50", NO_COLOR="1")
    term = Terminal([sys.executable, "-m", "iofold", "review", eval_set], env, cli.home)
    id_pattern = "(" + "|".join(map(re.escape, ids)) + ")"

    term.expect("Reviewing Terminal review: look the order up before refunding")
    first = term.expect(id_pattern).group(1)
    opening = next(m for m in client.get_trace(first).messages if m.role == "user")
    term.expect(r"─ user ─")
    term.expect(re.escape(str(opening.content).strip().splitlines()[0][:40]))
    # typed ahead: the second key arrives while the next trace loads, and is not lost
    term.send("12")
    term.expect("rated good")
    second = term.expect(id_pattern).group(1)
    term.expect("rated bad")
    term.expect(id_pattern)
    term.expect(r"3 unsure")
    term.send("u")
    term.expect(f"undid bad on {second}")
    assert term.expect(id_pattern).group(1) == second
    term.expect(r"3 unsure")
    term.send("n")
    term.expect("notes")
    term.send("checked twice\r")
    term.expect("notes: checked twice")
    term.send("3")
    term.expect("rated unsure")
    third = term.expect(id_pattern).group(1)
    term.expect(r"3 unsure")
    term.send("s")
    term.expect("skipped")
    term.expect(r"3 unsure")
    term.send("q")
    assert term.wait() == 0, term.seen[-2000:]

    ratings = {f.trace_id: (f.rating, f.notes) for f in client.feedback(eval_set)}
    assert ratings == {first: ("positive", ""), second: ("neutral", "checked twice")}
    assert third not in ratings and len({first, second, third}) == 3


def test_a_job_shows_a_progress_bar_in_a_terminal(cli):
    write_demo_file(cli.home / "t.jsonl.gz", 5, seed=6)
    term = Terminal([sys.executable, "-m", "iofold", "upload", "t.jsonl.gz"],
                    cli.env(TERM="xterm", COLUMNS="120", NO_COLOR="1"), cli.home)
    term.expect(r"upload t\.jsonl\.gz\s+━+")
    term.expect(r"100%.*succeeded")
    term.expect(r"job job_\w+ succeeded: .*imported 5")
    assert term.wait() == 0


def test_review_reads_keys_from_a_pipe_without_a_terminal(cli):
    write_demo_file(cli.home / "t.jsonl.gz", 3, seed=9)
    assert cli("upload", "t.jsonl.gz").returncode == 0
    client = cli.client
    eval_set = client.create_eval_set("Piped").id
    run = cli("review", eval_set, "--json", input="2snwrong tool\n1")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert [a["action"] for a in summary["actions"]] == ["rate", "skip", "rate"]
    assert summary["counts"] == {"positive": 1, "negative": 1, "neutral": 0}
    notes = {f.rating: f.notes for f in client.feedback(eval_set)}
    assert notes == {"negative": "", "positive": "wrong tool"}
