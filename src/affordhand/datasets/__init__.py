"""Readers of published data sets (HOGraspNet, HO3D) and regressor outputs, converting to hand records."""
