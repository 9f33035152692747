"""The bottom layer: clock, errors, keys, settings, logs, store, REST client, URLs.

Nothing here imports anything of ours from a layer above."""
