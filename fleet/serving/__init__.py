"""fleet.serving"""
