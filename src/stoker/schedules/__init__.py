"""Schedules: jobs that run by themselves (docs/schedules.md). `service` sets, shows, pauses and
backfills a job's schedule and fires what is due; `duty` is the one loop that asks for what is due."""
