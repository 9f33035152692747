"""The Conferences and Participants REST resources, behind `rest.Api`.

As with calls, handlers run on the app's threads: they read the conferences,
hand every change to the loop through `Switchboard.submit` and answer at once
with the resource as the change will leave it. A participant created here is
an outbound call whose TwiML is `<Dial><Conference>` with the requested
attributes, so it joins exactly as a `<Conference>` noun does.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape, quoteattr

from ivr.devtools.emulator.callbacks import requested_events
from ivr.devtools.emulator.calls import API_VERSION, Call, Start
from ivr.devtools.emulator.conference import Conference, Participant
from ivr.devtools.emulator.conference_events import parse_events
from ivr.devtools.emulator.conferences import JoinSpec, ParticipantUpdate
from ivr.devtools.emulator.resources import RestError, dialled, param, rfc2822
from ivr.devtools.emulator.switchboard import Switchboard

ROUTE = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>AC\w+)/Conferences"
    r"(?:/(?P<conference>[^/]+?)(?P<participants>/Participants(?:/(?P<participant>[^/]+?))?)?)?"
    r"\.json$"
)
Answer = tuple[int, dict[str, Any]]
"""As for calls.create: a device marked `unreachable` cannot be dialled into a conference."""


class ConferenceApi:
    """Routes /Conferences requests: list, fetch and update conferences and participants."""

    def __init__(self, board: Switchboard) -> None:
        self.board = board

    def serves(self, path: str) -> bool:
        return ROUTE.match(path) is not None

    def handle(self, method: str, path: str, data: dict[str, Any]) -> Answer:
        match = ROUTE.match(path)
        if match is None or match["account"] != self.board.account_sid:
            raise RestError(404, 20404, f"The requested resource {path} was not found")
        key = unquote(match["conference"] or "")
        if not key:
            return 200, _page("conferences", self.list_conferences(data))
        if not match["participants"]:
            return self.conference(method, self._conference(key), data)
        if match["participant"] is None:
            return self.participants(method, key, data)
        participant = _participant(self._conference(key), unquote(match["participant"]))
        return self.participant(method, participant, data)

    # -- conferences ---------------------------------------------------------------------

    def list_conferences(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """`conferences.list(friendly_name=, status=)`, newest first, in one page."""
        name, status = param(data, "FriendlyName"), param(data, "Status")
        found = [
            c
            for c in list(self.board.conferences.all)
            if name in ("", c.name) and status in ("", c.status)
        ]
        return [conference_resource(c) for c in reversed(found)]

    def conference(self, method: str, conference: Conference, data: dict[str, Any]) -> Answer:
        resource = conference_resource(conference)
        if method != "POST":
            return 200, resource
        if param(data, "AnnounceUrl"):
            self._announce(conference, None, data)
        if param(data, "Status") == "completed":
            conferences = self.board.conferences
            self.board.submit(lambda: conferences.end(conference, "conference-ended-via-api"))
            resource["status"] = "completed"
        return 200, resource

    def _conference(self, sid: str) -> Conference:
        found = self.board.conferences.by_sid(sid)
        if found is None:
            raise RestError(404, 20404, f"The requested resource Conference {sid} was not found")
        return found

    def _announce(
        self, conference: Conference, target: Participant | None, data: dict[str, Any]
    ) -> None:
        url = self.board.webhooks.resolve(param(data, "AnnounceUrl"))
        method = (param(data, "AnnounceMethod") or "POST").upper()
        conferences = self.board.conferences
        self.board.submit(lambda: conferences.announce(conference, target, url, method))

    # -- participants --------------------------------------------------------------------

    def participants(self, method: str, key: str, data: dict[str, Any]) -> Answer:
        if method == "POST":
            return 201, participant_resource(self.create(key, data))
        conference = self._conference(key)
        wanted = {f: _flag(data, name) for f, name in FILTERS.items()}
        found = [
            participant_resource(p)
            for p in list(conference.participants)
            if p.present and all(v is None or getattr(p, f) == v for f, v in wanted.items())
        ]
        return 200, _page("participants", found)

    def create(self, key: str, data: dict[str, Any]) -> Participant:
        """Dial `To` into the conference with that SID or friendly name (made if new)."""
        conferences = self.board.conferences
        conference = conferences.by_sid(key) or conferences.current(key)
        if conference is None and re.fullmatch(r"CF[0-9a-fA-F]{32}", key):
            raise RestError(404, 20404, f"The requested resource Conference {key} was not found")
        if conference is not None and conference.status == "completed":
            raise RestError(404, 20404, f"Conference {key} has completed")
        spec = self._spec(conference.name if conference is not None else key, data)
        call = self._dial(spec, data)
        placeholder = conference or Conference(spec.name, self.board.account_sid, self.board.now())
        participant = Participant(call, placeholder, self.board.now(), label=spec.label)
        participant.muted, participant.end_on_exit = spec.muted, spec.end_on_exit
        participant.start_on_enter, participant.coaching = spec.start_on_enter, bool(spec.coach)
        participant.call_sid_to_coach = spec.coach
        self.board.submit(lambda: self._launch(participant, spec))
        return participant

    def _spec(self, name: str, data: dict[str, Any]) -> JoinSpec:
        wait_url = data.get("WaitUrl")
        callback = param(data, "ConferenceStatusCallback")
        coaching = _flag(data, "Coaching")
        coach = param(data, "CallSidToCoach") or None
        return JoinSpec(
            name=name,
            label=param(data, "Label") or None,
            muted=bool(_flag(data, "Muted")),
            beep=param(data, "Beep") or "true",
            start_on_enter=_flag(data, "StartConferenceOnEnter") is not False,
            end_on_exit=bool(_flag(data, "EndConferenceOnExit")),
            wait_url=self.board.webhooks.resolve(str(wait_url)) if wait_url else wait_url,
            wait_method=(param(data, "WaitMethod") or "POST").upper(),
            max_participants=int(data.get("MaxParticipants") or 250),
            coach=coach if coaching is not False else None,
            status_callback=self.board.webhooks.resolve(callback) if callback else None,
            status_callback_method=(
                param(data, "ConferenceStatusCallbackMethod") or "POST"
            ).upper(),
            events=parse_events(data.get("ConferenceStatusCallbackEvent")),
        )

    def _dial(self, spec: JoinSpec, data: dict[str, Any]) -> Call:
        to, from_ = dialled(data, self.board.devices)
        start = Start(None, "POST", conference_twiml(spec))
        call = self.board.new_call(
            from_, to, "outbound-api", start=start, timeout_s=float(data.get("Timeout") or 60)
        )
        if data.get("StatusCallback"):
            events = requested_events(data.get("StatusCallbackEvent"))
            method = param(data, "StatusCallbackMethod") or "POST"
            url = param(data, "StatusCallback")
            call.notifier = self.board.notifier(url, events, method)
        return call

    def _launch(self, participant: Participant, spec: JoinSpec) -> None:
        self.board.conferences.adopt(participant, spec)
        call = participant.call
        if call.notifier:
            call.notifier.notify(call, "initiated")
        self.board.ring(call)

    def participant(self, method: str, participant: Participant, data: dict[str, Any]) -> Answer:
        conferences = self.board.conferences
        if method == "DELETE":
            self.board.submit(lambda: conferences.kick(participant))
            return 204, {}
        resource = participant_resource(participant)
        if method != "POST":
            return 200, resource
        change = self._change(data)
        self.board.submit(lambda: conferences.update(participant, change))
        if param(data, "AnnounceUrl"):
            self._announce(participant.conference, participant, data)
        for name in ("muted", "hold", "coaching", "call_sid_to_coach"):
            if getattr(change, name) is not None:
                resource[name] = getattr(change, name)
        if change.call_sid_to_coach is not None and change.coaching is None:
            resource["coaching"] = True
        return 200, resource

    def _change(self, data: dict[str, Any]) -> ParticipantUpdate:
        hold_url = param(data, "HoldUrl")
        return ParticipantUpdate(
            muted=_flag(data, "Muted"),
            hold=_flag(data, "Hold"),
            hold_url=self.board.webhooks.resolve(hold_url) if hold_url else None,
            hold_method=param(data, "HoldMethod").upper() or None,
            coaching=_flag(data, "Coaching"),
            call_sid_to_coach=param(data, "CallSidToCoach") or None,
            end_on_exit=_flag(data, "EndConferenceOnExit"),
            beep_on_exit=_flag(data, "BeepOnExit"),
        )


FILTERS = {"muted": "Muted", "hold": "Hold", "coaching": "Coaching"}
"""Participant list filters -> Participant attributes."""


def conference_twiml(spec: JoinSpec) -> str:
    """The `<Dial><Conference>` a REST-created participant runs once it answers."""
    attrs = {
        "participantLabel": spec.label,
        "muted": str(spec.muted).lower(),
        "beep": spec.beep,
        "startConferenceOnEnter": str(spec.start_on_enter).lower(),
        "endConferenceOnExit": str(spec.end_on_exit).lower(),
        "waitUrl": spec.wait_url,
        "waitMethod": spec.wait_method,
        "maxParticipants": str(spec.max_participants),
        "coach": spec.coach,
        "statusCallback": spec.status_callback,
        "statusCallbackMethod": spec.status_callback_method,
        "statusCallbackEvent": " ".join(sorted(spec.events)),
    }
    text = " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items() if v is not None)
    return f"<Response><Dial><Conference {text}>{escape(spec.name)}</Conference></Dial></Response>"


def conference_resource(conference: Conference) -> dict[str, Any]:
    """The Conference resource JSON."""
    base = f"/{API_VERSION}/Accounts/{conference.account_sid}/Conferences/{conference.sid}"
    return {
        "sid": conference.sid,
        "account_sid": conference.account_sid,
        "friendly_name": conference.name,
        "status": conference.status,
        "region": "us1",
        "date_created": rfc2822(conference.created_at),
        "date_updated": rfc2822(conference.updated_at),
        "reason_conference_ended": conference.reason_ended,
        "call_sid_ending_conference": conference.call_sid_ending,
        "api_version": API_VERSION,
        "uri": base + ".json",
        "subresource_uris": {
            "participants": base + "/Participants.json",
            "recordings": base + "/Recordings.json",
        },
    }


def participant_resource(participant: Participant) -> dict[str, Any]:
    """The Participant resource JSON."""
    conference = participant.conference
    base = f"/{API_VERSION}/Accounts/{conference.account_sid}/Conferences/{conference.sid}"
    return {
        "account_sid": conference.account_sid,
        "call_sid": participant.call.sid,
        "conference_sid": conference.sid,
        "label": participant.label,
        "status": participant.status,
        "muted": participant.muted,
        "hold": participant.hold,
        "coaching": participant.coaching,
        "call_sid_to_coach": participant.call_sid_to_coach,
        "start_conference_on_enter": participant.start_on_enter,
        "end_conference_on_exit": participant.end_on_exit,
        "queue_time": None,
        "date_created": rfc2822(participant.joined_at),
        "date_updated": rfc2822(participant.updated_at or participant.joined_at),
        "uri": f"{base}/Participants/{participant.call.sid}.json",
    }


def _participant(conference: Conference, key: str) -> Participant:
    found = conference.find(key)
    if found is None:
        raise RestError(404, 20404, f"The requested resource Participant {key} was not found")
    return found


def _page(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {kind: items, "next_page_uri": None, "page": 0}


def _flag(data: dict[str, Any], name: str) -> bool | None:
    """A boolean parameter: None when absent; anything but "true" is false, as on Twilio."""
    value = data.get(name)
    return None if value is None else str(value).lower() == "true"
