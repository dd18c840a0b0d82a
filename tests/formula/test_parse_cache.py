"""The parser keeps each text's tree, and hands every caller a tree of its own (the type checker
annotates the nodes it is given)."""
from __future__ import annotations

import pytest

from engine.formula import FormulaError
from engine.formula.parser import parse


def _walk(node):
    yield node
    for arg in node.args:
        yield from _walk(arg)


def test_each_parse_is_a_fresh_tree_equal_to_the_first():
    first = parse("IF(amount > 10, 'big', name & '!')")
    for node in _walk(first):
        node.type = "text"
        node.extra["seen"] = True
    second = parse("IF(amount > 10, 'big', name & '!')")
    assert second is not first
    assert [(n.kind, n.pos, n.value) for n in _walk(second)] == [(n.kind, n.pos, n.value) for n in _walk(first)]
    assert all(n.type is None and "seen" not in n.extra for n in _walk(second))
    assert all(a is not b for a, b in zip(_walk(first), _walk(second)))


def test_a_text_that_does_not_parse_fails_every_time():
    for _ in range(2):
        with pytest.raises(FormulaError) as info:
            parse("amount +")
        assert info.value.code == "formula.E005"
