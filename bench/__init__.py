"""``make bench``: the router measured beside a bare relay and a fast fake upstream.

Run ``python -m bench`` (``--quick`` for a short run, ``--profile`` to add a
py-spy profile of the router). Not a test: it prints numbers.
"""
