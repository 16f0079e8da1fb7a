"""The consumer runtime every service shares.

`producer` (durable producer, topics, the event publisher), `consumer` (the loop, its health and
rebalance listener), `isolation` and `failures` (what a handler's exception costs), `retry` (the
retry topics), `deadletter` and `poison` (the one dead-letter writer), `inflight` and
`watermark` (per-record mode's commits), `records` and `headers` (what the loop hands over).
"""
