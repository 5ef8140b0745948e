"""Refusals: the one kind of error whose message may be shown or texted to a person as is."""

from __future__ import annotations


class Refusal(ValueError):
    """A request our rules refuse, worded (in Chinese) for the person who made it.

    Only these reach an officer by SMS. Any other exception met while handling a message is a
    bug: it is logged, and the message is kept for review, never echoed (it may say anything).
    """
