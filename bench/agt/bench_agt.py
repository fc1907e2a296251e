#!/usr/bin/env python3
"""The peer side of gavel's decide-path benchmark: Microsoft's Agent Governance Toolkit (AGT).

`cargo bench -p gavel-server --bench decide` writes a spec (the 100-rule policy as data, the agents and
the call mix) and runs this script on it in the same benchmark run, then prints gavel/AGT ratios. The
script can also be run by hand on a spec file the bench left behind (GAVEL_BENCH_KEEP_SPEC=1).

It measures two AGT paths on the same calls, single-threaded:

* ``policy_evaluator``: ``agent_os.policies.PolicyEvaluator.evaluate(context)`` with one
  ``PolicyDocument`` holding the 100 rules, translated one for one (see ``RULES`` below);
* ``kernel``: ``agent_os.stateless.StatelessKernel.execute(action, params, context)``, the kernel
  enforcement path that AGT's own benchmarks call "Kernel Execute" (benchmarks/bench_kernel.py),
  with the same rules compiled into the kernel's policy format (one named policy per agent).

Each timed call starts from the same input as gavel's: the agent (id, groups, environment), the tool
name and the arguments as a JSON object; building AGT's context from it is inside the timed region,
as building the Cedar request is on gavel's side.

Usage: bench_agt.py SPEC.json [SECONDS]   (prints one JSON object on stdout)
Exit status 3 (with {"error": ...} on stdout) when ``agent_os`` cannot be imported.
"""

from __future__ import annotations

import asyncio
import json
import platform
import sys
import time

try:
    from importlib.metadata import version as _dist_version

    from agent_os.policies import (
        PolicyAction,
        PolicyCondition,
        PolicyDefaults,
        PolicyDocument,
        PolicyEvaluator,
        PolicyOperator,
        PolicyRule,
    )
    from agent_os.stateless import ExecutionContext, MemoryBackend, StatelessKernel
except ImportError as exc:  # pragma: no cover - reported to the Rust bench
    print(json.dumps({"error": f"cannot import agent_os ({exc})",
                      "install": "python3 -m pip install -r bench/agt/requirements.txt"}))
    sys.exit(3)

# gavel rule kind -> (context field, operator, AGT action, priority). AGT evaluates rules by priority,
# highest first, and the first match decides; these priorities give gavel's precedence
# forbid > require_approval > permit > default deny. AGT's PolicyEvaluator has no approval outcome:
# a hold maps to `audit` (allowed, but flagged), and is reported as require_approval.
RULES = {
    "tool_permit": ("tool_name", PolicyOperator.EQ, PolicyAction.ALLOW, 100),
    "tool_hold": ("tool_name", PolicyOperator.EQ, PolicyAction.AUDIT, 200),
    "group_permit": ("groups", PolicyOperator.CONTAINS, PolicyAction.ALLOW, 100),
    "group_forbid": ("groups", PolicyOperator.CONTAINS, PolicyAction.DENY, 300),
    "env_forbid": ("environment", PolicyOperator.EQ, PolicyAction.DENY, 300),
    "arg_forbid": ("argument_text", PolicyOperator.CONTAINS, PolicyAction.DENY, 300),
}


def policy_document(spec: dict) -> PolicyDocument:
    rules = []
    for rule in spec["rules"]:
        field, op, action, priority = RULES[rule["kind"]]
        rules.append(PolicyRule(
            name=rule["id"],
            condition=PolicyCondition(field=field, operator=op, value=rule["value"]),
            action=action,
            priority=priority,
            message=f"{rule['kind']} {rule['value']}",
        ))
    # Default deny, as in gavel.
    return PolicyDocument(name="bench-100", rules=rules, defaults=PolicyDefaults(action=PolicyAction.DENY))


