"""The Telegram fake's pure parts: UTF-16 spans, entity checks, the HTML and
MarkdownV2 parse modes, argument decoding, the update queue and fault plans."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.testing.http_server import HttpRequest
from autobot.testing.telegram.entities import (
    Entity,
    EntityError,
    entities_from_api,
    span_of,
    utf16_len,
    utf16_slice,
)
from autobot.testing.telegram.faults import Fault, FaultPlan
from autobot.testing.telegram.html import parse_html
from autobot.testing.telegram.markdown import parse_markdown_v2
from autobot.testing.telegram.request import ApiError, Arguments, read_arguments
from autobot.testing.telegram.updates import DEFAULT_ALLOWED, FIRST_UPDATE_ID, UpdateQueue


def spans(markup: str, parse: object = parse_html) -> list[tuple[str, str]]:
    assert callable(parse)
    formatted = parse(markup)
    return [(entity.type, entity.covered(formatted.text)) for entity in formatted.entities]


def test_utf16_helpers_count_surrogate_pairs() -> None:
    text = "a😀b👋🏽c"
    assert utf16_len(text) == 1 + 2 + 1 + 4 + 1
    assert utf16_slice(text, 1, 2) == "😀"
    assert span_of(text, "c") == (8, 1)
    assert span_of(text, "b", 2) == (3, 1)


@given(st.text(), st.text(min_size=1), st.text())
def test_span_of_finds_what_utf16_slice_gives_back(before: str, middle: str, after: str) -> None:
    text = before + middle + after
    offset, length = span_of(text, middle, len(before))
    assert utf16_slice(text, offset, length) == middle


def test_entities_from_api_drops_empty_spans_sorts_and_checks_shapes() -> None:
    entities = entities_from_api(
        [
            {"type": "italic", "offset": 2, "length": 1},
            {"type": "bold", "offset": 0, "length": 0},
            {"type": "pre", "offset": 0, "length": 3, "language": "py"},
            {"type": "text_mention", "offset": 0, "length": 1, "user": {"id": 7}},
        ],
        "abc",
    )
    assert [(e.type, e.offset, e.length) for e in entities] == [
        ("pre", 0, 3),
        ("text_mention", 0, 1),
        ("italic", 2, 1),
    ]
    assert entities[0].language == "py"
    assert entities_from_api(None, "abc") == ()
    with pytest.raises(EntityError, match="must be an Array"):
        entities_from_api({"type": "bold"}, "abc")
    with pytest.raises(EntityError, match="entity 0: expected an Object"):
        entities_from_api(["bold"], "abc")
    with pytest.raises(EntityError, match='"user" must be an Object'):
        entities_from_api([{"type": "text_mention", "offset": 0, "length": 1}], "abc")


@pytest.mark.parametrize(
    ("markup", "text", "found"),
    [
        ("<b>bold</b> <strong>too</strong>", "bold too", [("bold", "bold"), ("bold", "too")]),
        (
            "<i>a</i><em>b</em><u>c</u><ins>d</ins>",
            "abcd",
            [("italic", "a"), ("italic", "b"), ("underline", "c"), ("underline", "d")],
        ),
        (
            "<s>a</s><strike>b</strike><del>c</del>",
            "abc",
            [("strikethrough", "a"), ("strikethrough", "b"), ("strikethrough", "c")],
        ),
        (
            '<tg-spoiler>x</tg-spoiler><span class="tg-spoiler">y</span>',
            "xy",
            [("spoiler", "x"), ("spoiler", "y")],
        ),
        ("<b>bold <i>both</i></b>", "bold both", [("bold", "bold both"), ("italic", "both")]),
        ("<B>upper</B>", "upper", [("bold", "upper")]),
        ("a &lt;b&gt; &amp; &quot;c&quot; &#65;&#x1F600;", 'a <b> & "c" A😀', []),
        ("AT&T &copy; a&b > c", "AT&T &copy; a&b > c", []),  # unknown references stay text
        ("<code><b>no</b></code>", "no", [("code", "no")]),  # no formatting inside code
        ('<pre><code class="language-python">x = 1</code></pre>', "x = 1", [("pre", "x = 1")]),
        (
            "<blockquote>q</blockquote><blockquote expandable>e</blockquote>",
            "qe",
            [("blockquote", "q"), ("expandable_blockquote", "e")],
        ),
        ('<a href="tg://user?id=42">Bob</a>', "Bob", [("text_mention", "Bob")]),
        ("<a href='example.org'>site</a>", "site", [("text_link", "site")]),
        ('<a href="javascript:alert(1)">no link</a>', "no link", []),
        ('<a href="http://x.org:99999/">bad port</a>', "bad port", []),
        ("<a href='example.org:8080'>port</a>", "port", [("text_link", "port")]),
        ("<b>a</>", "a", [("bold", "a")]),  # </> closes the innermost tag
        ("<b></b>empty", "empty", []),
        ("😀<b>é😀</b>", "😀é😀", [("bold", "é😀")]),
    ],
)
def test_html_accepts_the_telegram_subset(
    markup: str, text: str, found: list[tuple[str, str]]
) -> None:
    assert parse_html(markup).text == text
    assert spans(markup) == found


def test_html_links_and_languages_land_in_the_right_fields() -> None:
    formatted = parse_html(
        '<a href="https://x.org/?a=1&amp;b=2">x</a><pre><code class="language-rust">y</code></pre>'
    )
    link, pre = formatted.entities
    assert link.url == "https://x.org/?a=1&b=2"
    assert (pre.type, pre.language) == ("pre", "rust")
    code = parse_html('<code class="language-go">z</code>').entities[0]
    assert (code.type, code.language) == ("code", None)  # only pre carries a language


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("é <x>y</x>", 'Unsupported start tag "x" at byte offset 3'),
        ("<script>alert(1)</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("<b>unclosed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ('<a href="x>y</a>', "Unclosed start tag at byte offset 0"),
        ("<a href=x/y>z</a>", "Unexpected end of name token at byte offset 8"),
        ("<b =1>x</b>", 'Empty attribute name in the tag "b" at byte offset 0'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("&#xD83D;", "Text contains invalid Unicode characters after decoding HTML entities"),
    ],
)
def test_html_refuses_broken_markup(markup: str, error: str) -> None:
    with pytest.raises(EntityError) as refused:
        parse_html(markup)
    assert str(refused.value).startswith(error)


def escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@given(st.text())
def test_escaped_html_round_trips_to_the_text(text: str) -> None:
    assert parse_html(escape_html(text)).text == text


@given(st.text(min_size=1))
def test_a_bold_tag_covers_its_text_in_utf16_units(text: str) -> None:
    formatted = parse_html(f"x<b>{escape_html(text)}</b>")
    assert formatted.entities == (Entity(type="bold", offset=1, length=utf16_len(text)),)


@pytest.mark.parametrize(
    ("markup", "text", "found"),
    [
        (
            "*b* _i_ __u__ ~s~ ||p||",
            "b i u s p",
            [
                ("bold", "b"),
                ("italic", "i"),
                ("underline", "u"),
                ("strikethrough", "s"),
                ("spoiler", "p"),
            ],
        ),
        ("*bold _both_*", "bold both", [("bold", "bold both"), ("italic", "both")]),
        ("`a_b\\`c`", "a_b`c", [("code", "a_b`c")]),
        ("```py\nprint(1)\n```", "print(1)\n", [("pre", "print(1)\n")]),
        ("[site](https://x.org/a\\)b)", "site", [("text_link", "site")]),
        (">one\n>two\nafter", "one\ntwo\nafter", [("blockquote", "one\ntwo\n")]),
        ("1\\.5 \\- 2\\!", "1.5 - 2!", []),
        ("😀 *é😀*", "😀 é😀", [("bold", "é😀")]),
    ],
)
def test_markdown_v2_accepts_the_telegram_syntax(
    markup: str, text: str, found: list[tuple[str, str]]
) -> None:
    assert parse_markdown_v2(markup).text == text
    assert spans(markup, parse_markdown_v2) == found


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ("Done.", "Character '.' is reserved and must be escaped with the preceding '\\'"),
        ("a > b", "Character '>' is reserved"),
        ("*bold", "Can't find end of Bold entity at byte offset 0"),
        ("é _x", "Can't find end of Italic entity at byte offset 3"),
        ("[a](http://x.org", "Can't find end of a URL at byte offset 4"),
        ("![x]", "The entity must contain a tg://emoji or tg://time URL"),
        (">*a\nb*", "Can't find end of Bold entity at byte offset 1"),
    ],
)
def test_markdown_v2_refuses_unescaped_or_unclosed_markup(markup: str, error: str) -> None:
    with pytest.raises(EntityError) as refused:
        parse_markdown_v2(markup)
    assert str(refused.value).startswith(error)


@given(st.text(alphabet=st.characters(max_codepoint=0x2FFFF, exclude_categories=("Cs",))))
def test_escaping_every_reserved_character_round_trips(text: str) -> None:
    escaped = "".join("\\" + c if c in "_*[]()~`>#+-=|{}.!\\" else c for c in text)
    assert parse_markdown_v2(escaped).text == text


def test_arguments_decode_multipart_as_httpx_builds_it() -> None:
    payload = b"\0\r\n--not-the-boundary\r\n\xff"
    built = httpx.Request(
        "POST",
        "http://127.0.0.1/bot1:x/sendDocument?chat_id=5",
        data={"caption": "héllo", "disable_notification": "true"},
        files={"document": ("a b.bin", payload, "application/x-thing")},
    )
    request = HttpRequest(
        method="POST",
        path="/bot1:x/sendDocument?chat_id=5",
        headers={k.lower(): v for k, v in built.headers.items()},
        body=built.read(),
    )
    arguments = read_arguments(request)
    assert arguments.integer("chat_id") == 5
    assert arguments.string("caption") == "héllo"
    assert arguments.flag("disable_notification") is True
    upload = arguments.files["document"]
    assert (upload.file_name, upload.content_type, upload.content) == (
        "a b.bin",
        "application/x-thing",
        payload,
    )


def test_arguments_refuse_values_of_the_wrong_type() -> None:
    arguments = Arguments(values={"n": "12x", "b": "maybe", "j": "[1,", "t": True})
    with pytest.raises(ApiError, match='"n" must be an Integer'):
        arguments.integer("n")
    with pytest.raises(ApiError, match='"b" must be a Boolean'):
        arguments.flag("b")
    with pytest.raises(ApiError, match="can't parse j JSON object"):
        arguments.structured("j")
    with pytest.raises(ApiError, match='"t" must be a String'):
        arguments.string("t")
    with pytest.raises(ApiError, match='"t" must be an Integer'):
        arguments.integer("t")  # a JSON true is no integer, though Python thinks so
    assert Arguments(values={"n": " -7 ", "e": ""}).integer("n") == -7
    assert Arguments(values={"e": ""}).integer("e") is None


@pytest.mark.parametrize(
    ("path", "content_type", "body", "error"),
    [
        ("/m", "text/xml", b"<x/>", "unsupported Content-Type 'text/xml'"),
        ("/m?text=%FF", "", b"", "strings must be encoded in UTF-8"),
        ("/m", "application/x-www-form-urlencoded", b"text=\xff", "strings must be encoded"),
        ("/m", "application/json", b"[1]", "can't parse JSON object: expected an Object"),
        ("/m", "multipart/form-data", b"--x--", "can't parse form data: no boundary"),
        ("/m", "multipart/form-data; boundary=x", b"junk", "bad boundaries"),
    ],
)
def test_read_arguments_refuses_what_it_cannot_read(
    path: str, content_type: str, body: bytes, error: str
) -> None:
    request = HttpRequest(
        method="POST", path=path, headers={"content-type": content_type}, body=body
    )
    with pytest.raises(ApiError, match=error) as refused:
        read_arguments(request)
    assert refused.value.status == 400


def test_the_update_queue_confirms_filters_and_keeps_allowed_updates_sticky() -> None:
    queue = UpdateQueue()
    first = queue.add("message", {"text": "a"})
    assert first == {"update_id": FIRST_UPDATE_ID, "message": {"text": "a"}}
    assert queue.add("message_reaction", {}) is None  # not in the default set
    queue.set_allowed(["MESSAGE", "no_such_type"])
    assert queue.allowed == {"message"}
    queue.set_allowed(None)
    queue.set_allowed("message")  # not an array: ignored, as the real server does
    queue.set_allowed([1])
    assert queue.allowed == {"message"}
    assert queue.add("edited_message", {}) is None
    second = queue.add("message", {"text": "b"})
    assert second is not None and second["update_id"] == FIRST_UPDATE_ID + 1  # no id lost
    queue.set_allowed(["nothing_known"])
    assert queue.allowed == DEFAULT_ALLOWED
    queue.confirm(0)
    assert len(queue.pending) == 2
    queue.confirm(FIRST_UPDATE_ID + 1)
    assert queue.pending == [second]
    with pytest.raises(ValueError, match="no update type 'messages'"):
        queue.add("messages", {})


def test_a_fault_plan_counts_down_per_method_whatever_the_case() -> None:
    plan = FaultPlan()
    plan.add("sendMessage", Fault.too_many_requests(3), count=2)
    assert plan.remaining("SENDMESSAGE") == 2
    assert plan.take("sendmessage") == Fault.too_many_requests(3)
    assert plan.take("sendMessage") is not None
    assert plan.take("sendMessage") is None
    with pytest.raises(ValueError, match="at least 1"):
        plan.add("getMe", Fault.dropped_connection(), count=0)
