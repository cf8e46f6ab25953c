"""Features proposed by what the user wrote: the eval set's criteria and the raters' notes.

The criteria say what a good trace is ("the agent may cancel a reservation only after looking
it up", "every change comes right after the customer says yes", "a failed call is retried").
This module reads them as plain English, without knowing any agent's tools:

- **Words**: the text becomes a list of lower-case ASCII words and punctuation marks
  (``tokens``); nothing else of it is used, so the generator sees ``canonical(text)`` exactly
  as it sees ``text``.
- **Tools**: a word names the tools whose name holds a word with the same stem ("booking" ->
  ``book_reservation``; "price" also -> tools named calc/price/quote/cost/total/fare; a business word that
  names no tool names what its ``SYNONYMS`` name: "profile" -> ``get_account_details``).
  Families come from the verb that starts a tool's name (``tool_kind``): "changes", "modify",
  "cancel", "book" ... name the write tools; "look up", "check", "find" ... the read tools. A
  family word next to a noun narrows it ("change ... flights" -> write tools about flights).
- **Cues**: order ("before", "after", "only after", "only when", "right after", "first"; with a yes/no
  field a prior tool returns named too, "only when the check said eligible"; "after Y, the agent must
  X" (or "has to X") also as an obligation; a follow-up reads first as one: "X must be followed by Y",
  "whenever X, it must Y afterwards"; "once" before a clause is "after", after "only" at its end a count;
  "no X unless Y", "don't X until Y", "never X without Y" mean X only after Y; with no order word, "only"
  splits what waits from what it waits for: "reset passwords only for verified employees", "only
  employees who passed the check can have a password reset"), a result text the words say (a category a
  field of some tool's results took, "basic economy", "shipped"): what the sentence's write tools may do
  only when the latest such result was (or, negated, was not) that text,
  consent ("yes", "confirm", "explicit"; "agreed" tries any agreement first; a phrase right after
  "not" is not said), errors and retries ("after two failed attempts, hand over"), counts ("per
  order", "never place more than one hold"), the final answer (and the object it must name: "mentions the
  reservation"; a claim it
  must not make unbacked: "never say it is all done unless ..."), argument values the user gave or a
  named tool returned ("the employee id the lookup returned"; a result field given under another name: "for
  the full order total the lookup returned"), hand-off to a human, and task success ("completed", "taken
  care of", "solved"...: the sum of its signs; each sign alone is left to the ratings).
  Criteria that name none of these read as task success (``NO_RULE_NAMED`` is the evidence).
- **Ties**: readings are ordered so that, when the ratings cannot tell them apart, the one the text
  states wins: needing all of "X and Y", "that same device", "per order", the strict or loose yes; then
  the tools more places of the text name ("once the identity was verified": verifyIdentity, not
  lookupEmployee), not a possessive ("the employee's"); the same object when the text names it and
  refers back to it ("checking its status"); what is done (a verb) over what it is done to.

Every feature records the sentence of the criteria that proposed it (``Feature.clause``): criteria of several
sentences are also read as one rule per sentence, all of which must hold (``offline.fit_clauses``).

Each cue proposes features (helpers of ``features.HELPERS_SOURCE`` with literal arguments):
"X only after Y" -> ``every_call_preceded_by(trace, X, Y)`` for the tool groups on each side of
the order word, or ``every_call_after_user_said(trace, X, <consent phrases>)`` when Y is the
user saying yes. Every feature carries its evidence (the words that proposed it) for the
comment above its rule. Nothing here decides: the features join the library's, and the same
cross-validation chooses among them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.generation.features import HELPERS, STOPWORDS, Feature

TOKEN = re.compile(r"[a-z0-9][a-z0-9']*|[.,;:!?]")
SENTENCE_END = frozenset(".;!?")
MAX_GROUPS = 8
MAX_PAIRS = 24
MAX_ANSWER_WORDS = 6
MAX_KEYS = 3
MAX_CATEGORIES = 12  # a result field with more different texts than this names things (ids), not categories
MAX_VALUE_LENGTH = 40  # a longer result text is prose, not a category
TIE = 0.25  # a complexity step smaller than any rank's: decides only between readings the ranks leave equal
SAME_STRICT = frozenset({"same", "corresponding", "matching", "respective"})  # on a tie, the same object's reading
SAME_OBJECT = frozenset({"same", "that", "this", "its", "corresponding", "matching", "respective", "particular"})

ORDER_AFTER = frozenset({"after", "once", "following", "since"})
ORDER_BEFORE = frozenset({"before", "prior", "first", "beforehand", "preceded", "earlier"})
ORDER_RIGHT = frozenset({"right", "immediately", "directly", "just", "straight"})
OBLIGATION = frozenset({"must", "always", "should", "then", "follow", "follows", "followed"})
OBLIGED_TO = frozenset({"has", "have", "need", "needs", "required", "ought"})  # "it has to open a ticket"
FOLLOW_UP = frozenset({"afterwards", "afterward", "subsequently", "thereafter", "later", "followed"})  # X, then Y due
NEGATIONS = frozenset({"never", "not", "no", "nothing", "none", "nor", "don't", "dont", "doesn't", "mustn't",
                       "cannot", "can't", "shouldn't", "won't"})
ORDER_IF = frozenset({"when", "if", "once"})  # after "only": a condition that must hold first ("only when Y said")
CONDITION = frozenset({"unless", "until", "till"})  # "no X unless Y", "don't X until Y": X only after Y
ONLY_FOR = frozenset({"for", "to", "with", "whose", "who", "where", "on", "if", "when"})  # "X only for verified Y"
ANAPHORA = frozenset({"it", "its", "them", "their", "that", "this"})  # "checking its status": the same object
CONSENT = frozenset({"yes", "confirm", "confirms", "confirmed", "confirmation", "confirming", "consent", "consents",
                     "consented", "agree", "agrees", "agreed", "agreement", "approval", "approve", "approves",
                     "approved", "permission", "explicit", "explicitly", "okay", "ok", "proceed", "authorize",
                     "authorizes", "authorization"})
ERRORS = frozenset({"error", "errors", "fail", "fails", "failed", "failure", "failures", "failing", "retry", "retries",
                    "retried", "retrying", "again", "recover", "recovers", "recovered", "exception", "exceptions"})
COUNTS = frozenset({"once", "twice", "times", "more", "less", "fewer", "most", "least", "many", "number", "count",
                    "repeated", "repeat", "repeats", "repeatedly", "multiple", "single", "several", "never"})
ANSWER = frozenset({"answer", "answers", "reply", "replies", "response", "responds", "respond", "mention", "mentions",
                    "mentioned", "summary", "summarize", "summarizes", "final", "tell", "tells", "told", "inform",
                    "informs", "end", "states", "quote", "quotes", "quoted", "report", "reports", "message"})
ARGUMENTS = frozenset({"argument", "arguments", "value", "values", "provided", "provide", "provides", "gave", "given",
                       "parameter", "parameters", "invent", "invents", "invented", "made", "hallucinate",
                       "hallucinated", "hallucinates", "fabricate", "fabricated", "fabricates", "guess", "guessed",
                       "guesses", "supplied", "supply"})
FROM_RESULT = frozenset({"returned", "result", "results", "output", "found", "came", "comes", "from"})
ESCALATION = frozenset({"transfer", "transfers", "transferred", "transferring", "human", "humans", "escalate",
                        "escalates", "escalated", "escalation", "handoff", "hand", "hands", "handed", "supervisor",
                        "representative", "manager", "person", "operator"})
SUCCESS = frozenset({"complete", "completed", "completes", "completion", "success", "successful", "successfully",
                     "succeed", "succeeds", "resolve", "resolved", "resolves", "accomplish", "accomplished", "done",
                     "task", "goal", "fulfil", "fulfill", "fulfilled", "fulfills", "solved", "solve", "solves",
                     "handled", "sorted", "fixed", "fix", "fixes", "addressed", "satisfied", "satisfy", "satisfies",
                     "achieve", "achieved", "achieves", "care", "outcome", "helped", "met"})  # "taken care of", "needs met"
PRICE = frozenset({"price", "priced", "prices", "pricing", "cost", "costs", "total", "totals", "calculate",
                   "calculated", "calculates", "calculation", "calculator", "fee", "fees", "fare", "fares", "quote",
                   "quoted", "amount", "amounts"})
PRICE_TOOL_WORDS = ("calc", "calculate", "calculator", "price", "pricing", "quote", "cost", "total", "fare", "fee")
ESCALATION_TOOL_WORDS = ("transfer", "human", "escalate", "escalation", "handoff")
SYNONYMS = {  # what business words name in tool names, used only when a word names no tool itself
    "profile": ("user", "customer", "account", "member"), "account": ("user", "customer", "profile", "member"),
    "booking": ("reservation", "order"), "reservation": ("booking",), "order": ("purchase",), "purchase": ("order",),
    "ticket": ("case", "incident", "issue"), "case": ("ticket", "incident"), "incident": ("ticket", "case"),
    "identity": ("verify", "auth", "authenticate"), "authenticate": ("verify", "auth"), "refund": ("reimburse",),
    "reimburse": ("refund",), "package": ("shipping", "shipment", "parcel"), "parcel": ("shipping", "shipment"),
    "shipment": ("shipping",), "article": ("knowledge", "kb", "docs"), "password": ("credential",),
    "credential": ("password",), "message": ("email", "notify", "notification"), "email": ("message", "notify"),
}
SPEAKER = frozenset({"user", "users", "customer", "customers", "client", "caller", "person", "says", "said", "asks",
                     "asked", "requests", "requested", "wants", "user's", "customer's"})
WRITE_VERBS = ("book", "updat", "cancel", "creat", "delet", "send", "refund", "modif", "add", "remov", "writ", "post",
               "pay", "issu", "chang", "submit", "plac", "exchang", "return", "edit", "alter", "charg", "reschedul",
               "rebook", "purchas", "buy")
READ_VERBS = ("get", "search", "list", "find", "check", "look", "lookup", "read", "fetch", "query", "retriev", "show",
              "verif", "view", "inspect", "review")

ASKING = frozenset({"get", "gets", "getting", "got", "obtain", "obtains", "receive", "receives", "ask", "asks",
                    "request", "requests", "seek", "seeks", "need", "needs", "wait", "waits"})
PASSIVE = frozenset({"get", "gets", "got", "getting", "gotten"})  # ("is", "was"... are stopwords: never a tool word)
CONSENT_STRICT = ("yes", "confirm", "confirmed", "proceed", "go ahead")
CONSENT_EXACT = frozenset({"yes", "confirm", "confirms", "confirmed", "confirmation", "confirming", "explicit",
                           "explicitly", "proceed"})  # criteria words that ask for the strict reading first
CONSENT_LOOSE = ("yes", "yeah", "yep", "confirm", "confirmed", "proceed", "go ahead", "sure", "correct", "okay", "ok",
                 "agree", "please do", "do it", "sounds good", "alright", "of course", "absolutely", "that's right")
HUMAN_REQUEST = ("human", "agent", "representative", "person", "someone", "supervisor", "manager", "operator")
REFUSAL = ("sorry", "unable", "cannot", "can't", "unfortunately", "apologize", "not able")
SUBJECTS = frozenset({"agent", "agents", "assistant", "assistants", "bot", "model", "system", "ai", "llm"})
VAGUE = frozenset({"when", "whenever", "used", "uses", "use", "using", "come", "comes", "make", "makes", "made", "making",
                   "work", "works", "out", "anything", "something", "everything", "thing", "things", "every", "any",
                   "each", "all", "good", "bad", "must", "should", "always", "never", "also", "only", "trace",
                   "conversation", "call", "calls", "called", "tool", "tools", "itself", "handles", "request"})
DONE = ("successfully", "has been", "have been", "is now", "are now", "all set", "completed", "is confirmed",
        "all done", "now have", "good to go", "taken care of", "processed", "on its way")
SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "er", "ed", "es", "s", "ly")


def tokens(text: str) -> list[str]:
    """Lower-case ASCII words and punctuation marks of a text: all of it the generator reads."""
    decomposed = unicodedata.normalize("NFKD", text)
    # accents (combining marks) go, any other non-ASCII character separates words
    ascii_text = "".join(c if c.isascii() else "" if unicodedata.category(c) == "Mn" else " " for c in decomposed)
    return [t.rstrip("'") for t in TOKEN.findall(ascii_text.lower())]


def canonical(text: str) -> str:
    """The text as the generator reads it (``tokens`` joined by spaces): same features, same code."""
    return " ".join(tokens(text))


def stem(word: str) -> str:
    """A crude English stem: a common suffix and a trailing apostrophe part removed (kept at 3+ letters);
    "-ied", "-ies" and "-ification" become "-y"/"-ify" first ("verified", "verification" -> "verify")."""
    word = word.split("'")[0]
    for ending, root in (("ifications", "ify"), ("ification", "ify"), ("ied", "y"), ("ies", "y")):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)] + root
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def name_words(tool: str) -> list[str]:
    """The words of a tool name: snake_case, kebab-case, dotted and camelCase parts, lower-cased."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", tool)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def same_stem(word: str, part: str) -> bool:
    """Whether a criteria word and a tool-name word share a stem (prefix match for stems of 4+ letters)."""
    a, b = stem(word), stem(part)
    if a == b or a + "e" == b or b + "e" == a:  # "wiping" -> "wip", "wipe"
        return True
    return min(len(a), len(b)) >= 4 and (a.startswith(b) or b.startswith(a))


