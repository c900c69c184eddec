"""Figures and reports: sample grids, GIFs, loss plots, HTML/Markdown reports."""
