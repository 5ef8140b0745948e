"""`make bench-drill`: a simulated drill against gunicorn + PostgreSQL + Redis + workers.

Builds (once) a benchmark database with the Hebei division list from ../shared/data (never
copied into the repository), starts gunicorn and `flask worker` processes on it, runs
`flask drill run` over the chosen area and appends the figures to bench/README.md
(section bench-drill): duration, messages per second, errors, and the drill's own figures
from its evaluation (share reported within 1 h, time to notify: report → SMS handed to the
gateway).

    make bench-drill                            # one county (涿州市, 447 villages, ×120: ~3 min)
    AREA=130000000000 SPEED=30 CONCURRENCY=12 make bench-drill    # the whole province

Settings: BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1/zb_drills_bench),
BENCH_REDIS_URL (default redis://127.0.0.1:6379/6), DIVISIONS_CSV.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
CSV = Path(os.environ.get("DIVISIONS_CSV", ROOT.parent.parent / "shared" / "data" / "hebei-divisions.csv"))
if not CSV.exists():
    CSV = Path("/work/shared/data/hebei-divisions.csv")
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/zb_drills_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
PORT = int(os.environ.get("BENCH_PORT", "5097"))



def env() -> dict:
    e = dict(os.environ)
    # deadlines run on the exercise's scenario clock by themselves (a pass a second by default);
    # sweep for E5 often enough to see its steps
    e.setdefault("SILENCE_SWEEP_SECONDS", "5")
    e.update({"DATABASE_URL": DB_URL, "REDIS_URL": REDIS_URL, "SMS_BACKEND": "console", "FLASK_APP": "wsgi",
              "PUBLIC_BASE_URL": f"http://127.0.0.1:{PORT}", "TWILIO_AUTH_TOKEN": "bench-token",
              "SECRET_KEY": "bench", "SMS_RATE_PER_SECOND": "1000", "LOG_LEVEL": "WARNING",
              "ZAIBAO_INSTANCE": "/tmp/zb_drills_bench_inst"})
    return e


def flask(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV / "flask"), *args], cwd=ROOT, env=env(), text=True, capture_output=True,
                          check=check)


def ensure_database(fresh: bool) -> None:
    """The benchmark database with the division list; `fresh` drops it first, so every run starts
    from the same empty tables (earlier drills' rows made later runs slower; the import takes ~5 s)."""
    name = DB_URL.rsplit("/", 1)[1]
    admin = DB_URL.rsplit("/", 1)[0] + "/postgres"
    if fresh:
        subprocess.run(["psql", admin, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=True,
                       capture_output=True)
        # And its Redis database: jobs left by a run that was stopped name rows of the dropped
        # tables, and would send the new run's rows of those ids, or slow its workers down.
        subprocess.run(["redis-cli", "-u", REDIS_URL, "flushdb"], check=True, capture_output=True)
    exists = subprocess.run(["psql", admin, "-tAc", f"SELECT 1 FROM pg_database WHERE datname='{name}'"],
                            capture_output=True, text=True, check=True).stdout.strip()
    if not exists:
        subprocess.run(["psql", admin, "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    flask("db", "upgrade", "heads")
    count = subprocess.run(["psql", DB_URL, "-tAc", "SELECT count(*) FROM divisions WHERE level='village'"],
                           capture_output=True, text=True, check=True).stdout.strip()
    if int(count or 0) < 50000:
        print(f"importing {CSV} …", flush=True)
        print(flask("divisions", "import", str(CSV)).stdout.strip(), flush=True)


def start(cmd: list[str], log: str) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


QUEUE_TABLES = "inbound_messages, outbound_sms, escalations, reports, incidents"


def autovacuum_on() -> bool:
    return subprocess.run(["psql", DB_URL, "-tAc", "SHOW autovacuum"], capture_output=True, text=True,
                          check=True).stdout.strip() == "on"


def stand_in_for_autovacuum(stop_event: threading.Event, every: float = 60.0) -> None:
    """This machine's PostgreSQL runs with autovacuum off (its tests do not need it); a deployment
    runs with it on. Without it the queue-like tables bloat and every lookup of the few pending
    rows walks the dead ones (the province drill of 12-07 11:02 slowed from 80 to 12 messages/s):
    vacuum them every minute, about as often as autovacuum does at migration reporter_007's 2 %.
    Every other table is analysed when autovacuum would (changed rows over 50 + 10 % of its rows):
    the planner must know the tables that grow during the drill (escalation recipients, the
    audit log) as it would in a deployment."""
    while not stop_event.wait(every):
        subprocess.run(["psql", DB_URL, "-qc", f"VACUUM (ANALYZE) {QUEUE_TABLES}"], capture_output=True)
        due = subprocess.run(["psql", DB_URL, "-tAc", "SELECT string_agg(quote_ident(relname), ', ') FROM "
                              "pg_stat_user_tables WHERE n_mod_since_analyze > 50 + 0.1 * n_live_tup"],
                             capture_output=True, text=True).stdout.strip()
        if due:
            subprocess.run(["psql", DB_URL, "-qc", f"ANALYZE {due}"], capture_output=True)


def backlog() -> tuple[int, int]:
    """(messages waiting to be filed, SMS waiting to be sent)."""
    out = subprocess.run(["psql", DB_URL, "-tAc", "SELECT (SELECT count(*) FROM inbound_messages WHERE outcome = "
                          "'pending') || ' ' || (SELECT count(*) FROM outbound_sms WHERE status IN ('pending', "
                          "'sending'))"], capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), int(out[1])


def drain(limit: float) -> dict:
    """Keep the workers running until nothing waits (or `limit` seconds): the drill's figures then
    count every SMS, not only those sent when the simulated officers stopped."""
    started = time.perf_counter()
    left = backlog()
    at_end = left
    while any(left) and time.perf_counter() - started < limit:
        time.sleep(5)
        left = backlog()
    return {"seconds": time.perf_counter() - started, "at_end": at_end, "left": left}


def evaluation_figures(exercise_id: int) -> dict:
    code = ("import json,sys\nfrom wsgi import app\nfrom drills import evaluation, metrics, service\n"
            "with app.app_context():\n ex = service.get(int(sys.argv[1]))\n"
            " f = metrics.evaluate(**evaluation.load_inputs(ex))\n"
            " print(json.dumps({k: f[k] for k in ('villages','reported','share_1h','share_2h','time_to_report',"
            "'time_to_ack','escalations_by_rule','sms','messages','reports')} | {'silent': len(f['silent'])}))")
    out = subprocess.run([str(VENV / "python"), "-c", code, str(exercise_id)], cwd=ROOT, env=env(), text=True,
                         capture_output=True, check=True).stdout
    import json

    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--area", default=os.environ.get("AREA", "130681000000"),
                        help="division code (default 涿州市; 130000000000 = the whole province, hours of load here)")
    parser.add_argument("--scenario", default="flood")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--speed", type=float, default=float(os.environ.get("SPEED", "120")))
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("CONCURRENCY", "8")))
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", "1")),
                        help="gunicorn threads per web worker (1: sync workers, as the README deploys; "
                             "runs before 2026-12-07 03:20 used 4)")
    parser.add_argument("--rq-workers", type=int, default=1)
    parser.add_argument("--processors", type=int, default=int(os.environ.get("PROCESSORS", "0")),
                        help="`flask intake run` processes beside the workers (README: about one per core)")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--drain-seconds", type=float, default=900,
                        help="after the drill, how long the workers may take to file and send what waits")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the benchmark database and earlier drills' rows (default: a fresh one)")
    args = parser.parse_args()

    ensure_database(fresh=not args.reuse)
    procs = [start([str(VENV / "gunicorn"), "--bind", f"127.0.0.1:{PORT}", "--workers", str(args.web_workers),
                    "--threads", str(args.threads), "wsgi:app"], "/tmp/zb_drills_bench_web.log")]
    procs += [start([str(VENV / "flask"), "worker", "--name", f"bench-drill-{i}"], f"/tmp/zb_drills_bench_w{i}.log")
              for i in range(args.rq_workers)]
    procs += [start([str(VENV / "flask"), "intake", "run"], f"/tmp/zb_drills_bench_p{i}.log")
              for i in range(args.processors)]
    vacuuming = threading.Event()
    vacuum_by_hand = not autovacuum_on()
    if vacuum_by_hand:
        threading.Thread(target=stand_in_for_autovacuum, args=(vacuuming,), daemon=True).start()
    try:
        for _ in range(120):
            try:
                if requests.get(f"http://127.0.0.1:{PORT}/healthz", timeout=2).status_code < 500:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        cmd = ["drill", "run", "--division", args.area, "--scenario", args.scenario, "--seed", str(args.seed),
               "--speed", str(args.speed), "--concurrency", str(args.concurrency), "--no-progress",
               "--attribution", "shared"] + (["--limit", str(args.limit)] if args.limit else [])
        started = time.perf_counter()
        run = flask(*cmd, check=False)
        duration = time.perf_counter() - started
        drained = drain(args.drain_seconds) if run.returncode == 0 else None
    finally:
        vacuuming.set()
        for proc in procs:
            stop(proc)
    print(run.stdout, run.stderr[-2000:], sep="\n")
    if run.returncode != 0:
        sys.exit(run.returncode)
    exercise_id = int(run.stdout.strip().splitlines()[-1].split()[1])
    sent = int(re.search(r"sent (\d+)", run.stdout).group(1))
    errors = int(re.search(r"errors (\d+)", run.stdout).group(1))
    unprefixed = re.search(r"\((\d+) without the", run.stdout)
    spooled = int(unprefixed.group(1)) if unprefixed else 0
    deadlocks = Path("/tmp/zb_drills_bench_web.log").read_text(errors="replace").count("DeadlockDetected: deadlock")
    figures = evaluation_figures(exercise_id)
    vacuuming_note = "autovacuum off: the bench ran VACUUM (ANALYZE) every minute" if vacuum_by_hand else "autovacuum"
    tree = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip() or "?"
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — area {args.area}, {figures['villages']} villages, "
        f"{args.scenario}, seed {args.seed}, ×{args.speed:g}",
        "",
        f"- machine: 2 cores / 24 GiB ({platform.platform()}), shared with other engineers' work",
        f"- stack: gunicorn {args.web_workers} workers × {args.threads} threads, {args.rq_workers} `flask worker` "
        f"(INTAKE_PROCESSORS={os.environ.get('INTAKE_PROCESSORS', '1')} each), {args.processors} `flask intake run`, "
        f"PostgreSQL ({vacuuming_note}), Redis, SMS_BACKEND=console; simulator concurrency {args.concurrency}",
        f"- tree {tree}; " + ("the database kept from earlier drills (--reuse)" if args.reuse else
                              "a fresh database (divisions only)"),
        f"- duration {duration:.0f} s (scenario {6 if args.scenario != 'earthquake' else 4} h at ×{args.speed:g}); "
        f"{sent} webhooks, {sent / duration:.1f} messages/s overall; errors {errors}; answered "
        f"'稍后处理' (spooled by the server) {spooled}; deadlocks in the web log {deadlocks}",
        f"- when the officers stopped, {drained['at_end'][0]} messages waited to be filed and {drained['at_end'][1]} "
        f"SMS to be sent; " + (f"all done {drained['seconds']:.0f} s later" if not any(drained["left"]) else
                               f"after {drained['seconds']:.0f} s still {drained['left'][0]} and {drained['left'][1]}"),
        f"- reported within 1 h {figures['share_1h'] * 100:.1f}%, within 2 h {figures['share_2h'] * 100:.1f}%, "
        f"silent {figures['silent']}; reports {figures['reports']}, escalations "
        + ", ".join(f"{e['rule']} {e['count']}" for e in figures["escalations_by_rule"]),
        f"- time to notify (report received → its first alert to a responder handed to the gateway, wall "
        f"clock): p50 {figures['sms']['notify_p50_s']} s, p95 {figures['sms']['notify_p95_s']} s over "
        f"{figures['sms']['notified']} alerts; E4 (deadline passed → the E4's text at the gateway): p50 "
        f"{figures['sms']['climb_p50_s']} s, p95 {figures['sms']['climb_p95_s']} s over {figures['sms']['climbed']}; "
        f"{figures['sms']['total']} SMS in all",
        f"- time to report (scenario minutes): median {figures['time_to_report']['village']['median_min']}, "
        f"p90 {figures['time_to_report']['village']['p90_min']}; exercise {exercise_id}",
        f"- reproduce: `.venv/bin/python bench/drill.py --area {args.area} --speed {args.speed:g} "
        f"--concurrency {args.concurrency} --threads {args.threads} --rq-workers {args.rq_workers} "
        f"--processors {args.processors}" + (f" --limit {args.limit}" if args.limit else "")
        + "`",
        "",
    ]
    print("\n".join(lines))
    if not args.no_record:
        readme = ROOT / "bench" / "README.md"
        text = readme.read_text(encoding="utf-8") if readme.exists() else "# Benchmarks\n"
        if "## bench-drill" not in text:
            text += ("\n## bench-drill\n\nA simulated drill (`flask drill run`) through the real webhook against "
                     "gunicorn + PostgreSQL + Redis + worker, on the Hebei division list (CC BY 4.0, "
                     "Vonng/adcode; see ../shared/data/README.md).\n\n")
        head, _, rest = text.partition("## bench-drill")
        nxt = rest.find("\n## ")
        section, tail = (rest, "") if nxt < 0 else (rest[:nxt], rest[nxt:])
        readme.write_text(head + "## bench-drill" + section.rstrip("\n") + "\n\n" + "\n".join(lines) + tail,
                          encoding="utf-8")


if __name__ == "__main__":
    main()
