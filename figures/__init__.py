"""Figures: drawing code shared by the callbacks (TensorBoard's images during and after a run) and
the report (PNG files). Imports nothing of the project above core/, so both can use it."""
