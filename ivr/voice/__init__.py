"""The voice face: Twilio voice and SMS webhooks, one module per leg, rendered as TwiML."""
