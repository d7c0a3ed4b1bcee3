"""`sendingip history import FILE.csv`: set imported daily volumes (ImportHistory).

The file is read as a stream and sent in batches (one call, one statement each), so its
size is bounded by the disk, not memory. The columns are named by the header line:
``account_id,day,mailbox_provider,ip,count`` (``ip`` may be empty or left out when the
sending IP is unknown). Importing sets, not adds: a file imported twice, or an import
that stopped half way and is started again, gives the same numbers.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import grpc

from cli import client, output
from sendingip.v1 import management_pb2, types_pb2

REQUIRED = ("account_id", "day", "mailbox_provider", "count")
_ROW_INDEX = re.compile(r"^volumes\[(\d+)\]")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("history", help="import sending history")
    sub = parser.add_subparsers(dest="history_command", metavar="{import}", required=True)
    imp = sub.add_parser(
        "import",
        help="set daily volumes from a CSV file (account_id,day,mailbox_provider,ip,count)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("file", metavar="FILE.csv", help="'-' reads stdin")
    imp.add_argument("--batch-size", type=int, default=5000, help="rows per call (default 5000)")
    client.add_client_options(imp)
    imp.set_defaults(func=import_command)


class Progress:
    """A progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, total_bytes: int, stream: TextIO = sys.stderr) -> None:
        self.total = total_bytes
        self.stream = stream
        self.enabled = stream.isatty()
        self._last = 0.0

    def update(self, done_bytes: int, rows: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self._last < 0.1):
            return
        self._last = now
        if self.total > 0:
            fraction = min(1.0, done_bytes / self.total)
            bar = "#" * int(fraction * 30)
            self.stream.write(f"\rimporting [{bar:<30}] {fraction:6.1%}  {rows:,} rows")
        else:
            self.stream.write(f"\rimporting  {rows:,} rows")
        if final:
            self.stream.write("\n")
        self.stream.flush()


def _lines(f: TextIO, counter: list[int]) -> Iterator[str]:
    for line in f:
        counter[0] += len(line.encode("utf-8", "replace"))
        yield line


def import_command(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        print("error: --batch-size must be at least 1", file=sys.stderr)
        return 2
    path = None if args.file == "-" else Path(args.file)
    try:
        f = sys.stdin if path is None else path.open(newline="", encoding="utf-8")
    except OSError as exc:
        print(f"error: {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    name = "stdin" if path is None else str(path)
    progress = Progress(path.stat().st_size if path is not None else 0)

    def body(c: client.Client) -> int:
        imported = _Import(c, f, name, progress).run(args.batch_size)
        if args.json:
            output.print_json({"file": name, "rows": imported})
        else:
            print(f"imported {imported:,} rows from {name}")
        return 0

    try:
        return client.run(args, body)
    finally:
        if path is not None:
            f.close()


class _Import:
    """One file streamed into ImportHistory calls; a refused row is named by its file line."""

    def __init__(self, c: client.Client, f: TextIO, name: str, progress: Progress) -> None:
        self.client = c
        self.name = name
        self.progress = progress
        self.read = [0]
        self.reader = csv.reader(_lines(f, self.read))
        self.imported = 0
        self.batch: list[types_pb2.DailyVolume] = []
        #: The file line of each row in ``batch``.
        self.lines: list[int] = []

    def run(self, batch_size: int) -> int:
        header = [h.strip().lower() for h in next(self.reader, [])]
        missing = [col for col in REQUIRED if col not in header]
        if missing:
            raise client.UsageError(
                f"{self.name}: the header line must name the columns {','.join(REQUIRED)} (and optionally ip); "
                f"missing: {', '.join(missing)}"
            )
        col = {h: i for i, h in enumerate(header)}
        for row in self.reader:
            if not any(cell.strip() for cell in row):
                continue
            self.batch.append(self._volume(row, col, len(header)))
            self.lines.append(self.reader.line_num)
            if len(self.batch) >= batch_size:
                self._send()
        if self.batch:
            self._send()
        self.progress.update(self.read[0], self.imported, final=True)
        return self.imported

    def _volume(self, row: list[str], col: dict[str, int], width: int) -> types_pb2.DailyVolume:
        line = self.reader.line_num
        if len(row) != width:
            raise client.UsageError(f"{self.name} line {line}: expected {width} columns, got {len(row)}")
        try:
            count = int(row[col["count"]])
            if not 0 <= count < 2**63:
                raise ValueError
        except ValueError:
            raise client.UsageError(
                f"{self.name} line {line}: count {row[col['count']]!r} is not a whole number >= 0"
            ) from None
        ip_col = col.get("ip")
        return types_pb2.DailyVolume(
            account_id=row[col["account_id"]].strip(),
            day=row[col["day"]].strip(),
            mailbox_provider=row[col["mailbox_provider"]].strip(),
            ip=row[ip_col].strip() if ip_col is not None else "",
            count=count,
        )

    def _send(self) -> None:
        c = self.client
        try:
            response = c.call(c.management.ImportHistory, management_pb2.ImportHistoryRequest(volumes=self.batch))
        except grpc.RpcError as err:
            if isinstance(err, grpc.Call) and err.code() == grpc.StatusCode.INVALID_ARGUMENT:
                match = _ROW_INDEX.match(err.details() or "")
                if match and int(match[1]) < len(self.lines):
                    raise client.UsageError(
                        f"{self.name} line {self.lines[int(match[1])]}: {err.details()}"
                        f" ({self.imported:,} rows imported before it; importing again is harmless)"
                    ) from None
            raise
        self.imported += response.rows
        self.batch.clear()
        self.lines.clear()
        self.progress.update(self.read[0], self.imported)
