"""Declaring incidents through the HTTP API: latency from request to the 201 answer.

python -m benchmarks.declare [--count N] [--postgres]
"""

import argparse
import json
import time

import httpx

from benchmarks._support import percentile, throwaway_database
from incident_cmd.app import create_app
from incident_cmd.auth import service as auth_service
from incident_cmd.db import session_scope
from incident_cmd.demo import seed
from incident_cmd.devtools.local_server import running_server

BODY = {
    "playbook": "product-recall",
    "title": "PX-200 batteries overheating",
    "severity": "sev1",
    "scope": {"products": ["PX-200"], "batches": ["B2026-11"]},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    backend = "postgres" if args.postgres else "sqlite"
    with throwaway_database(backend):
        with session_scope() as session:
            seed(session)
            duty = auth_service.get_user_by_username(session, username="duty")
            _, token = auth_service.issue_token(
                session, user=duty, name="bench", expires_in=None, actor_id=None
            )
        with (
            running_server(create_app(run_worker=False)) as base,
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client,
        ):
            latencies = []
            started = time.perf_counter()
            for _ in range(args.count):
                begin = time.perf_counter()
                response = client.post("/api/v1/incidents", json=BODY)
                latencies.append((time.perf_counter() - begin) * 1000)
                response.raise_for_status()
            elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "backend": backend,
                "declarations": args.count,
                "declare_p50_ms": round(percentile(latencies, 0.5), 2),
                "declare_p99_ms": round(percentile(latencies, 0.99), 2),
                "declarations_per_s": round(args.count / elapsed, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
