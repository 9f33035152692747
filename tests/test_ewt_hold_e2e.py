"""The wait range a caller hears on hold, in their language, and the announcement schedule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from tests.agents import go_available, on_break, services_of
from tests.callbacks_helpers import edit_yaml
from tests.conftest import BUSINESS, SAMPLE_CONFIG
from tests.test_hold_e2e import busy_alice, times_heard
from tests.test_overflow_e2e import thai_caller

TRACK = "http://music.example/track-{}.mp3"
"""A 150 s piece of hold music, cut into five clips of 30 s."""
URLS = [TRACK.format(i) for i in range(5)]
CLIPS = [{"url": url, "seconds": 30} for url in URLS]


@pytest.fixture(name="config_dir")
def fixture_config_dir(tmp_path: Path) -> Path:
    """The sample config, with billing's 150 s of music given as clips and announcements
    every 90 s."""
    target = tmp_path / "config"
    target.mkdir()
    for path in SAMPLE_CONFIG.iterdir():
        if path.is_file():
            (target / path.name).write_bytes(path.read_bytes())

    def queues(data: dict[str, Any]) -> None:
        data["queues"]["billing"]["hold"].update(announce_every_s=90, music_clips=CLIPS)

    edit_yaml(target / "queues.yaml", queues)
    return target


def malay_billing_caller(tw: Emulator) -> Call:
    """A caller who picks Malay, then billing, and keys an account number."""
    call = tw.dial(from_="+60177777777", to=BUSINESS)
    call.press("2")
    call.hears("Untuk bil, tekan 1")
    call.press("1")
    call.hears("Sila masukkan nombor akaun 8 digit")
    call.press("20261124#")
    return call


def test_a_malay_caller_hears_a_range_in_malay(tw: Emulator, server: LiveServer) -> None:
    """Alice, the one billing agent in, is busy: the next caller hears their place and a
    range from the remaining wait's distribution (one agent, 180 s handle time: under 7
    minutes nine times in ten), in Malay."""
    busy_alice(tw, server)
    call = malay_billing_caller(tw)
    call.hears("Anda pemanggil seterusnya.")
    call.hears("Masa menunggu anda kurang daripada 7 minit.")


def test_callers_further_back_hear_between(tw: Emulator, server: LiveServer) -> None:
    """Three callers ahead of a Malay caller, one busy agent: "between 4 and 25 minutes"."""
    busy_alice(tw, server)
    svc = services_of(server)
    for index in range(3):
        svc.run(svc.router.enter(f"CA{index:032d}", "billing", language="en"))
    call = malay_billing_caller(tw)
    call.hears("Anda pemanggil nombor 4 dalam barisan.")
    call.hears("Masa menunggu anda antara 4 hingga 25 minit.")


def test_no_time_is_promised_when_no_eligible_agent_is_staffed(
    tw: Emulator, server: LiveServer
) -> None:
    """Support is staffed (Alice is in), but only Chai speaks Thai and he is on break: the
    Thai caller hears their place, and no time that no one could keep."""
    go_available(server, "alice")
    on_break(server, "chai")
    call = thai_caller(tw, "2")
    call.hears("คุณเป็นสายถัดไป")
    tw.advance(100)
    assert not any("ระยะเวลารอ" in u.text for u in call.heard), call.transcript()


def test_announcements_keep_their_schedule_whatever_the_music(
    tw: Emulator, server: LiveServer
) -> None:
    """With 150 s of music (five 30 s clips) and announcements every 90 s, the second comes
    about 90 s after the first, not when the music would have ended (165 s)."""
    tw.play_durations.update(dict.fromkeys(URLS, 30.0))
    busy_alice(tw, server)
    call = malay_billing_caller(tw)
    call.hears("Anda pemanggil seterusnya.")
    tw.advance(300)
    told = times_heard(call, "Anda pemanggil seterusnya.")
    gaps = [b - a for a, b in zip(told, told[1:], strict=False)]
    assert len(gaps) >= 3 and all(88 <= gap <= 95 for gap in gaps), gaps
    played = [u.url for u in call.heard if u.kind == "play"]
    assert played[:6] == [*URLS, URLS[0]], played
