"""fleet.ray_adapter"""
