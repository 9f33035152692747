"""Voicemails for supervisors: every message a caller left is listed, exported and counted
until a supervisor marks it handled."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from ivr.core.clock import ManualClock
from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from tests.conftest import BUSINESS, scrape
from tests.consoles import Console

KL = ZoneInfo("Asia/Kuala_Lumpur")
CALLER = "+60199999999"


def leave_voicemail(tw: Emulator, clock: ManualClock) -> None:
    """A Malay caller on a Sunday hears the office is closed and leaves a message."""
    clock.set(datetime(2026, 11, 29, 11, 0, tzinfo=KL))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.press("2")
    call.hears("Sila tinggalkan pesanan anda")
    call.wait(3)
    call.press("#")
    tw.run_until_idle()


def supervisor(server: LiveServer) -> Console:
    """Sam, logged in after the clock moved to the caller's Sunday (a session idles out)."""
    return Console(server, "supervisor", "sam")


def test_a_supervisor_sees_a_voicemail_until_it_is_handled(
    tw: Emulator, clock: ManualClock, server: LiveServer
) -> None:
    """The message is listed as unhandled and counted on the floor; once marked handled it
    leaves the to-do list and the count."""
    leave_voicemail(tw, clock)
    sam = supervisor(server)
    listed = sam.get("/api/supervisor/voicemails")
    assert listed.status_code == 200, listed.text
    (message,) = listed.json()["voicemails"]
    assert (message["from"], message["language"], message["handled"]) == (CALLER, "ms", False)
    assert message["url"].startswith("http")
    assert sam.get("/api/supervisor/floor").json()["voicemails_unhandled"] == 1
    assert sam.post(f"/api/supervisor/voicemails/{message['id']}/handled").status_code == 204
    assert sam.get("/api/supervisor/voicemails?unhandled=1").json() == {"voicemails": []}
    assert sam.get("/api/supervisor/floor").json()["voicemails_unhandled"] == 0
    assert "ivr_voicemails_unhandled 0.0" in scrape(server), "the backlog alert clears too"
    sam.close()


def test_voicemails_export_as_csv(tw: Emulator, clock: ManualClock, server: LiveServer) -> None:
    """`?format=csv` downloads one row per message, with a header."""
    leave_voicemail(tw, clock)
    sam = supervisor(server)
    answer = sam.get("/api/supervisor/voicemails?format=csv")
    assert answer.headers["content-type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(answer.text)))
    assert (row["from"], row["handled"]) == (CALLER, "False")
    sam.close()


def test_an_unknown_voicemail_cannot_be_marked(sam: Console, alice: Console) -> None:
    """A made-up id gets 404; an agent may not read the supervisors' list."""
    assert sam.post("/api/supervisor/voicemails/1-0/handled").status_code == 404
    assert alice.get("/api/supervisor/voicemails").status_code == 403
