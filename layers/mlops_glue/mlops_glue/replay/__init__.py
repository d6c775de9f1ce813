"""What-if replay: record each triggering event's normalized input, then re-run a period of them.

* :mod:`.events` — the recorded event (one shape for the four flows) and what each flow's input holds;
* :mod:`.recorder` — the recorder the flows call at their entry, and the event log (state table, TTL);
* :mod:`.simulate` — the flows' own decision rules over a simulated state, acting on nothing;
* :mod:`.compare` — a baseline and a candidate configuration over the same events: what differs;
* :mod:`.export` — the local file of exported records (``mlops-glue decisions export``), read defensively.
"""
