"""Contact-centre figures: the event fold, rollups, reports, Erlang C, the ideal queue."""
