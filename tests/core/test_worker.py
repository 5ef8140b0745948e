"""`flask worker`: a real worker process runs `@task` jobs from Redis with the app's database and
gateway (here the real twilio client talking to the fake Twilio server)."""

from __future__ import annotations

from core.queue import queue, redis_ok
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
