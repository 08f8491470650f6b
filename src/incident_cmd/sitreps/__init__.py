"""Situation reports (态势报告) to the command while an incident runs."""
