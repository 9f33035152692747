"""The announcement schedule of the hold loop: when one is due, and music that fills the gap."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ivr.config.queues import HoldConfig, MusicClip
from ivr.voice.hold import HoldState, fill


def clips(*seconds: int) -> list[MusicClip]:
    return [
        MusicClip(url=f"http://music.example/{i}.mp3", seconds=s) for i, s in enumerate(seconds)
    ]


def test_whole_clips_fill_the_gap_in_turn() -> None:
    """Three 20 s clips for 60 s: all three, and the next fetch starts again at the first."""
    music = clips(20, 20, 20)
    chosen, after, rest = fill(music, 0, 60)
    assert chosen == music and after == 0 and rest == 0


def test_the_music_carries_on_where_it_stopped() -> None:
    """Starting at the third of five clips, 50 s plays clips 3, 4 and 5 (up to 10 s late)."""
    music = clips(20, 20, 20, 20, 20)
    chosen, after, rest = fill(music, 2, 50)
    assert chosen == music[2:5] and after == 0 and rest == 0


def test_a_clip_that_would_end_too_late_leaves_a_pause() -> None:
    """15 s left and a 30 s clip next: a 15 s pause, and that clip plays next time."""
    music = clips(30, 30)
    chosen, after, rest = fill(music, 1, 15)
    assert chosen == [] and after == 1 and rest == 15


def test_a_clip_may_end_a_little_late() -> None:
    """25 s left and a 30 s clip: it plays, ending 5 s late (at most LATE_MAX_S)."""
    music = clips(30)
    chosen, _, rest = fill(music, 0, 25)
    assert chosen == music and rest == 0


def test_nothing_to_fill_plays_nothing() -> None:
    """An announcement already due: no clip, no time left (the loop pauses a second)."""
    assert fill(clips(20), 0, -3) == ([], 0, 0.0)


def test_announcements_come_every_interval_never_sooner_than_the_floor() -> None:
    """The first is due at once; the next announce_every_s after the last one said."""
    hold = HoldConfig(announce_every_s=90, announce_min_s=15)
    state = HoldState()
    assert state.is_due(hold, 1000)
    state.announced(1000)
    assert not state.is_due(hold, 1089)
    assert state.is_due(hold, 1090)
    assert not state.is_due(HoldConfig(announce_every_s=10, announce_min_s=15), 1012)


def test_the_schedule_survives_a_fetch() -> None:
    """What was said and which clip is next are kept in the caller's hold hash."""
    state = HoldState(announced_at=12.5, position=3, clip=4)
    assert HoldState.parse(state.dump()) == state


def test_a_clip_longer_than_the_interval_is_a_config_error() -> None:
    """A 150 s clip with announcements every 90 s could never play between two: refused."""
    with pytest.raises(ValidationError, match="longer than announce_every_s"):
        HoldConfig(announce_every_s=90, music_clips=clips(150))
    assert HoldConfig(announce_every_s=90, music_clips=clips(30, 30)).music_clips
