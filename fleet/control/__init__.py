"""fleet.control"""
