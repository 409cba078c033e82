"""The GPU model zoo (bench/zoo_gpu.py): model registry, inputs, builders, export and PyTorch worker processes.

Importing the package (and zoo.registry, zoo.inputs) needs neither torch nor a GPU; the builder modules
(vision, detr, yolo, hf) and the workers import torch, torchvision and transformers when they are used.
"""