def verb_family(word: str) -> str | None:
    """"write" or "read" when the word is a verb (or its noun) that names a family of tools."""
    w = word.split("'")[0]
    if w in ("look", "looks", "looked", "looking", "lookup"):
        return "read"
    for prefix in WRITE_VERBS:
        if w.startswith(prefix) and (len(prefix) >= 4 or w == prefix or stem(w) == prefix):
            return "write"
    for prefix in READ_VERBS:
        if w.startswith(prefix) and (len(prefix) >= 4 or w == prefix or stem(w) == prefix):
            return "read"
    return None


@dataclass
class Group:
    """A set of tools the text names, with the words that named it and where."""

    tools: frozenset[str]
    words: tuple[str, ...]
    position: int
    specific: bool  # named by a word matching the tools' own names, not only by a family verb
    rank: int = 2  # 1 for what the text names as a whole (a family, or all the tools a list names), 2 for one item
    act: bool = False  # named by a verb (``ToolIndex.is_act``) or listed with one ("no refund, cancellation or label")
    support: int = 1  # how many places of the text name these same tools ("verified" and "identity": verifyIdentity)

    @property
    def modifier(self) -> bool:
        """Named only by possessives ("the employee's identity"): what the text's noun belongs to, not the noun."""
        return all(w.endswith("'s") for w in self.words)


@dataclass
class Sentence:
    """One sentence of the criteria or notes: its words, the tool groups it names, its cues."""

    source: str
    words: list[str]
    groups: list[Group] = field(default_factory=list)
    number: int = 0  # its place in the text (0 for the first sentence)

    def cue(self, vocabulary: Iterable[str]) -> list[str]:
        found = [w for w in self.words if w in vocabulary]
        return list(dict.fromkeys(found))


