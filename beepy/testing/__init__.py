"""
Helpers for testing code built on beepy.
"""
