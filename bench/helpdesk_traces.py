"""A second agent for the quality benchmarks: a seeded, synthetic IT-helpdesk agent (not tau-bench).

The generator was not designed around these tools, arguments or policies: camelCase tool names whose verbs
("reset", "unlock", "wipe", "grant", "verify") are not in the generator's read/write verb lists, arguments
keyed by employee and device ids, one-time verification codes, timeouts that are (or are not) retried, and
consent asked in the helpdesk's own words. Each trace is a unified trace (API.md) that ``bench/helpdesk.py``
uploads through ``POST /v1/traces/upload?format=unified``, so it is validated and stored like any upload.

``make_traces(seed)`` -> list of ``Case`` (the trace, its task group and the hidden facts the labelling
functions of ``bench/helpdesk.py`` may read: what the employee needed and whether the agent's final state
fixed it). The same seed gives the same traces. 50 tasks (an employee with a problem) x 4 attempts each.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from bench.agent_bench import Case, Conversation, attempts_of

TASKS = 50
ATTEMPTS = 4
INTENTS = ("password", "locked", "lost_device", "app_access", "vpn", "password", "lost_device", "locked")
APPS = ("Salesforce", "Jira", "Figma", "Tableau", "Workday", "GitHub")
FIRST = ("Ana", "Bo", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivo", "Jun", "Kemal", "Lea", "Mo", "Nia")
LAST = ("Ortiz", "Park", "Quinn", "Rossi", "Singh", "Tanaka", "Umar", "Vance", "Weber", "Xu", "Yilmaz", "Zhou")

OPENERS = {
    "password": ("Hi, I forgot my password and can't log in. My email is {email}.",
                 "My password expired over the weekend, can you reset it? I'm {email}.",
                 "hello - locked out because I don't remember my password ({email})"),
    "locked": ("My account got locked after too many attempts. Email: {email}",
               "I can't sign in, it says my account is locked. I'm {name}, {email}.",
               "account locked again :( {email}"),
    "lost_device": ("I lost my work laptop ({device}) on the train. Please help, I'm {email}.",
                    "My laptop {device} was stolen from my car. {email}",
                    "I think I left my laptop {device} at the airport. My email is {email}."),
    "app_access": ("I need access to {app} for a new project. My email is {email}.",
                   "Can you give me a {app} license? {email}",
                   "Requesting {app} access please, {name} ({email})."),
    "vpn": ("The VPN keeps disconnecting every few minutes. {email}",
            "VPN won't connect from home since this morning, I'm {email}.",
            "I can't reach the intranet over VPN. My email is {email}."),
}
YES = ("Yes, go ahead.", "yes please", "Confirmed, do it.", "Yes.", "go ahead", "Yes, that's fine.")
MAYBE = ("ok I guess", "hmm, is there another way?", "Sure, whatever works.", "wait, what does that mean?",
         "fine", "I'd rather not lose my files...")
THANKS = ("Thanks!", "Great, thank you.", "ok thanks", "That's all, thanks.", "Cool.")


@dataclass(frozen=True)
class Task:
    """An employee with a problem (one group: its attempts share the person, the intent and the details)."""

    key: str
    intent: str
    name: str
    email: str
    employee_id: str
    device_id: str
    app: str


def make_tasks(rng: random.Random) -> list[Task]:
    tasks = []
    for k in range(TASKS):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        tasks.append(Task(key=f"task-{k:02d}", intent=INTENTS[k % len(INTENTS)], name=f"{first} {last}",
                          email=f"{first.lower()}.{last.lower()}{k}@example.com", employee_id=f"E{rng.randint(10000, 99999)}",
                          device_id=f"LT-{rng.randint(1000, 9999)}", app=rng.choice(APPS)))
    return tasks


def _timeout(rng: random.Random, p: float) -> str | None:
    return rng.choice(("timeout after 30s", "503 Service Unavailable", "upstream connection reset")) if rng.random() < p else None


def simulate(task: Task, attempt: int, rng: random.Random, started: dt.datetime) -> Case:
    """One attempt at the task by an agent whose diligence varies from attempt to attempt."""
    careful = rng.random()  # this attempt's diligence: a careful agent verifies, asks and checks more often
    trace_id = f"hd-{task.key}-{attempt}-{rng.randint(0, 10 ** 6):06d}"
    conv = Conversation(trace_id, started, rng)
    facts: dict[str, Any] = {"verified": False, "verify_attempts": 0, "ticket": None, "fixed": False,
                             "gave_up_after_error": False, "wrong_employee": False, "device_checked": False,
                             "asked_consent": False}
    conv.user(rng.choice(OPENERS[task.intent]).format(email=task.email, name=task.name, device=task.device_id, app=task.app))
    conv.say(rng.choice(("Sorry to hear that, let me look you up.", "I can help with that.", "Let me check.")))
    # look the employee up (sometimes times out; a careful agent retries)
    found = conv.call("lookupEmployee", {"email": task.email},
                      {"employee_id": task.employee_id, "name": task.name, "department": rng.choice(("Sales", "R&D", "Ops")),
                       "devices": [task.device_id]}, _timeout(rng, 0.2))
    if not found:
        if rng.random() < 0.5 + careful / 2:
            found = conv.call("lookupEmployee", {"email": task.email},
                              {"employee_id": task.employee_id, "name": task.name, "department": "Ops",
                               "devices": [task.device_id]})
        else:
            facts["gave_up_after_error"] = True
    employee = task.employee_id
    if not found or rng.random() < 0.12:  # the agent guesses an id from memory
        employee = f"E{rng.randint(10000, 99999)}"
        facts["wrong_employee"] = True
    # identity verification (a one-time code); careless agents skip it
    sensitive = task.intent in ("password", "locked", "lost_device")
    if rng.random() < (0.15 + 0.6 * careful if sensitive else 0.4):
        conv.say("For security, I've sent a 6-digit code to your phone. What is it?")
        for _ in range(rng.choice((1, 2, 3, 3, 4))):
            facts["verify_attempts"] += 1
            code = f"{rng.randint(0, 999999):06d}"
            conv.user(rng.choice(("It's {c}", "{c}", "the code is {c}")).format(c=code))
            wrong = rng.random() < 0.5
            ok = conv.call("verifyIdentity", {"employee_id": employee, "code": code},
                           {"verified": not wrong}, None)
            if not wrong and ok:
                facts["verified"] = True
                break
            conv.say("That code didn't match. Could you check it again?")
    fixed = False
    if task.intent in ("password", "locked"):
        tool = "resetPassword" if task.intent == "password" else "unlockAccount"
        if rng.random() < 0.3:
            conv.call("searchKnowledgeBase", {"query": f"{task.intent} self-service"},
                      [{"article": "KB-1042", "title": "Self-service password portal"}])
        if rng.random() < 0.85:
            ok = conv.call(tool, {"employee_id": employee}, {"status": "done", "temporary_password_sent": tool == "resetPassword"},
                           _timeout(rng, 0.3))
            if not ok and rng.random() < 0.4 + careful / 2:
                ok = conv.call(tool, {"employee_id": employee}, {"status": "done"}, _timeout(rng, 0.1))
            elif not ok:
                facts["gave_up_after_error"] = True
            fixed = ok and not facts["wrong_employee"]
        if task.intent == "locked" and rng.random() < 0.25:  # unlocking alone was not enough: reset too
            ok = conv.call("resetPassword", {"employee_id": employee}, {"status": "done"}, _timeout(rng, 0.1))
            fixed = fixed and ok
    elif task.intent == "lost_device":
        if rng.random() < 0.15 + 0.6 * careful:
            facts["device_checked"] = True
            checked = task.device_id if rng.random() < 0.75 else f"LT-{rng.randint(1000, 9999)}"
            conv.call("getDeviceStatus", {"device_id": checked},
                      {"device_id": checked, "last_seen": "2 hours ago", "encrypted": True}, _timeout(rng, 0.1))
            facts["checked_device_id"] = checked
        if rng.random() < 0.15 + 0.55 * careful:
            facts["asked_consent"] = True
            conv.say(f"I can remotely wipe {task.device_id}; everything on it will be erased. Shall I proceed?")
            conv.user(rng.choice(YES) if rng.random() < 0.55 else rng.choice(MAYBE))
        if rng.random() < 0.85:
            ok = conv.call("wipeDevice", {"device_id": task.device_id}, {"status": "wipe queued"}, _timeout(rng, 0.25))
            if not ok and rng.random() < 0.6:
                ok = conv.call("wipeDevice", {"device_id": task.device_id}, {"status": "wipe queued"})
            fixed = ok
    elif task.intent == "app_access":
        if rng.random() < 0.5:
            conv.say(f"Access to {task.app} needs your manager's approval. Do you want me to request it?")
            conv.user(rng.choice(YES) if rng.random() < 0.7 else rng.choice(MAYBE))
        if rng.random() < 0.75:
            ok = conv.call("grantAppAccess", {"employee_id": employee, "app": task.app}, {"status": "granted"},
                           _timeout(rng, 0.25))
            if not ok and rng.random() < 0.5:
                ok = conv.call("grantAppAccess", {"employee_id": employee, "app": task.app}, {"status": "granted"})
            fixed = ok and not facts["wrong_employee"]
    else:  # vpn
        conv.call("searchKnowledgeBase", {"query": "vpn disconnects"},
                  [{"article": "KB-2210", "title": "VPN client reinstall"}], _timeout(rng, 0.1))
        conv.say("Could you try reinstalling the VPN client from the software center?")
        worked = rng.random() < 0.4
        conv.user("That fixed it!" if worked else rng.choice(("Still broken.", "No luck, same problem.")))
        fixed = worked
    # escalate or open a ticket when the problem is not fixed
    if not fixed and rng.random() < 0.6:
        if rng.random() < 0.5:
            conv.call("escalateToTier2", {"employee_id": employee, "reason": f"{task.intent} unresolved"},
                      {"queue": "tier2", "eta_hours": rng.choice((2, 4, 24))})
            facts["escalated"] = True
        number = f"INC{rng.randint(100000, 999999)}"
        if conv.call("createTicket", {"employee_id": employee, "summary": f"{task.intent} issue", "priority": "P3"},
                     {"ticket_id": number}):
            facts["ticket"] = number
    elif fixed and rng.random() < 0.45:
        number = f"INC{rng.randint(100000, 999999)}"
        conv.call("createTicket", {"employee_id": employee, "summary": f"{task.intent} resolved", "priority": "P4"},
                  {"ticket_id": number})
        facts["ticket"] = number
    # the final reply
    ticket_text = f" Your ticket number is {facts['ticket']}." if facts["ticket"] and rng.random() < 0.55 else ""
    if fixed:
        done = {"password": "Your password has been reset; a temporary one is on its way to your phone.",
                "locked": "Your account is unlocked now.", "lost_device": f"The laptop {task.device_id} will be wiped remotely.",
                "app_access": f"You now have access to {task.app}.", "vpn": "Glad the VPN works again."}[task.intent]
        conv.say(done + ticket_text + rng.choice(("", " Anything else?", " Have a good day!")))
    elif rng.random() < 0.3:  # claims success it did not achieve
        conv.say("All done, you should be good to go now." + ticket_text)
        facts["false_claim"] = True
    else:
        conv.say(rng.choice(("I'm sorry, I couldn't complete this right now.", "Unfortunately I wasn't able to fix it.",
                             "A colleague from tier 2 will follow up.")) + ticket_text)
    conv.user(rng.choice(THANKS))
    facts["ticket_in_reply"] = bool(ticket_text)
    trace = conv.trace(f"helpdesk {task.intent}", task.email, f"{task.key}-{attempt}", started, ("helpdesk", "synthetic"))
    return Case(trace=trace, group=task.key, intent=task.intent, resolved=fixed, facts=facts)


def make_traces(seed: int = 0) -> list[Case]:
    """TASKS x ATTEMPTS synthetic helpdesk traces (same seed, same traces)."""
    rng = random.Random(seed)
    return attempts_of(make_tasks(rng), ATTEMPTS, rng, dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.timezone.utc), 37, simulate)
