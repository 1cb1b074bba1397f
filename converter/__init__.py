"""Training half of the captioner: datasets, backbones, training, evaluation, bundle export."""
