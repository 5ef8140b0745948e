"""The ceiling for bench-intake: a bare Flask endpoint that does one INSERT and commits, per
request, on the same database, answering the same TwiML. Nothing the service does per SMS can
cost less than this, so the service's rate is reported as a share of it."""

import os

from flask import Flask, Response, request
from sqlalchemy import create_engine, text

from config import database_url

app = Flask(__name__)
engine = create_engine(database_url(os.environ["DATABASE_URL"]), pool_size=2)
REPLY = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>已收到</Message></Response>'


@app.post("/sms/inbound")
def inbound():
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO bench_insert (sid, body) VALUES (:sid, :body)"),
                     {"sid": request.form.get("MessageSid", ""), "body": request.form.get("Body", "")})
    return Response(REPLY, mimetype="text/xml")
