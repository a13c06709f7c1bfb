"""Where mini-batches execute: local worker processes by default, behind the Backend protocol."""
