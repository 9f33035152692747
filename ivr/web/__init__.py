"""The web face: console and supervisor pages, the JSON API, logins, live updates and `/metrics`."""
