"""Test helpers for agents, until they log in through the console: drive routing directly."""

from __future__ import annotations

from ivr.devtools.liveserver import LiveServer
from ivr.service import Services
from ivr.voice import offers
from queues.agent import AgentState


def services_of(server: LiveServer) -> Services:
    svc: Services = server.app.state.services
    return svc


def go_available(server: LiveServer, *agents: str) -> None:
    """Agents become available; any call they pick up rings their device."""
    svc = services_of(server)
    for agent in agents:
        offered = svc.run(svc.router.set_available(agent))
        svc.run(offers.dispatch_offers(svc, offered))


def on_break(server: LiveServer, *agents: str) -> None:
    """The agents are logged in but on break: callers they could answer wait for them."""
    go_available(server, *agents)
    svc = services_of(server)
    for agent in agents:
        svc.run(svc.router.set_break(agent, "lunch"))


def state(server: LiveServer, agent: str) -> AgentState:
    svc = services_of(server)
    return svc.run(svc.router.agent_state(agent))
