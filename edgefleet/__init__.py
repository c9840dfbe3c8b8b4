"""edgefleet"""
