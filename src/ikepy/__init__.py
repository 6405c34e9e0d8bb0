"""ikepy: an IKEv2 daemon and library."""
__version__ = "0.1.0"
