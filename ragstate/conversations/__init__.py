"""Conversations: what a follow-up question needs from the turns before it (each module is
imported by its full path, e.g. ``ragstate.conversations.condense``)."""
