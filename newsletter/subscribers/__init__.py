"""Subscribers and their consent: who may receive what, and how they join, change and leave.

`consent` holds the state changes a person makes (subscribe, confirm, unsubscribe,
preferences) and the privacy duties (forget, show); `csvfile` moves lists in and
out as CSV. Suppression wins everywhere: nothing here reactivates an address that
unsubscribed, bounced, complained or was forgotten, except that person's own
confirmed opt-in.
"""
