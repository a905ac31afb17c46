"""What a client learns about its jobs' run times: kinds, brackets and the expected window."""

from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vance_filters._durations import JobDurations, job_kind, overlap

brackets = st.lists(
    st.tuples(st.floats(0, 100), st.floats(0.001, 10)).map(lambda p: (p[0], p[0] + p[1])),
    min_size=1, max_size=12,
)


@given(brackets)
def test_the_window_lies_within_the_brackets_and_is_where_most_of_them_meet(items: list) -> None:
    start, end = overlap(items)
    assert min(a for a, _ in items) <= start <= end <= max(b for _, b in items)
    points = sorted({x for pair in items for x in pair})
    middles = [(x + y) / 2 for x, y in itertools.pairwise(points)] or points

    def depth(x: float) -> int:
        return sum(1 for a, b in items if a <= x <= b)

    most = max(depth(x) for x in middles)
    assert any(depth(x) == most for x in middles if start <= x <= end)


@given(brackets)
def test_brackets_that_all_meet_give_their_intersection(items: list) -> None:
    start, end = max(a for a, _ in items), min(b for _, b in items)
    if start < end:
        assert overlap(items) == (start, end)


def test_one_odd_job_does_not_move_the_window() -> None:
    durations = JobDurations()
    for _ in range(4):
        durations.record("k", after=9.8, by=10.2)
    durations.record("k", after=30.0, by=32.0)  # one stuck job
    assert durations.expected("k") == (9.8, 10.2)


def test_memory_is_bounded_per_kind_and_in_kinds() -> None:
    durations = JobDurations(keep=3, kinds=2)
    for seconds in (1.0, 2.0, 3.0, 4.0):
        durations.record("a", after=seconds, by=seconds + 0.1)
    assert durations.expected("a") == (2.0, 4.1)  # the first bracket was forgotten
    durations.record("b", after=1.0, by=1.1)
    durations.record("c", after=1.0, by=1.1)  # "a" is the least recently used
    assert durations.expected("a") is None and durations.expected("b") == (1.0, 1.1)
    assert "kinds=2" in repr(durations)


def test_record_is_safe_from_many_threads() -> None:
    durations = JobDurations()

    def work(i: int) -> None:
        for k in range(200):
            durations.record(k % 7, after=1.0, by=1.5)
            durations.expected((k + i) % 7)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(durations.expected(k) == (1.0, 1.5) for k in range(7))


@pytest.mark.parametrize(("a", "b", "same"), [
    (({"name": "matting"}, 1000, 1000), ('{"name": "matting"}', 1000, 1000), True),
    (({"name": "matting"}, 1000, 1000), ({"name": "matting"}, 1000, 1100), True),
    (({"name": "matting"}, 1000, 1000), ({"name": "matting"}, 1500, 1000), False),
    (({"name": "matting"}, 1000, 1000), ({"name": "denoise"}, 1000, 1000), False),
])
def test_kind_is_settings_and_size(a: tuple, b: tuple, same: bool) -> None:
    assert (job_kind(*a) == job_kind(*b)) is same
