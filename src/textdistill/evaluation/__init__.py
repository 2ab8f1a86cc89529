"""Measuring students and teachers side by side: speed (``speed``) and the report of many models (``report``).

The metrics themselves live at the bottom of the package (``textdistill.metrics``): training and teachers use them
too.
"""
