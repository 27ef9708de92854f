"""Stevedore's bodies, as its clients sent them: fields beyond an operation's are ignored (the
original read what it knew), logged at debug; its own fields are still checked. Container runs are
tested on Podman in tests/containers/test_stevedore.py; these need no runtime."""

from __future__ import annotations

import logging


def test_unknown_fields_are_ignored_and_logged_at_debug(api, caplog):
    caplog.set_level(logging.DEBUG, logger="stoker.compat.stevedore")
    # The original README's RUN: `repository` beside `command` and `times`. Not a 422 any more:
    # the body is read, and the unknown task answers 404.
    r = api.post("/task/no-such-task/", json={"repository": "johncosta/fortytwo", "command": "fortytwo",
                                              "times": 10})
    assert r.status_code == 404 and r.json() == {"message": "task no-such-task does not exist"}
    assert "ignoring unknown field(s) ['repository']" in caplog.text
    # Registering with an extra field: read past it (here no container runtime answers 503).
    r = api.post("/task/", json={"repository": "johncosta/redis", "name": "redis", "owner": "john"})
    assert r.status_code == 503, r.text
    assert "['owner']" in caplog.text


def test_known_fields_are_still_checked(api):
    r = api.post("/task/any/", json={"operation": "RUN", "times": "many", "extra": 1})
    assert r.status_code == 422 and "times" in r.json()["message"]
    r = api.post("/task/any/", json={"operation": "RUN", "times": 0})
    assert r.status_code == 422 and "times must be between 1" in r.json()["message"]
    r = api.post("/result/any/", json={"operation": "EXPLODE", "reason": "x"})
    assert r.status_code == 422 and "CANCEL" in r.json()["message"]
