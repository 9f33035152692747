"""A real keep-my-place callback, through the emulator, in `ivr report`: its own contact type
(issue 15, finding 7), from the events the service really writes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import redis

from ivr import cli
from ivr.config.loader import load
from ivr.core.clock import ManualClock
from ivr.core.settings import Settings
from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from ivr.web import report
from tests.callbacks_helpers import JobRunner
from tests.test_callbacks_e2e import (  # noqa: F401  (fixtures: callbacks offered, jobs run)
    CUSTOMER,
    busy_alice,
    fixture_config_dir,
    fixture_jobs,
    take_callback,
)
from tests.test_metrics_script import Script


def report_doc(redis_url: str, config_dir: Path, clock: ManualClock) -> dict[str, Any]:
    args = cli.build_parser().parse_args(["report", "--queue", "billing", "--format", "json"])
    out = io.StringIO()
    settings = Settings(redis_url=redis_url, config_dir=config_dir)
    assert report.main(settings, args, out, clock) == 0
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def test_a_called_back_customer_is_a_callback_not_an_inbound_answer(
    tw: Emulator,
    server: LiveServer,
    r: redis.Redis,
    redis_url: str,
    config_dir: Path,
    clock: ManualClock,
    jobs: JobRunner,
) -> None:
    """The first caller is answered at once; the second takes a callback, which alice accepts
    after a long virtual wait: billing's service level is 100 % of 1 answered, and the
    callback is 1 requested, reached and completed, its answer time from the request."""
    first = busy_alice(tw, server)
    take_callback(tw)
    asked = clock.now() - 30  # take_callback waits 30 s after the request
    tw.advance(60)
    first.hangup()
    tw.advance(17)
    tw.device("client:alice").answer().press("1")
    tw.advance(3)
    customer = tw.device(CUSTOMER).answer()
    customer.hears("calling you back about your Billing request")
    tw.advance(2)
    reached = clock.now()
    tw.advance(30)
    customer.hangup()
    tw.advance(1)
    tw.assert_no_errors()
    Script(r, redis_url, load(config_dir)).fold()
    billing = report_doc(redis_url, config_dir, clock)["queues"]["billing"]
    inbound = ("queued", "answered", "abandoned", "callbacks", "service_level")
    assert {k: billing[k] for k in inbound} == {
        "queued": 2,
        "answered": 1,
        "abandoned": 0,
        "callbacks": 1,
        "service_level": 1.0,
    }
    assert billing["asa_s"] < 5
    own = ("callbacks_requested", "callbacks_reached", "callbacks_completed")
    assert [billing[k] for k in own] == [1, 1, 1]
    assert billing["callback_completion_rate"] == 1.0
    assert abs(billing["callback_answer_mean_s"] - (reached - asked)) < 5
    assert billing["callback_on_time"] is not None
