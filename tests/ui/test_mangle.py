"""The renaming that shortens runtime.js (consentgate.ui.mangle): variables only, never what
other code sees. The served runtime itself is checked token for token in test_render.py and
run by every browser test."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consentgate.ui.mangle import mangle

JS = (
    '(function(){"use strict";var document2=1,listeners=[],config={show:show,listeners:listeners};'
    "function show(selector,root){var found=root.querySelector(selector);return found?found.show:listeners;}"
    'var api={get listeners(){return listeners;},on:function(name,fn){listeners.push(name+"selector");}};'
    'try{show("a",document)}catch(error){setTimeout(function(){throw error;});}'
    "for(var key in config)if(/listeners|show/.test(key))window.x=key?show:config;})();"
)


def names_in(js: str) -> set[str]:
    code = re.sub(r'"(?:\\.|[^"\\])*"|/(?![/*])(?:\\.|[^/\\\n])+/[a-z]*', "", js)
    return set(re.findall(r"[A-Za-z_$][\w$]*", code))


def test_variables_are_renamed_and_what_others_see_is_not() -> None:
    out, names = mangle(JS)
    assert set(names) == {
        "document2",
        "listeners",
        "config",
        "show",
        "selector",
        "root",
        "found",
        "api",
        "name",
        "fn",
        "error",
        "key",
    }
    # Keys, getters and properties keep their names; strings and regexes are not looked into.
    assert "{show:" + names["show"] + ",listeners:" + names["listeners"] + "}" in out
    assert "get listeners(){return " + names["listeners"] + ";}" in out
    assert "found.show" not in out and "." + names["found"] + ".show" not in out
    assert "?" + names["found"] + ".show:" + names["listeners"] in out
    assert '"selector"' in out and "/listeners|show/" in out and '"use strict"' in out
    # Globals and properties stay; the new names are fresh, one per old name, and shorter.
    assert {"document", "setTimeout", "window", "querySelector", "push", "test"} <= names_in(out)
    assert len(set(names.values())) == len(names)
    assert not set(names.values()) & names_in(JS)
    assert all(len(new) < len(old) for old, new in names.items())


def test_a_name_shadowed_in_an_inner_function_stays_one_binding_per_scope() -> None:
    js = "(function(){var value=1;function inner(value){return value+1;}return inner(value);})();"
    out, names = mangle(js)
    v, f = names["value"], names["inner"]
    assert out == f"(function(){{var {v}=1;function {f}({v}){{return {v}+1;}}return {f}({v});}})();"


@given(st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta"]), min_size=1, max_size=6, unique=True))
def test_renaming_is_consistent_for_any_set_of_declarations(declared: list[str]) -> None:
    body = "".join(f"var {name}={i};" for i, name in enumerate(declared))
    uses = "+".join(declared)
    js = f'(function(){{{body}return {{{declared[0]}:{uses},s:"{uses}"}}.{declared[0]};}})();'
    out, names = mangle(js)
    assert set(names) == set(declared)
    assert f"return{{{declared[0]}:" + "+".join(
        names[n] for n in declared
    ) + f',s:"{uses}"}}.{declared[0]};' in (out.replace(" ", ""))


def test_a_template_literal_is_refused_rather_than_renamed_inside() -> None:
    with pytest.raises(ValueError, match="template literals"):
        mangle("(function(){var name=1;return `name ${name}`;})();")


def test_the_runtimes_own_expandos_get_short_private_names() -> None:
    js = "(function(){function mark(el){el.cgQueued=true;return el.cgQueued&&el.queued;}mark(document.body);})();"
    out, names = mangle(js)
    assert names["cgQueued"].startswith("_")
    assert out.count("." + names["cgQueued"]) == 2 and ".queued" in out and "cgQueued" not in out


def test_promise_catch_is_not_a_catch_clause() -> None:
    out, names = mangle("(function(){var request=fetch('/x');request.catch(console.error);})();")
    assert "console" not in names and "console.error" in out


def test_a_slash_where_a_division_could_be_is_refused() -> None:
    with pytest.raises(ValueError, match="division"):
        mangle("(function(){var half=width/2,third=width/3;return half;})();")
    # After an operator or a keyword, a slash starts a regex literal, never looked into.
    out, names = mangle("(function(){var src=1;return/src/.test(src)?[/src/]:src;})();")
    assert out.count("/src/") == 2 and "src" in names
