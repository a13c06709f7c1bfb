"""The --query JMESPath filter, compiled once while the command line is parsed (as knack does)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from batchml.core.errors import UsageError

QUERY_HELP = "To learn more about --query, see https://jmespath.org/"


class Query:
    """A compiled --query expression; `search` applies it to a command's result."""

    __slots__ = ("_parsed", "expression")

    def __init__(self, expression: str, parsed: Any) -> None:
        self.expression = expression
        self._parsed = parsed

    def __repr__(self) -> str:
        return f"Query({self.expression!r})"

    def search(self, data: Any) -> Any:
        """Apply the expression. Projections (`{a:b}`) come back as OrderedDict, as in knack.

        The renderer relies on that: TSV keeps a projection's column order and sorts the
        columns of every other dict.
        """
        from jmespath import Options
        from jmespath.exceptions import JMESPathError

        try:
            return self._parsed.search(data, Options(dict_cls=OrderedDict))
        except JMESPathError as exc:
            # Some mistakes (unknown function, wrong argument type) only show on real data.
            raise UsageError(
                f"Invalid jmespath query supplied for `--query`: {exc}", hint=QUERY_HELP
            ) from exc


def compile_query(expression: str) -> Query:
    """Parse a --query expression; a syntax error is a usage error (exit code 2)."""
    from jmespath import compile as compile_jmespath
    from jmespath.exceptions import JMESPathError

    try:
        parsed = compile_jmespath(expression)
    except (JMESPathError, KeyError) as exc:
        # Same wording as argparse gives knack's `type=jmespath_type`; jmespath's own
        # explanation (with a caret under the bad column) goes in the hint.
        detail = str(exc) if isinstance(exc, JMESPathError) else "invalid expression"
        raise UsageError(
            f"argument --query: invalid jmespath_type value: {expression!r}",
            hint=f"{detail}\n{QUERY_HELP}",
        ) from exc
    return Query(expression, parsed)
