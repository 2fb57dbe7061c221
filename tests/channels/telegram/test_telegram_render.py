"""Markdown to Telegram text + entities: exact renderings, link rules, value checks, properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot.channels.telegram.render import (
    Entity,
    RenderedText,
    render_markdown,
    telegram_link,
    utf16_len,
    utf16_offsets,
)
from autobot.channels.utf16 import valid_utf16

from .entity_rules import violations
from .samples import FAMILY, markdown_text


def entities(markdown: str) -> list[dict[str, str | int]]:
    return [entity.to_json() for entity in render_markdown(markdown).entities]


def covered(rendered: RenderedText, entity: Entity) -> str:
    units = rendered.text.encode("utf-16-le")
    return units[2 * entity.offset : 2 * entity.end].decode("utf-16-le")


# --- UTF-16 counting ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "units"),
    [("", 0), ("abc", 3), ("é", 1), ("中文", 2), ("😀", 2), (FAMILY, 8), ("a😀b", 4)],
)
def test_utf16_len_counts_code_units(text: str, units: int) -> None:
    assert utf16_len(text) == units


def test_utf16_offsets_give_each_code_point_its_start() -> None:
    assert utf16_offsets("a😀中") == [0, 1, 3, 4]
    assert utf16_offsets("") == [0]


@given(st.text())
def test_utf16_len_matches_the_encoder(text: str) -> None:
    assert utf16_len(text) == len(text.encode("utf-16-le", "surrogatepass")) // 2
    assert utf16_offsets(text)[-1] == utf16_len(text)


# --- exact renderings --------------------------------------------------------


def test_emoji_before_an_entity_counts_two_units() -> None:
    rendered = render_markdown("😀 **bold**")
    assert rendered.text == "😀 bold"
    assert entities("😀 **bold**") == [{"type": "bold", "offset": 3, "length": 4}]
    assert covered(rendered, rendered.entities[0]) == "bold"


def test_zwj_sequence_before_an_entity_counts_every_unit() -> None:
    rendered = render_markdown(f"{FAMILY} *it*")
    assert rendered.text == f"{FAMILY} it"
    assert rendered.entities == (Entity("italic", 9, 2),)


def test_cjk_is_one_unit_per_character() -> None:
    rendered = render_markdown("中文 **粗体** 😀")
    assert rendered.text == "中文 粗体 😀"
    assert rendered.entities == (Entity("bold", 3, 2),)


def test_nested_bold_and_italic() -> None:
    assert render_markdown("**bold *both* bold**") == RenderedText(
        "bold both bold", (Entity("bold", 0, 14), Entity("italic", 5, 4))
    )
    assert render_markdown("***both***") == RenderedText(
        "both", (Entity("bold", 0, 4), Entity("italic", 0, 4))
    )


@pytest.mark.parametrize(
    ("markdown", "text", "expected"),
    [
        ("**unbalanced", "**unbalanced", ()),
        ("a ** b", "a ** b", ()),
        ("**a *b**", "*a b", (Entity("italic", 1, 3),)),
        ("`unclosed code", "`unclosed code", ()),
        ("[unclosed](https://a.example", "[unclosed](https://a.example", ()),
        ("~single~ ~~double~~", "~single~ double", (Entity("strikethrough", 9, 6),)),
        ("snake_case_name", "snake_case_name", ()),
    ],
)
def test_unbalanced_markers_stay_text(
    markdown: str, text: str, expected: tuple[Entity, ...]
) -> None:
    assert render_markdown(markdown) == RenderedText(text, expected)


def test_angle_brackets_and_ampersands_are_left_as_written() -> None:
    source = "List<int> a < b && c > d &amp; &lt;b&gt; <div>x</div>"
    assert render_markdown(source) == RenderedText(source)


def test_escaped_characters_lose_their_backslash_and_their_meaning() -> None:
    assert render_markdown(r"\*not italic\* \`x\` \[y\](z) \\") == RenderedText(
        "*not italic* `x` [y](z) \\"
    )


def test_link_with_parentheses_in_its_url() -> None:
    url = "https://en.wikipedia.org/wiki/Foo_(bar)"
    assert render_markdown(f"see [wiki]({url}).") == RenderedText(
        "see wiki.", (Entity("text_link", 4, 4, url=url),)
    )


def test_autolink_and_empty_label_show_the_url() -> None:
    assert render_markdown("<https://a.example/x>") == RenderedText(
        "https://a.example/x", (Entity("text_link", 0, 19, url="https://a.example/x"),)
    )
    assert render_markdown("[](https://a.example)") == RenderedText(
        "https://a.example", (Entity("text_link", 0, 17, url="https://a.example"),)
    )


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        ("[mail](mailto:a@b.example)", "mail (mailto:a@b.example)"),
        ("<a@b.example>", "a@b.example"),
        ("[docs](./README.md)", "docs (./README.md)"),
        ("[local](http://localhost:8080/x)", "local (http://localhost:8080/x)"),
        ("[me](tg://user?id=42)", "me (tg://user?id=42)"),
        (
            "[phish](https://trusted.example@evil.example/)",
            "phish (https://trusted.example@evil.example/)",
        ),
        ("[ftp](ftp://files.example/a)", "ftp (ftp://files.example/a)"),
        ("[port](https://a.example:0/)", "port (https://a.example:0/)"),
    ],
)
def test_links_telegram_would_refuse_stay_plain_text(markdown: str, text: str) -> None:
    assert render_markdown(markdown) == RenderedText(text)


def test_script_links_are_not_links_at_all() -> None:
    source = "[click](javascript:alert(1)) [x](data:text/html,hi) [f](file:///etc/passwd)"
    assert render_markdown(source) == RenderedText(source)


def test_tg_links_other_than_user_mentions_are_links() -> None:
    assert render_markdown("[chan](tg://resolve?domain=telegram)") == RenderedText(
        "chan", (Entity("text_link", 0, 4, url="tg://resolve?domain=telegram"),)
    )


def test_image_becomes_a_link_on_its_alt_text() -> None:
    assert render_markdown("![a cat](https://img.example/cat.png)") == RenderedText(
        "a cat", (Entity("text_link", 0, 5, url="https://img.example/cat.png"),)
    )
    assert render_markdown("![](https://img.example/c.png)").text == "https://img.example/c.png"


def test_image_inside_a_link_gives_way_to_the_link() -> None:
    assert render_markdown("[![i](https://img.example/i.png)](https://a.example)") == RenderedText(
        "i", (Entity("text_link", 0, 1, url="https://a.example"),)
    )


def test_code_inside_bold_cuts_the_bold_in_two() -> None:
    assert render_markdown("**run `make` now**") == RenderedText(
        "run make now", (Entity("bold", 0, 4), Entity("code", 4, 4), Entity("bold", 8, 4))
    )


def test_code_inside_a_link_gives_way_to_the_link() -> None:
    assert render_markdown("[`x`](https://a.example)") == RenderedText(
        "x", (Entity("text_link", 0, 1, url="https://a.example"),)
    )


def test_fenced_code_block_becomes_pre_with_its_language() -> None:
    source = "Run:\n\n```python extra words\nprint('<&>')\n\n  indented\n```\n\nDone."
    code = "print('<&>')\n\n  indented"
    assert render_markdown(source) == RenderedText(
        f"Run:\n\n{code}\n\nDone.", (Entity("pre", 6, utf16_len(code), language="python"),)
    )


@pytest.mark.parametrize(("info", "language"), [("c++", "c++"), ("{python}", None), ("", None)])
def test_only_plausible_languages_are_kept(info: str, language: str | None) -> None:
    assert render_markdown(f"```{info}\nx\n```").entities == (
        Entity("pre", 0, 1, language=language),
    )


def test_indented_code_block_and_empty_fence() -> None:
    assert render_markdown("text\n\n    code here\n\n```\n```\n\nend") == RenderedText(
        "text\n\ncode here\n\nend", (Entity("pre", 6, 9),)
    )


def test_headings_become_bold() -> None:
    assert render_markdown("# Title *it*\n\ntext\n\nSub\n---") == RenderedText(
        "Title it\n\ntext\n\nSub",
        (Entity("bold", 0, 8), Entity("italic", 6, 2), Entity("bold", 16, 3)),
    )


def test_lists_become_bullet_and_number_lines() -> None:
    source = "- a\n- b\n  - c\n\n3. x\n4. y\n\n* z"
    assert render_markdown(source) == RenderedText("• a\n• b\n  • c\n\n3. x\n4. y\n\n• z")


def test_blockquote_is_one_entity_even_when_nested() -> None:
    rendered = render_markdown("> q1\n>\n> > inner **b**\n\nafter")
    assert rendered == RenderedText(
        "q1\n\ninner b\n\nafter", (Entity("blockquote", 0, 11), Entity("bold", 10, 1))
    )


def test_thematic_break_and_hard_break() -> None:
    assert render_markdown("a  \nb\n\n***\n\nc") == RenderedText("a\nb\n\n———\n\nc")


def test_nesting_deeper_than_the_parser_follows_is_sent_as_plain_text() -> None:
    source = ">" * 25 + " deep"
    assert render_markdown(source) == RenderedText(source)
    assert render_markdown(">" * 10 + " deep") == RenderedText(
        "deep", (Entity("blockquote", 0, 4),)
    )


def test_surrogates_are_paired_or_replaced() -> None:
    assert render_markdown("a\ud800b \ud83d\ude00").text == "a\ufffdb 😀"
    assert valid_utf16("ok") == "ok"


@pytest.mark.parametrize("blank", ["", "   ", "\n\n \n", "```\n```"])
def test_blank_markdown_renders_empty(blank: str) -> None:
    assert render_markdown(blank) == RenderedText("")


# --- link rule ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://a.example",
        "http://a.example:8080/p?q=1#f",
        "https://sub_domain.a-b.example./x",
        "HTTPS://A.Example:443",
        "http://[2001:db8::1]/x",
        "tg://resolve?domain=telegram",
        "tg://join?invite=abc",
    ],
)
def test_telegram_link_accepts(url: str) -> None:
    assert telegram_link(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost/",
        "https://a.example:/",
        "http://[2001:db8::1]:/",
        "https://a.exa\nmple/",
        "https://a.example/a b",
        "http://[2001:db8::1/",
        "https://a.example\\@evil.example/",
        "https://a.example:0/",
        "https://a.example:99999/",
        "https://user:pw@a.example/",
        "http://[fe80::1%25eth0]/",
        "http://[not:an:address]/",
        "https://",
        "ftp://a.example/",
        "mailto:a@b.example",
        "tg://user?id=1",
        "TG://USER?id=1",
        "tg://a.b/",
        "/relative",
        "javascript:alert(1)",
    ],
)
def test_telegram_link_refuses(url: str) -> None:
    assert telegram_link(url) is None


# --- value checks ------------------------------------------------------------


def test_entity_to_json() -> None:
    assert Entity("text_link", 1, 2, url="https://a.example").to_json() == {
        "type": "text_link",
        "offset": 1,
        "length": 2,
        "url": "https://a.example",
    }
    assert Entity("pre", 0, 3, language="py").to_json() == {
        "type": "pre",
        "offset": 0,
        "length": 3,
        "language": "py",
    }
    assert Entity("bold", 0, 1).to_json() == {"type": "bold", "offset": 0, "length": 1}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Entity("underline", 0, 1), "'type' must be in"),
        (lambda: Entity("bold", -1, 1), "'offset' must be >= 0"),
        (lambda: Entity("bold", 0, 0), "'length' must be > 0"),
        (lambda: Entity("text_link", 0, 1), "a url belongs on a text_link"),
        (lambda: Entity("bold", 0, 1, url="https://a.example"), "a url belongs on a text_link"),
        (lambda: Entity("code", 0, 1, language="py"), "a language belongs on a pre"),
        (lambda: RenderedText("ab", (Entity("bold", 1, 2),)), "ends past the text"),
        (lambda: RenderedText("😀", (Entity("bold", 1, 1),)), "inside a surrogate pair"),
        (lambda: RenderedText("😀a", (Entity("bold", 0, 1),)), "inside a surrogate pair"),
        (lambda: RenderedText("a\ud800"), "lone surrogate at index 1"),
    ],
)
def test_bad_values_are_refused(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make()  # type: ignore[operator]


# --- properties ---------------------------------------------------------------


@settings(max_examples=400)
@given(markdown_text)
def test_render_never_fails_and_obeys_telegrams_rules(markdown: str) -> None:
    rendered = render_markdown(markdown)
    assert violations(rendered) == []
    assert re.search("[\ud800-\udfff]", rendered.text) is None
    assert rendered.text == rendered.text.rstrip("\n")
    for entity in rendered.entities:
        assert covered(rendered, entity)


PROSE_START = "abcXYZéü中文😀"
PROSE_REST = PROSE_START + "0123456789<>&,.?!;:'\"()/=%$@"
prose_line = st.builds(
    lambda first, words: first + " ".join(words),
    st.sampled_from(PROSE_START),
    st.lists(st.text(PROSE_REST, min_size=1, max_size=8), max_size=6),
)


@given(st.lists(prose_line, min_size=1, max_size=6).map("\n".join))
def test_plain_prose_passes_through_unchanged(prose: str) -> None:
    assert render_markdown(prose) == RenderedText(prose)
