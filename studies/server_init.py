"""Imported first by studies/launch.py's fork server, and by nothing else: the server gets SIGTERM
when the tune.py process that started it dies (kill -9 included), even while it is still importing
torch, so it never outlives tune.py; a tune.py gone before the server asked for that is a SIGTERM at
once. (The runs it forks ask for the same, each on its own, against the server's pid.)"""
import os

from studies import launch

parent = os.environ.get(launch.PARENT_VAR, "")
launch.die_with_parent(int(parent) if parent.isdigit() else None)
launch.server_pid = os.getpid()
