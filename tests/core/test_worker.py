"""`flask worker`: a real worker process runs `@task` jobs from Redis with the app's database and
gateway (here the real twilio client talking to the fake Twilio server)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from core.queue import queue, queue_name, redis_ok
from tests.conftest import wait_for
from tests.core.jobs import send_and_count


def test_worker_runs_a_task_through_the_gateway(start_worker, fake_twilio):
    assert redis_ok()
    job = queue("sms").enqueue(send_and_count, "+8613812345678", "【灾情】测试")
    start_worker()
    wait_for(lambda: fake_twilio.bodies_to("+8613812345678"), timeout=30, message="the SMS at the fake Twilio")
    assert fake_twilio.bodies_to("+8613812345678") == ["【灾情】测试"]
    wait_for(lambda: job.get_status(refresh=True) == "finished", timeout=10, message="the job to finish")
    assert job.return_value() == 0


def test_default_queue_too(start_worker, fake_twilio):
    queue("default").enqueue(send_and_count, "+8613812345679", "deadline")
    start_worker()
    wait_for(lambda: fake_twilio.bodies_to("+8613812345679"), timeout=30, message="the SMS at the fake Twilio")


def test_the_worker_outlives_what_makes_rq_quit(start_worker, fake_twilio, redis_client):
    """RQ's work loop quits on a Redis timeout (a slow connect on a loaded machine did it during
    a drill) or on a job it cannot even read; `flask worker` must start it again, or no SMS and
    no E4 goes out until somebody notices. A job record with an unreadable date is the fault."""
    redis_client.hset("rq:job:broken", mapping={"created_at": "not a date", "status": "queued", "data": b"?",
                                                "origin": "sms", "description": "broken"})
    redis_client.rpush(f"rq:queue:{queue_name('sms')}", "broken")
    worker = start_worker()
    time.sleep(3)  # RQ has met the broken job and quit its loop by now
    queue("sms").enqueue(send_and_count, "+8613812345677", "after the broken job")
    wait_for(lambda: fake_twilio.bodies_to("+8613812345677"), timeout=30, message="the SMS after the broken job")
    assert worker.proc.poll() is None


def test_a_sweep_lease_is_held_by_one_worker_until_its_interval_passes():
    from core.queue import sweep_done, sweep_lease

    assert sweep_lease("test.lease", 0.2, "worker-a") is True
    assert sweep_lease("test.lease", 0.2, "worker-b") is False  # a runs it this interval
    sweep_done("test.lease", 0.2, "worker-b")  # not b's lease: changes nothing
    sweep_done("test.lease", 0.2, "worker-a")
    assert sweep_lease("test.lease", 0.2, "worker-b") is False
    time.sleep(0.35)
    assert sweep_lease("test.lease", 0.2, "worker-b") is True


def test_two_workers_share_each_sweep_instead_of_both_running_it(app):
    """Two sweep loops (as two `flask worker`s run them) call a 1-second sweep about once a
    second between them, not twice."""
    import threading
    import time

    from core import queue as q

    runs: list[str] = []

    def count() -> None:
        runs.append(threading.current_thread().name)

    q.periodic(1.0, name="test.count")(count)
    sweeps = [sweep for sweep in q._PERIODIC if sweep[0] == "test.count"]
    stop = threading.Event()
    loops = [threading.Thread(target=q.run_sweeps_forever, args=(app, stop, f"w{i}", sweeps), name=f"w{i}")
             for i in range(2)]
    try:
        for loop in loops:
            loop.start()
        time.sleep(4.2)
    finally:
        stop.set()
        for loop in loops:
            loop.join(30)
        q._PERIODIC[:] = [p for p in q._PERIODIC if p[0] != "test.count"]
    assert 2 <= len(runs) <= 5, runs  # without the lease: about 10 (5 each)


def _registered(redis_client, worker) -> bytes | None:
    """When RQ's loop in this worker registered itself (a restarted loop registers again)."""
    return redis_client.hget(f"rq:worker:{worker.name}", "birth")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_idle_worker_stops_on_a_signal(start_worker, redis_client, sig):
    """A service manager's SIGTERM, a terminal's Ctrl-C: an idle worker used to take RQ's
    StopRequested for a failure and start its loop again, so it never stopped (and `make run`
    hung on Ctrl-C, or left an orphan taking jobs)."""
    worker = start_worker()
    wait_for(lambda: _registered(redis_client, worker), timeout=30, message="the worker's RQ loop")
    time.sleep(0.5)
    os.kill(worker.proc.pid, sig)  # the main process only, as a service manager does
    assert worker.proc.wait(timeout=10) is not None


def test_an_idle_worker_does_not_restart_itself(start_worker, redis_client):
    """RQ blocks on Redis for minutes when idle; the app's 3 s socket timeout broke that wait, so
    an idle worker quit and restarted its loop every few seconds (73 times in 10 minutes)."""
    worker = start_worker()
    birth = wait_for(lambda: _registered(redis_client, worker), timeout=30, message="the worker's RQ loop")
    time.sleep(12)
    assert worker.proc.poll() is None
    assert _registered(redis_client, worker) == birth


def test_two_deployments_on_one_redis_never_run_each_others_jobs(start_worker, fake_twilio, app, tmp_path):
    """Each deployment's queues, job ids and locks carry its REDIS_NAMESPACE (by default derived
    from its database URL): a worker of another deployment on the same Redis leaves our job alone
    (it would have run it against its own database: a wrong or lost SMS)."""
    from core.queue import namespace_for

    other_db = f"sqlite:///{tmp_path / 'other.db'}"
    assert namespace_for(other_db) != app.config["REDIS_NAMESPACE"]
    job = queue("sms").enqueue(send_and_count, "+8613812345670", "ours")
    assert job.origin == f"{app.config['REDIS_NAMESPACE']}-sms"
    stranger = start_worker(DATABASE_URL=other_db)
    time.sleep(6)
    assert stranger.proc.poll() is None and job.get_status(refresh=True) == "queued"
    assert fake_twilio.bodies_to("+8613812345670") == []
    start_worker()  # ours
    wait_for(lambda: fake_twilio.bodies_to("+8613812345670"), timeout=30, message="our own worker to send it")


def test_a_busy_worker_finishes_its_job_then_stops(start_worker, fake_twilio, redis_client):
    """SIGTERM during a send (a slow gateway): the SMS still goes out, then the worker stops, within
    10 s, leaving no process behind."""
    fake_twilio.configure(delay=1.5)
    worker = start_worker()
    wait_for(lambda: _registered(redis_client, worker), timeout=30, message="the worker's RQ loop")
    queue("sms").enqueue(send_and_count, "+8613812345671", "while stopping")
    wait_for(lambda: fake_twilio.attempts > 0, timeout=15, message="the send to start")
    os.kill(worker.proc.pid, signal.SIGTERM)
    assert worker.proc.wait(timeout=10) is not None
    assert fake_twilio.bodies_to("+8613812345671") == ["while stopping"]
    try:
        os.killpg(worker.proc.pid, 0)
        survivors = True
    except ProcessLookupError:
        survivors = False
    assert not survivors
