"""Monitoring: the drift engine (``drift/``), monitors over it (``monitor.py``) and the
alerts they raise (``alerts.py``). Import from the modules; this file imports nothing so
that the drift engine loads without the monitor."""
