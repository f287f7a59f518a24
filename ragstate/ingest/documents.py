"""Finding and reading source documents: .txt, .md, .html files and BEIR-layout .jsonl.

Each document gets a stable id: the BEIR ``_id`` for .jsonl records, the resolved file path
for single files. A bad document raises :class:`DocumentError`, which ingestion records with
its reason while the rest go on.

A document may carry access groups (only callers in one of them find it): a .jsonl record's
``"groups": ["hr", "legal"]``, or for a whole file a sidecar ``<file>.groups`` beside it (one
group per line, ``#`` comments and blank lines ignored; for a .jsonl file, the groups of its
records that name none). A group name that :func:`ragstate.models.tenancy.check_access_group`
refuses fails that document alone.

Finding the documents (and the batches they travel in) is :mod:`ragstate.ingest.discovery`'s job.

Example::

    for ref in discover(["examples/corpus"], batch_docs=64)[0]:   # ragstate.ingest.discovery
        for doc in load(ref, max_bytes=10_000_000):
            print(doc.doc_id, doc.title)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from ragstate.models import DocumentFailure, SourceRef
from ragstate.models.tenancy import check_access_group

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm"}
JSONL_SUFFIXES = {".jsonl"}
SUPPORTED = TEXT_SUFFIXES | JSONL_SUFFIXES
#: A file's access-groups sidecar: ``notes.md`` -> ``notes.md.groups``.
GROUPS_SUFFIX = ".groups"
#: Access groups one document may carry (as many as a query may name).
MAX_GROUPS = 256
#: A sidecar larger than this is refused (a list of group names, not a document).
MAX_SIDECAR_BYTES = 64 * 1024


class DocumentError(Exception):
    """A document that cannot be ingested; the message says why."""

    def __init__(self, doc_id: str, source: str, reason: str):
        super().__init__(f"{doc_id}: {reason}")
        self.failure = DocumentFailure(doc_id=doc_id, source=source, reason=reason)


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    text: str
    source: str
    #: Its access groups, sorted; None or empty: open to every caller of the tenant.
    groups: tuple[str, ...] | None = None

    @property
    def version(self) -> str:
        """Content hash: a changed document gets new chunk ids and its old chunks are removed.
        Its access groups count too (a document without groups keeps the hash it always had):
        changing them re-indexes it, so no chunk keeps groups the document no longer has."""
        h = hashlib.blake2b(digest_size=8)
        h.update(self.title.encode())
        h.update(b"\0")
        h.update(self.text.encode())
        if self.groups:
            h.update(b"\0groups\0" + "\n".join(self.groups).encode())
        return h.hexdigest()


def sidecar_path(path: Path) -> Path:
    """Where the access groups of the file ``path`` are kept: ``<path>.groups``."""
    return path.with_name(path.name + GROUPS_SUFFIX)


def checked_groups(names, doc_id: str, source: str, where: str) -> tuple[str, ...] | None:
    """Group names as a document keeps them (sorted, once each; None for none), or the
    DocumentError that names ``where`` they came from and what is wrong."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DocumentError(doc_id, source, f"{where} must be a list of strings (access group names)")
    if len(names) > MAX_GROUPS:
        raise DocumentError(doc_id, source, f"{where}: {len(names)} access groups, at most {MAX_GROUPS}")
    try:
        groups = sorted({check_access_group(n) for n in names})
    except ValueError as e:
        raise DocumentError(doc_id, source, f"{where}: {e}") from None
    return tuple(groups) or None


