"""Checks on the SQL text that clients pass (filter conditions, expressions, sql() queries).

SQL is the one place a pipeline carries something close to code, so it is held to what a data
job needs: read-only queries, and no functions that reach into the JVM (`reflect` and friends
call arbitrary static Java methods). This is a token-level check that needs no Spark, so bad
pipelines are refused at submit time; at run time the session also disables SQL on files
(`csv.\\`/etc/passwd\\``) and ${var} substitution (which could print session secrets).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

# Functions that call Java methods by name, or build a function name at run time.
DENIED_FUNCTIONS: frozenset[str] = frozenset({"reflect", "java_method", "try_reflect", "identifier"})
QUERY_STARTS: frozenset[str] = frozenset({"select", "with", "from", "values", "table"})

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Token:
    kind: str  # "word" (unquoted), "quoted" (`identifier`), "string", "symbol"
    text: str


def expression_problem(text: str) -> str | None:
    """Why this SQL expression is refused, or None."""
    try:
        tokens = tokenize(text)
    except ValueError as exc:
        return str(exc)
    return _denied_function(tokens)


def query_problem(text: str) -> str | None:
    """Why this SQL statement is refused, or None: it must be one read-only query."""
    try:
        tokens = tokenize(text)
    except ValueError as exc:
        return str(exc)
    if not tokens:
        return "the query is empty"
    first = tokens[0]
    if not (first.kind == "word" and first.text.lower() in QUERY_STARTS) and first.text != "(":
        return (f"only queries are allowed (SELECT, WITH, FROM, VALUES, TABLE); got "
                f"'{first.text.upper() if first.kind == 'word' else first.text}'")
    semis = [i for i, t in enumerate(tokens) if t.kind == "symbol" and t.text == ";"]
    if semis and any(i != len(tokens) - 1 for i in semis):
        return "only one statement is allowed"
    words = [t.text.lower() if t.kind == "word" else "" for t in tokens]
    for i, word in enumerate(words):
        # WITH ... INSERT/MERGE/DELETE/UPDATE and FROM ... INSERT are valid Spark SQL writes.
        if word in ("insert", "merge"):
            return (f"only read-only queries are allowed; found {word.upper()} "
                    "(quote a column with that name in `backquotes`)")
        if word == "delete" and i + 1 < len(words) and words[i + 1] == "from":
            return "only read-only queries are allowed; found DELETE FROM"
        if word == "update" and "set" in words[i + 2:i + 5]:
            return "only read-only queries are allowed; found UPDATE ... SET"
    return _denied_function(tokens)


def tokenize(text: str) -> list[Token]:
    """Split SQL into tokens, dropping comments and whitespace. Strings and `quoted` names are
    kept whole so words inside them are never mistaken for keywords."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            i = _skip_block_comment(text, i)
        elif c in "'\"":
            # r'...' is a raw string: a backslash does not escape the closing quote there.
            raw = bool(tokens) and tokens[-1].kind == "word" and tokens[-1].text in ("r", "R") \
                and i > 0 and text[i - 1] in "rR"
            j = _end_of_string(text, i, raw)
            if raw:
                tokens.pop()
            tokens.append(Token("string", text[i:j]))
            i = j
        elif c == "`":
            j = i + 1
            while True:
                j = text.find("`", j)
                if j < 0:
                    raise ValueError("unterminated `quoted` identifier in SQL")
                if text.startswith("``", j):  # a doubled backquote is a literal one
                    j += 2
                    continue
                break
            tokens.append(Token("quoted", text[i + 1:j].replace("``", "`")))
            i = j + 1
        else:
            m = _WORD.match(text, i)
            if m:
                tokens.append(Token("word", m.group()))
                i = m.end()
            else:
                tokens.append(Token("symbol", c))
                i += 1
    return tokens


def _denied_function(tokens: list[Token]) -> str | None:
    for tok, nxt in itertools.pairwise(tokens):
        if (tok.kind in ("word", "quoted") and nxt.text == "(" and nxt.kind == "symbol"
                and tok.text.lower() in DENIED_FUNCTIONS):
            return f"function '{tok.text.lower()}' is not allowed in pipeline SQL"
    return None


def _skip_block_comment(text: str, i: int) -> int:
    # Spark's bracketed comments nest: /* a /* b */ c */ is one comment.
    depth, i = 0, i
    while i < len(text):
        if text.startswith("/*", i):
            depth += 1
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    raise ValueError("unterminated /* comment */ in SQL")


def _end_of_string(text: str, i: int, raw: bool = False) -> int:
    quote, j = text[i], i + 1
    while j < len(text):
        if text[j] == "\\" and not raw:
            j += 2
        elif text[j] == quote:
            return j + 1
        else:
            j += 1
    raise ValueError("unterminated string literal in SQL")


def jvm_statement_problem(spark: Any, query: str) -> str | None:
    """The same rule as query_problem(), asked of Spark's own parser: a second line of defence
    in case the tokenizer above ever reads SQL differently from Spark. It walks the parsed,
    not yet executed, plan (spark.sql() would run a command at once)."""
    plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(query)
    loader = plan.getClass().getClassLoader()
    command = spark._jvm.java.lang.Class.forName(
        "org.apache.spark.sql.catalyst.plans.logical.Command", False, loader)
    stack, seen = [plan], 0
    while stack and seen < 1000:
        node = stack.pop()
        seen += 1
        cls = node.getClass()
        name = cls.getSimpleName()
        if command.isAssignableFrom(cls) or name in _WRITE_NODES or name.startswith("InsertInto"):
            return f"only read-only queries are allowed (Spark parsed a {name})"
        children = node.children()
        stack.extend(children.apply(i) for i in range(children.size()))
    return None


_WRITE_NODES = frozenset({"DeleteFromTable", "UpdateTable", "MergeIntoTable", "InsertIntoDir",
                          "InsertIntoStatement", "ReplaceData", "WriteDelta"})

# Set on every attempt's session before its first query (see the module docstring).
SESSION_CONF: dict[str, str] = {
    "spark.sql.runSQLOnFiles": "false",
    "spark.sql.variable.substitute": "false",
}
