"""schemathesis's command line, with one workaround for the Python it runs on.

CPython 3.11 before 3.11.8 can raise `SystemError: AST constructor recursion depth mismatch`
from `ast.parse` of valid source when called deep in a stack of generators (python/cpython
gh-106905). Hypothesis parses source files that way only to *describe* a lambda in a
strategy's repr, and treats a `SyntaxError` there as "cannot describe it"; schemathesis's
coverage phase reached it and aborted an operation with a runtime error. Turning that one
`SystemError` into a `SyntaxError` changes no generated request and no check.

Usage: .stack/venv/bin/python bench/schemathesis_cli.py <schemathesis arguments>
"""
import ast
import sys

_parse = ast.parse


def _parse_or_syntax_error(*args, **kwargs):
    try:
        return _parse(*args, **kwargs)
    except SystemError as e:
        if "recursion depth mismatch" not in str(e):
            raise
        raise SyntaxError(str(e)) from e


ast.parse = _parse_or_syntax_error

from schemathesis.cli import schemathesis  # noqa: E402  (after the patch, on purpose)

if __name__ == "__main__":
    sys.argv[0] = "schemathesis"
    sys.exit(schemathesis())
