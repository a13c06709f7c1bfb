"""Reading a YAML document a user wrote, with limits: nothing in it can make batchml hang, fill
memory or crash with a traceback.

- A file larger than MAX_BYTES is refused before it is read.
- Aliases are followed as shared objects when loading, but everything after (validation, state
  files, error messages) walks the expanded tree: a document whose expanded tree has more than
  MAX_NODES nodes is refused (the "billion laughs" of a few hundred bytes).
- A key given twice in one mapping is refused, naming both lines (YAML says keys are unique;
  PyYAML would silently keep the last one).
- Dates and times stay the strings they were written as (`description: 2024-01-01`), as JSON
  and Azure's schemas have no date type; `!!set`, `!!binary` and other tags that make values
  JSON cannot hold are refused, naming the line.
- The text must be UTF-8.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchml.core.errors import InvalidSpecError, NotFoundError, Problem, UsageError

if TYPE_CHECKING:
    import yaml

# A deployment or pipeline spec is a few kilobytes; Azure caps a Dockerfile at 1 MB.
MAX_BYTES = 1024 * 1024
# Nodes of the document with every alias expanded: a generous spec has a few hundred.
MAX_NODES = 100_000
# The tags a spec may use (what JSON can hold); the rest are refused.
_JSON_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("map", "seq", "str", "int", "float", "bool", "null", "merge")
)


def read(path: Path) -> str:
    """The text of a YAML file, refused if it is too large or not UTF-8."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            message = f"the file is {size:,} bytes; a spec may be at most {MAX_BYTES:,} bytes"
            raise _invalid(str(path), None, message)
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder; -f/--file takes a YAML file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _invalid(str(path), line, f"not UTF-8 text (byte {exc.start})") from None


def _in_words(exc: yaml.MarkedYAMLError) -> str:
    """What the parser found wrong, as the user would fix it (the parser's words otherwise)."""
    problem = exc.problem or str(exc)
    column = exc.problem_mark.column + 1 if exc.problem_mark is not None else None
    if problem == "mapping values are not allowed here":
        return (
            "a 'key:' where a value was expected: this line is indented more than the key "
            "above it, or the line above lacks its ':', or a value holding ': ' needs quotes"
        )
    if problem.startswith("expected <block end>, but found"):
        return (
            f"the indentation does not line up (column {column}): the keys of one mapping, "
            "and the items of one list, must start in the same column"
        )
    if "'\\t'" in problem:
        return "a tab: YAML indents with spaces only"
    if exc.context == "while scanning a quoted scalar":
        return (
            f"a quote opened at line {exc.context_mark.line + 1} is never closed"
            if exc.context_mark
            else "a quote is never closed"
        )
    if problem == "could not find expected ':'":
        return "a line that is not 'key: value' nor a list item '- ...' (a ':' missing?)"
    return problem


def parse(text: str, source: str) -> Any:
    """The document in `text` as plain JSON-like values; InvalidSpecError naming `source`."""
    import yaml

    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        problem = _check(node)
        if problem is not None:
            at, message = problem
            raise _invalid(source, at.line + 1, message)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise _invalid(source, line, f"not valid YAML: {_in_words(exc)}") from None
    except yaml.YAMLError as exc:
        raise _invalid(source, None, f"not valid YAML: {exc}") from None
    except RecursionError:
        raise _invalid(source, None, "the document is nested too deeply") from None
    finally:
        loader.dispose()


def _invalid(source: str, line: int | None, message: str) -> InvalidSpecError:
    return InvalidSpecError([Problem(source, line, None, message)])


def _check(root: yaml.Node) -> tuple[yaml.Mark, str] | None:
    """The first reason to refuse a composed document: a tag JSON cannot hold, a key given
    twice, or too many nodes once aliases are expanded."""
    import yaml

    sizes: dict[int, int] = {}
    # Iterative post-order walk: a document may nest deeper than Python's recursion limit.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if node.tag not in _JSON_TAGS:
            return node.start_mark, f"the YAML tag {node.tag.rsplit(':', 1)[-1]!r} is not supported"
        children = _children(node)
        if not children_done:
            if isinstance(node, yaml.MappingNode):
                duplicate = _duplicate_key(node)
                if duplicate is not None:
                    return duplicate
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
        if sizes[id(node)] > MAX_NODES:
            return node.start_mark, (
                f"the document expands to more than {MAX_NODES:,} values "
                "(aliases that repeat aliases); write it out or simplify it"
            )
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _duplicate_key(node: yaml.MappingNode) -> tuple[yaml.Mark, str] | None:
    import yaml

    seen: dict[str, yaml.Node] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        first = seen.setdefault(key.value, key)
        if first is not key:
            return key.start_mark, (
                f"{key.value!r} is given twice in one mapping (first at line "
                f"{first.start_mark.line + 1}); keep one"
            )
    return None


@cache
def _loader_class() -> type:
    """SafeLoader without the implicit timestamp type: dates stay strings."""
    import yaml

    class _SpecLoader(yaml.SafeLoader):
        pass

    _SpecLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if not tag.endswith(":timestamp")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return _SpecLoader
