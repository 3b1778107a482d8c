collect_ignore = ["sweep.py"]
