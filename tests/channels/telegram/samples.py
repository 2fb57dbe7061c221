"""Sample text shared by the Telegram formatting tests: awkward characters and Markdown fragments."""

from __future__ import annotations

from hypothesis import strategies as st

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man ZWJ woman ZWJ girl: 8 code units

MARKDOWN_PIECES = [
    "**", "*", "_", "__", "~~", "`", "```", "```py\n", "\n", "\n\n", "[", "]", "](", ")", "(",
    "https://a.example/x_(y)", "tg://resolve?domain=x", "mailto:m@x.example", "> ", "- ", "1. ",
    "# ", "    ", "😀", FAMILY, "中文", " ", "word", "\\", "<", ">", "&amp;", "![", "---",
    "\ud83d", "\ude00", "\x00", "\r\n", "word " * 5, "```\na b\n\nc\n```\n",
]  # fmt: skip

# Arbitrary text, and text built from Markdown fragments (which hits structure far more often).
markdown_text = st.one_of(
    st.text(),
    st.lists(st.sampled_from(MARKDOWN_PIECES), max_size=60).map("".join),
)
