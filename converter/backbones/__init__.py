"""ImageNet backbones that turn a photo into a grid of features."""
