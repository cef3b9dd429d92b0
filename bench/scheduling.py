"""``python -m bench.scheduling``: how each strategy spends four subscription accounts.

A seeded simulation, no sockets: the real ``router.scheduling`` (routing table,
walk, outcomes) schedules 40 conversations of 20 turns each over 4 accounts.

* Each account has a 5-hour window of ``--budget`` requests, part of it
  already used elsewhere when the simulation starts (70 %, 45 %, 20 %, 0 %:
  a pool is rarely fresh); a request past the budget is a 429 that names the
  plan window (the account rests until its window resets) and the scheduler
  fails over, as the router does.
* Each account keeps a prompt cache keyed on the conversation's prefix: a
  turn is a hit when the same account served the conversation's previous
  turn within the cache's 5 minutes.
* Every answer reports the account's window usage as Claude's
  ``anthropic-ratelimit-unified-*`` headers do (``Credential.quota``).

It prints, per strategy, the prompt-cache hit ratio, the requests served
before the first 429 any account answered, how many 429s the upstreams saw
in all, and the scheduling decision's cost per request (walk, choice and
outcome recorded; the upstream excluded) at p50 and p99.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import dataclass, field
from functools import partial

from router.auth import CredentialPool, Quota, QuotaWindow
from router.errors import UpstreamHTTPError
from router.routing import RoutingTable
from router.scheduling import Policy, Scheduler
from suite.config import STRATEGIES, parse_config

WINDOW = 5 * 3600.0
CACHE_TTL = 300.0
START = 1_800_000_000.0
USED_AT_START = (0.70, 0.45, 0.20, 0.0)
RESETS_AFTER = (4.0 * 3600, 3.0 * 3600, 2.5 * 3600, 5.0 * 3600)  # when each window ends
_LIMIT = {"anthropic-ratelimit-unified-representative-claim": "five_hour"}


@dataclass
class Account:
    budget: int
    used: int
    resets_at: float
    cache: dict[int, float] = field(default_factory=dict)  # conversation -> last served

    def quota(self, now: float) -> Quota:
        window = QuotaWindow(100.0 * self.used / self.budget, self.resets_at, 300)
        return Quota(now, five_hour=window, status="allowed")


@dataclass
class Result:
    strategy: str
    hits: int = 0
    turns_after_first: int = 0
    before_first_429: int | None = None
    served: int = 0
    limited: int = 0
    costs: list[int] = field(default_factory=list)


def _table(strategy: str) -> RoutingTable:
    config = parse_config(
        {
            "providers": {
                "plan": {
                    "kind": "anthropic",
                    "base_url": "http://127.0.0.1:9",
                    "api_keys": [f"account-{i}" for i in range(4)],
                    "strategy": strategy,
                }
            },
            "models": {"routing": [{"pattern": ".*", "providers": ["plan"]}]},
        },
        environ={},
    )
    return RoutingTable(config, CredentialPool().sync(config.providers.values()))


def _schedule(seed: int, conversations: int, turns: int) -> list[tuple[float, int]]:
    """(time, conversation) of every request, in time order."""
    rng = random.Random(seed)
    out = []
    for conv in range(conversations):
        at = START + rng.uniform(0, 3600)
        for _ in range(turns):
            out.append((at, conv))
            at += rng.uniform(20, 240)  # the user reads, the agent runs tools
    return sorted(out)


def simulate(strategy: str, seed: int, conversations: int, turns: int, budget: int) -> Result:
    table = _table(strategy)
    creds = list(table.credentials("plan"))
    accounts = {
        c.id: Account(budget, int(budget * used), START + reset)
        for c, used, reset in zip(creds, USED_AT_START, RESETS_AFTER, strict=True)
    }
    now = START
    scheduler = Scheduler(clock=lambda: now)
    policy = Policy.of(parse_config({}, environ={}))  # cooldowns and breaker as shipped
    last: dict[int, str] = {}
    result = Result(strategy)
    for at, conv in _schedule(seed, conversations, turns):
        now = at
        spent = 0
        t0 = time.perf_counter_ns()
        walk = scheduler.walk(table, "claude-sonnet-4-5", policy, session=partial(str, conv))
        assert walk is not None
        cand = walk.next()
        spent += time.perf_counter_ns() - t0
        while cand is not None:
            acct = accounts[cand.credential.id]
            if now >= acct.resets_at:
                acct.used, acct.resets_at = 0, acct.resets_at + WINDOW
            if acct.used >= acct.budget:
                result.limited += 1
                if result.before_first_429 is None:
                    result.before_first_429 = result.served
                err = UpstreamHTTPError(429, "limit", retry_after=acct.resets_at - now)
                err.headers = _LIMIT
                t0 = time.perf_counter_ns()
                walk.failed(cand, err)
                cand = walk.next()
                spent += time.perf_counter_ns() - t0
                continue
            acct.used += 1
            hit = now - acct.cache.get(conv, -1e18) <= CACHE_TTL
            acct.cache[conv] = now
            if conv in last:
                result.turns_after_first += 1
                result.hits += hit
            last[conv] = cand.credential.id
            cand.credential.quota = acct.quota(now)  # what the answer's headers say
            t0 = time.perf_counter_ns()
            walk.succeeded(cand)
            spent += time.perf_counter_ns() - t0
            result.served += 1
            break
        result.costs.append(spent)
    if result.before_first_429 is None:
        result.before_first_429 = result.served
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scheduling", description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--budget", type=int, default=260, help="requests per 5-hour window")
    args = parser.parse_args(argv)
    total = args.conversations * args.turns
    print(
        f"{args.conversations} conversations x {args.turns} turns = {total} requests,"
        f" 4 accounts of {args.budget} requests per 5 h (used at start:"
        f" {', '.join(f'{u:.0%}' for u in USED_AT_START)}), seed {args.seed}"
    )
    print(
        f"{'strategy':<12} {'cache hits':>10} {'before 1st 429':>15} {'429s':>6}"
        f" {'served':>7} {'decision p50':>13} {'p99':>8}"
    )
    for strategy in STRATEGIES:
        r = simulate(strategy, args.seed, args.conversations, args.turns, args.budget)
        ratio = r.hits / max(1, r.turns_after_first)
        p50 = statistics.median(r.costs) / 1000
        p99 = statistics.quantiles(r.costs, n=100)[98] / 1000
        print(
            f"{strategy:<12} {ratio:>10.1%} {r.before_first_429:>15} {r.limited:>6}"
            f" {r.served:>7} {p50:>10.1f} µs {p99:>5.1f} µs"
        )


if __name__ == "__main__":
    main()
