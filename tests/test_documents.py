"""Unit tests of ragstate.ingest.documents (loading text, Markdown, HTML and BEIR .jsonl files) and of the
discovery that feeds it."""

from __future__ import annotations

import json

import pytest
from corpus_files import beir, only_doc, write

from ragstate.ingest.documents import Document, DocumentError, load
from ragstate.models import SourceRef


def only_error(ref: SourceRef, max_bytes: int = 1_000_000) -> DocumentError:
    items = list(load(ref, max_bytes))
    assert len(items) == 1 and isinstance(items[0], DocumentError), items
    return items[0]


def test_load_txt(tmp_path):
    p = write(tmp_path / "my_notes-file.txt", "Line one.\r\nLine   two.\n\n\n\n\nLast\tline.")
    doc = only_doc(SourceRef(path=str(p)))
    assert doc.doc_id == str(p.resolve()) == doc.source
    assert doc.title == "My notes file"
    assert doc.text == "Line one.\nLine two.\n\nLast line."


def test_load_markdown_title_from_heading(tmp_path):
    p = write(tmp_path / "guide.md", "Intro line.\n\n# The Real Title #\n\nBody text.\n\n## Section\n\nMore.")
    doc = only_doc(SourceRef(path=str(p)))
    assert doc.title == "The Real Title"
    assert "The Real Title" not in doc.text
    assert doc.text.startswith("Intro line.") and "## Section" in doc.text and doc.text.endswith("More.")
    nohead = only_doc(SourceRef(path=str(write(tmp_path / "no-heading.md", "## Sub only\n\nText."))))
    assert nohead.title == "No heading"


@pytest.mark.parametrize(
    "heading, title",
    [
        ("# Learn C#", "Learn C#"),  # a trailing # without a space belongs to the text
        ("# Closed heading ##", "Closed heading"),
        ("#   Spaced   ", "Spaced"),
        ("# Windows line ##\r", "Windows line"),
    ],
)
def test_markdown_heading_forms(tmp_path, heading, title):
    p = write(tmp_path / "h.md", f"{heading}\nBody text.")
    doc = only_doc(SourceRef(path=str(p)))
    assert (doc.title, doc.text) == (title, "Body text.")


def test_markdown_lone_hash_is_not_a_heading(tmp_path):
    p = write(tmp_path / "lone.md", "#\n\nNot a title line.\n\n#hashtag too")
    doc = only_doc(SourceRef(path=str(p)))
    assert doc.title == "Lone" and "Not a title line." in doc.text


def test_load_html_strips_script_and_style(tmp_path):
    p = write(
        tmp_path / "page.html",
        """<!doctype html><html><head>
        <title>  Fish &amp; Chips
          Guide </title><meta charset="utf-8"><style>body { color: red }</style>
        <script>var secret = "<p>hidden</p>";</script></head>
        <body><h1>Heading</h1><p>First para &lt;tag&gt;.<br>Second line.</p>
        <noscript>enable js</noscript><ul><li>Item one</li><li>Item two</li></ul></body></html>""",
    )
    doc = only_doc(SourceRef(path=str(p)))
    assert doc.title == "Fish & Chips Guide"
    for gone in ("color", "secret", "hidden", "enable js", "Fish"):
        assert gone not in doc.text
    assert "Heading" in doc.text and "First para <tag>." in doc.text and "Item two" in doc.text
    # Block elements separate paragraphs.
    assert "Heading\n\nFirst para" in doc.text and "Item one\n\nItem two" in doc.text


def test_html_title_entities_decoded_once(tmp_path):
    p = write(tmp_path / "t.html", "<title>AT&amp;amp;T &lt;3</title><p>x</p>")
    assert only_doc(SourceRef(path=str(p))).title == "AT&amp;T <3"


def test_html_without_title_uses_file_name(tmp_path):
    p = write(tmp_path / "some-page.htm", "<p>Only text.</p>")
    doc = only_doc(SourceRef(path=str(p)))
    assert (doc.title, doc.text) == ("Some page", "Only text.")


def test_load_beir_jsonl(tmp_path):
    p = beir(
        tmp_path,
        "corpus.jsonl",
        [
            {"_id": "d1", "title": " T1 ", "text": "Text  one."},
            {"_id": 42, "text": "No title."},
            {"_id": "d3", "title": None, "text": "Null title."},
        ],
    )
    docs = list(load(SourceRef(path=str(p)), 1_000_000))
    assert [(d.doc_id, d.title, d.text) for d in docs] == [
        ("d1", "T1", "Text one."),
        ("42", "", "No title."),
        ("d3", "", "Null title."),
    ]
    assert all(d.source == str(p) for d in docs)


