"""Customer CSV import: rows per second and peak memory for a large file.

    python -m benchmarks.import_customers [--rows N] [--postgres]

The file is written to a temporary directory first (about 100 bytes a row) and imported the
way `incident-cmd customers import` does it: streamed, committed every chunk."""

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from benchmarks._support import throwaway_database
from incident_cmd.customers import service
from incident_cmd.db import session_scope

HEADER = (
    "external_ref,name,phone,email,locale,timezone,region,product_model,batch,serial,"
    "purchase_date,sales_channel\n"
)


def write_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for n in range(rows):
            out.write(
                f"R{n:07d},客户{n},+86137{n:08d},c{n}@example.com,zh-CN,,R{n % 30},PX-200,"
                f"B{n % 50},SN{n:08d},2026-03-01,JD\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    backend = "postgres" if args.postgres else "sqlite"
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "customers.csv"
        write_file(path, args.rows)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with throwaway_database(backend), session_scope() as session:
            started = time.perf_counter()
            with path.open(encoding="utf-8", newline="") as stream:
                report = service.import_csv(
                    session, stream=stream, after_chunk=lambda _: session.commit()
                )
            elapsed = time.perf_counter() - started
    assert report.customers_created == args.rows, report
    print(
        json.dumps(
            {
                "backend": backend,
                "rows": args.rows,
                "import_rows_per_s": round(args.rows / elapsed),
                "import_s": round(elapsed, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "rss_before_import_mb": round(before, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
