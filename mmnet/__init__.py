"""mmnet: real-time automatic portrait matting."""
__version__ = "0.1.0"
