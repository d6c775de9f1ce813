"""Local stand-ins for the outside systems (Argo server, Slack) and the whole-loop demo.

Used by the end-to-end test and ``make demo``; not shipped in the Lambda layer.
"""
