"""What the reporter announces (`core.bus`): dispatch, above it, subscribes.

Each is sent inside the transaction that made the change, after the change is flushed, so a
receiver's rows (escalations, outbox SMS, audit entries) commit or roll back with it.
"""

from __future__ import annotations

from core.bus import signal

report_saved = signal("report_saved", """A correction changed an incident's figures (its latest report;
new reports are `reports_filed`). sender: the Report; incident: its Incident;
previous: the incident's figures before (None for a new incident).""")

reports_filed = signal("reports_filed", """New reports (not nil) filed together, each of a different incident
(the intake processor's batch; the web form's one report). sender: a list of (Report, its Incident,
the incident's figures before the report: None for a new incident). Receivers answer per report.""")

report_returned = signal("report_returned", """A reviewer returned a report. sender: the Report;
reason: the reviewer's reason (tell the author).""")

incident_closed = signal("incident_closed", """A responder closed an incident (not a final report).
sender: the Incident, its UPDATE flushed (its row lock is held); actor: the Person.""")

event_closed = signal("event_closed", """A county office ended an event; its open incidents were
closed first, in the same transaction (the lock order). sender: the Event; actor: the Person.""")