class ToolIndex:
    """The tools seen in the training traces, by name word and by family."""

    def __init__(self, tools: Iterable[str], arguments: dict[str, set[str]] | None = None,
                 flags: dict[str, set[str]] | None = None, fields: dict[str, set[str]] | None = None,
                 values: dict[tuple[str, str], set[str]] | None = None, numbers: dict[str, set[str]] | None = None):
        self.tools = sorted({t for t in tools if t})
        self.kind = {t: HELPERS["tool_kind"](t) for t in self.tools}
        self.words = {t: name_words(t) for t in self.tools}
        self.arguments = arguments or {}  # tool -> the argument names its calls used
        self.flags = flags or {}  # tool -> the top-level result fields its calls returned true/false in
        self.fields = fields or {}  # tool -> the top-level result fields its calls returned text or numbers in
        self.values = values or {}  # (tool, result field) -> the short texts its calls returned there
        self.numbers = numbers or {}  # tool -> the argument names its calls gave numbers

    def values_named(self, words: Sequence[str]) -> list[tuple[str, str, frozenset[str], list[str]]]:
        """(field, value, the tools that returned it, the words naming it) for each result text that the
        sentence says word for word ("basic economy" -> cabin "basic_economy"), in a field where the training
        traces saw it vary (a category, not a fixed word): "cancel only orders the lookup shows as pending"."""
        found: dict[tuple[str, str], set[str]] = {}
        said: dict[str, list[str]] = {}
        for (tool, key), seen in self.values.items():
            if not 2 <= len(seen) <= MAX_CATEGORIES:
                continue
            for value in seen:
                parts = re.findall(r"[a-z0-9]+", value)
                if not parts or any(len(w) < 3 for w in parts) or set(parts) <= STOPWORDS | CONSENT | NEGATIONS:
                    continue
                if any(all(same_stem(words[i + k], w) for k, w in enumerate(parts))
                       for i in range(len(words) - len(parts) + 1)):
                    found.setdefault((key, value), set()).add(tool)
                    said[value] = parts
        return [(key, value, frozenset(tools), said[value])
                for (key, value), tools in sorted(found.items())][:MAX_KEYS]

    def flags_named(self, tools: Iterable[str], words: Sequence[str]) -> list[tuple[str, list[str]]]:
        """Yes/no result fields of the tools that a word of the sentence names ("eligible" -> is_eligible),
        each with the words naming it."""
        found = set().union(*(self.flags.get(t, set()) for t in tools))
        out = []
        for flag in sorted(found):
            named = [w for w in words if w not in STOPWORDS and len(w) >= 4
                     and any(same_stem(w, part) for part in name_words(flag))]
            if named:
                out.append((flag, list(dict.fromkeys(named))))
        return out

    def arguments_named(self, words: Sequence[str], results: bool = False) -> list[tuple[str, list[str]]]:
        """Argument names (and result fields, when ``results``) whose every part but "id" a word of the sentence
        names ("employee id" -> employee_id), each with the words naming it."""
        keys = sorted(set().union(*self.arguments.values(), *(self.fields.values() if results else ())))
        out = []
        for key in keys:
            parts = [p for p in name_words(key) if p not in ("id", "ids")] or name_words(key)
            named = [w for w in words if w not in STOPWORDS and any(same_stem(w, p) for p in parts)]
            if parts and all(any(same_stem(w, p) for w in named) for p in parts):
                out.append((key, list(dict.fromkeys(named))))
        return out[:MAX_KEYS]

    def shared_arguments(self, later: Iterable[str], earlier: Iterable[str]) -> list[str]:
        """Argument names every one of the later tools and some earlier tool used: the object both act on."""
        keys = [self.arguments.get(t, set()) for t in later]
        common = set.intersection(*keys) if keys else set()
        before = set().union(*(self.arguments.get(t, set()) for t in earlier))
        return sorted(common & before)

    def is_act(self, word: str, tools: frozenset[str]) -> bool:
        """Whether the word is the verb of the tools' names: their first word ("reset" for resetPassword), the word
        after a namespace ("cancel" for orders.cancel; the namespace is a noun, "an order", unless the text makes a
        verb of it: "labelled" for labels.create), or a family verb anywhere in the name."""
        for t in tools:
            parts = self.words[t]
            verb = 1 if re.search(r"[./:]", t) else 0  # "orders.cancel": "orders" is the namespace, a noun
            if parts[verb:verb + 1] and same_stem(word, parts[verb]):
                return True
            if verb and parts and word.endswith(("ed", "ing")) and same_stem(word, parts[0]):
                return True  # ... unless the text makes a verb of it: "labelled" (labels.create)
            if any(verb_family(part) and same_stem(word, part) for k, part in enumerate(parts) if k or verb):
                return True
        return False

    def family(self, kind: str) -> frozenset[str]:
        return frozenset(t for t in self.tools if self.kind[t] == kind)

    def named_by(self, word: str) -> frozenset[str]:
        """Tools whose name holds a word with the same stem (and, for price/hand-off words, their synonyms)."""
        if word in STOPWORDS or word in SUBJECTS or len(word) < 3 or not word[0].isalpha():
            return frozenset()
        found = {t for t in self.tools if any(same_stem(word, part) for part in self.words[t])}
        if not found and word not in SPEAKER:
            synonyms = next((v for k, v in SYNONYMS.items() if same_stem(word, k)), ())
            found = {t for t in self.tools
                     if any(same_stem(other, part) for other in synonyms for part in self.words[t])}
        if word in PRICE:
            found |= {t for t in self.tools if any(p in PRICE_TOOL_WORDS for p in self.words[t])}
        if word in ESCALATION:
            found |= {t for t in self.tools if any(p in ESCALATION_TOOL_WORDS for p in self.words[t])}
        return frozenset(found)


def read_sentences(source: str, text: str) -> list[Sentence]:
    """The text's sentences (split at . ; ! ?), each a list of words and commas."""
    out: list[Sentence] = []
    current: list[str] = []
    for token in [*tokens(text), "."]:
        if token in SENTENCE_END:
            if current:
                out.append(Sentence(source, current, number=len(out)))
            current = []
        else:
            current.append(token)
    return out


