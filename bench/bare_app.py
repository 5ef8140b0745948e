"""The ceiling for bench-intake: a bare Flask endpoint answering the same TwiML, no database."""

from flask import Flask, Response

app = Flask(__name__)
REPLY = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>已收到</Message></Response>'


@app.post("/sms/inbound")
def inbound():
    return Response(REPLY, mimetype="text/xml")
