// Python syntax highlighting without a library: a small tokenizer (keywords, builtins, strings,
// comments, numbers, decorators, definition names) rendered as text-node spans, one element per line.

import { h } from "./ui.js";

const KEYWORDS = new Set(("False None True and as assert async await break class continue def del elif else except "
  + "finally for from global if import in is lambda nonlocal not or pass raise return try while with yield match case")
  .split(" "));
const BUILTINS = new Set(("abs all any bool dict enumerate filter float frozenset getattr hasattr int isinstance "
  + "issubclass iter len list map max min next object print range repr reversed round set sorted str sum tuple "
  + "type zip ValueError TypeError KeyError IndexError Exception AttributeError RuntimeError StopIteration self")
  .split(" "));

// Order matters: comments and strings before operators; triple quotes before single quotes.
const TOKEN = new RegExp([
  String.raw`(?<comment>#[^\n]*)`,
  String.raw`(?<string>(?:[rRbBuUfF]{1,2})?(?:"""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?))`,
  String.raw`(?<number>\b(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?j?)\b)`,
  String.raw`(?<decorator>@[A-Za-z_][\w.]*)`,
  String.raw`(?<name>[A-Za-z_]\w*)`,
  String.raw`(?<space>\s+)`,
  String.raw`(?<op>[^\sA-Za-z_0-9#'"]+|.)`,
].join("|"), "gy");

/** Tokens [{kind, text}] covering the whole source; kind is one of comment, string, number,
 * decorator, keyword, builtin, defname, name, space, op. */
export function tokenize(source) {
  const tokens = [];
  let previousWord = null;
  TOKEN.lastIndex = 0;
  let match;
  while (TOKEN.lastIndex < source.length && (match = TOKEN.exec(source))) {
    const groups = match.groups;
    const text = match[0];
    let kind = Object.keys(groups).find((k) => groups[k] !== undefined);
    if (kind === "name") {
      if (previousWord === "def" || previousWord === "class") kind = "defname";
      else if (KEYWORDS.has(text)) kind = "keyword";
      else if (BUILTINS.has(text)) kind = "builtin";
    }
    if (kind !== "space") previousWord = kind === "keyword" || kind === "name" || kind === "defname" ? text : null;
    const last = tokens[tokens.length - 1];
    if (last && last.kind === kind && (kind === "op" || kind === "space")) last.text += text;
    else tokens.push({ kind, text });
  }
  return tokens;
}

/** Tokens split on newlines: one array of tokens per source line. */
export function tokenLines(source) {
  const lines = [[]];
  for (const token of tokenize(source)) {
    const parts = token.text.split("\n");
    parts.forEach((part, i) => {
      if (i > 0) lines.push([]);
      if (part) lines[lines.length - 1].push({ kind: token.kind, text: part });
    });
  }
  if (lines.length > 1 && !lines[lines.length - 1].length && source.endsWith("\n")) lines.pop();
  return lines;
}

/** A <pre> of highlighted code with CSS line numbers; `mark` is a 1-based line to flag. */
export function codeView(source, { label = "Code", mark = null } = {}) {
  const code = h("code", {});
  tokenLines(source || "").forEach((tokens, i) => {
    const line = h("span", { class: `line${mark === i + 1 ? " line-marked" : ""}`, "data-line": String(i + 1) },
      tokens.map((t) => (t.kind === "space" || t.kind === "op" || t.kind === "name"
        ? document.createTextNode(t.text) : h("span", { class: `tok-${t.kind}` }, t.text))));
    code.append(line, "\n");
  });
  return h("pre", { class: "code code-view", tabindex: "0", role: "region", "aria-label": label }, code);
}
