"""Trainers: supervised (+ Learning Loss), UDA semi-supervised, segmentation."""
