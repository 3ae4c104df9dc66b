"""
Profiles that ship with beepy.
"""
