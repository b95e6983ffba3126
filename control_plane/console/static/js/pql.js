// A tokenizer of the Predictive Query Language for syntax highlighting (the server's compiler validates).
// It never fails: text it does not understand becomes an "error" token, so the highlight always covers
// the whole input and the overlay stays aligned with the textarea.

export const KEYWORDS = new Set([
  "PREDICT", "FOR", "EACH", "WHERE", "ASSUMING", "RANK", "TOP", "CLASSIFY", "FORECAST", "TIMEFRAMES",
  "AND", "OR", "NOT", "IN", "IS", "LIKE", "CONTAINS", "STARTS", "ENDS", "WITH",
]);
export const CONSTANTS = new Set(["NULL", "TRUE", "FALSE", "INF"]);
export const AGGREGATIONS = new Set([
  "COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX", "FIRST", "LAST", "LIST_DISTINCT",
]);
export const UNITS = new Set(["SECONDS", "MINUTES", "HOURS", "DAYS", "WEEKS", "MONTHS"]);

const RULES = [
  ["whitespace", /[ \t\f\r\n]+/y],
  ["comment", /--[^\n]*/y],
  ["string", /'(?:[^'\\\n]|\\.|'')*'/y],
  ["number", /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y],
  ["word", /[A-Za-z_][A-Za-z0-9_]*/y],
  ["operator", /!=|<>|<=|>=|=|<|>|-|\*/y],
  ["punctuation", /[(),.]/y],
];

/**
 * Split PQL text into tokens that cover it exactly.
 * @param {string} text the query.
 * @returns {{type: string, text: string, start: number, end: number}[]} types: keyword, constant,
 *   function, unit, table, column, name, number, string, comment, operator, punctuation, whitespace, error.
 */
export function tokenize(text) {
  const tokens = [];
  let pos = 0;
  while (pos < text.length) {
    let matched = null;
    for (const [type, pattern] of RULES) {
      pattern.lastIndex = pos;
      const m = pattern.exec(text);
      if (m && m[0].length) { matched = { type, text: m[0], start: pos, end: pos + m[0].length }; break; }
    }
    if (!matched) {
      // An unterminated string runs to the end of its line; anything else is one stray character.
      const end = text[pos] === "'" ? lineEnd(text, pos) : pos + 1;
      matched = { type: "error", text: text.slice(pos, end), start: pos, end };
    }
    tokens.push(matched);
    pos = matched.end;
  }
  classifyWords(tokens);
  return tokens;
}

function lineEnd(text, pos) {
  const newline = text.indexOf("\n", pos);
  return newline === -1 ? text.length : newline;
}

function neighbour(tokens, i, step) {
  for (let j = i + step; j >= 0 && j < tokens.length; j += step) {
    const t = tokens[j];
    if (t.type !== "whitespace" && t.type !== "comment") return t;
  }
  return null;
}

function classifyWords(tokens) {
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i];
    if (token.type !== "word") continue;
    const upper = token.text.toUpperCase();
    const before = neighbour(tokens, i, -1);
    const after = neighbour(tokens, i, 1);
    if (before && before.text === ".") {
      token.type = "column"; // after "table." a keyword is an ordinary name
    } else if (after && after.text === ".") {
      token.type = "table";
    } else if (after && after.text === "(" && AGGREGATIONS.has(upper)) {
      token.type = "function";
    } else if (KEYWORDS.has(upper)) {
      token.type = "keyword";
    } else if (CONSTANTS.has(upper)) {
      token.type = "constant";
    } else if (UNITS.has(upper) && before && before.text === ",") {
      token.type = "unit";
    } else {
      token.type = "name";
    }
  }
}

/** A 1-based (line, column) position as an offset into text (clamped to the text). */
export function offsetOf(text, line, column) {
  let offset = 0;
  for (let l = 1; l < line; l += 1) {
    const newline = text.indexOf("\n", offset);
    if (newline === -1) return text.length;
    offset = newline + 1;
  }
  return Math.min(text.length, offset + Math.max(0, column - 1));
}

/**
 * The character range [start, end) to underline for an error at a position: the given end when known,
 * else the token at the position (at least one character; at the end of the text, the last character).
 */
export function errorRange(text, position) {
  if (!position) return null;
  let start = offsetOf(text, position.line, position.column);
  let end = position.endLine != null && position.endColumn != null
    ? offsetOf(text, position.endLine, position.endColumn) : null;
  if (end === null || end <= start) {
    const token = tokenize(text).find((t) => t.start <= start && start < t.end && t.type !== "whitespace");
    end = token ? token.end : start + 1;
  }
  if (start >= text.length) {
    // "unexpected end of query": mark the last visible character.
    const trimmed = text.replace(/\s+$/, "");
    start = Math.max(0, trimmed.length - 1);
    end = Math.max(start + 1, trimmed.length);
  }
  return { start, end: Math.min(end, Math.max(text.length, start + 1)) };
}
