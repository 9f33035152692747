"""A local Twilio emulator that drives the app's end-to-end tests over real HTTP."""

from __future__ import annotations

from ivr.devtools.emulator.calls import Call, Utterance
from ivr.devtools.emulator.devices import Device
from ivr.devtools.emulator.emulator import Emulator
from ivr.devtools.emulator.queues import Queue
from ivr.devtools.emulator.resources import Message
from ivr.devtools.emulator.webhooks import WebhookFailure

__all__ = ["Call", "Device", "Emulator", "Message", "Queue", "Utterance", "WebhookFailure"]
