"""Skill-based queues: agents, routing, reservations, timers and metrics."""
