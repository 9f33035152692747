"""The OpenAPI 3.1 document of the console API, written by hand (served at /api/openapi.json).

Kept next to, not inside, the handlers: one place to read the whole API, and
`tests/test_api_fuzz.py` fuzzes every operation in it against the live app.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

ERROR: Schema = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"


def obj(required: list[str] | None = None, **props: Schema) -> Schema:
    schema: Schema = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


def nullable(kind: str) -> Schema:
    return {"type": [kind, "null"]}


def body(schema: Schema) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def ok(description: str, schema: Schema | None = None) -> Schema:
    response: Schema = {"description": description}
    if schema is not None:
        response["content"] = {"application/json": {"schema": schema}}
    return response


def errors(*codes: int) -> dict[str, Schema]:
    text = {
        400: "The body is not a JSON object",
        401: "Not logged in",
        403: "Not allowed for you (wrong kind of user, CSRF token, or someone else's)",
        404: "Unknown",
        409: "Not possible in the current state",
        410: "The offer expired or was withdrawn",
        415: "Not sent as application/json",
        422: "A field has a bad value",
        502: "Twilio refused the call to the agent's device: the call went back to the queue",
        503: "Not configured",
    }
    return {str(c): ok(text[c], ERROR) for c in (401, *codes)}


def path_param(name: str, description: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": ID_PATTERN},
    }


def op(summary: str, responses: dict[str, Schema], **extra: Any) -> Schema:
    return {"summary": summary, "responses": responses, **extra}


CREDENTIALS = obj(
    ["kind", "user", "secret"],
    kind={"type": "string", "enum": ["agent", "supervisor"]},
    user={"type": "string"},
    secret={"type": "string"},
)
ME = obj(
    ["kind", "user"], kind={"type": "string"}, user={"type": "string"}, csrf={"type": "string"}
)
CALLER = obj(
    ["call"],
    call={"type": "string"},
    caller=nullable("string"),
    caller_name=nullable("string"),
    caller_label={"type": "string", "description": "the caller's name, or their masked number"},
    language=nullable("string"),
    language_name=nullable("string"),
    path={"type": "array", "items": {"type": "string"}},
    menu_path={
        "description": "the menu choices the caller made, as labels (not node ids)",
        "type": "array",
        "items": {"type": "string"},
    },
    data={"type": "object", "additionalProperties": {"type": "string"}},
)
AGENT_VIEW = obj(
    ["agent", "offer", "call", "wrap_up", "stats", "softphone", "dispositions"],
    agent=obj(
        ["id", "state"],
        id={"type": "string"},
        name={"type": "string"},
        device={"type": "string"},
        state={
            "type": "string",
            "enum": ["offline", "available", "reserved", "on_call", "wrap_up", "break"],
        },
        state_label={"type": "string", "description": "the state in plain words"},
        reason={"type": "string"},
        held={"type": "boolean"},
        in_state_s=nullable("number"),
    ),
    offer={
        "description": "The screen pop of the pending offer (caller fields as in `call`), or null",
        "type": ["object", "null"],
    },
    call={
        "description": "The call on or to wrap up (caller fields, queue_name, talk_s, notes,"
        " phase: connecting, connected or wrapping_up; state: the conference's connecting,"
        " connected, on_hold, consulting or ended; muted; on_hold)",
        "type": ["object", "null"],
    },
    wrap_up={"type": ["object", "null"], "properties": {"remaining_s": nullable("number")}},
    stats=obj(
        handled={"type": "integer"},
        aht_s=nullable("number"),
        frt_share=nullable("number"),
        ces=nullable("number"),
        missed={"type": "integer"},
    ),
    softphone=obj(identity=nullable("string"), configured={"type": "boolean"}),
    dispositions={"type": "object", "additionalProperties": {"type": "string"}},
)
MONITOR = obj(
    ["call", "agent", "mode"],
    call={"type": "string"},
    agent={"type": "string"},
    mode={"type": "string", "enum": ["listen", "whisper", "barge"]},
)
FLOOR = obj(
    ["queues", "agents", "waiting", "alerts", "config"],
    queues={"type": "array", "items": {"type": "object"}},
    agents={"type": "array", "items": {"type": "object"}},
    waiting={"type": "array", "items": {"type": "object"}},
    alerts={"type": "array", "items": {"type": "object"}},
    config=obj(version={"type": "string"}, last_error=nullable("string")),
    outbound=obj(legs={"type": "integer"}, oldest_s={"type": "number"}),
)
NOTES = {"type": "string", "maxLength": 4000}
FIGURES = {"type": "object", "additionalProperties": {"type": ["number", "null"]}}
REPORTS = obj(
    ["from", "to", "queues", "agents", "staffing", "shown", "intervals", "agent_ces", "scatter"],
    **{"from": {"type": "string"}, "to": {"type": "string"}},
    queue=nullable("string"),
    target={"type": "number"},
    timezone={"type": "string"},
    queues={"type": "object", "additionalProperties": FIGURES},
    agents={"type": "object", "additionalProperties": FIGURES},
    staffing={"type": "array", "items": {"type": "object"}},
    shown={"description": "queues and agents as `ivr report` prints them", "type": "object"},
    intervals=obj(
        ["by", "rows"],
        by={"type": "string", "enum": ["hour", "day"], "description": "docs/metrics.md"},
        rows={"type": "array", "items": {"type": "object"}},
    ),
    agent_ces={"type": "object", "additionalProperties": FIGURES},
    scatter=obj(points={"type": "array", "items": {"type": "object"}}),
)
"""`ivr report --format json --staffing` for the range, plus the dashboard's chart data."""
LIVE = obj(
    ["queues", "agents", "at"],
    queues={
        "type": "object",
        "additionalProperties": obj(
            waiting={"type": "integer"},
            oldest_wait_s={"type": "number"},
            service_level_today=nullable("number"),
            answered_today={"type": "integer"},
            display_name={"type": "string"},
        ),
    },
    agents={"type": "object", "additionalProperties": {"type": "integer"}},
    at={"type": "string"},
)
"""The floor now (`queues.metrics.rollups.live`), for the reports page's live card."""


