"""The intake processor's pacing (`reporter.processing.gather_pause`): reports gather between
batches only while they keep coming, so a burst is filed in fewer, larger transactions and the
first report after a quiet spell is not held back."""

from __future__ import annotations

import pytest

from reporter.processing import gather_pause


def test_the_first_report_after_a_quiet_spell_is_not_held_back():
    # An idle processor waits for a wake-up, not a pause: nothing was taken.
    assert gather_pause(taken=0, limit=200, batch_seconds=0.001, gather_seconds=0.2) == 0.0


def test_a_full_batch_means_more_are_waiting_so_the_next_starts_at_once():
    assert gather_pause(taken=200, limit=200, batch_seconds=0.05, gather_seconds=0.2) == 0.0
    assert gather_pause(taken=230, limit=200, batch_seconds=0.05, gather_seconds=0.2) == 0.0


def test_a_part_full_batch_lets_the_next_start_one_gathering_time_after_it_started():
    assert gather_pause(taken=7, limit=200, batch_seconds=0.05, gather_seconds=0.2) == pytest.approx(0.15)
    assert gather_pause(taken=7, limit=200, batch_seconds=0.5, gather_seconds=0.2) == 0.0  # a slow batch: go on
    assert gather_pause(taken=7, limit=200, batch_seconds=0.05, gather_seconds=0.0) == 0.0  # gathering off
