"""Imported first by studies/launch.py's fork server, and by nothing else: the server gets SIGTERM
when the tune.py process that started it dies (kill -9 included), even while it is still importing
torch, so it never outlives tune.py. (The runs it forks ask for the same, each on its own.)"""
from studies.launch import die_with_parent

die_with_parent()