def find_groups(sentence: Sentence, index: ToolIndex) -> list[Group]:
    """The tool groups a sentence names: tools named by a word, families named by a verb, and a
    family narrowed by a nearby noun ("change ... flight" -> write tools about flights)."""
    groups: list[Group] = []
    content = [(i, w) for i, w in enumerate(sentence.words) if w not in STOPWORDS and w[0].isalpha()]
    for k, (i, word) in enumerate(content):
        if word in ASKING and any(w in CONSENT for _, w in content[k + 1: k + 5]):
            continue  # "get the employee's explicit yes": asking for consent, not a get_* tool
        following = sentence.words[i + 1] if i + 1 < len(sentence.words) else ""
        if word in PASSIVE and following.endswith("ed"):
            continue  # "nothing gets refunded": a passive, not a get_* tool
        named = index.named_by(word)
        if named:
            groups.append(Group(named, (word,), i, True, act=index.is_act(word, named)))
        kind = verb_family(word)
        if kind:
            family = index.family(kind)
            whole = Group(family, (word,), i, False, 1, act=True)
            if family and not named:  # "book" names book_* tools; "change" (no tool's word) names the family
                groups.append(whole)
            for _, other in content[max(0, k - 3): k] + content[k + 1: k + 4]:
                # narrowed by a noun ("change ... flights"), not by another verb of a list ("book, change or cancel")
                noun = verb_family(other) is None and not index.is_act(other, index.named_by(other))
                narrowed = family & index.named_by(other) if family and not named and noun else frozenset()
                if narrowed and narrowed != family:
                    groups.append(Group(narrowed, (word, other), i, True, act=True))
                    whole.rank, whole.act = 2, False  # the text named which of the family: that reading first
        if named:
            for _, other in content[k + 1: k + 3]:
                both = named & index.named_by(other)
                if both and both != named:
                    groups.append(Group(both, (word, other), i, True))
    acts = {g.position for g in groups if g.act}
    for g in sorted(groups, key=lambda g: g.position):  # an item listed with actions is one ("no refund,
        # cancellation or label": labels.create), not a noun before one ("booking or flight change")
        g.act = g.act or g.specific and g.position + 1 not in acts and any(
            abs(a - g.position) == 2 and sentence.words[(g.position + a) // 2] in (",", "or", "and") for a in acts)
        if g.act:
            acts.add(g.position)
    return groups


@dataclass
class Proposals:
    """Features proposed so far, each once, with the words that proposed it."""

    features: dict[tuple[str, tuple[Any, ...]], Feature] = field(default_factory=dict)

    def add(self, helper: str, args: tuple[Any, ...], description: str, evidence: Sentence | str,
            words: Iterable[str] = (), *, threshold: float | None = None, complexity: float = 1,
            named: bool = True, violation: bool = False) -> None:
        key = (helper, args)
        if key in self.features and (self.features[key].evidence or not named):
            return  # the first naming stands; a feature proposed unnamed becomes named when some words name it
        clause = evidence.number if named and isinstance(evidence, Sentence) and evidence.source == "criteria" else -1
        if not named:
            evidence = ""
        elif isinstance(evidence, Sentence):
            quoted = ", ".join(f'"{w}"' for w in dict.fromkeys(words))
            evidence = f"{evidence.source} words {quoted}" if quoted else f"{evidence.source}"
        self.features[key] = Feature(helper, args, threshold, complexity, description, evidence=evidence,
                                     family="criteria", violation=violation, clause=clause)


def _names(tools: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(tools))


def _label(tools: frozenset[str]) -> str:
    names = _names(tools)
    return names[0] if len(names) == 1 else "any of " + ", ".join(names)


Pair = tuple[list[Group], list[Group], list[str], bool, bool]


def _order_pairs(sentence: Sentence) -> list[Pair]:
    """(later groups, earlier groups, order words, right-after?, follow-up?) for each order word in the sentence.
    "X after Y": X is later; "X before Y": Y is later; "Before X, Y" / "After Y, X" use the comma. A follow-up
    ("X must be followed by Y", "whenever X, it must Y afterwards") makes Y due once X was done."""
    words = sentence.words
    named = {g.position for g in sentence.groups}
    found = []
    for p, word in enumerate(words):
        if word in FOLLOW_UP:
            pair = _follow_up(sentence, p, named)
            if pair:
                found.append(pair)
            continue
        conditional = word in ORDER_IF and p > 0 and words[p - 1] == "only"  # "only when/if" reads as "only after"
        conditional = conditional or word in CONDITION or (word == "without" and _negated(words, p))
        if word not in ORDER_AFTER and word not in ORDER_BEFORE and not conditional:
            continue
        if word == "once" and not _once_is_when(words, p):
            continue
        right = any(w in ORDER_RIGHT for w in words[max(0, p - 2): p])
        left_groups = [g for g in sentence.groups if g.position < p]
        comma = next((i for i in range(p + 1, len(words)) if words[i] == "," and not _continues_list(words, i, named)),
                     None)
        if not left_groups and comma is not None:
            inner = [g for g in sentence.groups if p < g.position < comma]
            outer = [g for g in sentence.groups if g.position > comma]
        else:
            inner = [g for g in sentence.groups if g.position > p and (comma is None or g.position < comma)]
            inner = inner or [g for g in sentence.groups if g.position > p]
            outer = left_groups
        # "never X before Y" / "nothing is X-ed before Y": X only after Y (the negation turns "before" around)
        negated = word in ORDER_BEFORE and _negated(words, p)
        if word in ORDER_AFTER or conditional or negated:  # "outer after inner": inner happened first
            later, earlier = outer, inner
        else:  # "outer before inner": outer happened first
            later, earlier = inner, outer
        evidence = [w for w in words[max(0, p - 2): p + 1] if w in ORDER_RIGHT or w in ("only", word)]
        # "a ticket has to be opened after every reset": each reset makes a ticket due
        follow = word in ORDER_AFTER and words[p + 1: p + 2] in (["every"], ["each"]) and "only" not in words
        found.append((later, earlier, evidence, right, follow))
    return found or _only_pair(sentence)


def _follow_up(sentence: Sentence, p: int, named: set[int]) -> Pair | None:
    """The pair a follow-up word at ``p`` states: "X is followed by Y" (what comes after the word is due), "X,
    then it must Y afterwards" (the clause holding the word is due, the rest of the sentence happened first)."""
    words = sentence.words
    if words[p] == "followed":
        due = [g for g in sentence.groups if g.position > p]
        done = [g for g in sentence.groups if g.position < p]
    else:
        cuts = [i for i, w in enumerate(words) if w == "," and not _continues_list(words, i, named)]
        start = max((i for i in cuts if i < p), default=-1)
        end = min((i for i in cuts if i > p), default=len(words))
        due = [g for g in sentence.groups if start < g.position < end]
        done = [g for g in sentence.groups if g.position < start] or [g for g in sentence.groups if g.position > end]
    return (due, done, [words[p]], False, True) if due and done else None


def _obliged(words: Sequence[str]) -> bool:
    """Whether the sentence states a duty ("must", "always", "has to", "needs to") rather than a permission."""
    return any(w in OBLIGATION or (w in OBLIGED_TO and nxt == "to") for w, nxt in zip(words, [*words[1:], ""]))


def _negated(words: Sequence[str], p: int) -> bool:
    """Whether a negation comes before position ``p`` in the sentence."""
    return any(w in NEGATIONS for w in words[:p])


def _only_pair(sentence: Sentence) -> list[Pair]:
    """With no order word, "only" still splits what waits from what it waits for: "reset passwords only for
    verified employees", "passwords are only reset for employees whose identity was verified", "only refund
    orders the check found eligible" (an "only" that opens the sentence governs the verb after it, unless that is a
    participle naming whom or what it applies to: "only verified employees get their password reset")."""
    words = sentence.words
    if "only" not in words:
        return []
    p = words.index("only")
    if p == 0:
        relative = _relative_pair(sentence)
        if relative:
            return [relative]
    split = next((i for i in range(p + 1, min(len(words), p + 5)) if words[i] in ONLY_FOR), None)
    cut = split if split is not None else p
    left = [g for g in sentence.groups if g.position < cut]
    if not left and split is None:  # "only refund orders ...": the verb after "only" is what waits
        cut = min((g.position for g in sentence.groups if g.position > p), default=len(words))
        left = [g for g in sentence.groups if g.position == cut]
    right = [g for g in sentence.groups if g.position > cut]
    if split is None and cut == p + 1 < len(words) and words[cut].endswith("ed"):
        left, right = right, left  # "only verified employees get ...": the participle is what it waits for
    return [(left, right, ["only"], False, False)] if left and right else []


RELATIVE = frozenset({"who", "whom", "whose", "that", "which"})
MODALS = frozenset({"can", "may", "might", "could", "will", "shall", "should", "must", "are", "is", "get", "gets"})


def _relative_pair(sentence: Sentence) -> Pair | None:
    """"Only employees who passed the identity check can have a password reset": after an opening "only", a
    relative clause names what must hold (the earlier groups) and what follows its verb names what waits for it;
    the noun before it is whom the act applies to, not an act."""
    words = sentence.words
    r = next((i for i in range(1, min(len(words), 5)) if words[i] in RELATIVE), None)
    if r is None:
        return None
    for m in range(r + 2, len(words)):
        earlier = [g for g in sentence.groups if r < g.position < m]
        later = [g for g in sentence.groups if g.position > m]
        if words[m] in MODALS and earlier and later:
            return later, earlier, ["only"], False, False
    return None


BE_VERBS = frozenset({"is", "was", "are", "were", "has", "have", "had", "gets", "got", "been"})
ONCE_COUNTS = frozenset({"per", "a", "an", "each", "every", "in", "and", "or", "more", "for", "during", "within", "at",
                         "only", "again", "total", "overall", "daily", "by", "with", "to"})


def _once_is_when(words: Sequence[str], p: int) -> bool:
    """Whether "once" at ``p`` starts a clause ("only once the identity was verified": after) rather than counts
    ("only once", "once per order", "once a day")."""
    following = words[p + 1] if p + 1 < len(words) else ""
    if following in ("a", "an") and any(w in BE_VERBS for w in words[p + 3: p + 5]):
        return True  # "once a loan is renewed": a clause; "once a day" counts
    return bool(following) and following[0].isalpha() and following not in ONCE_COUNTS


def _continues_list(words: Sequence[str], comma: int, named: set[int]) -> bool:
    """Whether the comma at ``comma`` separates items of a list ("books, changes or cancels", "booking, changing",
    "any booking, change or cancellation") rather than clauses (a bare verb and more words after it open a
    command: "Before issuing a refund, look up the order"); ``named``: positions of words that name tools."""
    following = words[comma + 1] if comma + 1 < len(words) else ""
    item = following.endswith(("s", "ing", "ed")) or words[comma + 2: comma + 3] in ([","], ["or"], ["and"])
    noun_item = comma + 1 in named and verb_family(following) is None and bool(
        {"or", "and"} & set(words[comma + 2: comma + 4]))  # "a password reset, account unlock or app access grant"
    return following in ("and", "or") or ((verb_family(following) is not None or comma + 1 in named) and item) \
        or noun_item


def _user_side(sentence: Sentence, start: int) -> bool:
    """Whether the words from ``start`` on speak of the user saying something (or consenting)."""
    rest = sentence.words[start:]
    return any(w in CONSENT or w in SPEAKER for w in rest)


def propose(sentences: Sequence[Sentence], index: ToolIndex) -> Proposals:
    """Features for the cues of every sentence (see the module docstring)."""
    out = Proposals()
    writes = index.family("write")
    all_tools = frozenset(index.tools)
    for s in sentences:
        s.groups = find_groups(s, index)
    named = _dedupe([g for s in sentences for g in s.groups])
    targets = [g for g in named if g.tools & writes] or named
    for s in sentences:
        consent = s.cue(CONSENT)
        pairs = _order_pairs(s)
        obliged = "only" not in s.words and _obliged(s.words)  # "after Y, the agent must X"
        for later, earlier, order_words, right, follow in pairs:
            for a in _dedupe(later or targets)[:MAX_GROUPS]:
                for b in _dedupe(earlier)[:MAX_GROUPS]:
                    if not (a.tools & b.tools) and len(out.features) < 400:
                        words = [*a.words, *order_words, *b.words]
                        # on a tie the stricter reading wins: the whole of what must wait, the exact thing it waits for;
                        # then the tools more of the text names ("once the identity was verified": verifyIdentity)
                        rank = a.rank + (3 - b.rank) - TIE * ((a.support > 1) + (b.support > 1) - b.modifier)
                        # a follow-up turns it around: the whole of what makes the other due, the exact thing due
                        due = b.rank + (3 - a.rank) - TIE * ((a.support > 1) + (b.support > 1) - a.modifier)
                        out.add("every_call_preceded_by", (_names(a.tools), _names(b.tools)),
                                f"every call to {_label(a.tools)} came after {_label(b.tools)}", s, words,
                                complexity=rank + follow)
                        if obliged or follow:  # a follow-up's own reading: what was done makes the other due
                            out.add("every_call_followed_by", (_names(b.tools), _names(a.tools)),
                                    f"every call to {_label(b.tools)} was followed by {_label(a.tools)}", s, words,
                                    complexity=due if follow else rank + 1)
                        if right:
                            out.add("every_call_right_after", (_names(a.tools), _names(b.tools)),
                                    f"every call to {_label(a.tools)} came right after {_label(b.tools)}", s, words,
                                    complexity=rank)
                        for flag, flag_words in index.flags_named(b.tools, s.words)[:MAX_KEYS]:
                            out.add("every_call_preceded_by_flag", (_names(a.tools), _names(b.tools), flag),
                                    f"every call to {_label(a.tools)} came after {_label(b.tools)} said {flag}",
                                    s, [*words, *flag_words], complexity=rank + 1)
                        for key in index.shared_arguments(a.tools, b.tools)[:MAX_KEYS]:
                            named_key = [w for w in s.words if w in SAME_OBJECT or
                                         any(same_stem(w, part) for part in name_words(key))]
                            if named_key:
                                # "that same device", or the object named and then referred to ("its status")
                                strict = SAME_STRICT & set(s.words) or (ANAPHORA & set(s.words) and any(
                                    w not in SAME_OBJECT for w in named_key))
                                out.add("every_call_preceded_by_same", (_names(a.tools), _names(b.tools), key),
                                        f"every call to {_label(a.tools)} came after {_label(b.tools)} with the same "
                                        f"{key}", s, [*words, *named_key], complexity=rank - 1 if strict else rank + 1)
                priors = _joined_groups(s, _dedupe(earlier), a)
                if len(priors) >= 2:
                    words = [*a.words, *order_words, "and", *(w for b in priors for w in b.words)]
                    out.add("every_call_preceded_by_all", (_names(a.tools), tuple(_names(b.tools) for b in priors)),
                            f"every call to {_label(a.tools)} came after "
                            + " and after ".join(_label(b.tools) for b in priors), s, words,
                            complexity=a.rank)  # the text joined them: on a tie, needing all is its reading
            p = s.words.index(order_words[-1]) if order_words else 0
            if consent or (not earlier and _user_side(s, p)):
                for a in _dedupe(later or targets)[:MAX_GROUPS]:
                    words = [*a.words, *order_words, *consent]
                    _consent_features(out, a, s, words, right)
        if consent and not pairs:
            for a in _dedupe([g for g in s.groups if g.tools & writes] or targets)[:MAX_GROUPS]:
                _consent_features(out, a, s, [*a.words, *consent], False)
        _value_features(out, index, s, targets)
        _argument_limit_features(out, index, s, targets)
        if s.cue(ERRORS):
            words = s.cue(ERRORS)
            out.add("retried_after_error", (), "a failed tool call was retried successfully", s, words)
            out.add("every_failure_retried", (_names(all_tools),), "every failed tool call was retried successfully",
                    s, words)
            out.add("tool_error_count", (), "number of tool errors", s, words, threshold=0.0)
            for times, number_words in _counted(s):  # "after two failed attempts (at the same action), <do X>"
                same = "same" in s.words
                for g in _dedupe(s.groups)[:MAX_GROUPS]:
                    for each in (True, False) if not same else (True,):
                        out.add("called_after_failures", (_names(g.tools), times, each),
                                f"once {'a tool' if each else 'the tools'} failed {times} times, {_label(g.tools)} "
                                "was called", s, [*words, *number_words, *g.words], complexity=1 if each else 2)
            for g in [Group(all_tools, (), 0, False), *_dedupe(s.groups)[:MAX_GROUPS]]:
                out.add("error_then_retry", (_names(g.tools), True),
                        f"a call to {_label(g.tools)} failed and was then retried successfully", s, [*g.words, *words])
                out.add("error_then_retry", (_names(g.tools), False),
                        f"a call to {_label(g.tools)} failed and was then called again", s, [*g.words, *words])
        nouns = {noun for word, noun in zip(s.words, s.words[1:]) if word in PER_OBJECT}  # "per patron"
        for limit, words in _limits(s):
            for g in _dedupe(s.groups or targets)[:MAX_GROUPS]:
                per = _per_object(s, index, g.tools)  # "per order": the text's own reading comes first
                # then what is done (a verb), not a whole family, not the object counted per
                vague = TIE * (2 * all(w in nouns for w in g.words) + (not g.specific) - g.act)
                out.add("at_most_calls", (_names(g.tools), limit), f"at most {limit} call(s) to {_label(g.tools)}", s,
                        [*g.words, *words], complexity=(2 if per else 1) + vague)
                for key, key_words in per:
                    out.add("at_most_calls_per", (_names(g.tools), key, limit),
                            f"at most {limit} successful call(s) to {_label(g.tools)} per {key}", s,
                            [*g.words, *words, *key_words], complexity=1 + vague)
        counts = [w for w in s.cue(COUNTS) if (w != "once" or not all(
            _once_is_when(s.words, p) for p, x in enumerate(s.words) if x == "once"))  # "once Y was done" is order
                  and (w != "never" or not pairs)]  # "never X without Y" negates the order, counts nothing
        if counts:
            for g in _dedupe(s.groups or targets)[:MAX_GROUPS]:
                out.add("count_calls", (_names(g.tools),), f"calls to {_label(g.tools)}", s,
                        [*g.words, *counts], threshold=0.0, complexity=1 + TIE * (not g.specific))
            out.add("repeated_write", (), "the same write tool was called more than once", s, counts)
        if s.cue(ANSWER):
            words = s.cue(ANSWER)
            out.add("answer_numbers_grounded", (), "every number in the final reply appeared earlier", s, words)
            out.add("answer_repeats_tool_value", (), "the final reply repeats a value a tool returned", s, words)
            for g in _dedupe(s.groups)[:MAX_GROUPS]:
                out.add("answer_repeats_value_of", (_names(g.tools),),
                        f"the final reply repeats a value {_label(g.tools)} returned", s, [*g.words, *words])
                out.add("answer_states_result_of", (_names(g.tools),),
                        f"when {_label(g.tools)} succeeded, the final reply repeats what it returned", s,
                        [*g.words, *words])
            for key, key_words in index.arguments_named(s.words, results=True):
                for g in _dedupe(s.groups or targets)[:MAX_GROUPS]:
                    out.add("answer_names_object_of", (_names(g.tools), key),
                            f"the final reply names the {key} of the last call to {_label(g.tools)}", s,
                            [*key_words, *g.words, *words])
            said = _answer_words(s)
            for word in said:
                out.add("answer_says_any", ((word,),), f"the final reply says {word!r}", s, [*words, word])
            if len(said) > 1:
                out.add("answer_says_any", (tuple(said),), "the final reply says " + " or ".join(map(repr, said)), s,
                        [*words, *said])
        if s.cue(ARGUMENTS):
            words = s.cue(ARGUMENTS)
            for g in _dedupe([*s.groups, *targets])[:MAX_GROUPS]:
                for source, where in (("user", "the user's turns"), ("any", "the conversation")):
                    out.add("args_seen_before", (_names(g.tools), source),
                            f"every argument of {_label(g.tools)} came from {where}", s, [*g.words, *words])
        if s.cue(ARGUMENTS) or s.cue(FROM_RESULT):
            words = [*s.cue(ARGUMENTS), *s.cue(FROM_RESULT)]
            for key, key_words in index.arguments_named(s.words):
                for g in [*_dedupe(s.groups)[:MAX_GROUPS], Group(all_tools, (), 0, False)]:
                    out.add("argument_from_result", (key, _names(g.tools)),
                            f"every {key} given to a tool came from what {_label(g.tools)} returned", s,
                            [*key_words, *g.words, *words], complexity=2)
            _field_features(out, index, s, words)
        if s.cue(ESCALATION):
            words = s.cue(ESCALATION)
            out.add("transferred_to_human", (), "the conversation was handed to a human", s, words)
            handoff = frozenset(t for t in index.tools if any(p in ESCALATION_TOOL_WORDS for p in index.words[t]))
            if handoff:
                out.add("every_call_after_user_said", (_names(handoff), HUMAN_REQUEST, "trace"),
                        f"{_label(handoff)} was called only after the user asked for a person", s, words)
                out.add("count_calls", (_names(handoff),), f"calls to {_label(handoff)}", s, words, threshold=0.0)
        if s.cue(SUCCESS):
            _success_features(out, index, s, s.cue(SUCCESS))
        for phrase, words in _claims(s):
            _claim_features(out, index, s, phrase, words)
    if not out.features:
        _success_features(out, index, NO_RULE_NAMED)
    return out


def _acts(index: ToolIndex, s: Sentence, targets: Sequence[Group]) -> list[Group]:
    """The write tools of each group the sentence names (what a policy on values governs), else the targets."""
    writes = index.family("write")
    return _dedupe([replace(g, tools=g.tools & writes) for g in s.groups if g.tools & writes] or list(targets))


def _value_features(out: Proposals, index: ToolIndex, s: Sentence, targets: Sequence[Group]) -> None:
    """A result text the sentence names makes what it governs wait for it: "cancel only if the lookup shows it
    has not shipped" (every cancel came when the latest lookup's status was not "shipped"), "never change a basic
    economy reservation". The act is a write tool the sentence names; on a tie, a negation reads "not that
    value", "only" needs the value seen (a call before any such result fails), and the same object is read
    when the act and the tool that returned the value share an argument."""
    named = set(s.words)
    negated = bool(named & NEGATIONS)
    required = "only" in named or bool(named & (CONDITION | ORDER_IF))
    acts = _acts(index, s, targets)[:MAX_GROUPS]
    for field_name, value, returned_by, value_words in index.values_named(s.words):
        for a in acts:
            sources = returned_by - a.tools
            if not sources:
                continue
            keys = index.shared_arguments(a.tools, sources)[:1]
            for wanted in (not negated, negated):
                for unknown in (not required, required):
                    for key in [*keys, None]:
                        said = ("" if wanted else "not ") + repr(value)
                        where = f" (the same {key})" if key else ""
                        known = "" if unknown else ", and only after it did"
                        out.add("every_call_when_field",
                                (_names(a.tools), _names(sources), field_name, (value,), wanted, key, unknown),
                                f"every call to {_label(a.tools)} came when {_label(sources)}{where} last said "
                                f"{field_name} {said}{known}", s, [*value_words, *a.words],
                                complexity=a.rank - 1 + (wanted == negated) + TIE * ((unknown == required)
                                                                                  + (key is None and bool(keys))))


ABOVE = frozenset({"more", "over", "above", "exceed", "exceeds", "exceeding", "beyond", "greater", "higher",
                   "larger", "bigger"})
BELOW = frozenset({"less", "under", "below", "fewer", "lower", "smaller"})
UP_TO = (("at", "most"), ("up", "to"), ("maximum",), ("max",), ("at", "least"), ("minimum",))


def _value_limits(s: Sentence) -> list[tuple[float, bool, list[str]]]:
    """(number, upper?, words) for each bound on a value the sentence states: "never more than $100" and "at
    most 2" are upper bounds, "at least 3" a lower one; "over 100" bounds only under a negation ("refunds over
    $100 need approval" says what such a refund needs, not that there is none)."""
    words = s.words
    found = []
    for p, word in enumerate(words):
        number = float(word) if word.isdigit() and len(word) <= 7 else NUMBER_WORDS.get(word)
        if number is None or word in ("a", "no", "once", "twice", "thrice", "single"):
            continue
        before = words[max(0, p - 3): p]
        for phrase in UP_TO:
            if tuple(before[-len(phrase):]) == phrase:
                found.append((float(number), "least" not in phrase and "minimum" not in phrase, [*phrase, word]))
                break
        else:
            cue = next((w for w in reversed(before) if w in ABOVE or w in BELOW), None)
            if cue and _negated(words, p):
                found.append((float(number), cue in ABOVE, [next(w for w in words if w in NEGATIONS), cue, word]))
    return found


def _argument_limit_features(out: Proposals, index: ToolIndex, s: Sentence, targets: Sequence[Group]) -> None:
    """A bound on a number the sentence names ("never refunds more than $100") applies to a number argument of the
    tools it names, on a tie the argument a word names ("bags" -> bags) first."""
    limits = _value_limits(s)
    acts = _acts(index, s, targets)[:MAX_GROUPS] if limits else []
    for limit, upper, limit_words in limits:
        for g in acts:
            keys = sorted(set().union(*(index.numbers.get(t, set()) for t in g.tools)))
            for key in keys[:MAX_GROUPS]:
                key_words = [w for w in s.words if w not in STOPWORDS and any(same_stem(w, p) for p in name_words(key))]
                bound = "more" if upper else "less"
                out.add("every_argument_within", (_names(g.tools), key, limit, upper),
                        f"no call to {_label(g.tools)} gave {key} {bound} than {_number_text(limit)}", s,
                        [*limit_words, *key_words, *g.words], complexity=g.rank - 1 + (not key_words))


def _number_text(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _field_features(out: Proposals, index: ToolIndex, s: Sentence, words: Sequence[str]) -> None:
    """A result field the sentence names ("the total the lookup returned") that the tools it names take as an
    argument under another name: each of their arguments, matched to the field the other tools returned."""
    arguments = set().union(*index.arguments.values())
    for name, field_words in index.arguments_named(s.words, results=True):
        sources = frozenset(t for t, fields in index.fields.items() if name in fields)
        if name in arguments or not sources or name_words(name)[-1:] in (["id"], ["ids"]):
            continue  # an id names an object: argument_from_result's case
        for g in _dedupe(s.groups)[:MAX_GROUPS]:
            targets = g.tools - sources
            for key in sorted(set().union(*(index.arguments.get(t, set()) for t in targets)) if targets else ()):
                out.add("argument_matches_field", (_names(targets), key, _names(sources), name),
                        f"every {key} given to {_label(targets)} is a {name} {_label(sources)} returned", s,
                        [*field_words, *g.words, *words], complexity=2)


NO_RULE_NAMED = "default reading (the criteria and notes name no rule this generator reads: signs the task was done)"


def _actions(index: ToolIndex) -> frozenset[str]:
    """The tools whose calls do the user's work: the write tools, or every tool that is not a read when none is."""
    return index.family("write") or frozenset(t for t in index.tools if index.kind[t] != "read")


def _success_features(out: Proposals, index: ToolIndex, evidence: Sentence | str, words: Sequence[str] = ()) -> None:
    """Signs the user's task was done: what a criterion about success names, and the default reading of a
    criterion that names nothing else (a rating with no rule given most often judges the outcome).

    The words name the sum of the signs (``success_signs``) and whether the actions went through. Each other sign
    alone is proposed unnamed: on 20 ratings one sign often fits better than the sum by chance (an apology, a
    count of writes), and a named one would be picked without having to beat anything significantly."""
    writes = index.family("write")
    alone = {"named": False}
    out.add("transferred_to_human", (), "the conversation was handed to a human", evidence, words, **alone)
    out.add("error_not_retried", (), "a failed tool call was never retried successfully", evidence, words, **alone)
    out.add("answer_says_any", (REFUSAL,), "the final reply apologizes or refuses", evidence, words, **alone)
    out.add("answer_says_any", (DONE,), "the final reply says the work is done", evidence, words, **alone)
    if writes:
        out.add("count_calls", (_names(writes),), f"calls to {_label(writes)}", evidence, words, threshold=0.0,
                **alone)
    actions = _actions(index)
    if actions:
        out.add("actions_succeeded", (_names(actions),),
                f"the calls to {_label(actions)} went through (each one's last call succeeded)", evidence, words)
        out.add("answer_claims_unbacked", (_names(actions), DONE),
                f"the final reply says the work is done but a call to {_label(actions)} did not go through",
                evidence, words, **alone)
        out.add("success_signs", (_names(actions), DONE, REFUSAL),
                f"signs the goal was met (the calls to {_label(actions)} went through) minus signs it was not "
                "(an unretried error, an unbacked claim, an apology, a hand-off)", evidence, words, threshold=0.0,
                complexity=2)


SAYING = frozenset({"say", "says", "said", "saying", "tell", "tells", "told", "telling", "claim", "claims", "claimed",
                    "claiming", "announce", "announces", "announced", "report", "reports", "reported", "pretend",
                    "pretends", "promise", "promises", "promised", "suggest", "suggests", "suggested", "imply"})
CLAIM_START = frozenset({"it", "it's", "its", "is", "was", "are", "were", "has", "have", "been", "be", "that",
                         "everything", "everything's", "all's", "they're", "that's", "now"})
CLAIM_END = frozenset({"unless", "when", "if", "while", "although", "though", "but", "before", "after", "until",
                       "without", "because", "since", "where", "whereas", "even", "and", "or", ","})
MAX_CLAIM_WORDS = 3


def _claims(s: Sentence) -> list[tuple[str, list[str]]]:
    """What a sentence says the agent claims ("never say it is all done unless ..." -> "all done", "tell the
    customer it's all sorted when ..." -> "all sorted"): the words after a saying verb and its "it is"-like
    opening, up to a clause word, at most three."""
    found = []
    words = s.words
    for p, word in enumerate(words):
        if word not in SAYING:
            continue
        end = next((i for i in range(p + 1, len(words)) if words[i] in CLAIM_END), len(words))
        starts = [i for i in range(p + 1, end) if words[i] in CLAIM_START]
        if not starts:
            continue
        claimed = words[starts[-1] + 1: end]
        if 0 < len(claimed) <= MAX_CLAIM_WORDS and all(w[0].isalpha() for w in claimed):
            found.append((" ".join(claimed), [word, *claimed]))
    return list(dict(found).items())


def _claim_features(out: Proposals, index: ToolIndex, s: Sentence, phrase: str, words: Sequence[str]) -> None:
    """A claim the text names, said in the final reply: alone, and not backed by the actions (all of them, or any)
    having gone through; with the usual ways of saying the work is done too."""
    actions = _actions(index)
    quoted = {"violation": True, "complexity": 1 - TIE}  # what must not be said, in the text's own words
    out.add("answer_says_any", ((phrase,),), f"the final reply says {phrase!r}", s, words, **quoted)
    if not actions:
        return
    for phrases, said in (((phrase,), repr(phrase)), ((phrase, *DONE), f"{phrase!r} or that the work is done")):
        out.add("answer_claims_unbacked", (_names(actions), phrases),
                f"the final reply says {said} but a call to {_label(actions)} did not go through", s, words,
                **quoted)
        out.add("answer_claims_none_done", (_names(actions), phrases),
                f"the final reply says {said} but no call to {_label(actions)} went through", s, words, **quoted)


NUMBER_WORDS = {"zero": 0, "no": 0, "one": 1, "once": 1, "a": 1, "single": 1, "two": 2, "twice": 2, "three": 3,
                "thrice": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
AT_MOST = (("at", "most"), ("no", "more", "than"), ("not", "more", "than"), ("never", "more", "than"), ("up", "to"),
           ("maximum", "of"), ("max",), ("only",), ("just",))  # "only one refund per order"
AT_LEAST = (("at", "least"), ("no", "fewer", "than"), ("no", "less", "than"), ("minimum", "of"))


def _number(word: str) -> int | None:
    if word.isdigit() and len(word) <= 3:
        return int(word)
    return NUMBER_WORDS.get(word)


def _limits(s: Sentence) -> list[tuple[int, list[str]]]:
    """Upper limits on a number of calls the sentence states: "at most two times" -> 2, "no more than 3" -> 3,
    "at least twice" -> 1 (the rule "at most 1" with the opposite sign), "only once" / "never twice" -> 1."""
    found = []
    words = s.words
    for p in range(len(words)):
        for phrase, shift in [*((a, 0) for a in AT_MOST), *((a, -1) for a in AT_LEAST)]:
            end = p + len(phrase)
            if tuple(words[p:end]) != phrase:
                continue
            after = _number(words[end]) if end < len(words) else None
            if phrase in (("only",), ("just",)) and end < len(words) and words[end] in ("once", "twice", "a", "no"):
                continue  # "only once" is read below ("only once the check passed" is an order); "only a few"
            if after is not None and after + shift >= 0:
                found.append((after + shift, [*phrase, words[end]]))
            elif len(phrase) == 2 and (end == len(words) or not words[end][0].isalnum()):  # "two checks at most"
                before = next((w for w in reversed(words[max(0, p - 5): p]) if w not in ("a", "no")
                               and _number(w) is not None), "")
                number = _number(before)
                if number is not None and number + shift >= 0:
                    found.append((number + shift, [before, *phrase]))
        if words[p: p + 2] == ["more", "than"] and p + 2 < len(words) and _number(words[p + 2]) is not None \
                and _negated(words, p) and tuple(words[p - 1: p]) not in (("no",), ("not",)):
            found.append((_number(words[p + 2]), [next(w for w in words[:p] if w in NEGATIONS), "more", "than",
                                                  words[p + 2]]))  # "never place more than one hold"
        if words[p] in ("once", "twice", "thrice") and p > 0 and words[p - 1] in ("only", "just") \
                and not (words[p] == "once" and _once_is_when(words, p)):
            found.append((NUMBER_WORDS[words[p]], [words[p - 1], words[p]]))
        elif words[p] in ("twice", "thrice") and _negated(words, p):  # "never twice", "must not be searched twice"
            found.append((NUMBER_WORDS[words[p]] - 1, [next(w for w in words[:p] if w in NEGATIONS), words[p]]))
    unique = dict.fromkeys((n, tuple(w)) for n, w in found)
    return [(n, list(w)) for n, w in unique]


ORDINALS = {"second": 2, "third": 3, "fourth": 4, "fifth": 5}


def _counted(s: Sentence) -> list[tuple[int, list[str]]]:
    """Numbers of events the sentence counts ("two failed attempts", "3 errors", "twice"), 2 or more."""
    found = []
    for p, word in enumerate(s.words):
        number = None if word in ("a", "no", "one", "once", "single", "zero") else ORDINALS.get(word) or _number(word)
        if number is not None and number >= 2 and not any(s.words[max(0, p - len(a)): p] == list(a)
                                                          for a in (*AT_MOST, *AT_LEAST)):
            found.append((number, [word]))
    return list({n: (n, w) for n, w in found}.values())[:2]


def _joined_groups(s: Sentence, earlier: Sequence[Group], later: Group) -> list[Group]:
    """What must all come first when the text joins prerequisites with "and" ("only after X and Y"): the earliest
    specific group between each "and" and the next, without overlaps (empty when the text joins none)."""
    ands = [i for i, w in enumerate(s.words) if w in ("and", "both")]
    candidates = sorted((g for g in earlier if not (g.tools & later.tools)), key=lambda g: g.position)
    if not ands or len(candidates) < 2:
        return []
    chosen: list[Group] = []
    for start, end in zip([-1, *ands], [*ands, len(s.words)]):
        inside = [g for g in candidates if start < g.position < end and not any(g.tools & c.tools for c in chosen)]
        if inside:
            chosen.append(min(inside, key=lambda g: (len(g.tools), g.position)))
    return chosen[:MAX_KEYS] if len(chosen) >= 2 else []


PER_OBJECT = frozenset({"per", "each", "every", "same", "given"})  # "for any given order"


def _per_object(s: Sentence, index: ToolIndex, tools: frozenset[str]) -> list[tuple[str, list[str]]]:
    """Argument keys of the tools a "per X" / "for each X" / "the same X" in the sentence names (order -> order_id)."""
    keys = sorted(set().union(*(index.arguments.get(t, set()) for t in tools)))
    found: dict[str, list[str]] = {}
    for word, noun in zip(s.words, s.words[1:]):
        if word in PER_OBJECT and noun[0].isalpha() and noun not in STOPWORDS:
            for key in keys:
                if key not in found and any(same_stem(noun, part) for part in name_words(key)):
                    found[key] = [word, noun]
    return list(found.items())


def _consent_features(out: Proposals, group: Group, s: Sentence, words: list[str], right: bool) -> None:
    """The group's calls each after the user's yes: strict or loose phrases, in the latest turn or right before."""
    tools = group.tools
    readings = [(CONSENT_STRICT, "yes/confirm/proceed"), (CONSENT_LOOSE, "yes, sure, okay or the like")]
    said = s.cue(CONSENT)
    if said and not any(w in CONSENT_EXACT for w in said):  # "agreed", "approval", "okay": any agreement will do
        readings.reverse()
    rank = group.rank + (0 if group.act else TIE)  # what is done ("cancel") waits for the yes, not what it is done to
    for extra, (phrases, strength) in enumerate(readings):
        out.add("every_call_after_user_said", (_names(tools), phrases, "turn"),
                f"every call to {_label(tools)} came after the user's latest turn said {strength}", s, words,
                complexity=rank + extra)
        if right:
            out.add("every_call_after_user_said", (_names(tools), phrases, "call"),
                    f"every call to {_label(tools)} came right after a user turn saying {strength}", s, words,
                    complexity=rank + extra + 1)


CUE_WORDS = ANSWER | CONSENT | ERRORS | COUNTS | SUCCESS | SPEAKER | ORDER_AFTER | ORDER_BEFORE | ORDER_RIGHT
"""Words that cue a kind of rule; never a word the final answer is asked to say."""


def _answer_words(s: Sentence) -> list[str]:
    """Content words a sentence about the final answer asks it to say (not cue words, not tool names)."""
    words = [w for w in s.words if w[0].isalpha() and w not in STOPWORDS and w not in CUE_WORDS
             and w not in SUBJECTS and w not in VAGUE and verb_family(w) is None and len(w) >= 3]
    return list(dict.fromkeys(words))[:MAX_ANSWER_WORDS]


def _dedupe(groups: Sequence[Group]) -> list[Group]:
    """Groups with distinct tool sets, wholes first, in the order the text names them; when the text names two
    or more, also all of them together ("booking, updating or cancelling"), first."""
    acts = [g for g in groups if g.act]  # what is done (verbs), not the nouns it is done to
    if len({g.tools for g in acts}) >= 2:
        union = frozenset().union(*(g.tools for g in acts))
        words = tuple(dict.fromkeys(w for g in acts for w in g.words))
        groups = [Group(union, words, min(g.position for g in acts), True, 1), *groups]
    seen: dict[frozenset[str], Group] = {}
    for g in sorted(groups, key=lambda g: (g.rank, not g.specific, g.position)):
        kept = seen.get(g.tools)
        if kept is None:
            seen[g.tools] = replace(g)
        elif (kept.position, kept.words) != (g.position, g.words):  # the same tools named again: one more reason
            kept.words = tuple(dict.fromkeys([*kept.words, *g.words]))
            kept.support += g.support
            kept.act = kept.act or g.act  # "the identity code may be checked": named by a noun and its verb
    return list(seen.values())


def criteria_features(criteria: str, notes: Sequence[str], traces: Sequence[dict[str, Any]]) -> list[Feature]:
    """Features the criteria and the raters' notes name, over the tools seen in the training traces."""
    sentences = read_sentences("criteria", criteria)
    for note in notes:
        sentences += read_sentences("notes", note)
    arguments: dict[str, set[str]] = {}
    flags: dict[str, set[str]] = {}
    fields: dict[str, set[str]] = {}
    values: dict[tuple[str, str], set[str]] = {}
    numbers: dict[str, set[str]] = {}
    for trace in traces:
        for call in trace.get("tool_calls") or []:
            if not isinstance(call, dict):
                continue
            name = str(call.get("name") or "")
            if isinstance(call.get("arguments"), dict):
                arguments.setdefault(name, set()).update(str(k) for k in call["arguments"])
                numbers.setdefault(name, set()).update(str(k) for k, v in call["arguments"].items()
                                                       if isinstance(v, (int, float)) and not isinstance(v, bool))
            returned = HELPERS["result_fields"](call)
            for k, v in returned.items():
                if isinstance(v, str) and 0 < len(v) <= MAX_VALUE_LENGTH:
                    values.setdefault((name, str(k)), set()).add(HELPERS["plain_value"](v))
            flags.setdefault(name, set()).update(str(k) for k, v in returned.items() if isinstance(v, bool))
            fields.setdefault(name, set()).update(str(k) for k, v in returned.items()
                                                  if isinstance(v, (str, int, float)) and not isinstance(v, bool))
    index = ToolIndex((name for trace in traces for name in HELPERS["tool_names"](trace)), arguments, flags, fields,
                      values, numbers)
    return list(propose(sentences, index).features.values())


__all__ = ["canonical", "criteria_features", "tokens"]
