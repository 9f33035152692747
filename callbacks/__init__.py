"""Outbound follow-ups: callback scheduling and post-call SMS surveys."""
