"""ragstate.ingest.discovery: what an ingest reads, and every path it cannot read reported with its
reason while the rest go on (unit tests, then the ingest workflow on a real dev server)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from corpus_files import beir, only_doc, write
from paths import EXAMPLES_CORPUS
from temporalio.client import Client

from ragstate.client import RagClient
from ragstate.ingest.discovery import MAX_SKIPPED_LISTED, discover, discover_all, printable
from ragstate.ingest.documents import Document, load
from ragstate.settings import Settings
from ragstate.workers.runtime import running_workers

NON_UTF8_NAME = b"caf\xe9.txt"


def write_non_utf8_named_file(folder: Path, text: str) -> None:
    with open(os.fsencode(folder) + b"/" + NON_UTF8_NAME, "w") as f:
        f.write(text)


def records(path: Path, ids: list[str]) -> Path:
    path.write_text(
        "".join(
            json.dumps({"_id": i, "title": f"T {i}", "text": f"Text number {n}."}) + "\n" for n, i in enumerate(ids)
        )
    )
    return path


def reasons(failures) -> dict[str, str]:
    return {Path(f.doc_id).name: f.reason for f in failures}


def loaded_ids(batches) -> list[str]:
    return [d.doc_id for b in batches for ref in b for d in load(ref, 1_000_000)]


def test_a_fifo_and_a_symlink_loop_are_named_for_what_they_are(tmp_path):
    os.mkfifo(tmp_path / "pipe.txt")
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    good = tmp_path / "good.txt"
    good.write_text("Fine text.")
    batches, _, failures = discover([str(tmp_path / "pipe.txt"), str(tmp_path / "loop"), str(good)], batch_docs=10)
    assert reasons(failures) == {"pipe.txt": "not a regular file: a FIFO (named pipe)", "loop": "a symbolic link loop"}
    assert [Path(r.path).name for b in batches for r in b] == ["good.txt"]


def test_a_folder_without_supported_files_is_reported_not_silently_empty(tmp_path):
    (tmp_path / "x.txt").mkdir()
    (tmp_path / "x.txt" / "scan.pdf").write_bytes(b"%PDF")
    batches, _, failures = discover([str(tmp_path / "x.txt")], batch_docs=10)
    assert batches == []
    [failure] = failures
    assert failure.reason.startswith("a folder with no supported file (") and ".txt" in failure.reason


def test_a_non_utf8_file_name_is_a_failure_that_can_travel_and_the_rest_load(tmp_path):
    (tmp_path / "ok.txt").write_text("Kept text.")
    write_non_utf8_named_file(tmp_path, "Unreachable text.")
    batches, _, failures = discover([str(tmp_path)], batch_docs=10)
    [failure] = failures
    assert failure.doc_id.endswith("caf\\xe9.txt") and "not valid UTF-8" in failure.reason
    failure.model_dump_json()  # lone surrogates would raise here, as they did in DiscoverDocuments
    assert [Path(i).name for i in loaded_ids(batches)] == ["ok.txt"]


def test_printable_leaves_valid_text_alone():
    assert printable("/data/Café.txt") == "/data/Café.txt"
    assert printable(os.fsdecode(b"/data/caf\xe9.txt")) == "/data/caf\\xe9.txt"


def test_a_repeated_id_is_reported_by_line_and_only_the_first_is_loaded(tmp_path):
    path = records(tmp_path / "docs.jsonl", ["a", "b", "a", "c"])
    batches, _, failures = discover([str(path)], batch_docs=2)
    [failure] = failures
    assert failure.doc_id == f"{path}:3"
    assert failure.reason == "duplicate _id 'a': line 3 repeats line 1; only the first is indexed"
    assert loaded_ids(batches) == ["a", "b", "c"]
    texts = [d.text for b in batches for ref in b for d in load(ref, 1_000_000)]
    assert texts[0] == "Text number 0."  # the first record, not the repeat


def test_a_repeated_id_across_files_names_the_first_file(tmp_path):
    first = records(tmp_path / "a.jsonl", ["x", "y"])
    records(tmp_path / "b.jsonl", ["y", "z"])
    batches, _, failures = discover([str(tmp_path)], batch_docs=10)
    [failure] = failures
    assert failure.reason == f"duplicate _id 'y': line 1 repeats line 2 of {first}; only the first is indexed"
    assert loaded_ids(batches) == ["x", "y", "z"]


def test_a_file_named_twice_is_read_once(tmp_path):
    path = records(tmp_path / "docs.jsonl", ["a", "b"])
    batches, _, failures = discover([str(path), str(tmp_path)], batch_docs=10)
    assert failures == []
    assert loaded_ids(batches) == ["a", "b"]


@pytest.mark.timeout(180)
async def test_ingest_goes_on_past_a_non_utf8_name_and_a_duplicate_id(client: Client, settings: Settings, tmp_path):
    """Before: DiscoverDocuments failed five times serialising the file name and the ingest
    failed with 0 documents; a repeated _id reported 3 documents, 0 failed, with 1 stored."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("Vector databases store embeddings for similarity search.")
    write_non_utf8_named_file(docs, "A document whose name is Latin-1.")
    records(docs / "records.jsonl", ["r1", "r1", "r2"])
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        result = await rag.ingest([str(docs)])
        stats = await rag.stats()
    assert result.documents == 3, result.failures  # good.txt, r1, r2
    assert result.failed == 2
    assert sorted(f.reason.split(":")[0] for f in result.failures) == [
        "duplicate _id 'r1'",
        "the file name is not valid UTF-8",
    ]
    assert stats.documents == 3


