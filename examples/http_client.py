"""Call the HTTP gateway with httpx: ingest, ask (waiting, or streamed as Server-Sent Events).

Needs a running stack and gateway::

    ragstate up                                  # Temporal dev server + worker (another shell)
    RAGSTATE_GATEWAY_INGEST_ROOTS=examples/corpus python -m ragstate.gateway   # gateway on :8080 (or $PORT)
    python examples/http_client.py "What does reciprocal rank fusion do?"
    python examples/http_client.py --stream "What is BM25?"

``RAGSTATE_GATEWAY_URL`` (default http://localhost:8080) and ``RAGSTATE_GATEWAY_API_KEY`` (when
the gateway has keys) say where and how.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import httpx

URL = os.environ.get("RAGSTATE_GATEWAY_URL", "http://localhost:8080")
KEY = os.environ.get("RAGSTATE_GATEWAY_API_KEY")


def client() -> httpx.Client:
    headers = {"Authorization": f"Bearer {KEY}"} if KEY else {}
    return httpx.Client(base_url=URL, headers=headers, timeout=httpx.Timeout(10, read=330))


def fail(response: httpx.Response) -> None:
    error = response.json()["error"]  # every error body: {"error": {"type", "message", ...}}
    sys.exit(f"{response.status_code} {error['type']}: {error['message']}")


def ingest(http: httpx.Client, paths: list[str]) -> None:
    r = http.post("/v1/ingest", json={"paths": paths})
    if r.status_code != 202:
        fail(r)
    status_url = r.json()["status_url"]
    while True:
        status = http.get(status_url).json()
        if status["state"] != "running":
            break
        p = status.get("progress") or {}
        print(f"  ingest: {p.get('batches_done', 0)} batches, {p.get('documents', 0)} documents", end="\r")
        time.sleep(0.5)
    if status["state"] == "failed":
        sys.exit(f"ingest failed: {status['error']}")
    result = status["result"]
    print(f"ingested {result['documents']} documents ({result['chunks']} chunks), {result['failed']} failed")
    for f in result["failures"]:
        print(f"  failed: {f['source']}: {f['reason']}")


def ask(http: httpx.Client, question: str, timeout_s: float = 30) -> dict:
    """The answer, waiting up to ``timeout_s``; past it (504), or while the LLM is rate limited
    (429 with a workflow_id), poll the run's status instead of asking again."""
    r = http.post("/v1/query", json={"question": question, "timeout_s": timeout_s})
    if r.status_code == 429 and "workflow_id" not in r.json()["error"]:  # the gateway is busy
        time.sleep(int(r.headers.get("retry-after", "1")))
        r = http.post("/v1/query", json={"question": question, "timeout_s": timeout_s})
    if r.status_code in (429, 504) and "status_url" in r.json()["error"]:
        status_url = r.json()["error"]["status_url"]
        print(f"({r.json()['error']['message']}; polling {status_url})")
        while (status := http.get(status_url).json())["state"] == "running":
            time.sleep(float(r.headers.get("retry-after", "1")))
        if status["state"] == "failed":
            sys.exit(f"{status['error_type']}: {status['error']}")
        return status["answer"] | {"workflow_id": status["workflow_id"]}
    if r.status_code != 200:
        fail(r)
    return r.json()


def ask_streamed(http: httpx.Client, question: str) -> dict | None:
    """Print steps and tokens as they come; the final event carries the whole answer."""
    with http.stream("POST", "/v1/query/stream", json={"question": question}) as r:
        if r.status_code != 200:
            r.read()
            fail(r)
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: ") :])
                if event == "step":
                    print(f"[{data['step']}]", file=sys.stderr)
                elif event == "token":
                    print(data["text"], end="", flush=True)
                elif event == "final":
                    print()
                    return data["answer"]
                elif event == "error":
                    sys.exit(f"\n{data['error_type']}: {data['error']}")
            # lines starting with ':' are keep-alive comments
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="?", default="What does reciprocal rank fusion do?")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--no-ingest", action="store_true")
    args = parser.parse_args()
    with client() as http:
        ready = http.get("/readyz")
        if ready.status_code != 200:
            fail(ready)
        if not args.no_ingest:
            ingest(http, [str(Path(__file__).resolve().parent / "corpus")])
        answer = ask_streamed(http, args.question) if args.stream else ask(http, args.question)
        if answer is None:
            sys.exit("the stream ended without an answer")
        if not args.stream:
            print(f"[{answer['mode']}] {answer['answer']}")
        for c in answer["citations"]:
            print(f"  [{c['number']}] {c['title']}: {c['snippet'][:80]}")
        usage = answer["usage"]
        print(f"tokens: {usage['input_tokens']} in, {usage['output_tokens']} out; workflow {answer['workflow_id']}")


if __name__ == "__main__":
    main()