def read_sidecar(path: Path, doc_id: str) -> tuple[str, ...] | None:
    """The access groups of ``path``'s sidecar (None when it has none); a DocumentError for a
    sidecar that cannot be read or names a group that cannot be one."""
    side = sidecar_path(path)
    try:
        if not side.is_file():
            return None
        if side.stat().st_size > MAX_SIDECAR_BYTES:
            raise DocumentError(doc_id, str(path), f"{side.name}: larger than {MAX_SIDECAR_BYTES} bytes")
        lines = side.read_text(encoding="utf-8-sig").splitlines()
    except OSError as e:
        raise DocumentError(doc_id, str(path), f"{side.name} unreadable: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise DocumentError(doc_id, str(path), f"{side.name} is not UTF-8 text ({e.reason})") from e
    names = []
    for number, line in enumerate(lines, start=1):
        name = line.split("#", 1)[0].strip()
        if name:
            try:
                names.append(check_access_group(name))
            except ValueError as e:
                raise DocumentError(doc_id, str(path), f"{side.name} line {number}: {e}") from None
    return checked_groups(names, doc_id, str(path), side.name)


# --- loading -----------------------------------------------------------------------------------


class _HTMLText(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template"})
    _BLOCK = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        self._stack.append(tag)
        if tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        while self._stack and self._stack.pop() != tag:
            pass
        if tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if "title" in self._stack:
            self.title += data
        elif not self._SKIP.intersection(self._stack):
            self.parts.append(data)


def _read_text(path: Path, doc_id: str, max_bytes: int) -> str:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(doc_id, str(path), f"too large: {size} bytes > limit {max_bytes}")
        raw = path.read_bytes()
    except OSError as e:
        raise DocumentError(doc_id, str(path), f"unreadable: {e.strerror or e}") from e
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DocumentError(doc_id, str(path), f"not UTF-8 text (byte {e.start}: {e.reason})") from e


def _title_from_name(path: Path) -> str:
    return re.sub(r"[_-]+", " ", path.stem).strip().capitalize() or path.name


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"[ \t]+", " ", re.sub(r"\n{3,}", "\n\n", text)).strip()


def _checked(doc: Document) -> Document:
    if not doc.text.strip():
        raise DocumentError(doc.doc_id, doc.source, "empty document (no text)")
    if "\x00" in doc.text:
        raise DocumentError(doc.doc_id, doc.source, "binary content (NUL bytes) in text")
    return doc


def load_file(path: Path, max_bytes: int) -> Document:
    doc_id = str(path)
    groups = read_sidecar(path, doc_id)
    text = _read_text(path, doc_id, max_bytes)
    suffix = path.suffix.lower()
    title = _title_from_name(path)
    if suffix in {".html", ".htm"}:
        parser = _HTMLText()
        parser.feed(text)
        parser.close()
        # The parser has already decoded character references (unescaping again would turn
        # a literal "&amp;lt;" into "<"); titles often wrap across lines in the markup.
        title = " ".join(parser.title.split()) or title
        text = "".join(parser.parts)
    elif suffix in {".md", ".markdown"}:
        # An ATX heading: closing #s only count after a space ("# Learn C#" keeps its #).
        m = re.search(r"^#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*\r?$", text, re.MULTILINE)
        if m:
            title = m.group(1).strip()
            text = text[: m.start()] + text[m.end() :]
    return _checked(Document(doc_id=doc_id, title=title, text=_normalise(text), source=str(path), groups=groups))


def _jsonl_record(line: bytes, path: Path, lineno: int, file_groups: tuple[str, ...] | None = None) -> Document:
    fallback_id = f"{path}:{lineno + 1}"
    try:
        obj = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise DocumentError(fallback_id, str(path), f"line {lineno + 1} is not UTF-8 ({e.reason})") from e
    except json.JSONDecodeError as e:
        raise DocumentError(fallback_id, str(path), f"line {lineno + 1} is not valid JSON ({e.msg})") from e
    if not isinstance(obj, dict) or "_id" not in obj:
        raise DocumentError(fallback_id, str(path), f'line {lineno + 1} has no "_id" (BEIR layout expected)')
    doc_id = str(obj["_id"])
    text, title = obj.get("text"), obj.get("title") or ""
    if not isinstance(text, str) or not isinstance(title, str):
        raise DocumentError(doc_id, str(path), '"text" and "title" must be strings')
    own = obj.get("groups")
    groups = checked_groups(own, doc_id, str(path), f'line {lineno + 1} "groups"') if own is not None else None
    document = Document(
        doc_id=doc_id, title=title.strip(), text=_normalise(text), source=str(path), groups=groups or file_groups
    )
    return _checked(document)


def load(ref: SourceRef, max_bytes: int) -> Iterator[Document | DocumentError]:
    """Documents of one source reference; a bad one is yielded as its DocumentError so that
    one broken record never hides the good ones next to it."""
    path = Path(ref.path)
    if path.suffix.lower() not in JSONL_SUFFIXES:
        try:
            yield load_file(path, max_bytes)
        except DocumentError as e:
            yield e
        return
    start, end, skip = ref.start or 0, ref.end, set(ref.skip_lines)
    try:
        file_groups = read_sidecar(path, str(path))
    except DocumentError as e:
        # Every record of the range fails with it: none may be indexed without its groups.
        for lineno in range(start, end if end is not None else start + 1):
            if lineno not in skip:
                yield DocumentError(f"{path}:{lineno + 1}", str(path), e.failure.reason)
        return
    try:
        with path.open("rb") as f:
            for lineno, line in enumerate(f):
                if lineno < start:
                    continue
                if end is not None and lineno >= end:
                    break
                if lineno in skip:
                    continue  # a duplicate _id, reported by discovery
                if not line.strip():
                    continue
                if len(line) > max_bytes:
                    yield DocumentError(f"{path}:{lineno + 1}", str(path), f"too large: {len(line)} bytes")
                    continue
                try:
                    yield _jsonl_record(line, path, lineno, file_groups)
                except DocumentError as e:
                    yield e
    except OSError as e:
        yield DocumentError(str(path), str(path), f"unreadable: {e.strerror or e}")
