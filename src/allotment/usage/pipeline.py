"""Parsing in a second process while this one resolves names and writes rows.

On a two-core machine an import of a large file is two jobs of similar cost: reading
text into records, and writing rows into the database. A forked child does the first
and sends records in batches; the parent does the second. The child never touches the
database; errors it meets (a ParseError) are re-raised in the parent, which then rolls
the file back as usual.
"""

import multiprocessing
import os
import traceback
from collections.abc import Callable, Iterator
from queue import Empty

BATCH = 4000
_DONE = "done"


def in_child(
    produce: Callable[[Callable[[int], None]], Iterator],
    progress: Callable[[int], None] | None = None,
) -> Iterator:
    """Yield what `produce(report_bytes)` yields, computed in a forked child process.

    `produce` should yield batches (lists or other containers of many records): each
    item crosses the process boundary on its own."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=16)
    child = context.Process(target=_run, args=(queue, produce), daemon=True)
    child.start()
    try:
        while True:
            try:
                kind, payload, read = queue.get(timeout=5)
            except Empty:
                if child.is_alive():
                    continue
                raise RuntimeError(
                    f"the parsing process died (exit code {child.exitcode}) before finishing; "
                    "nothing of the file was imported"
                ) from None
            if progress is not None and read:
                progress(read)
            if kind == "item":
                yield payload
            elif kind == "error":
                raise payload
            else:
                break
    finally:
        if child.is_alive():
            child.terminate()
        child.join()


def _run(queue, produce) -> None:
    read = 0

    def count(n: int) -> None:
        nonlocal read
        read += n

    status = 0
    try:
        for item in produce(count):
            queue.put(("item", item, read))
            read = 0
        queue.put((_DONE, None, read))
    except BaseException as e:  # report everything, the parent decides
        try:
            queue.put(("error", e, 0))
        except Exception:
            queue.put(("error", RuntimeError(traceback.format_exc()), 0))
        status = 1
    finally:
        queue.close()
        queue.join_thread()
        # Leave without running the parent's exit handlers (its database connections).
        os._exit(status)


def available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and (os.cpu_count() or 1) > 1
