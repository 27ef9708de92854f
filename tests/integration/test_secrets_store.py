"""The secret and notification stores on SQLite and PostgreSQL: envelope encryption and
rotation, one delivery per key however often it is owed, one sender per delivery."""

from __future__ import annotations

from stoker.core.secrets import SecretBox, generate_key, key_id
from stoker.store.notifications import NotificationStore, Owed
from stoker.store.secrets import SecretStore


def test_secrets_are_wrapped_by_the_ring_and_rotated_by_compare_and_set(database):
    old, new = generate_key().encode(), generate_key().encode()
    store = SecretStore(database, SecretBox([old]))
    store.check_master_key()
    store.create("a", "generic", {"k": "value-a"}, by="me")
    store.create("b", "env", {"X": "value-b"}, by="me")
    assert store.key_usage() == {key_id(old): 2}
    ringed = SecretStore(database, SecretBox([new, old]))
    ringed.check_master_key()
    report = ringed.rotate()
    assert report.rewrapped == 2 and report.remaining == {}
    assert ringed.key_usage() == {key_id(new): 2}
    only_new = SecretStore(database, SecretBox([new]))
    only_new.check_master_key()  # the check value was resealed too
    assert {n: s.values for n, s in only_new.open_many(["a", "b", "gone"]).items()} == {
        "a": {"k": "value-a"}, "b": {"X": "value-b"}}
    assert only_new.update("a", values={"k": "value-a2"}, by="you").version == 2


def test_a_delivery_is_made_once_and_sent_by_one_claimer(database):
    store = NotificationStore(database)
    owed = Owed("job", "run", "failure", 2, "dest", "chat", "http://x", {"kind": "chat"}, {"event": "failed"})
    assert store.enqueue([owed]) == 1
    assert store.enqueue([owed, owed]) == 0  # re-read events owe nothing new
    first = store.claim("replica-1", lease_seconds=30)
    assert [d.run_id for d in first] == ["run"]
    assert store.claim("replica-2", lease_seconds=30) == []  # held by replica-1's lease
    store.failed(first[0].id, "replica-1", "HTTP 500", retry_in=0.0)
    again = store.claim("replica-2", lease_seconds=30)
    assert [d.tries for d in again] == [1]
    store.delivered(again[0].id, "replica-1")  # not its owner any more: changes nothing
    store.delivered(again[0].id, "replica-2")
    assert store.status("job") == {"pending": 0, "delivered": 1, "failed": 0, "last_error": None}
