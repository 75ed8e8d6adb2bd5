"""A load generator for `genrec serve`, run as its own process (so that it measures the server
over loopback, not an in-process shortcut). Prints one JSON object with what it measured.

Usage:
  python benchmarks/loadgen.py recommend URL --concurrency 8 --seconds 10 --users 1,2,3
  python benchmarks/loadgen.py feedback URL --concurrency 32 --seconds 10 --key KEY --keys-out F

Each of ``concurrency`` clients sends its next request as soon as the last one is answered
(closed loop) over one keep-alive connection. The HTTP/1.1 client is a minimal one written on
asyncio streams: httpx's AsyncClient spent about 11 ms of CPU per request here, which on a
2-core machine starved the server it was measuring. ``feedback`` mode writes every idempotency
key that got a 2xx to ``--keys-out`` as it goes (flushed per line), so that a crash of the
server mid-run still leaves the list of acknowledged events for the kill test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from typing import Any, TextIO
from urllib.parse import urlsplit

REQUESTS = (
    "I want a scary movie", "something funny for tonight", "a romantic comedy",
    "an action film with a lot of explosions", "a thoughtful drama", "a children's movie",
    "我想看一部恐怖片", "推荐一部轻松的喜剧片", "有什么好看的爱情片", "我想看科幻电影",
)  # fmt: skip


_FRESH = random.SystemRandom()


def recommend_body(rng: random.Random, users: list[str], text: str) -> dict[str, Any]:
    body: dict[str, Any] = {"user_id": rng.choice(users), "k": 10}
    if text == "pool":
        body["request"] = rng.choice(REQUESTS)
    elif text == "unique":  # never seen: not from the client's seeded rng, which a later run
        # (or another client of the same seed) would repeat, finding the texts cached
        body["request"] = f"{rng.choice(REQUESTS)} #{_FRESH.randrange(10**9)}"
    return body


class Connection:
    """One keep-alive HTTP/1.1 connection: JSON POSTs, status and body back."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict[str, Any], headers: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n{headers}\r\n"
        )
        try:
            self.writer.write(head.encode() + payload)
            status_line = await self.reader.readuntil(b"\r\n")
            length = 0
            while True:
                line = await self.reader.readuntil(b"\r\n")
                if line == b"\r\n":
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            data = await self.reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.close()
            raise
        return int(status_line.split()[1]), data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def client(
    args: argparse.Namespace,
    seed: int,
    stop_at: float,
    latencies: list[float],
    failures: list[str],
    keys_out: TextIO | None,
) -> None:
    rng = random.Random(seed)
    users = args.users.split(",")
    url = urlsplit(args.url)
    conn = Connection(url.hostname or "127.0.0.1", url.port or 80)
    headers = f"Authorization: Bearer {args.key}\r\n" if args.key else ""
    while time.perf_counter() < stop_at:
        if args.mode == "recommend":
            path, body = "/v1/recommendations", recommend_body(rng, users, args.text)
        else:
            key = uuid.uuid4().hex
            path = "/v1/feedback"
            body = {"user_id": rng.choice(users), "item_id": str(rng.randrange(1, 1683)),
                    "event": rng.choice(("click", "like", "skip", "impression")),
                    "idempotency_key": key}  # fmt: skip
        started = time.perf_counter()
        try:
            status, _ = await conn.post(path, body, headers)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            failures.append(type(exc).__name__)
            if args.mode == "feedback":
                await asyncio.sleep(0.05)  # the server is gone: do not spin
            continue
        elapsed = time.perf_counter() - started
        if 200 <= status < 300:
            latencies.append(elapsed)
            if keys_out is not None:
                keys_out.write(body["idempotency_key"] + "\n")
                keys_out.flush()
        else:
            failures.append(str(status))
    conn.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    latencies: list[float] = []
    failures: list[str] = []
    keys_out = open(args.keys_out, "a") if args.keys_out else None  # noqa: SIM115
    if args.warmup > 0:
        warm_stop = time.perf_counter() + args.warmup
        await asyncio.gather(
            *(client(args, 10_000 + i, warm_stop, [], [], None) for i in range(args.concurrency))
        )
    started = time.perf_counter()
    stop_at = started + args.seconds
    await asyncio.gather(
        *(client(args, i, stop_at, latencies, failures, keys_out)
          for i in range(args.concurrency))
    )  # fmt: skip
    wall = time.perf_counter() - started
    if keys_out is not None:
        keys_out.close()
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    return {
        "mode": args.mode,
        "text": args.text,
        "concurrency": args.concurrency,
        "seconds": round(wall, 3),
        "ok": len(latencies),
        "failed": len(failures),
        "failure_kinds": sorted(set(failures)),
        "rps": len(latencies) / wall if wall else 0.0,
        "median_ms": pct(0.5),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["recommend", "feedback"])
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--users", default="1,2,3,4,5")
    parser.add_argument("--text", choices=["none", "pool", "unique"], default="none")
    parser.add_argument("--key", default="")
    parser.add_argument("--keys-out", default="")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
