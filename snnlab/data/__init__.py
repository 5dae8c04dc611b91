"""Data modules: embedded MNIST-5k and digits, torchvision images, tonic event data."""
