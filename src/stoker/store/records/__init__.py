"""What the store hands out: typed, immutable records (msgspec Structs), one module per area.

A record is a row as the rest of Stoker reads it: named fields with their types, so a consumer's
typo or a renamed column is a mypy error, not a KeyError at run time. Records hold plain values
(the JSON columns' dicts and lists as stored); how they look in an answer (ISO times, redaction,
links) is the API's views' business, not theirs. Frozen: a record is what was read; change the
database, then read it again (`msgspec.structs.replace` for a copy that differs).
"""