def test_jsonl_bad_lines_yield_errors_while_others_load(tmp_path):
    p = write(
        tmp_path / "mixed.jsonl",
        b"\n".join(
            [
                json.dumps({"_id": "ok1", "text": "Good."}).encode(),
                b"{not json",
                json.dumps({"title": "no id", "text": "x"}).encode(),
                json.dumps({"_id": "num", "text": 5}).encode(),
                b"",
                json.dumps({"_id": "empty", "text": "   "}).encode(),
                b'{"_id": "latin", "text": "caf\xe9"}',
                json.dumps(["_id"]).encode(),
                json.dumps({"_id": "ok2", "text": "Also good."}).encode(),
            ]
        )
        + b"\n",
    )
    items = list(load(SourceRef(path=str(p)), 1_000_000))
    docs = [i for i in items if isinstance(i, Document)]
    errors = [i for i in items if isinstance(i, DocumentError)]
    assert [d.doc_id for d in docs] == ["ok1", "ok2"]
    reasons = {e.failure.doc_id: e.failure.reason for e in errors}
    assert reasons[f"{p}:2"] == "line 2 is not valid JSON (Expecting property name enclosed in double quotes)"
    assert reasons[f"{p}:3"] == 'line 3 has no "_id" (BEIR layout expected)'
    assert "must be strings" in reasons["num"]
    assert "empty document" in reasons["empty"]
    assert "line 7 is not UTF-8" in reasons[f"{p}:7"]
    assert "line 8" in reasons[f"{p}:8"]
    assert len(errors) == 6
    assert all(e.failure.source == str(p) for e in errors)


def test_jsonl_slice_and_too_large_line(tmp_path):
    p = beir(
        tmp_path, "c.jsonl", [{"_id": f"d{i}", "text": f"Text {i}." + ("x" * 200 if i == 3 else "")} for i in range(6)]
    )
    docs = list(load(SourceRef(path=str(p), start=2, end=5), 100))
    assert isinstance(docs[0], Document) and docs[0].doc_id == "d2"
    assert isinstance(docs[1], DocumentError) and "too large" in docs[1].failure.reason
    assert docs[2].doc_id == "d4" and len(docs) == 3


def test_empty_file_is_a_failure(tmp_path):
    e = only_error(SourceRef(path=str(write(tmp_path / "empty.txt", ""))))
    assert "empty document" in e.failure.reason
    e = only_error(SourceRef(path=str(write(tmp_path / "blank.md", "  \n\n\t"))))
    assert "empty" in e.failure.reason
    e = only_error(SourceRef(path=str(write(tmp_path / "scripts.html", "<script>x()</script>"))))
    assert "empty" in e.failure.reason


def test_non_utf8_file_is_a_failure(tmp_path):
    p = write(tmp_path / "latin1.txt", "café au lait".encode("latin-1"))
    e = only_error(SourceRef(path=str(p)))
    assert e.failure.reason.startswith("not UTF-8 text (byte 3")
    assert e.failure.doc_id == str(p.resolve()) or e.failure.doc_id == str(p)
    assert str(e).endswith(e.failure.reason)


def test_utf8_bom_is_stripped(tmp_path):
    p = write(tmp_path / "bom.txt", "\ufeffHello there.".encode("utf-8"))
    assert only_doc(SourceRef(path=str(p))).text == "Hello there."


def test_nul_bytes_rejected(tmp_path):
    p = write(tmp_path / "bin.txt", b"abc\x00def")
    assert "NUL" in only_error(SourceRef(path=str(p))).failure.reason


def test_too_large_file_is_a_failure(tmp_path):
    p = write(tmp_path / "big.txt", "x" * 101)
    e = only_error(SourceRef(path=str(p)), max_bytes=100)
    assert e.failure.reason == "too large: 101 bytes > limit 100"
    assert only_doc(SourceRef(path=str(p)), max_bytes=101).text == "x" * 101


def test_missing_file_loads_as_failure(tmp_path):
    e = only_error(SourceRef(path=str(tmp_path / "gone.txt")))
    assert "unreadable" in e.failure.reason
    e = only_error(SourceRef(path=str(tmp_path / "gone.jsonl")))
    assert "unreadable" in e.failure.reason


def test_version_hash_is_stable_and_content_based(tmp_path):
    a = Document("id", "Title", "Some text.", "src")
    assert a.version == Document("other-id", "Title", "Some text.", "elsewhere").version
    assert len(a.version) == 16 and int(a.version, 16) >= 0
    assert a.version == "{}".format(Document("id", "Title", "Some text.", "src").version)
    assert Document("id", "Title", "Some text!", "src").version != a.version
    assert Document("id", "Title2", "Some text.", "src").version != a.version
    # Title and text are separated: moving a character across the boundary changes the hash.
    assert Document("id", "ab", "c", "s").version != Document("id", "a", "bc", "s").version
    p = write(tmp_path / "v.txt", "Version one.")
    v1 = only_doc(SourceRef(path=str(p))).version
    assert only_doc(SourceRef(path=str(p))).version == v1
    write(p, "Version two.")
    assert only_doc(SourceRef(path=str(p))).version != v1
