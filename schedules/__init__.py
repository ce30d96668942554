"""Periodic jobs stored with RedBeat: create, read, update, delete, run history."""
