"""Finding what an ingest will read: the supported files under the named paths, and the
``.jsonl`` files cut into line ranges, grouped into batches of references.

Every problem found here becomes a :class:`~ragstate.models.DocumentFailure` with a reason a
person can act on, and the rest of the ingest goes on: a named path that is missing, a FIFO,
a symbolic-link loop or of an unsupported type; a folder with no supported file; a file name
that is not UTF-8 (it could not travel through workflow history); a ``_id`` that repeats an
earlier record's (only the first is indexed, the repeat is named by its line).

A file of an unsupported type found inside a folder (a ``.pdf``, a ``Makefile``) is not a
failure, since the folder's other files are what was asked for, but it is not dropped silently
either: it is a :class:`~ragstate.models.SkippedFile` with its reason, listed in the ingest's
result. Hidden files and folders (``.git``) are left out without a word, and so is a document's
access-groups sidecar (``notes.md.groups``, read with ``notes.md``).

Example::

    batches, next_cursor, failures = discover(["examples/corpus"], batch_docs=64)
    for ref in batches[0]:
        print(ref.path, ref.start, ref.end)
    found = discover_all(["docs"], batch_docs=64)          # also found.skipped_files, found.skipped
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ragstate.ingest.documents import GROUPS_SUFFIX, JSONL_SUFFIXES, SUPPORTED
from ragstate.models import DocumentFailure, SkippedFile, SourceRef

#: The top-level ``"_id"`` of a BEIR record, read without parsing the whole line.
_ID = re.compile(rb'"_id"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+))')
_NOT_REGULAR = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}
#: Skipped files listed by name, at most (the rest are counted): a folder of thousands of images
#: must not make the ingest's result too large to travel through history.
MAX_SKIPPED_LISTED = 1000
_STAT_ERRORS = {
    errno.ENOENT: "no such file or directory",
    errno.ELOOP: "a symbolic link loop",
    errno.EACCES: "permission denied",
    errno.ENOTDIR: "no such file or directory (a parent is a file)",
    errno.ENAMETOOLONG: "the path is too long",
}


def printable(path: Path | str) -> str:
    """The path as text that can go into history and logs: undecodable bytes of a file name
    shown as ``\\xe9`` escapes instead of lone surrogates (which JSON cannot carry)."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    return text


def _failure(path: Path | str, reason: str) -> DocumentFailure:
    shown = printable(path)
    return DocumentFailure(doc_id=shown, source=shown, reason=reason)


def _named_path_problem(p: Path) -> str | None:
    """Why a path named by the user cannot be ingested, or None for a folder or a supported file."""
    try:
        mode = p.stat().st_mode
    except OSError as e:
        return _STAT_ERRORS.get(e.errno or 0, f"unreadable: {e.strerror or e}")
    if stat.S_ISDIR(mode):
        return None
    if not stat.S_ISREG(mode):
        return f"not a regular file: {_NOT_REGULAR.get(stat.S_IFMT(mode), 'a special file')}"
    if p.suffix.lower() not in SUPPORTED:
        return f"unsupported file type {p.suffix or '(none)'!r}"
    return None


def _outside(path: Path, roots: list[Path]) -> bool:
    return not any(path == r or r in path.parents for r in roots)


def _files(paths: list[str], roots: list[str] | None = None) -> Iterator[tuple[Path, str | None, bool]]:
    """Supported files in a stable order, each once, or (path, reason, False) for what cannot
    be read, or (path, reason, True) for a file of a folder that is skipped. With ``roots``, a
    file whose real path (every symbolic link resolved) is outside all of them is refused: a
    link inside an allowed folder cannot lead out of it."""
    real_roots = [Path(r).resolve() for r in roots] if roots is not None else None
    yielded: set[Path] = set()
    for path, reason, skipped in _walk(paths):
        if not reason and real_roots is not None and _outside(path, real_roots):
            reason = "outside the folders this ingest may read (its real path, links resolved)"
        if path not in yielded:
            yielded.add(path)
            yield path, reason, skipped


def _walk(paths: list[str]) -> Iterator[tuple[Path, str | None, bool]]:
    for raw in paths:
        p = Path(raw).expanduser()
        problem = _named_path_problem(p)
        if problem:
            yield p, problem, False
        elif p.is_dir():
            found = False
            # rglob does not descend into symlinked folders, so a link loop cannot trap the walk.
            for f in sorted(p.rglob("*")):
                if any(part.startswith(".") for part in f.relative_to(p).parts) or f.is_dir():
                    continue
                if not f.is_file():  # a FIFO, a socket, a link loop or a dangling link: say so
                    yield f, _named_path_problem(f) or "not a regular file", True
                    continue
                if f.suffix.lower() in SUPPORTED:
                    found = True
                    yield f.resolve(), None, False
                elif _is_sidecar(f):
                    continue  # read with its document (ragstate.ingest.documents.read_sidecar)
                else:
                    yield f, f"unsupported file type {f.suffix or '(none)'!r}", True
            if not found:
                yield p, f"a folder with no supported file ({', '.join(sorted(SUPPORTED))})", False
        else:
            yield p.resolve(), None, False