def query_param(name: str, description: str, schema: Schema | None = None) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


REPORT_PARAMS = [
    query_param("from", "Start: local date or date-time (default today 00:00)"),
    query_param("to", "End, exclusive; a bare date includes that day (default now)"),
    query_param("queue", "Only this queue (default all)"),
    query_param("target", "Service level target for staffing", {"type": "number", "default": 0.8}),
]
CONTROL_STATE = obj(
    ["state", "muted", "on_hold"],
    state={
        "type": ["string", "null"],
        "enum": ["connecting", "connected", "on_hold", "consulting", "ended", None],
    },
    muted={"type": "boolean"},
    on_hold={"type": "boolean"},
)
"""The call's live state after a control."""
CALL = path_param("call", "The call sid")


def paths() -> dict[str, Schema]:
    return {
        "/api/session": {
            "post": op(
                "Log in: sets the session cookie; answers the CSRF token to send on changes",
                {"200": ok("Logged in", ME), **errors(400, 415, 422)},
                requestBody=body(CREDENTIALS),
                security=[],
            ),
            "delete": op("Log out", {"204": ok("Logged out"), **errors()}),
        },
        "/api/me": {"get": op("Who is logged in", {"200": ok("The user", ME), **errors()})},
        "/api/tokens": {
            "post": op(
                "A new bearer token for scripts (shown once)",
                {"201": ok("The token", obj(["token"], token={"type": "string"})), **errors()},
            ),
        },
        "/api/agent": {
            "get": op("The agent console's view", {"200": ok("View", AGENT_VIEW), **errors(403)}),
        },
        "/api/agent/status": {
            "post": op(
                "Go available, on break (with a reason) or offline",
                {"204": ok("Done"), **errors(400, 403, 409, 422)},
                requestBody=body(
                    obj(
                        ["status"],
                        status={"type": "string", "enum": ["available", "break", "offline"]},
                        reason={"type": "string", "maxLength": 60},
                    )
                ),
            ),
        },
        "/api/agent/offers/{offer}/accept": {
            "post": op(
                "Accept an offer: the agent's device rings straight into the call",
                {
                    "200": ok("Accepted", obj(call={"type": "string"}, device={"type": "string"})),
                    **errors(403, 404, 410, 502),
                },
                parameters=[path_param("offer", "The reservation id")],
            ),
        },
        "/api/agent/offers/{offer}/reject": {
            "post": op(
                "Reject an offer: the caller keeps their place",
                {"204": ok("Rejected"), **errors(403, 404, 410)},
                parameters=[path_param("offer", "The reservation id")],
            ),
        },
        "/api/agent/calls/{call}/notes": {
            "put": op(
                "Save the call's notes",
                {"204": ok("Saved"), **errors(400, 403, 409, 422)},
                parameters=[CALL],
                requestBody=body(obj(["notes"], notes=NOTES)),
            ),
        },
        "/api/agent/calls/{call}/wrapup": {
            "post": op(
                "File the disposition and notes, and end wrap-up (ready for the next call)",
                {
                    "200": ok(
                        "Filed", obj(call={"type": "string"}, disposition={"type": "string"})
                    ),
                    **errors(400, 403, 409, 422),
                },
                parameters=[CALL],
                requestBody=body(
                    obj(
                        ["disposition"],
                        disposition={
                            "type": "string",
                            "enum": ["resolved", "follow_up", "transferred", "other"],
                        },
                        notes=NOTES,
                    )
                ),
            ),
        },
        "/api/agent/calls/{call}/hold": {
            "post": op(
                "Put the customer on hold (they hear the queue's hold music), or resume",
                {"200": ok("Done", CONTROL_STATE), **errors(400, 403, 404, 409, 502)},
                parameters=[CALL],
                requestBody=body(obj(["hold"], hold={"type": "boolean"})),
            ),
        },
        "/api/agent/calls/{call}/mute": {
            "post": op(
                "Mute the agent's line in the call (the customer no longer hears them), or unmute",
                {"200": ok("Done", CONTROL_STATE), **errors(400, 403, 404, 409, 502)},
                parameters=[CALL],
                requestBody=body(obj(["mute"], mute={"type": "boolean"})),
            ),
        },
        "/api/agent/calls/{call}/hangup": {
            "post": op(
                "Hang up the customer: the call ends and the agent wraps up",
                {"204": ok("Hung up"), **errors(403, 404, 409, 502)},
                parameters=[CALL],
            ),
        },
        "/api/agent/calls/{call}/digits": {
            "post": op(
                "Play DTMF tones to the customer's side (w: a half-second pause)",
                {"204": ok("Played"), **errors(400, 403, 404, 409, 502)},
                parameters=[CALL],
                requestBody=body(
                    obj(["digits"], digits={"type": "string", "pattern": "^[0-9*#w]{1,32}$"})
                ),
            ),
        },
        "/api/agent/token": {
            "get": op(
                "A Twilio Voice SDK access token for the agent's own client identity (1 h)",
                {
                    "200": ok(
                        "Token",
                        obj(
                            ["token", "identity"],
                            token={"type": "string"},
                            identity={"type": "string"},
                            ttl_s={"type": "integer"},
                        ),
                    ),
                    **errors(403, 409, 503),
                },
            ),
        },
        "/api/supervisor/floor": {
            "get": op(
                "Queues, agents, waiting calls, alerts, config",
                {"200": ok("Floor", FLOOR), **errors(403)},
            ),
        },
        "/api/supervisor/reports": {
            "get": op(
                "Reports over a range (≤ 31 days): figures, by hour or day, CES, FRT/CES, staffing",
                {"200": ok("Report", REPORTS), **errors(403, 404, 422)},
                parameters=REPORT_PARAMS,
            ),
        },
        "/api/supervisor/reports/live": {
            "get": op(
                "Now: waiting, oldest wait, service level today per queue; agents by state",
                {"200": ok("Live", LIVE), **errors(403)},
            ),
        },
        "/api/supervisor/agents/{agent}/break": {
            "post": op(
                "Put an agent on break",
                {"204": ok("Done"), **errors(400, 403, 404, 409, 422)},
                parameters=[path_param("agent", "The agent id")],
                requestBody=body(obj(reason={"type": "string", "maxLength": 60})),
            ),
        },
        "/api/supervisor/agents/{agent}/logout": {
            "post": op(
                "Log an agent out",
                {"204": ok("Done"), **errors(403, 404, 409)},
                parameters=[path_param("agent", "The agent id")],
            ),
        },
        "/api/supervisor/callbacks/{callback}/cancel": {
            "post": op(
                "Cancel a pending or scheduled callback (recorded with who did it)",
                {"204": ok("Cancelled"), **errors(403, 404, 409)},
                parameters=[path_param("callback", "The callback id (CB…)")],
            ),
        },
        "/api/supervisor/voicemails": {
            "get": op(
                "The voicemails callers left, newest first (`unhandled=1`: only those to handle;"
                " `format=csv`: a CSV download)",
                {"200": ok("The voicemails", obj(voicemails={"type": "array"})), **errors(403)},
                parameters=[
                    query_param("unhandled", "1: only the voicemails not yet handled"),
                    query_param("format", "csv: a CSV file instead of JSON"),
                ],
            ),
        },
        "/api/supervisor/voicemails/{voicemail}/handled": {
            "post": op(
                "Mark a voicemail handled (its caller was called back)",
                {"204": ok("Marked"), **errors(403, 404)},
                parameters=[path_param("voicemail", "The voicemail id (from the list)")],
            ),
        },
        "/api/supervisor/calls/{call}/priority": {
            "put": op(
                "Change a waiting call's priority (it keeps its original arrival time)",
                {
                    "200": ok(
                        "Changed", obj(old={"type": "integer"}, priority={"type": "integer"})
                    ),
                    **errors(400, 403, 404, 409, 422),
                },
                parameters=[CALL],
                requestBody=body(
                    obj(["priority"], priority={"type": "integer", "minimum": 0, "maximum": 99})
                ),
            ),
        },
        "/api/supervisor/token": {
            "get": op(
                "A Twilio Voice SDK access token for your own client identity (1 h): the"
                " supervisor page answers the calls monitoring rings it with",
                {
                    "200": ok(
                        "Token",
                        obj(
                            ["token", "identity"],
                            token={"type": "string"},
                            identity={"type": "string"},
                            ttl_s={"type": "integer"},
                        ),
                    ),
                    **errors(403, 409, 503),
                },
            ),
        },
        "/api/supervisor/calls/{call}/monitor": {
            "post": op(
                "Listen to (muted), whisper on (only the agent hears) or barge into a connected"
                " call: your device is dialled into its conference; again to switch mode"
                " (502: Twilio's API failed)",
                {"200": ok("Monitoring", MONITOR), **errors(400, 403, 409, 502)},
                parameters=[CALL],
                requestBody=body(
                    obj(["mode"], mode={"type": "string", "enum": ["listen", "whisper", "barge"]})
                ),
            ),
            "delete": op(
                "Stop monitoring the call: your device leaves its conference",
                {"204": ok("Stopped"), **errors(403, 409, 502)},
                parameters=[CALL],
            ),
        },
        **inbox_paths(),
        "/api/live": {
            "get": op(
                "Server-sent events: one `change` message per routing event (re-read your view)",
                {
                    "200": {
                        "description": "text/event-stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **errors(),
                },
            ),
        },
    }


VOICEMAIL = path_param("voicemail", "The voicemail id (from the inbox)")
CALLED_BACK = obj(
    id={"type": "string"},
    callback={"type": "string"},
    created={"type": "boolean"},
    state={"type": "string"},
    routed={"type": "string", "enum": ["you", "queue", ""]},
    device={"type": "string"},
)


def inbox_paths() -> dict[str, Schema]:
    """The agent's voicemail inbox (`ivr.web.inbox`)."""
    return {
        "/api/agent/voicemails": {
            "get": op(
                "The unhandled voicemails of the queues you serve (and the menu's), newest first",
                {"200": ok("The inbox", obj(voicemails={"type": "array"})), **errors(403)},
            ),
        },
        "/api/agent/voicemails/{voicemail}/assign": {
            "post": op(
                "Take a voicemail (409 if another agent took it first)",
                {
                    "200": ok("Yours", obj(id={"type": "string"}, owner={"type": "string"})),
                    **errors(403, 404, 409),
                },
                parameters=[VOICEMAIL],
            ),
        },
        "/api/agent/voicemails/{voicemail}/callback": {
            "post": op(
                "Call the caller back, once: 201 a new callback (offered to you first), 200 the"
                " one already made",
                {
                    "201": ok("Calling back", CALLED_BACK),
                    "200": ok("Already called back", CALLED_BACK),
                    **errors(403, 404, 409, 410, 502),
                },
                parameters=[VOICEMAIL],
            ),
        },
        "/api/agent/missed": {
            "get": op(
                "Callers who hung up waiting in your queues in the last 8 hours and have not"
                " been in touch since, newest first",
                {"200": ok("Missed callers", obj(missed={"type": "array"})), **errors(403)},
            ),
        },
        "/api/agent/missed/{call}/callback": {
            "post": op(
                "Call a missed caller back, once: 201 a new callback (offered to you first),"
                " 200 the one already made",
                {
                    "201": ok("Calling back", CALLED_BACK),
                    "200": ok("Already called back", CALLED_BACK),
                    **errors(403, 404, 409, 410, 502),
                },
                parameters=[path_param("call", "The missed call's sid (from the list)")],
            ),
        },
        "/api/agent/voicemails/{voicemail}/done": {
            "post": op(
                "Mark a voicemail done (yours, or nobody's yet)",
                {"204": ok("Done"), **errors(403, 404, 409)},
                parameters=[VOICEMAIL],
            ),
        },
    }


def document() -> Schema:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "IVR console API",
            "version": "1",
            "description": "What the agent console and supervisor view do, for scripts too. "
            "Authenticate with the session cookie (send X-CSRF-Token on changes) "
            "or `Authorization: Bearer <token>` from POST /api/tokens.",
        },
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "ivr_session"},
                "bearer": {"type": "http", "scheme": "bearer"},
            }
        },
        "security": [{"session": []}, {"bearer": []}],
        "paths": paths(),
    }