def test_a_symlink_cannot_lead_out_of_the_roots(tmp_path):
    """Before: with roots set, root/escape -> /outside got the outside file indexed."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("Not for this ingest.")
    (root / "own.txt").write_text("Inside the root.")
    (root / "escape").symlink_to(outside)
    (root / "link.txt").symlink_to(outside / "secret.txt")
    named = [str(root / "escape" / "secret.txt"), str(root / "link.txt"), str(root)]
    batches, _, failures = discover(named, batch_docs=10, roots=[str(root)])
    assert [Path(i).name for i in loaded_ids(batches)] == ["own.txt"]
    [failure] = failures  # both links lead to the same file, reported once
    assert failure.reason.startswith("outside the folders")
    assert Path(failure.doc_id) == (outside / "secret.txt").resolve()
    # Without roots (the CLI, a trusted caller) a link is followed as before.
    everything, _, _ = discover(named, batch_docs=10)
    assert sorted(Path(i).name for i in loaded_ids(everything)) == ["own.txt", "secret.txt"]


def make_tree(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    write(root / "a.txt", "A text.")
    write(root / "b.md", "# B\n\nB text.")
    write(root / "sub" / "c.html", "<p>C text.</p>")
    write(root / "sub" / "notes.pdf", b"%PDF")  # unsupported inside a directory: skipped, not a failure
    write(root / ".hidden" / "h.txt", "hidden")
    write(root / ".dot.txt", "dot file")
    beir(root, "z.jsonl", [{"_id": f"j{i}", "text": f"J {i}."} for i in range(7)])
    return root


def test_discover_walks_directories_in_stable_order(tmp_path):
    root = make_tree(tmp_path)
    batches, cursor, failures = discover([str(root)], batch_docs=100)
    assert cursor is None and failures == []
    refs = [r for b in batches for r in b]
    names = [Path(r.path).name for r in refs]
    assert names == ["a.txt", "b.md", "c.html", "z.jsonl"]
    assert refs[-1].start == 0 and refs[-1].end == 7
    assert len(batches) == 1


def test_discover_batches_of_batch_docs(tmp_path):
    root = make_tree(tmp_path)
    batches, cursor, _ = discover([str(root)], batch_docs=3)
    assert cursor is None
    sizes = []
    for b in batches:
        n = sum((r.end - r.start) if r.start is not None else 1 for r in b)
        assert n <= 3
        sizes.append(n)
    assert sum(sizes) == 10  # 3 files + 7 jsonl records
    jsonl = [r for b in batches for r in b if r.path.endswith(".jsonl")]
    assert [(r.start, r.end) for r in jsonl] == [(0, 3), (3, 6), (6, 7)]
    # Every document loads exactly once across the batches.
    ids = [d.doc_id for b in batches for r in b for d in load(r, 1_000_000)]
    assert len(ids) == len(set(ids)) == 10


def test_discover_cursor_paging(tmp_path):
    root = make_tree(tmp_path)
    every, _, _ = discover([str(root)], batch_docs=2)
    pages, cursor = [], 0
    while True:
        batches, nxt, _ = discover([str(root)], batch_docs=2, cursor=cursor, max_batches=2)
        assert len(batches) <= 2
        pages.append(batches)
        if nxt is None:
            break
        assert nxt > cursor
        cursor = nxt
    assert len(pages) > 1
    assert [b for page in pages for b in page] == every


def test_discover_reports_bad_named_paths(tmp_path):
    root = make_tree(tmp_path)
    missing = tmp_path / "nope"
    pdf = write(tmp_path / "doc.pdf", b"%PDF")
    noext = write(tmp_path / "README", "text")
    good = write(tmp_path / "ok.txt", "fine")
    batches, _, failures = discover([str(missing), str(pdf), str(noext), str(good), str(root)], batch_docs=50)
    reasons = {Path(f.doc_id).name: f.reason for f in failures}
    assert reasons == {
        "nope": "no such file or directory",
        "doc.pdf": "unsupported file type '.pdf'",
        "README": "unsupported file type '(none)'",
    }
    names = [Path(r.path).name for b in batches for r in b]
    assert names[0] == "ok.txt" and "doc.pdf" not in names and len(names) == 5
    # Failures are reported on the first page only.
    _, _, later = discover([str(missing), str(good), str(root)], batch_docs=1, cursor=1)
    assert later == []


def test_unsupported_files_in_a_folder_are_listed_as_skipped_with_the_reason(tmp_path):
    """Before: a .pdf inside a named folder vanished without a word. Now it is skipped (not a
    failure: the folder's other files were asked for) and named with its reason; hidden files
    stay out silently; the list is reported on the first page only."""
    root = make_tree(tmp_path)
    write(root / "Makefile", "all:")
    found = discover_all([str(root)], batch_docs=100)
    assert found.failures == [] and found.skipped == 2
    assert {(Path(s.path).name, s.reason) for s in found.skipped_files} == {
        ("notes.pdf", "unsupported file type '.pdf'"),
        ("Makefile", "unsupported file type '(none)'"),
    }
    assert str(root / "sub" / "notes.pdf") in {s.path for s in found.skipped_files}  # as the folder names it
    later = discover_all([str(root)], batch_docs=1, cursor=1)
    assert (later.skipped, later.skipped_files) == (0, [])


def test_a_folder_of_many_unsupported_files_lists_a_bounded_number_and_counts_all(tmp_path):
    write(tmp_path / "keep.txt", "Kept.")
    for i in range(MAX_SKIPPED_LISTED + 5):
        write(tmp_path / "img" / f"{i:05}.png", b"\x89PNG")
    found = discover_all([str(tmp_path)], batch_docs=10)
    assert found.skipped == MAX_SKIPPED_LISTED + 5 and len(found.skipped_files) == MAX_SKIPPED_LISTED
    assert [Path(r.path).name for b in found.batches for r in b] == ["keep.txt"]


def test_discover_explicit_file_and_empty_jsonl(tmp_path):
    p = write(tmp_path / "one.MD", "# One\n\nText.")
    e = write(tmp_path / "empty.jsonl", "")
    batches, cursor, failures = discover([str(p), str(e)], batch_docs=10)
    assert failures == [] and cursor is None
    assert [[r.path for r in b] for b in batches] == [[str(p.resolve())]]
    assert only_doc(batches[0][0]).title == "One"


def test_examples_corpus_loads_cleanly():
    root = EXAMPLES_CORPUS
    batches, cursor, failures = discover([str(root)], batch_docs=64)
    assert cursor is None and failures == []
    items = [i for b in batches for r in b for i in load(r, 20_000_000)]
    assert items and all(isinstance(i, Document) for i in items)
    html_doc = next(i for i in items if i.source.endswith(".html"))
    assert "<" not in html_doc.text
    assert len({i.doc_id for i in items}) == len(items)


def test_a_fifo_and_a_symlink_loop_inside_a_folder_are_listed_as_skipped(tmp_path):
    """Before: a folder walk passed over them without a word (named on the command line, each
    already had its reason)."""
    write(tmp_path / "good.txt", "A good document about walruses.")
    os.mkfifo(tmp_path / "pipe.txt")
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
    found = discover_all([str(tmp_path)], batch_docs=8)
    assert [r.path for b in found.batches for r in b] == [str((tmp_path / "good.txt").resolve())]
    reasons = {Path(s.path).name: s.reason for s in found.skipped_files}
    assert reasons == {"loop.txt": "a symbolic link loop", "pipe.txt": "not a regular file: a FIFO (named pipe)"}
    assert not found.failures and found.skipped == 2
