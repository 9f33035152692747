"""The generated contact centre: 1,000 agents and three queues whose callers never leave."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import shutil
from pathlib import Path
from typing import Any

import yaml

from bench.capacity.defaults import MUSIC_CLIP_S, SECRET, WRAP_UP_S
from bench.docs import ROOT

QUEUES = ("billing", "support", "sales")
MALAY_SHARE = 0.6
"""Share of the agents who also speak Malay."""
CONFIG_SEED = 17


def cheap_hash(secret: str) -> str:
    """A `secret_hash` (ivr.web.auth format) with tiny scrypt costs: 1,000 logins stay cheap."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2, r=1, p=1, dklen=32)
    return f"scrypt$2$1$1${b64(salt)}${b64(digest)}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def agents_yaml(n: int, rng: random.Random) -> dict[str, object]:
    """`n` agents, each with two of the three queues' skills, English and often Malay."""
    secret_hash = cheap_hash(SECRET)
    agents: dict[str, object] = {}
    for i in range(n):
        skills = {q: rng.randint(2, 5) for q in rng.sample(list(QUEUES), 2)}
        skills["en"] = 5
        if rng.random() < MALAY_SHARE:
            skills["ms"] = rng.randint(3, 5)
        agents[f"a{i:04d}"] = {
            "name": f"Agent {i}",
            "skills": skills,
            "device": f"client:a{i:04d}",
            "secret_hash": secret_hash,
        }
    return {"agents": agents}


def music_clips() -> list[dict[str, Any]]:
    return [
        {"url": f"https://music.example.com/hold-{i}.mp3", "seconds": MUSIC_CLIP_S}
        for i in range(4)
    ]


def queues_yaml() -> dict[str, object]:
    """The sample's three queues, with patient callers: no max wait, size or EWT exit."""
    hold = {"announce_every_s": 45, "music_clips": music_clips()}
    patient = {"no_agents_after_s": None}  # nobody leaves while no agent is logged in
    billing_hold = {
        **hold,
        "messages": [{"every_s": 60, "text": {"en": "You can also pay your bill online."}}],
    }
    escalation = [{"after_s": 30, "required_skills": {"billing": 4}, "language_required": True}]
    return {
        "queues": {
            "billing": {
                "display_name": "Billing",
                **patient,
                "required_skills": {"billing": 1},
                "language_required": False,
                "escalation": escalation,
                "ring_timeout_s": 20,
                "wrap_up_s": WRAP_UP_S,
                "hold": billing_hold,
            },
            "support": {
                "display_name": "Technical support",
                **patient,
                "required_skills": {"support": 1},
                "strategy": "most_skilled",
                "wrap_up_s": WRAP_UP_S,
                "hold": {**hold, "callback_key": "1", "callback_offer_after_estimate_s": 30},
            },
            "sales": {
                "display_name": "Sales",
                **patient,
                "required_skills": {"sales": 1},
                "wrap_up_s": WRAP_UP_S,
                "weight": 2,
                "hold": hold,
            },
        }
    }


def make_config(work: Path, agents: int, name: str = "config", number: str = "") -> Path:
    """A copy of config/ with generated agents and queues, open around the clock (and
    listing `number`, for a workspace)."""
    folder = work / name
    shutil.copytree(ROOT / "config", folder)
    rng = random.Random(CONFIG_SEED)
    (folder / "agents.yaml").write_text(yaml.safe_dump(agents_yaml(agents, rng)))
    (folder / "queues.yaml").write_text(yaml.safe_dump(queues_yaml(), allow_unicode=True))
    business = yaml.safe_load((folder / "business.yaml").read_text())
    always = ["00:00-24:00"]
    office = business["hours"]["office"]
    office["weekly"] = {d: always for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    office["holidays"], office["special"] = [], {}
    if number:
        business["numbers"] = [number]
    (folder / "business.yaml").write_text(yaml.safe_dump(business, allow_unicode=True))
    return folder


def music_seconds() -> dict[str, float]:
    """Each hold clip's URL and its length."""
    return {clip["url"]: float(clip["seconds"]) for clip in music_clips()}
