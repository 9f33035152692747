"""The fold's guarantees: replays change nothing, a crash resumes, old events are trimmed."""

from __future__ import annotations

import pytest
import redis

from queues.metrics import fold as metrics
from queues.metrics.batch import Batch, FoldOptions
from queues.metrics.fold import GROUP
from tests.streams import entries
from tests.test_metrics_script import KEYS, T0, S, Script


@pytest.fixture(name="script")
def fixture_script(r: redis.Redis, redis_url: str) -> Script:
    """A script on a flushed store with a morning of calls, surveys and agent states."""
    s = Script(r, redis_url)
    s.event("AGENTSTATUS", T0, agent="alice", reason="available")
    for i in range(12):
        s.session(f"CA{i}", f"+60177777{i % 5:03d}", T0 + i * 60 * S)
        s.answered(f"CA{i}", "billing", "alice", T0 + i * 60 * S, (i % 4) * 10 * S, 40 * S)
        s.survey(f"CA{i}", 1 + i % 7, T0 + i * 60 * S + 5 * 60 * S)
    s.event("ENTERQUEUE", T0, call="CX", queue="support")
    s.event("ABANDON", T0 + 30 * S, call="CX", queue="support", wait_ms=30_000)
    return s


def test_replaying_the_stream_changes_nothing(script: Script) -> None:
    """Re-delivering every entry (the group rewound to 0) leaves every metrics key as it was."""
    script.fold(FoldOptions(batch=7))
    before = script.snapshot()
    assert before
    for stream in (KEYS.events(), KEYS.survey_responses()):
        script.r.xgroup_setid(stream, GROUP, "0")
    assert script.fold() > 0
    assert script.snapshot() == before


def test_small_batches_give_the_same_rollups_as_one_big_batch(script: Script) -> None:
    """Batch boundaries do not change the result (state carries across batches)."""
    script.fold(FoldOptions(batch=3))
    small = script.snapshot()
    script.r.delete(*[k for k in small])
    for stream in (KEYS.events(), KEYS.survey_responses()):
        script.r.xgroup_destroy(stream, GROUP)
    script.fold(FoldOptions(batch=1000))
    assert script.snapshot() == small


def test_a_crash_before_commit_resumes_without_double_counting(
    script: Script, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass that dies before EXEC writes nothing; the next pass folds the pending entries once."""
    script.fold()
    expected = script.snapshot()
    script.r.delete(*expected)
    for stream in (KEYS.events(), KEYS.survey_responses()):
        script.r.xgroup_destroy(stream, GROUP)

    real_write = Batch.write
    calls = {"n": 0}

    def crashing_write(self: Batch, pipe: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        real_write(self, pipe)

    monkeypatch.setattr(Batch, "write", crashing_write)
    with pytest.raises(RuntimeError, match="power cut"):
        script.fold(FoldOptions(batch=10))
    pending = script.r.xpending(KEYS.events(), GROUP)["pending"]
    assert pending == 10
    script.r.delete(KEYS.metrics_lock())  # the crashed holder's lock would expire on its own
    script.fold(FoldOptions(batch=10))
    assert script.snapshot() == expected
    assert script.r.xpending(KEYS.events(), GROUP)["pending"] == 0


def test_a_second_folder_waits_for_the_lock(script: Script) -> None:
    """While one process holds the fold lock another folds nothing."""
    script.r.set(KEYS.metrics_lock(), "someone-else", px=10_000)
    assert script.fold() == 0
    assert script.totals().counts == {}


def test_retention_trims_old_events_but_never_unfolded_ones(script: Script) -> None:
    """XTRIM MINID drops entries older than the retention, up to the applied watermark only."""
    day_ms = 86_400_000
    now_ms = 100 * day_ms
    r = script.r
    r.delete(KEYS.events())
    r.xgroup_create(KEYS.events(), GROUP, id="0", mkstream=True)
    for day in (50, 69, 71, 99):
        r.xadd(KEYS.events(), {"type": "SUPERVISOR", "ts": str(T0)}, id=f"{day * day_ms}-0")
    r.hset(KEYS.metrics_applied(), KEYS.events(), f"{60 * day_ms}-0")
    script.run(lambda c: metrics.trim(c, KEYS, now_ms, T0, 30 * 86_400))
    assert [e for e, _ in entries(r, KEYS.events())] == [f"{d * day_ms}-0" for d in (69, 71, 99)]
    script.fold()
    script.run(lambda c: metrics.trim(c, KEYS, now_ms, T0, 30 * 86_400))
    assert [e for e, _ in entries(r, KEYS.events())] == [f"{d * day_ms}-0" for d in (71, 99)]


def test_retention_drops_old_contacts_from_the_export_index(script: Script) -> None:
    """Contact records older than the retention leave the export index."""
    script.fold()
    assert script.r.zcard(KEYS.metrics_contacts()) == 13
    cut = T0 + 6 * 60 * S
    script.run(lambda c: metrics.trim(c, KEYS, 0, cut + 30 * 86_400_000, 30 * 86_400))
    assert script.r.zcard(KEYS.metrics_contacts()) == 6  # CA6…CA11; CX and CA0…CA5 are older
