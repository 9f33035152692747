"""A local Twilio emulator that drives the app's end-to-end tests over real HTTP."""

from __future__ import annotations

from ivr.emulator.calls import Call, Utterance
from ivr.emulator.devices import Device
from ivr.emulator.emulator import Emulator
from ivr.emulator.queues import Queue
from ivr.emulator.resources import Message
from ivr.emulator.webhooks import WebhookFailure

__all__ = ["Call", "Device", "Emulator", "Message", "Queue", "Utterance", "WebhookFailure"]
