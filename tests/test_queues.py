from __future__ import annotations

import threading
import time

from neuroclip_live.stream.queues import DropOldestQueue


def is_int(item):
    return isinstance(item, int)


def test_drops_the_oldest_droppable_item_and_counts_it():
    q = DropOldestQueue(3, is_int)
    for item in [1, "reset", 2, 3, 4, 5]:
        q.put(item)
    assert q.dropped == 2
    assert q.get_batch(10) == ["reset"]  # markers are never dropped and end a batch
    assert q.get_batch(10) == [3, 4, 5]


def test_batch_stops_after_a_marker():
    q = DropOldestQueue(10, is_int)
    for item in [1, 2, "end", 3]:
        q.put(item)
    assert q.get_batch(10) == [1, 2, "end"]
    assert q.get_batch(1) == [3]
    assert q.get_batch(1, timeout=0.01) == []


def take_one_later(q: DropOldestQueue, taken: list) -> threading.Thread:
    """A consumer that takes one item after 50 ms (while the producer waits for room)."""

    def consume():
        time.sleep(0.05)
        taken.extend(q.get_batch(1))

    t = threading.Thread(target=consume)
    t.start()
    return t


def test_blocking_put_waits_for_room_instead_of_dropping():
    q = DropOldestQueue(1, is_int)
    q.put(1)
    taken = []
    t = take_one_later(q, taken)
    assert q.put(2, block=True, timeout=5)
    t.join()
    assert taken == [1] and q.dropped == 0 and q.get_batch(5) == [2]


def test_close_wakes_a_waiting_getter():
    q = DropOldestQueue(1, is_int)
    out = []
    t = threading.Thread(target=lambda: out.append(q.get_batch(1, timeout=5)))
    t.start()
    time.sleep(0.05)
    q.close()
    t.join(1)
    assert not t.is_alive() and out == [[]]
    assert q.put(3) is False


def test_put_many_hands_over_a_packet_at_once_and_drops_only_older_frames():
    q = DropOldestQueue(2, is_int)
    q.put_many([1, 2])
    q.put_many([3, 4, 5])  # more than max_droppable in one packet: the older frames go, the packet stays
    assert q.dropped == 2 and len(q) == 3
    q.put_many(["reset", 6])
    assert q.dropped == 4  # back to max_droppable: 3 and 4 went
    assert q.get_batch(10) == [5, "reset"]
    assert q.get_batch(10) == [6]


def test_blocking_put_many_waits_for_room_then_adds_the_whole_packet():
    q = DropOldestQueue(2, is_int)
    q.put_many([1, 2])
    taken = []
    t = take_one_later(q, taken)
    assert q.put_many([3, 4, 5], block=True, timeout=5)
    t.join()
    assert taken == [1] and q.dropped == 0
    assert q.get_batch(10) == [2, 3, 4, 5]
    assert q.put_many([6, 7], block=True, timeout=5) and not q.put_many([8], block=True, timeout=0.05)


def test_a_marker_never_drops_frames_a_lossless_put_queued():
    q = DropOldestQueue(2, is_int)
    q.put_many([1, 2])
    t = take_one_later(q, [])
    assert q.put_many([3, 4, 5], block=True, timeout=5)  # lossless: 4 frames wait, over max_droppable
    t.join()
    assert q.put("reset") and q.dropped == 0
    assert q.get_batch(10) == [2, 3, 4, 5, "reset"]
