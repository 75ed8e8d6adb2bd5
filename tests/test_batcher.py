"""Micro-batching: concurrent submissions share a batch, results go to the right caller."""

from __future__ import annotations

import asyncio
import threading

import pytest

from genrec.serving.batcher import BatcherClosedError, MicroBatcher


def run(coro):
    return asyncio.run(coro)


def test_concurrent_submissions_are_handled_together_and_answered_in_order():
    batches: list[list[int]] = []

    def handler(items):
        batches.append(list(items))
        return [i * 10 for i in items]

    async def main():
        batcher = MicroBatcher(handler, max_batch=64, max_wait_ms=20)
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
        await batcher.stop()
        return results

    assert run(main()) == [i * 10 for i in range(20)]
    assert max(len(b) for b in batches) > 1
    assert sorted(i for b in batches for i in b) == list(range(20))


def test_batches_never_exceed_max_batch():
    sizes: list[int] = []

    def handler(items):
        sizes.append(len(items))
        return list(items)

    async def main():
        batcher = MicroBatcher(handler, max_batch=4, max_wait_ms=20)
        await batcher.start()
        await asyncio.gather(*(batcher.submit(i) for i in range(17)))
        await batcher.stop()

    run(main())
    assert max(sizes) <= 4
    assert sum(sizes) == 17


def gathered_batches(spacing_s: float, count: int, **batcher_args: float) -> list[list[int]]:
    """The batches formed when ``count`` items arrive ``spacing_s`` apart."""
    batches: list[list[int]] = []

    def handler(items):
        batches.append(list(items))
        return list(items)

    async def main():
        batcher = MicroBatcher(handler, **batcher_args)
        await batcher.start()

        async def later(i: int) -> int:
            await asyncio.sleep(i * spacing_s)
            return await batcher.submit(i)

        await asyncio.gather(*(later(i) for i in range(count)))
        await batcher.stop()

    run(main())
    return batches


def test_a_burst_longer_than_the_wait_still_forms_one_batch():
    # 6 items 30 ms apart span 150 ms; each arrives within the 100 ms wait of the one before
    assert gathered_batches(0.03, 6, max_wait_ms=100, max_window_ms=2000) == [list(range(6))]


def test_a_steady_trickle_is_cut_at_the_window():
    batches = gathered_batches(0.02, 12, max_wait_ms=100, max_window_ms=90)
    assert len(batches) >= 2 and max(len(b) for b in batches) < 12
    assert sorted(i for b in batches for i in b) == list(range(12))


def test_the_window_is_never_shorter_than_the_wait():
    batcher = MicroBatcher(list, max_wait_ms=3, max_window_ms=1)
    assert batcher.max_window == batcher.max_wait == 0.003
    assert MicroBatcher(list, max_wait_ms=2).max_window == 0.01  # 5 waits by default


def test_the_handler_runs_off_the_event_loop_thread():
    seen: list[int] = []

    def handler(items):
        seen.append(threading.get_ident())
        return list(items)

    async def main():
        batcher = MicroBatcher(handler)
        await batcher.start()
        await batcher.submit(1)
        await batcher.stop()
        return threading.get_ident()

    loop_thread = run(main())
    assert seen and seen[0] != loop_thread


def test_one_bad_item_fails_only_its_own_request():
    def handler(items):
        if "bad" in items:
            raise ValueError("bad item")
        return [s.upper() for s in items]

    async def main():
        batcher = MicroBatcher(handler, max_wait_ms=20)
        await batcher.start()
        results = await asyncio.gather(
            batcher.submit("a"), batcher.submit("bad"), batcher.submit("c"),
            return_exceptions=True,
        )  # fmt: skip
        await batcher.stop()
        return results

    first, second, third = run(main())
    assert first == "A" and third == "C"
    assert isinstance(second, ValueError)


def test_submitting_to_a_stopped_batcher_is_a_clear_error():
    async def main():
        batcher = MicroBatcher(lambda items: list(items))
        with pytest.raises(BatcherClosedError):
            await batcher.submit(1)

    run(main())


def test_a_handler_returning_the_wrong_count_fails_the_requests():
    async def main():
        batcher = MicroBatcher(lambda items: [], max_wait_ms=0)
        await batcher.start()
        with pytest.raises(RuntimeError, match="returned 0 results"):
            await batcher.submit(1)
        await batcher.stop()

    run(main())