def kernel_policies(spec: dict) -> dict:
    """The same rules in StatelessKernel's format, one named policy per agent.

    The kernel allows by default and knows only blocked_actions, blocked_patterns and
    require_approval lists, so the per-principal parts (group and environment rules, the tool
    allowlist) are resolved here, once, into each agent's policy.
    """
    by_kind: dict[str, list[str]] = {k: [] for k in RULES}
    for rule in spec["rules"]:
        by_kind[rule["kind"]].append(rule["value"])
    permitted = set(by_kind["tool_permit"]) | set(by_kind["tool_hold"])
    policies = {}
    for i, agent in enumerate(spec["agents"]):
        groups = set(agent["groups"])
        if groups & set(by_kind["group_forbid"]) or agent["environment"] in by_kind["env_forbid"]:
            blocked = list(spec["catalog"])
        elif groups & set(by_kind["group_permit"]):
            blocked = []
        else:
            blocked = [t for t in spec["catalog"] if t not in permitted]
        policies[f"agent_{i}"] = {
            "blocked_actions": blocked,
            "blocked_patterns": list(by_kind["arg_forbid"]),
            "require_approval": list(by_kind["tool_hold"]),
        }
    return policies


def percentiles(latencies: list[float]) -> dict:
    latencies.sort()
    n = len(latencies)

    def at(q: float) -> float:
        return round(latencies[min(n - 1, int(q * n))] * 1e6, 2)

    return {"p50_us": at(0.50), "p99_us": at(0.99), "p999_us": at(0.999)}


def evaluator_outcome(decision) -> str:
    return {"allow": "allow", "audit": "require_approval"}.get(decision.action, "deny")


def kernel_outcome(result) -> str:
    if result.success:
        return "allow"
    return "require_approval" if "requires approval" in (result.error or "") else "deny"


def bench_evaluator(spec: dict, secs: float) -> dict:
    evaluator = PolicyEvaluator(policies=[policy_document(spec)])
    agents = spec["agents"]
    calls = [(c["tool"], agents[c["agent"]], c["arguments"]) for c in spec["calls"]]

    def decide(tool, agent, arguments):
        context = {
            "tool_name": tool,
            "agent_id": agent["id"],
            "groups": agent["groups"],
            "environment": agent["environment"],
            "argument_text": json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        }
        return evaluator.evaluate(context)

    outcomes = [evaluator_outcome(decide(*c)) for c in calls]  # also the warm-up
    latencies: list[float] = []
    clock = time.perf_counter
    start = clock()
    deadline = start + secs
    while clock() < deadline:
        for call in calls:
            t0 = clock()
            decide(*call)
            latencies.append(clock() - t0)
    elapsed = clock() - start
    return {"n": len(latencies), "evals_per_s": round(len(latencies) / elapsed, 1),
            **percentiles(latencies), "outcomes": outcomes}


def bench_kernel(spec: dict, secs: float) -> dict:
    kernel = StatelessKernel(backend=MemoryBackend(), policies=kernel_policies(spec))
    agents = spec["agents"]
    calls = [(c["tool"], c["agent"], agents[c["agent"]]["id"], c["arguments"]) for c in spec["calls"]]

    async def run() -> dict:
        async def execute(tool, index, agent_id, arguments):
            context = ExecutionContext(agent_id=agent_id, policies=[f"agent_{index}"])
            return await kernel.execute(tool, arguments, context)

        outcomes = [kernel_outcome(await execute(*c)) for c in calls]  # also the warm-up
        latencies: list[float] = []
        clock = time.perf_counter
        start = clock()
        deadline = start + secs
        while clock() < deadline:
            for call in calls:
                t0 = clock()
                await execute(*call)
                latencies.append(clock() - t0)
        elapsed = clock() - start
        return {"n": len(latencies), "evals_per_s": round(len(latencies) / elapsed, 1),
                **percentiles(latencies), "outcomes": outcomes}

    return asyncio.run(run())


def main() -> None:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    out = {
        "agent_os_kernel": _dist_version("agent-os-kernel"),
        "python": platform.python_version(),
        "rules": len(spec["rules"]),
        "calls": len(spec["calls"]),
        "policy_evaluator": bench_evaluator(spec, secs),
        "kernel": bench_kernel(spec, secs),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
