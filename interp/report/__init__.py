"""The study report: HTML page, figures and tables."""

from interp.report.page import render, write_report

__all__ = ["render", "write_report"]
