"""IVR telephony and call-queue service for Twilio phone numbers."""

__version__ = "0.1.0"