def _is_sidecar(f: Path) -> bool:
    """An access-groups sidecar (``notes.md.groups``) beside the document it belongs to."""
    if f.suffix != GROUPS_SUFFIX:
        return False
    document = f.with_name(f.name[: -len(GROUPS_SUFFIX)])
    return document.suffix.lower() in SUPPORTED and document.is_file()


def _record_id(line: bytes) -> str | None:
    m = _ID.search(line)
    if m is None:
        return None  # load() reports the line as invalid
    if m.group(2) is not None:
        return m.group(2).decode()
    try:
        return json.loads(b'"' + m.group(1) + b'"')
    except ValueError:
        return None


def _scan_jsonl(path: Path, seen: dict[str, tuple[str, int]]) -> tuple[int, list[int], list[DocumentFailure]]:
    """(lines, line numbers to skip, failures) of one .jsonl file: a record whose ``_id``
    repeats one seen before (in this file or an earlier one of the ingest) is skipped, so it
    cannot silently replace the first."""
    skip: list[int] = []
    failures: list[DocumentFailure] = []
    n = 0
    with path.open("rb") as f:
        for n, line in enumerate(f, start=1):
            doc_id = _record_id(line)
            if doc_id is None:
                continue
            first = seen.setdefault(doc_id, (str(path), n))
            if first != (str(path), n):
                skip.append(n - 1)
                where = f"line {first[1]}" + ("" if first[0] == str(path) else f" of {first[0]}")
                failures.append(
                    DocumentFailure(
                        doc_id=f"{path}:{n}",
                        source=str(path),
                        reason=f"duplicate _id {doc_id!r}: line {n} repeats {where}; only the first is indexed",
                    )
                )
    return n, skip, failures


@dataclass
class Discovery:
    """A page of what an ingest will read (:func:`discover_all`)."""

    batches: list[list[SourceRef]]
    next_cursor: int | None
    failures: list[DocumentFailure] = field(default_factory=list)
    #: Files of the named folders that are not read, with the reason; at most MAX_SKIPPED_LISTED.
    skipped_files: list[SkippedFile] = field(default_factory=list)
    skipped: int = 0  # all of them, listed or not


def discover(
    paths: list[str],
    batch_docs: int,
    cursor: int = 0,
    max_batches: int | None = None,
    roots: list[str] | None = None,
) -> tuple[list[list[SourceRef]], int | None, list[DocumentFailure]]:
    """:func:`discover_all` as ``(batches, next_cursor, failures)``, without the skipped files."""
    found = discover_all(paths, batch_docs, cursor, max_batches, roots)
    return found.batches, found.next_cursor, found.failures


def discover_all(
    paths: list[str],
    batch_docs: int,
    cursor: int = 0,
    max_batches: int | None = None,
    roots: list[str] | None = None,
) -> Discovery:
    """Group every document under ``paths`` (within ``roots``, when given) into batches of about
    ``batch_docs`` documents.

    Returns a page of batches starting at unit ``cursor`` (a unit is one file or one
    ``batch_docs``-line slice of a .jsonl file), the cursor of the next page or None, and the
    failures and skipped files found while discovering (reported on the first page only).
    """
    units: list[tuple[SourceRef, int]] = []
    failures: list[DocumentFailure] = []
    skipped_files: list[SkippedFile] = []
    skipped_total = 0
    seen_ids: dict[str, tuple[str, int]] = {}
    for path, reason, skip_it in _files(paths, roots):
        if reason and skip_it:
            skipped_total += 1
            if len(skipped_files) < MAX_SKIPPED_LISTED:
                skipped_files.append(SkippedFile(path=printable(path), reason=reason))
        elif reason:
            failures.append(_failure(path, reason))
        elif printable(path) != str(path):
            failures.append(_failure(path, "the file name is not valid UTF-8: rename the file"))
        elif path.suffix.lower() in JSONL_SUFFIXES:
            try:
                n, skip, duplicates = _scan_jsonl(path, seen_ids)
            except OSError as e:
                failures.append(_failure(path, f"unreadable: {e.strerror or e}"))
                continue
            failures.extend(duplicates)
            for s in range(0, n, batch_docs):
                end = min(s + batch_docs, n)
                skipped = [line for line in skip if s <= line < end]
                units.append((SourceRef(path=str(path), start=s, end=end, skip_lines=skipped), end - s - len(skipped)))
        else:
            units.append((SourceRef(path=str(path)), 1))
    batches, next_cursor = _page(units, batch_docs, cursor, max_batches)
    if cursor != 0:
        return Discovery(batches, next_cursor)
    return Discovery(batches, next_cursor, failures, skipped_files, skipped_total)


def _page(
    units: list[tuple[SourceRef, int]], batch_docs: int, cursor: int, max_batches: int | None
) -> tuple[list[list[SourceRef]], int | None]:
    batches: list[list[SourceRef]] = []
    current: list[SourceRef] = []
    docs_in_current = 0
    i = cursor
    while i < len(units) and (max_batches is None or len(batches) < max_batches):
        ref, n = units[i]
        if current and docs_in_current + n > batch_docs:
            batches.append(current)
            current, docs_in_current = [], 0
            if max_batches is not None and len(batches) >= max_batches:
                break
        current.append(ref)
        docs_in_current += n
        i += 1
    if current:
        batches.append(current)
    return batches, (i if i < len(units) else None)
